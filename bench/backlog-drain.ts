/**
 * Backlog drain, in child processes so memory is measured alone. `fill` stores BACKLOG events in
 * the outbox (the gateway's own append path, 1000 per commit) while no broker is involved;
 * `drain` opens that outbox, starts the uplink and times the drain, sampling RSS throughout.
 * Each prints one JSON line.
 *
 *   node dist-bench/bench/backlog-drain.js fill DIR BACKLOG
 *   node dist-bench/bench/backlog-drain.js drain DIR BACKLOG BROKER_URL
 */
import { join } from 'node:path';
import { pino } from 'pino';
import { systemClock } from '../core/clock.js';
import { SqliteOutbox } from '../gateway/outbox/sqlite-outbox.js';
import { benchEvent, startDurable } from './uplink-bench.js';

const [mode, dir, backlogText, brokerUrl] = process.argv.slice(2);
if ((mode !== 'fill' && mode !== 'drain') || !dir || !backlogText) throw new Error('usage: backlog-drain.js fill|drain DIR BACKLOG [BROKER_URL]');
const backlog = Number(backlogText);

if (mode === 'fill') {
  const started = performance.now();
  const outbox = SqliteOutbox.open({ path: join(dir, 'outbox.db'), maxBytes: 4 * 1024 ** 3, maxBatch: 1000, clock: systemClock, logger: pino({ level: 'silent' }) });
  for (let i = 0; i < backlog; i += 1000) {
    const appends: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(backlog, i + 1000); j += 1) appends.push(outbox.append(benchEvent(j)));
    await Promise.all(appends);
  }
  outbox.close();
  const fillSec = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ fillSec, fillRate: backlog / fillSec })}\n`);
} else {
  if (!brokerUrl) throw new Error('drain needs BROKER_URL');
  const rssBeforeMb = process.memoryUsage().rss / 1024 ** 2;
  let peakRss = 0;
  const sample = (): void => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  };
  const sampler = setInterval(sample, 20);
  const started = performance.now();
  const run = await startDurable(brokerUrl, dir, 256);
  // Count acknowledgements (the depth itself drops a turn later, when removals are flushed).
  let delivered = 0;
  await new Promise<void>((resolve) => {
    run.uplink.on('delivered', () => {
      delivered += 1;
      if (delivered === backlog) resolve();
    });
  });
  const drainSec = (performance.now() - started) / 1000;
  run.outbox.flushRemovals();
  const left = run.outbox.depth;
  clearInterval(sampler);
  sample();
  await run.close();
  if (left !== 0) throw new Error(`drain ended with ${left} events left`);
  process.stdout.write(`${JSON.stringify({ drainSec, drainRate: backlog / drainSec, peakRssMb: peakRss / 1024 ** 2, rssBeforeMb })}\n`);
}
