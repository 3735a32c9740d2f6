/**
 * The schema of the gateway's database (the one SQLite file at `outbox.path`: outbox, open
 * crossings, the lanes' recent exits, visits, completed crossings, accounts, audit log, model versions, VMC commands, the evidence index), as numbered
 * migrations recorded in `PRAGMA user_version`. A migration is appended, never edited once
 * released: a database at version N is brought to the latest by running N+1… in order, each in
 * its own transaction together with the new version number, so a power cut leaves it at N or at
 * N+1, never between. A database newer than this code is refused (GW_ERR_OUTBOX_SCHEMA_NEWER)
 * before anything reads or writes it: an older gateway cannot know what a newer one's rows mean.
 *
 * Version 0 is both a new file and a database written by 0.1.0 or earlier, which had no version
 * number (each module ran its own CREATE TABLE IF NOT EXISTS). Migration 1 is that schema written
 * so it applies to either: it creates what is missing and adds the one column added during 0.1.0
 * (`accounts.must_change`), keeping every row. test/deploy-upgrade.test.ts opens a database
 * written by 0.1.0's own code (test/fixtures/gateway-db-0.1.0.sql).
 */
import type Database from 'better-sqlite3';
import { GatewayError } from '../../core/errors.js';

interface Migration {
  /** What it changes, for the log of an upgrade. */
  description: string;
  /** Runs inside the migration's transaction. */
  up: (db: Database.Database) => void;
}

/** The outbox's tables (part of migration 1). */
export const V1_OUTBOX_SQL = `
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  lane TEXT NOT NULL,
  type TEXT NOT NULL,
  priority INTEGER NOT NULL,
  payload TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_priority ON events (priority, seq);
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
`;

const V1_SQL = `${V1_OUTBOX_SQL}
CREATE TABLE IF NOT EXISTS accounts (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  changed_ms INTEGER NOT NULL,
  must_change INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS api_clients (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  device_id TEXT,
  secret_sha256 TEXT NOT NULL,
  allow_from TEXT NOT NULL DEFAULT '[]',
  disabled INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  actor TEXT NOT NULL,
  role TEXT NOT NULL,
  action TEXT NOT NULL,
  lane_id TEXT,
  crossing_id TEXT,
  before TEXT,
  after TEXT,
  reason TEXT,
  event_id TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS open_crossings (
  crossing_id TEXT PRIMARY KEY,
  lane_id TEXT NOT NULL,
  snapshot TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS barrier_cycles (
  lane_id TEXT PRIMARY KEY,
  cycle TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS visits (
  plate_key TEXT NOT NULL,
  wall_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS visits_by_time ON visits (wall_ms);
CREATE TABLE IF NOT EXISTS plate_mismatches (
  plate_key TEXT PRIMARY KEY,
  count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS completed_crossings (
  event_id TEXT PRIMARY KEY,
  crossing_id TEXT NOT NULL,
  lane_id TEXT NOT NULL,
  day TEXT NOT NULL,
  exited_ms INTEGER NOT NULL,
  record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS completed_crossings_by_day ON completed_crossings (day);
CREATE INDEX IF NOT EXISTS completed_crossings_by_time ON completed_crossings (exited_ms);
CREATE TABLE IF NOT EXISTS model_versions (
  model TEXT PRIMARY KEY,
  version TEXT NOT NULL
);
`;

