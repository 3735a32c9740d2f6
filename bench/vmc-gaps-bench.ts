/**
 * What a page of `GET /api/gaps` costs the store as closed gaps pile up, timed on one table
 * side by side in one run, in SQLite and in PostgreSQL, three ways:
 * - before: the index `gaps_by_post (post_id, closed_ms)`, every gap of the posts sorted for each
 *   page, the cursor as an OR of its columns (the twenty-first session's query, the baseline);
 * - row value: migration 7's indexes (`gaps_by_post_seq`, `gaps_open` partial on the open gaps,
 *   read through it in SQLite) and the cursor as one row value (the twenty-second session's);
 * - now: as row value, but with posts named the cursor's post read first from the cursor, then
 *   the posts after it (vmc-store.ts gapPageStatements, what the route runs).
 * SQLite without statistics, as the store runs it; PostgreSQL analysed, as autovacuum keeps it.
 * The figures of docs/benchmarks.md ("/api/gaps pages from an index") come from here. Not a
 * test: nothing passes or fails.
 *
 *   node --import tsx bench/vmc-gaps-bench.ts
 *   BENCH_GAPS_PER_POST  gaps of each of the 40 posts (default 10000; 1 in 100 open)
 *   BENCH_GAPS_RUNS      timed runs of each page (default 30; each after one untimed)
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createTestDatabase } from '../test/helpers/postgres.js';
import { openPostgres, openSqlite, type SqlDb, type SqlValue } from '../vmc/store/sql-db.js';
import { gapPageStatements, type GapPage, type GapStatement } from '../vmc/store/vmc-store.js';

const POSTS = 40;
const PER_POST = Number(process.env.BENCH_GAPS_PER_POST ?? 10_000);
const RUNS = Number(process.env.BENCH_GAPS_RUNS ?? 30);

/** A page's statements, each ending in `LIMIT ?` (its room left) when the page has a limit: run in turn until it is full. */
type PageQuery = (page: GapPage, dialect: SqlDb['dialect']) => GapStatement[];

/**
 * One statement of a page as the store built it before this session: the posts and the state as
 * terms, the cursor as `cursor` gives it, on `table`; the baselines below differ in those two.
 */
function oneStatement(page: GapPage, table: string, cursor: (after: NonNullable<GapPage['after']>) => { terms: string[]; params: SqlValue[] }): GapStatement[] {
  const where: string[] = [];
  const params: SqlValue[] = [];
  if (page.posts) {
    where.push(`post_id IN (${page.posts.map(() => '?').join(', ')})`);
    params.push(...page.posts);
  }
  if (page.open !== undefined) where.push(page.open ? 'closed_ms IS NULL' : 'closed_ms IS NOT NULL');
  if (page.after) {
    const { terms, params: values } = cursor(page.after);
    where.push(...terms);
    params.push(...values);
  }
  return [{ sql: `SELECT * FROM ${table} ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY post_id, first_seq, id${page.limit === undefined ? '' : ' LIMIT ?'}`, params }];
}

/** The page query before migration 7: the cursor as an OR, which scanned the cursor's post from its first gap. */
const orKeysetQuery: PageQuery = (page) =>
  oneStatement(page, 'gaps', (after) => ({
    terms: ['post_id >= ?', '(post_id > ? OR first_seq > ? OR (first_seq = ? AND id > ?))'],
    params: [after.postId, after.postId, after.firstSeq, after.firstSeq, after.id],
  }));

/**
 * The page query of migration 7 as first written (twenty-second session): one statement, the cursor
 * a row value over (post, first seq, id) also when posts are named, which SQLite could not start a
 * range at after `post_id = ?`. Kept as the middle column.
 */
const rowValueQuery: PageQuery = (page, dialect) =>
  oneStatement(page, page.open === true && dialect === 'sqlite' ? 'gaps INDEXED BY gaps_open' : 'gaps', (after) => ({
    terms: ['(post_id, first_seq, id) > (?, ?, ?)'],
    params: [after.postId, after.firstSeq, after.id],
  }));

const MIGRATION_7 = ['CREATE INDEX gaps_open ON gaps (post_id, first_seq, id) WHERE closed_ms IS NULL', 'CREATE INDEX gaps_by_post_seq ON gaps (post_id, first_seq, id)'];
const VARIANTS = [
  { name: 'before', indexes: ['CREATE INDEX gaps_by_post ON gaps (post_id, closed_ms)'], query: orKeysetQuery },
  { name: 'row value', indexes: MIGRATION_7, query: rowValueQuery },
  { name: 'now', indexes: MIGRATION_7, query: gapPageStatements },
];

const postId = (n: number): string => `post-${String(n).padStart(2, '0')}`;
const middle = Math.floor(PER_POST / 2) * 10;
const PAGES: [string, GapPage][] = [
  ['every gap, a page in the middle', { limit: 51, after: { postId: postId(POSTS / 2), firstSeq: middle, id: 1 } }],
  ['open gaps, first page', { open: true, limit: 51 }],
  ['one post, a page in the middle', { posts: [postId(7)], limit: 51, after: { postId: postId(7), firstSeq: middle, id: 1 } }],
  ['three posts, a page in the middle', { posts: [postId(9), postId(7), postId(30)], limit: 51, after: { postId: postId(7), firstSeq: middle, id: 1 } }],
  // The cursor's post runs out on this page: the page goes on into the posts named after it.
  ['three posts, the cursor post’s end', { posts: [postId(2), postId(30), postId(17)], limit: 51, after: { postId: postId(17), firstSeq: (PER_POST - 10) * 10, id: 1 } }],
  // What the gap scan reads of each post every few seconds, its open gaps (through the same index).
  ["one post's open gaps", { posts: [postId(7)], open: true }],
];

