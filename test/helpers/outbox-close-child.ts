/**
 * Child of the outbox's close test (gateway/outbox/sqlite-outbox.test.ts): commits 100,000 events
 * in transactions of 1,000 while the checkpoint worker copies the WAL beside it, closes the outbox
 * and exits at once, as a command-line tool does (the benchmark's backlog fill). Prints how many
 * it committed. Argument: the database path.
 */
import { pino } from 'pino';
import { systemClock } from '../../core/clock.js';
import { createEventFactory } from '../../contract/envelope.js';
import { SqliteOutbox } from '../../gateway/outbox/sqlite-outbox.js';

const events = createEventFactory('p1', systemClock);
const outbox = SqliteOutbox.open({ path: process.argv[2] as string, maxBytes: 1 << 26, maxBatch: 1000, clock: systemClock, logger: pino({ level: 'silent' }) });
const append = (n: number): Promise<unknown> =>
  outbox.append(events.create('vehicle.weighed', 'lane-1', { crossingId: `c${n}`, clock: { synchronised: true, offsetMs: 0 }, sinceArrivalSec: n, weightKg: 1000 + n, deviceId: null }, `c${n}`));
let n = 0;
while (n < 100_000) await Promise.all(Array.from({ length: 1000 }, () => append(n++)));
outbox.close();
process.stdout.write(`${n}\n`);
process.exit(0);