/** Migration n is MIGRATIONS[n - 1]. */
const MIGRATIONS: readonly Migration[] = [
  {
    description: 'the 0.1.0 schema (databases written by 0.1.0 have it already, without a version number)',
    up: (db) => {
      db.exec(V1_SQL);
      // Databases made before the column was added to 0.1.0's accounts table lack it.
      const columns = db.prepare<[], { name: string }>('PRAGMA table_info(accounts)').all();
      if (!columns.some((column) => column.name === 'must_change')) db.exec('ALTER TABLE accounts ADD COLUMN must_change INTEGER NOT NULL DEFAULT 0');
    },
  },
  {
    description: 'the last applied VMC command of each kind (watchlist, model rollout) with what it applied',
    up: (db) => {
      db.exec(`CREATE TABLE vmc_commands (
  kind TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  command_id TEXT NOT NULL,
  content TEXT NOT NULL,
  applied_ms INTEGER NOT NULL
)`);
    },
  },
  {
    description: 'the evidence store: an index of the pictures kept on disk (gateway/evidence) and the progress of each transfer to the VMC',
    up: (db) => {
      // `id` orders the store oldest first (the bound evicts in that order); times may step.
      db.exec(`CREATE TABLE evidence (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  digest TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  content_type TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  lane_id TEXT NOT NULL,
  crossing_id TEXT,
  device_id TEXT,
  stored_ms INTEGER NOT NULL
);
CREATE INDEX evidence_by_kind ON evidence (kind, id);
CREATE INDEX evidence_by_crossing ON evidence (crossing_id);
CREATE TABLE evidence_uploads (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  digest TEXT NOT NULL,
  request_id TEXT,
  next_index INTEGER NOT NULL,
  chunks INTEGER NOT NULL
);
CREATE INDEX evidence_uploads_by_digest ON evidence_uploads (digest);`);
    },
  },
  {
    description: 'scans whose evidence is still to be taken, written with their xray.scanned (gateway/evidence/scans-awaiting-evidence.ts)',
    up: (db) => {
      db.exec(`CREATE TABLE scans_awaiting_evidence (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  crossing_id TEXT NOT NULL,
  lane_id TEXT NOT NULL,
  path TEXT NOT NULL,
  scanner_id TEXT NOT NULL,
  UNIQUE (crossing_id, path)
)`);
    },
  },
  {
    description: "the visit history read per vehicle from the database (workflow/lane-store.ts), not held in memory: an index to count a plate's arrivals",
    up: (db) => {
      db.exec('CREATE INDEX visits_by_plate ON visits (plate_key, wall_ms)');
    },
  },
  {
    description: "the plates that left each lane in the last minutes (workflow/lane-store.ts), so the exit camera's re-read of a truck that left just before a restart is not taken for another vehicle",
    up: (db) => {
      db.exec('CREATE TABLE recent_exits (lane_id TEXT PRIMARY KEY, plates TEXT NOT NULL)');
    },
  },
  {
    description: "each lane's run of weights matching the next vehicle's declaration (workflow/queue-shift.ts), so a queue shift across a restart is raised on the same weighing as without one",
    up: (db) => {
      db.exec('CREATE TABLE queue_shift_runs (lane_id TEXT PRIMARY KEY, run TEXT NOT NULL)');
    },
  },
];

export const GATEWAY_SCHEMA_VERSION = MIGRATIONS.length;

export interface MigrationResult {
  /** The version the database was at. */
  from: number;
  /** The version it is at now: GATEWAY_SCHEMA_VERSION (or `upTo`). */
  to: number;
  /** Descriptions of the migrations run, in order (empty when it was current). */
  applied: string[];
}

/** The database's schema version (0: new, or written by 0.1.0 or earlier). */
export function schemaVersionOf(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function refuseNewer(db: Database.Database, found: number): void {
  if (found <= GATEWAY_SCHEMA_VERSION) return;
  throw new GatewayError(
    'GW_ERR_OUTBOX_SCHEMA_NEWER',
    `${db.name} is at schema version ${found}, written by a newer gateway; this one knows versions up to ${GATEWAY_SCHEMA_VERSION}. Run the newer version (/opt/border-gateway.previous after a rollback) or restore a backup made by this one`,
  );
}

/**
 * Throws GW_ERR_OUTBOX_SCHEMA_NEWER when a newer gateway wrote `db`, for the commands that read
 * it without migrating it (`backup`, `trs report --outbox`): what a newer gateway's rows mean is
 * as unknown to them as to the gateway, and `restore` would refuse their archive anyway.
 */
export function refuseNewerSchema(db: Database.Database): void {
  refuseNewer(db, schemaVersionOf(db));
}

/**
 * Brings the database to GATEWAY_SCHEMA_VERSION (or only to `upTo`, for tests of one migration),
 * or throws GW_ERR_OUTBOX_SCHEMA_NEWER without touching it. Cheap when current (one pragma read), so every store that owns tables calls it on
 * the handle it is given. Safe against a second process migrating at the same moment (the
 * command line adding an account while the gateway starts): each step takes the write lock
 * (BEGIN IMMEDIATE, waiting up to the handle's busy_timeout) and re-reads the version under it.
 */
export function migrateGatewayDatabase(db: Database.Database, upTo = GATEWAY_SCHEMA_VERSION): MigrationResult {
  const from = schemaVersionOf(db);
  refuseNewer(db, from);
  const applied: string[] = [];
  for (let version = from + 1; version <= Math.min(upTo, GATEWAY_SCHEMA_VERSION); version += 1) {
    const migration = MIGRATIONS[version - 1] as Migration;
    db.transaction(() => {
      const current = schemaVersionOf(db);
      refuseNewer(db, current);
      if (current >= version) return;
      migration.up(db);
      // user_version lives in the database header, written by this transaction's commit.
      db.pragma(`user_version = ${version}`);
      applied.push(migration.description);
    }).immediate();
  }
  return { from, to: schemaVersionOf(db), applied };
}