/** The gaps table as migrations 1 and 2 make it, filled: gap i of a post covers seqs 10i..10i+2. */
async function fill(db: SqlDb): Promise<void> {
  const serial = db.dialect === 'postgres' ? 'BIGSERIAL PRIMARY KEY' : 'INTEGER PRIMARY KEY AUTOINCREMENT';
  await db.exec(`CREATE TABLE gaps (id ${serial}, post_id TEXT NOT NULL, first_seq BIGINT NOT NULL, last_seq BIGINT NOT NULL, missing BIGINT NOT NULL, opened_ms BIGINT NOT NULL, closed_ms BIGINT, kind TEXT NOT NULL DEFAULT 'missing')`);
  await db.transaction(async (tx) => {
    for (let post = 0; post < POSTS; post += 1) {
      for (let start = 0; start < PER_POST; start += 500) {
        const rows: string[] = [];
        for (let i = start; i < Math.min(PER_POST, start + 500); i += 1) rows.push(`('${postId(post)}', ${i * 10}, ${i * 10 + 2}, 3, ${i}, ${i % 100 === 0 ? 'NULL' : i + 5})`);
        await tx.run(`INSERT INTO gaps (post_id, first_seq, last_seq, missing, opened_ms, closed_ms) VALUES ${rows.join(', ')}`);
      }
    }
  });
}

/** Reads one page as the route does: its statements in turn until the page is full. */
async function readPage(db: SqlDb, statements: GapStatement[], limit: number | undefined): Promise<void> {
  let rows = 0;
  for (const { sql, params } of statements) {
    const room = limit === undefined ? undefined : limit - rows;
    if (room === 0) return;
    rows += (await db.all(sql, room === undefined ? params : [...params, room])).length;
  }
}

/**
 * Milliseconds per page of each variant, the mean of RUNS after one untimed read each (the plans
 * and the pages cached). Variants on the same indexes take turns within each run, so neither gains
 * from coming second (the caches warmer, the machine quieter).
 */
async function msPerPage(db: SqlDb, variants: typeof VARIANTS, page: GapPage): Promise<number[]> {
  const statements = variants.map((variant) => variant.query(page, db.dialect));
  for (const each of statements) await readPage(db, each, page.limit);
  const totals = variants.map(() => 0n);
  for (let run = 0; run < RUNS; run += 1) {
    for (const [i, each] of statements.entries()) {
      const start = process.hrtime.bigint();
      await readPage(db, each, page.limit);
      totals[i] = (totals[i] ?? 0n) + process.hrtime.bigint() - start;
    }
  }
  return totals.map((total) => Number(total) / 1e6 / RUNS);
}

async function measure(db: SqlDb): Promise<void> {
  await fill(db);
  const figures = new Map<string, number[]>();
  for (const indexes of new Set(VARIANTS.map((variant) => variant.indexes))) {
    await db.exec('DROP INDEX IF EXISTS gaps_by_post; DROP INDEX IF EXISTS gaps_open; DROP INDEX IF EXISTS gaps_by_post_seq');
    // How long an upgrade's migration holds the table: the store builds them in the migration's transaction.
    const building = process.hrtime.bigint();
    for (const statement of indexes) await db.run(statement);
    process.stdout.write(`${db.dialect.padEnd(8)} building ${indexes.length === 1 ? 'the index' : `the ${indexes.length} indexes`} of ${indexes === MIGRATION_7 ? 'migration 7' : 'the baseline'}: ${(Number(process.hrtime.bigint() - building) / 1e6).toFixed(0)} ms\n`);
    // PostgreSQL's autovacuum keeps statistics; the store never runs SQLite's ANALYZE, so neither does this.
    if (db.dialect === 'postgres') await db.run('ANALYZE gaps');
    const variants = VARIANTS.filter((variant) => variant.indexes === indexes);
    for (const [name, page] of PAGES) figures.set(name, [...(figures.get(name) ?? []), ...(await msPerPage(db, variants, page))]);
  }
  for (const [name, ms] of figures) {
    const columns = VARIANTS.map((variant, i) => `${variant.name} ${(ms[i] ?? 0).toFixed(2).padStart(6)} ms`).join('  ');
    const [before = 0, rowValue = 0, now = 1] = ms;
    process.stdout.write(`${db.dialect.padEnd(8)} ${name.padEnd(34)} ${columns}  now/row value ${(now / rowValue).toFixed(2)}  before/now ${(before / now).toFixed(1)}\n`);
  }
}

process.stdout.write(`${POSTS} posts × ${PER_POST} gaps (${(POSTS * PER_POST).toLocaleString('en')} rows, 1 in 100 open); ${RUNS} runs a page\n`);
const file = join(tmpdir(), `vmc-gaps-bench-${process.pid}.db`);
const sqlite = openSqlite(file);
try {
  await measure(sqlite);
} finally {
  await sqlite.close();
  rmSync(file, { force: true });
}
const database = await createTestDatabase('vmc_gaps_bench');
const postgres = openPostgres(database.url);
try {
  await measure(postgres);
} finally {
  await postgres.close();
  await database.drop();
}
