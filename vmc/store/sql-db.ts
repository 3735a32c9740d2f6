/**
 * The little SQL the VMC store needs, over SQLite (better-sqlite3) or PostgreSQL (pg): queries
 * written once with `?` placeholders, run in transactions. SQLite runs on one connection per
 * process, so its operations are queued one after another (a transaction's awaits must not let
 * another caller's statement into it); PostgreSQL takes a pooled connection per transaction.
 */
import Database from 'better-sqlite3';
import pg from 'pg';

export type Dialect = 'sqlite' | 'postgres';
/** A bound value; a Buffer is a BLOB (SQLite) or BYTEA (PostgreSQL), and reads back as a Buffer. */
export type SqlValue = string | number | null | Buffer;
export type Row = Record<string, unknown>;

/** What a statement may use: the database itself or an open transaction. */
export interface SqlRunner {
  readonly dialect: Dialect;
  /** Rows of a query. */
  all<T extends Row = Row>(sql: string, params?: SqlValue[]): Promise<T[]>;
  /** Runs a statement; resolves to the number of rows it changed. */
  run(sql: string, params?: SqlValue[]): Promise<number>;
}

export interface SqlDb extends SqlRunner {
  /** Runs `work` in one transaction (SQLite: BEGIN IMMEDIATE, so writers queue rather than fail late). */
  transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T>;
  /** Runs a script of several statements (migrations). */
  exec(script: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Whether a failed statement was refused for the data it was given (it fails again however often
 * it is retried) rather than for the database's health. PostgreSQL SQLSTATE classes 22 (data
 * exception: a NUL character, an invalid encoding, a number out of range), 23 (integrity
 * constraint) and 54 (program limit exceeded); SQLite TOOBIG, MISMATCH, RANGE and CONSTRAINT; and a
 * RangeError from serialising (a value too deeply nested for JSON.stringify's stack).
 */
export function isDataError(error: unknown): boolean {
  if (error instanceof RangeError) return true;
  if (error instanceof pg.DatabaseError) return /^(22|23|54)/.test(error.code ?? '');
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Database.SqliteError && typeof code === 'string' && /^SQLITE_(TOOBIG|MISMATCH|RANGE|CONSTRAINT)/.test(code);
}

/** `?` → `$1, $2, …` for PostgreSQL. The store's SQL has no `?` inside string literals. */
export function numberedPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${(n += 1)}`);
}

export function openSqlite(path: string, options: { syncFull?: boolean } = {}): SqlDb {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode: a commit is in the WAL file before the broker is acknowledged, so it
  // survives a kill of the VMC; only a power cut can lose the last commits before a checkpoint,
  // as it can lose what Mosquitto keeps between its periodic saves (autosave_interval). FULL
  // (`sqlite:PATH?sync=full`) syncs every commit to the disk, at several milliseconds each.
  db.pragma(`synchronous = ${options.syncFull ? 'FULL' : 'NORMAL'}`);
  // Several VMC instances on one host may share the file: a writer waits for another's commit.
  db.pragma('busy_timeout = 10000');
  db.pragma('foreign_keys = ON');
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => T | Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };
  const runner: SqlRunner = {
    dialect: 'sqlite',
    all: <T extends Row>(sql: string, params: SqlValue[] = []) => Promise.resolve(db.prepare(sql).all(...params) as T[]),
    run: (sql, params = []) => Promise.resolve(db.prepare(sql).run(...params).changes),
  };
  return {
    dialect: 'sqlite',
    all: (sql, params) => serial(() => runner.all(sql, params)),
    run: (sql, params) => serial(() => runner.run(sql, params)),
    transaction: (work) =>
      serial(async () => {
        db.exec('BEGIN IMMEDIATE');
        try {
          const result = await work(runner);
          db.exec('COMMIT');
          return result;
        } catch (error) {
          if (db.inTransaction) db.exec('ROLLBACK');
          throw error;
        }
      }),
    exec: (script) => serial(() => void db.exec(script)),
    close: () => serial(() => void db.close()),
  };
}

export function openPostgres(url: string, poolSize = 4): SqlDb {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    // BIGINT (int8) and COUNT come back as strings by default; every value here fits a double.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary'): ((value: string) => unknown) =>
        oid === 20 ? (value: string) => Number(value) : (pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown)) as pg.CustomTypesConfig['getTypeParser'],
    },
  });
  // An idle client's error (the server restarted) must not take the process down; the next query reconnects.
  pool.on('error', () => undefined);
  const runnerOf = (client: pg.Pool | pg.PoolClient): SqlRunner => ({
    dialect: 'postgres',
    all: async <T extends Row>(sql: string, params: SqlValue[] = []) => (await client.query(numberedPlaceholders(sql), params)).rows as T[],
    run: async (sql, params = []) => (await client.query(numberedPlaceholders(sql), params)).rowCount ?? 0,
  });
  const direct = runnerOf(pool);
  return {
    ...direct,
    transaction: async (work) => {
      const client = await pool.connect();
      let result: Awaited<ReturnType<typeof work>>;
      try {
        await client.query('BEGIN');
        result = await work(runnerOf(client));
        await client.query('COMMIT');
      } catch (error) {
        // A connection whose ROLLBACK failed is in an unknown state: release(err) destroys it
        // instead of handing it to the next transaction (node-postgres pool docs, `release`).
        const rollbackError = await client.query('ROLLBACK').then(
          () => undefined,
          (failed: unknown) => (failed instanceof Error ? failed : new Error(String(failed))),
        );
        client.release(rollbackError);
        throw error;
      }
      client.release();
      return result;
    },
    exec: async (script) => void (await pool.query(script)),
    close: () => pool.end(),
  };
}
