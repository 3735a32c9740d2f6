import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { isGatewayError } from '../../core/errors.js';
import { release010Database } from '../../test/helpers/release-database.js';
import { GATEWAY_SCHEMA_VERSION, migrateGatewayDatabase, schemaVersionOf } from './migrations.js';

/** Every table and index with its columns (name, type, not-null, default, key), to compare schemas. */
function schemaOf(db: Database.Database): Record<string, unknown> {
  const objects = db.prepare<[], { type: string; name: string; tbl_name: string }>("SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name").all();
  return Object.fromEntries(
    objects.map((object) => [
      `${object.type} ${object.name}`,
      object.type === 'table'
        ? db.prepare(`PRAGMA table_info(${object.name})`).all()
        : { on: object.tbl_name, columns: db.prepare(`PRAGMA index_info(${object.name})`).all() },
    ]),
  );
}

const rowCounts = (db: Database.Database): Record<string, number> =>
  Object.fromEntries(
    db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map(({ name }) => [name, (db.prepare(`SELECT COUNT(*) AS n FROM ${name}`).get() as { n: number }).n]),
  );

describe('gateway database migrations', () => {
  it('brings a new database to the current version in one go, and does nothing the second time', () => {
    const db = new Database(':memory:');
    expect(schemaVersionOf(db)).toBe(0);
    const first = migrateGatewayDatabase(db);
    expect(first).toMatchObject({ from: 0, to: GATEWAY_SCHEMA_VERSION });
    expect(first.applied).toHaveLength(GATEWAY_SCHEMA_VERSION);
    expect(schemaVersionOf(db)).toBe(GATEWAY_SCHEMA_VERSION);
    expect(migrateGatewayDatabase(db)).toEqual({ from: GATEWAY_SCHEMA_VERSION, to: GATEWAY_SCHEMA_VERSION, applied: [] });
  });

  it('recognises a 0.1.0 database (no version number) as version 1: the same schema as a new one, every row kept', () => {
    const old = release010Database();
    const before = rowCounts(old);
    expect(schemaVersionOf(old)).toBe(0);
    expect(before.events).toBe(63);

    expect(migrateGatewayDatabase(old, 1)).toMatchObject({ from: 0, to: 1 });
    expect(rowCounts(old)).toEqual(before);
    const fresh = new Database(':memory:');
    migrateGatewayDatabase(fresh, 1);
    expect(schemaOf(old)).toEqual(schemaOf(fresh));

    // And on to the latest, still with every row.
    expect(migrateGatewayDatabase(old)).toMatchObject({ from: 1, to: GATEWAY_SCHEMA_VERSION });
    const after = rowCounts(old);
    for (const [table, rows] of Object.entries(before)) expect(after[table], table).toBe(rows);
  });

  it('adds accounts.must_change to a database from before that column, keeping its accounts', () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE accounts (name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL, changed_ms INTEGER NOT NULL)');
    db.prepare('INSERT INTO accounts (name, role, password_hash, created_ms, changed_ms) VALUES (?, ?, ?, ?, ?)').run('ana', 'admin', 'scrypt$x', 1, 2);
    migrateGatewayDatabase(db);
    expect(db.prepare('SELECT name, role, must_change FROM accounts').all()).toEqual([{ name: 'ana', role: 'admin', must_change: 0 }]);
  });

  it('refuses a database written by a newer gateway with GW_ERR_OUTBOX_SCHEMA_NEWER and changes nothing', () => {
    const db = new Database(':memory:');
    db.pragma(`user_version = ${GATEWAY_SCHEMA_VERSION + 1}`);
    let thrown: unknown;
    try {
      migrateGatewayDatabase(db);
    } catch (error) {
      thrown = error;
    }
    expect(isGatewayError(thrown, 'GW_ERR_OUTBOX_SCHEMA_NEWER')).toBe(true);
    expect((thrown as Error).message).toContain(`schema version ${GATEWAY_SCHEMA_VERSION + 1}`);
    expect(schemaVersionOf(db)).toBe(GATEWAY_SCHEMA_VERSION + 1);
    expect(db.prepare("SELECT COUNT(*) AS n FROM sqlite_master").get()).toEqual({ n: 0 });
  });

  it('leaves the version unchanged when a migration fails (its transaction rolls back)', () => {
    const db = new Database(':memory:');
    // A view where migration 1 expects the visits table: it fails halfway (at the index on it),
    // after creating the tables before it.
    db.exec('CREATE VIEW visits AS SELECT 1 AS plate_key');
    expect(() => migrateGatewayDatabase(db)).toThrow(/views may not be indexed/);
    expect(schemaVersionOf(db)).toBe(0);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()).toEqual([]);
  });
});
