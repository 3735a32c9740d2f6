/**
 * The VMC store's schema, as numbered migrations for both dialects, recorded in `schema_version`.
 * A migration is appended, never edited once released: a store migrated by version N is brought
 * to the latest by running N+1… in order. Several instances may start at once against one store,
 * so migrating holds a lock (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE).
 *
 * Times are epoch milliseconds (BIGINT) in both dialects, so comparisons and indexes behave the
 * same; booleans are 0/1 integers for the same reason.
 */
import { GatewayError } from '../../core/errors.js';
import type { Dialect, SqlDb } from './sql-db.js';

interface Types {
  bigint: string;
  real: string;
  serial: string;
  /** Raw bytes (evidence). */
  blob: string;
}

const TYPES: Record<Dialect, Types> = {
  sqlite: { bigint: 'INTEGER', real: 'REAL', serial: 'INTEGER PRIMARY KEY AUTOINCREMENT', blob: 'BLOB' },
  postgres: { bigint: 'BIGINT', real: 'DOUBLE PRECISION', serial: 'BIGSERIAL PRIMARY KEY', blob: 'BYTEA' },
};

/** Migration n is MIGRATIONS[n - 1]. */
export const MIGRATIONS: ((t: Types) => string)[] = [
  (t) => `
CREATE TABLE events (
  id TEXT PRIMARY KEY,
  post_id TEXT NOT NULL,
  lane_id TEXT NOT NULL,
  type TEXT NOT NULL,
  seq ${t.bigint} NOT NULL,
  time_ms ${t.bigint} NOT NULL,
  subject TEXT,
  replayed INTEGER NOT NULL,
  payload TEXT NOT NULL,
  stored_ms ${t.bigint} NOT NULL,
  stored_by TEXT NOT NULL
);
CREATE INDEX events_by_post_seq ON events (post_id, seq);
CREATE INDEX events_by_post_type_time ON events (post_id, type, time_ms);

CREATE TABLE crossings (
  event_id TEXT PRIMARY KEY,
  crossing_id TEXT NOT NULL,
  post_id TEXT NOT NULL,
  lane_id TEXT NOT NULL,
  direction TEXT NOT NULL,
  channel TEXT NOT NULL,
  xray INTEGER NOT NULL,
  vehicle_type TEXT NOT NULL,
  plate TEXT,
  outcome TEXT NOT NULL,
  completed_ms ${t.bigint} NOT NULL,
  arrived_ms ${t.bigint},
  registration_min ${t.real},
  crossing_min ${t.real}
);
CREATE INDEX crossings_by_time ON crossings (completed_ms);
CREATE INDEX crossings_by_post_time ON crossings (post_id, completed_ms);

CREATE TABLE alarms (
  event_id TEXT PRIMARY KEY,
  post_id TEXT NOT NULL,
  lane_id TEXT NOT NULL,
  alarm TEXT NOT NULL,
  severity TEXT NOT NULL,
  message TEXT NOT NULL,
  details TEXT NOT NULL,
  time_ms ${t.bigint} NOT NULL
);
CREATE INDEX alarms_by_time ON alarms (time_ms);

CREATE TABLE devices (
  post_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  lane_id TEXT NOT NULL,
  state TEXT NOT NULL,
  last_error TEXT,
  since TEXT,
  time_ms ${t.bigint} NOT NULL,
  event_id TEXT NOT NULL,
  PRIMARY KEY (post_id, device_id)
);

CREATE TABLE posts (
  post_id TEXT PRIMARY KEY,
  first_seen_ms ${t.bigint} NOT NULL,
  last_seen_ms ${t.bigint} NOT NULL,
  last_seq ${t.bigint} NOT NULL,
  status TEXT,
  status_reason TEXT,
  status_ms ${t.bigint},
  gateway_version TEXT,
  scanned_to ${t.bigint}
);

CREATE TABLE lanes (
  post_id TEXT NOT NULL,
  lane_id TEXT NOT NULL,
  last_seen_ms ${t.bigint} NOT NULL,
  PRIMARY KEY (post_id, lane_id)
);

CREATE TABLE gaps (
  id ${t.serial},
  post_id TEXT NOT NULL,
  first_seq ${t.bigint} NOT NULL,
  last_seq ${t.bigint} NOT NULL,
  missing ${t.bigint} NOT NULL,
  opened_ms ${t.bigint} NOT NULL,
  closed_ms ${t.bigint}
);
CREATE INDEX gaps_by_post ON gaps (post_id, closed_ms);

CREATE TABLE accounts (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_ms ${t.bigint} NOT NULL
);

CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY,
  name TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
  created_ms ${t.bigint} NOT NULL,
  expires_ms ${t.bigint} NOT NULL
);
`,
  // 2: seq restarts. `gaps.kind` tells a range of missing seqs ('missing') from a gateway whose
  // seq started again ('restart'); `posts.run_from_ms` is the time of the current run's first
  // event, so the gap scan reads only that run's events (the old run's seqs overlap the new).
  (t) => `
ALTER TABLE gaps ADD COLUMN kind TEXT NOT NULL DEFAULT 'missing';
ALTER TABLE posts ADD COLUMN run_from_ms ${t.bigint};
`,
  // 3: a crossing's own events found by its id (`subject`), for the training export, which joins
  // each completed crossing to its risk.assessed, xray.scanned and inspection.completed.
  () => `
CREATE INDEX events_by_post_subject ON events (post_id, subject);
`,
  // 4: signed commands to the posts (vmc/commands): each command sent, each post's answer, and
  // what each post runs now, from its answers (command.applied / command.refused).
  (t) => `
CREATE TABLE commands (
  command_id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  version ${t.bigint} NOT NULL,
  post_ids TEXT NOT NULL,
  summary TEXT NOT NULL,
  issued_by TEXT NOT NULL,
  issued_ms ${t.bigint} NOT NULL
);
CREATE INDEX commands_by_kind_version ON commands (kind, version);

CREATE TABLE command_answers (
  command_id TEXT NOT NULL,
  post_id TEXT NOT NULL,
  outcome TEXT NOT NULL,
  reason_code TEXT,
  reason_message TEXT,
  time_ms ${t.bigint} NOT NULL,
  PRIMARY KEY (command_id, post_id)
);

CREATE TABLE post_versions (
  post_id TEXT PRIMARY KEY,
  watchlist_version ${t.bigint},
  watchlist_plates ${t.bigint},
  model_command_version ${t.bigint},
  risk_model TEXT,
  xray_model TEXT,
  time_ms ${t.bigint} NOT NULL
);
`,
  // 5: evidence (vmc/evidence). `evidence` is what each post said of a piece (evidence.stored, or
  // only its chunks so far): kind, crossing, device, a thumbnail's full image and its size.
  // `evidence_blobs` holds each verified piece once, by digest (the bytes are the same whoever
  // sent them). `evidence_pending` and `evidence_chunks` hold the chunks of pieces not yet
  // complete, per post (one post's chunks never complete or spoil another's), until the piece is
  // assembled and verified, or dropped by the bounds. `evidence_requests`: full pieces asked of a
  // post with an evidence.request command.
  (t) => `
CREATE TABLE evidence (
  post_id TEXT NOT NULL,
  digest TEXT NOT NULL,
  kind TEXT NOT NULL,
  content_type TEXT NOT NULL,
  bytes ${t.bigint} NOT NULL,
  crossing_id TEXT,
  device_id TEXT,
  chunks ${t.bigint},
  image_width ${t.bigint},
  image_height ${t.bigint},
  of_digest TEXT,
  announced_ms ${t.bigint},
  problem TEXT,
  problem_ms ${t.bigint},
  evicted_at_post_ms ${t.bigint},
  PRIMARY KEY (post_id, digest)
);
CREATE INDEX evidence_by_crossing ON evidence (post_id, crossing_id);

CREATE TABLE evidence_blobs (
  digest TEXT PRIMARY KEY,
  content_type TEXT NOT NULL,
  bytes ${t.bigint} NOT NULL,
  data ${t.blob} NOT NULL,
  stored_ms ${t.bigint} NOT NULL
);

CREATE TABLE evidence_pending (
  post_id TEXT NOT NULL,
  digest TEXT NOT NULL,
  kind TEXT NOT NULL,
  content_type TEXT NOT NULL,
  bytes ${t.bigint} NOT NULL,
  chunk_count ${t.bigint} NOT NULL,
  received ${t.bigint} NOT NULL,
  received_bytes ${t.bigint} NOT NULL,
  first_ms ${t.bigint} NOT NULL,
  last_ms ${t.bigint} NOT NULL,
  PRIMARY KEY (post_id, digest)
);
CREATE INDEX evidence_pending_by_age ON evidence_pending (last_ms);

CREATE TABLE evidence_chunks (
  post_id TEXT NOT NULL,
  digest TEXT NOT NULL,
  idx ${t.bigint} NOT NULL,
  data ${t.blob} NOT NULL,
  PRIMARY KEY (post_id, digest, idx)
);

CREATE TABLE evidence_requests (
  post_id TEXT NOT NULL,
  digest TEXT NOT NULL,
  command_id TEXT NOT NULL,
  requested_by TEXT NOT NULL,
  requested_ms ${t.bigint} NOT NULL,
  PRIMARY KEY (post_id, digest)
);
`,
  // Verified evidence is kept `maxVerifiedAgeMs` (vmc/evidence/evidence-chunks.ts): the sweep
  // finds the oldest by the time they were last needed, and marks every post's announcement of
  // a piece it drops (by digest alone, across posts).
  () => `
CREATE INDEX evidence_blobs_by_age ON evidence_blobs (stored_ms);
CREATE INDEX evidence_by_digest ON evidence (digest);
`,
  // 7: gaps paged in (post, first seq, id) order (GET /api/gaps's keyset) from an index, not by
  // sorting every gap of the posts for each page: `gaps_by_post_seq` for all of them, `gaps_open`
  // for the open ones (the dashboard's, the gap scan's), partial so that PostgreSQL takes its
  // order too (an `IS NULL` on a leading column would not give it) and a closed gap leaves it.
  () => `
DROP INDEX gaps_by_post;
CREATE INDEX gaps_open ON gaps (post_id, first_seq, id) WHERE closed_ms IS NULL;
CREATE INDEX gaps_by_post_seq ON gaps (post_id, first_seq, id);
`,
];

