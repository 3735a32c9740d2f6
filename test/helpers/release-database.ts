/**
 * The gateway database of the last release before numbered migrations, as that release's own
 * code wrote it (test/fixtures/gateway-db-0.1.0.sql says how it was made), for upgrade tests.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { REPO_ROOT } from './gateway-process.js';

export const RELEASE_010_DUMP = join(REPO_ROOT, 'test', 'fixtures', 'gateway-db-0.1.0.sql');

/** Writes the 0.1.0 database to `path` (a new file, or `:memory:`) and returns it open. */
export function release010Database(path = ':memory:'): Database.Database {
  const db = new Database(path);
  db.exec(readFileSync(RELEASE_010_DUMP, 'utf8'));
  return db;
}
