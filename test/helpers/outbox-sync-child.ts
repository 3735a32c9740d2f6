/**
 * Child of test/outbox-sync-off-loop.test.ts, run under strace: commits groups of events the way
 * the gateway does, removes what it read (as acknowledgements would), and marks on stdout, with
 * one write(2) each, when the outbox opened, when each group's producers heard "committed", and
 * when it closes, then where its WAL syncs ran. Arguments: database path, groups, events per
 * group, and "pool" to keep every sync off the loop (else the outbox's default budget; "no-close"
 * leaves the outbox open at the end). It goes on past `groups` until the checkpointer has
 * checkpointed twice, so the trace always holds checkpoints.
 */
import { writeSync } from 'node:fs';
import { pino } from 'pino';
import { systemClock } from '../../core/clock.js';
import { createEventFactory } from '../../contract/envelope.js';
import { SqliteOutbox } from '../../gateway/outbox/sqlite-outbox.js';

const [path, groupsArg, perGroupArg, syncMode] = process.argv.slice(2);
const groups = Number(groupsArg);
const perGroup = Number(perGroupArg);
const events = createEventFactory('p1', systemClock);
const quality = { synchronised: true, offsetMs: 0 };

const outbox = SqliteOutbox.open({ path: path as string, maxBytes: 256 * 1024 * 1024, maxBatch: 1000, clock: systemClock, logger: pino({ level: 'silent' }),
  // "pool": every sync in libuv's pool (the loop's budget off); else the outbox's default.
  ...(syncMode === 'pool' ? { walLoopSyncBudget: { share: 0, burstMs: 0, maxAverageMs: 0 } } : {}),
});
writeSync(1, 'OPENED\n');
let read = 1;
const checkpointed = (): number => outbox.checkpoints?.checkpoints ?? 0;
for (let group = 0; group < groups || (checkpointed() < 2 && group < groups * 20); group += 1) {
  const appends = Array.from({ length: perGroup }, (_, i) => {
    const n = group * perGroup + i;
    return outbox.append(events.create('vehicle.weighed', 'lane-1', { crossingId: `c${n}`, clock: quality, sinceArrivalSec: n, weightKg: 20_000 + n, deviceId: null }, `c${n}`));
  });
  const committed = await Promise.all(appends);
  writeSync(1, `RESOLVED ${committed[committed.length - 1]?.seq}\n`);
  for (const row of outbox.readFrom(read, perGroup)) {
    outbox.remove(row.seq);
    read = row.seq + 1;
  }
}
writeSync(1, 'CLOSING\n');
writeSync(1, `SYNCS ${JSON.stringify(outbox.walSyncs)}\n`);
// "no-close": the process ends without closing the outbox, as after an error that set exitCode;
// better-sqlite3 closes the connections as the process exits. Frames no checkpoint has copied are
// left in the WAL (written past the outbox, which would start a checkpoint), for the connection
// closed last to copy.
if (syncMode === 'no-close') {
  // The removals scheduled above commit first (and may begin a cycle, which this waits for).
  await new Promise((resolve) => setImmediate(resolve));
  await outbox.checkpointWhole();
  outbox.database.prepare('DELETE FROM events').run();
} else {
  outbox.close();
}