export const LATEST_VERSION = MIGRATIONS.length;

/** Brings the store to LATEST_VERSION; resolves to the version it found. */
export async function migrate(db: SqlDb, nowMs: number): Promise<number> {
  const types = TYPES[db.dialect];
  return db.transaction(async (tx) => {
    // Serialises instances migrating at once: the second waits, then finds nothing to do.
    if (tx.dialect === 'postgres') await tx.run("SELECT pg_advisory_xact_lock(hashtext('border-gateway-vmc-migrate'))");
    await tx.run(`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_ms ${types.bigint} NOT NULL)`);
    const found = (await tx.all<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_version'))[0]?.v ?? 0;
    if (found > LATEST_VERSION) {
      throw new GatewayError('GW_ERR_VMC_STORE_NEWER', `the store is at schema version ${found}; this VMC knows up to ${LATEST_VERSION}`);
    }
    for (let version = found + 1; version <= LATEST_VERSION; version += 1) {
      for (const statement of splitStatements((MIGRATIONS[version - 1] as (t: Types) => string)(types))) await tx.run(statement);
      await tx.run('INSERT INTO schema_version (version, applied_ms) VALUES (?, ?)', [version, nowMs]);
    }
    return found;
  });
}

/** The migrations hold no `;` inside literals, so a script splits on them. */
function splitStatements(script: string): string[] {
  return script
    .split(';')
    .map((statement) => statement.trim())
    .filter((statement) => statement !== '');
}
