/**
 * What a page of `GET /api/gaps` costs the store as closed gaps pile up, timed on one table
 * side by side in one run, in SQLite and in PostgreSQL: before migration 7 (the index
 * `gaps_by_post (post_id, closed_ms)`, every gap of the posts sorted for each page, and the
 * cursor as an OR of its columns: the query of the twenty-first session, kept here as the
 * baseline) and after it (`gaps_by_post_seq`, `gaps_open` partial on the open gaps, read
 * through it in SQLite, and the cursor as a row value: vmc-store.ts gapPageQuery, what the route
 * runs). SQLite without statistics, as the store runs it; PostgreSQL analysed, as autovacuum keeps it. The figures of docs/benchmarks.md ("/api/gaps pages
 * from an index") come from here. Not a test: nothing passes or fails.
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
import { gapPageQuery, type GapPage } from '../vmc/store/vmc-store.js';

const POSTS = 40;
const PER_POST = Number(process.env.BENCH_GAPS_PER_POST ?? 10_000);
const RUNS = Number(process.env.BENCH_GAPS_RUNS ?? 30);

type PageQuery = (page: GapPage, dialect: SqlDb['dialect']) => { sql: string; params: SqlValue[] };

/** The page query before migration 7: the cursor as an OR, which scanned the cursor's post from its first gap. */
const orKeysetQuery: PageQuery = (page) => {
  const where: string[] = [];
  const params: SqlValue[] = [];
  if (page.posts) {
    where.push(`post_id IN (${page.posts.map(() => '?').join(', ')})`);
    params.push(...page.posts);
  }
  if (page.open !== undefined) where.push(page.open ? 'closed_ms IS NULL' : 'closed_ms IS NOT NULL');
  if (page.after) {
    where.push('post_id >= ?', '(post_id > ? OR first_seq > ? OR (first_seq = ? AND id > ?))');
    params.push(page.after.postId, page.after.postId, page.after.firstSeq, page.after.firstSeq, page.after.id);
  }
  return { sql: `SELECT * FROM gaps ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY post_id, first_seq, id LIMIT ?`, params: [...params, page.limit ?? 51] };
};

const BEFORE = { indexes: ['CREATE INDEX gaps_by_post ON gaps (post_id, closed_ms)'], query: orKeysetQuery };
const AFTER = {
  indexes: ['CREATE INDEX gaps_open ON gaps (post_id, first_seq, id) WHERE closed_ms IS NULL', 'CREATE INDEX gaps_by_post_seq ON gaps (post_id, first_seq, id)'],
  query: gapPageQuery,
};

const postId = (n: number): string => `post-${String(n).padStart(2, '0')}`;
const middle = Math.floor(PER_POST / 2) * 10;
const PAGES: [string, GapPage][] = [
  ['every gap, a page in the middle', { limit: 51, after: { postId: postId(POSTS / 2), firstSeq: middle, id: 1 } }],
  ['open gaps, first page', { open: true, limit: 51 }],
  ['one post, a page in the middle', { posts: [postId(7)], limit: 51, after: { postId: postId(7), firstSeq: middle, id: 1 } }],
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

/** Milliseconds per page, the mean of RUNS after one untimed (the plan and the pages cached). */
async function msPerPage(db: SqlDb, query: PageQuery, page: GapPage): Promise<number> {
  const { sql, params } = query(page, db.dialect);
  await db.all(sql, params);
  const start = process.hrtime.bigint();
  for (let run = 0; run < RUNS; run += 1) await db.all(sql, params);
  return Number(process.hrtime.bigint() - start) / 1e6 / RUNS;
}

async function measure(db: SqlDb): Promise<void> {
  await fill(db);
  const figures = new Map<string, number[]>();
  for (const { indexes, query } of [BEFORE, AFTER]) {
    await db.exec('DROP INDEX IF EXISTS gaps_by_post; DROP INDEX IF EXISTS gaps_open; DROP INDEX IF EXISTS gaps_by_post_seq');
    for (const statement of indexes) await db.run(statement);
    // PostgreSQL's autovacuum keeps statistics; the store never runs SQLite's ANALYZE, so neither does this.
    if (db.dialect === 'postgres') await db.run('ANALYZE gaps');
    for (const [name, page] of PAGES) figures.set(name, [...(figures.get(name) ?? []), await msPerPage(db, query, page)]);
  }
  for (const [name, [before = 0, after = 0]] of figures) {
    process.stdout.write(`${db.dialect.padEnd(8)} ${name.padEnd(32)} before ${before.toFixed(2).padStart(7)} ms  after ${after.toFixed(2).padStart(7)} ms  ${(before / after).toFixed(1)}× faster\n`);
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
