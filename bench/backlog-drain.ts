/**
 * Backlog drain, run in its own process so its memory is measured alone: fill the outbox with
 * BACKLOG events while no broker is reachable, then start the uplink and time the drain, sampling
 * RSS throughout. Prints one JSON line. Usage: tsx bench/backlog-drain.ts BROKER_URL DIR BACKLOG
 */
import { benchEvent, startDurable } from './uplink-bench.js';
import { SqliteOutbox } from '../gateway/outbox/sqlite-outbox.js';
import { systemClock } from '../gateway/clock.js';
import { pino } from 'pino';
import { join } from 'node:path';

const [brokerUrl, dir, backlogText] = process.argv.slice(2);
if (!brokerUrl || !dir || !backlogText) throw new Error('usage: backlog-drain.ts BROKER_URL DIR BACKLOG');
const backlog = Number(backlogText);

let peakRss = 0;
const sample = (): void => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
};

// Fill: the gateway's own append path, 1000 events per commit.
const fillStarted = performance.now();
const filler = SqliteOutbox.open({ path: join(dir, 'outbox.db'), maxBytes: 4 * 1024 ** 3, maxBatch: 1000, clock: systemClock, logger: pino({ level: 'silent' }) });
for (let i = 0; i < backlog; i += 1000) {
  const appends: Promise<unknown>[] = [];
  for (let j = i; j < Math.min(backlog, i + 1000); j += 1) appends.push(filler.append(benchEvent(j)));
  await Promise.all(appends);
}
filler.close();
const fillSec = (performance.now() - fillStarted) / 1000;
const rssAfterFill = process.memoryUsage().rss;
global.gc?.();

peakRss = 0;
const sampler = setInterval(sample, 50);
const drainStarted = performance.now();
const run = await startDurable(brokerUrl, dir, 256);
await new Promise<void>((resolve) => {
  const check = (): void => {
    if (run.outbox.depth === 0) resolve();
  };
  run.uplink.on('delivered', check);
  check();
});
const drainSec = (performance.now() - drainStarted) / 1000;
clearInterval(sampler);
sample();
await run.close();
process.stdout.write(
  `${JSON.stringify({ backlog, fillSec, fillRate: backlog / fillSec, drainSec, drainRate: backlog / drainSec, peakDrainRssMb: peakRss / 1024 ** 2, rssAfterFillMb: rssAfterFill / 1024 ** 2 })}\n`,
);
