/**
 * Schema of the outbox database. `seq` is the primary key (rowid), so reading in seq order and
 * deleting by seq are index lookups; `priority` is the retention class (0 telemetry, 1
 * operational, 2 critical) with an index so the drop policy finds its oldest victims cheaply.
 * `meta` holds counters that must survive restarts: the last seq given out and drops by class.
 */
export const OUTBOX_DDL = `
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
