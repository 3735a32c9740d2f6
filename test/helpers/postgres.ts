/**
 * A PostgreSQL database of a test's own on the machine's server (127.0.0.1:5432, trust auth):
 * created with a unique name, dropped (with its connections) when the test is done.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const POSTGRES_ADMIN_URL = process.env.VMC_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(prefix = 'vmc_test'): Promise<TestDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** A VMC store of a test's own: the spec `VmcStore.open` takes, and how to drop it. */
export interface ScratchStore {
  spec: string;
  drop: () => Promise<void>;
}

/**
 * The VMC store's two dialects for a `describe.each` (`$name`): a fresh SQLite file in a
 * temporary directory named after `prefix`, or a fresh PostgreSQL database (createTestDatabase).
 */
export function vmcStoreKinds(prefix: string): { name: 'sqlite' | 'postgres'; make: () => Promise<ScratchStore> }[] {
  return [
    { name: 'sqlite', make: () => Promise.resolve({ spec: `sqlite:${join(mkdtempSync(join(tmpdir(), `${prefix}-`)), 'vmc.db')}`, drop: () => Promise.resolve() }) },
    {
      name: 'postgres',
      make: async () => {
        const db = await createTestDatabase(prefix.replace(/-/g, '_'));
        return { spec: db.url, drop: () => db.drop() };
      },
    },
  ];
}
