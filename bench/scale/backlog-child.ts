/**
 * One point of the backlog scale curve, each step in a process of its own (compiled JS, as the
 * gateway runs) so that its peak RSS is that step's alone. Only the outbox's public API and the
 * uplink are used, as the gateway uses them. Each prints one JSON line.
 *
 *   fill  DIR BACKLOG              stores BACKLOG events (the gateway's append path, 1000 appends
 *                                  per turn: one group commit each); times every group commit
 *   drain DIR BACKLOG BROKER_URL   opens that outbox, starts the uplink (QoS 1, window 256) and
 *                                  times the drain from the connection until every event is
 *                                  acknowledged and deleted
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { systemClock } from '../../core/clock.js';
import { SqliteOutbox } from '../../gateway/outbox/sqlite-outbox.js';
import { benchEvent, percentile, startDurable } from '../uplink-bench.js';
import { peakRssMb, type BacklogDrain, type BacklogFill } from './measures.js';

const GROUP = 1000;
const WINDOW = 256;
const MB = 1024 ** 2;

const [mode, dir, backlogText, brokerUrl] = process.argv.slice(2);
const backlog = Number(backlogText);
if ((mode !== 'fill' && mode !== 'drain') || !dir || !(backlog > 0)) throw new Error('usage: backlog-child.js fill|drain DIR BACKLOG [BROKER_URL]');
const outboxPath = join(dir, 'outbox.db');

function fileBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

async function fill(): Promise<BacklogFill> {
  const outbox = SqliteOutbox.open({ path: outboxPath, maxBytes: 8 * 1024 ** 3, maxBatch: GROUP, clock: systemClock, logger: pino({ level: 'silent' }) });
  const groups: number[] = [];
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < backlog; i += GROUP) {
    const groupStarted = performance.now();
    const appends: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(backlog, i + GROUP); j += 1) appends.push(outbox.append(benchEvent(j)));
    await Promise.all(appends);
    groups.push(performance.now() - groupStarted);
  }
  const fillSec = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  if (outbox.depth !== backlog) throw new Error(`fill stored ${outbox.depth} of ${backlog} events`);
  // What the post's flash holds: the database and its WAL as the gateway leaves them running.
  const dbBytes = fileBytes(outboxPath) + fileBytes(`${outboxPath}-wal`);
  outbox.close();
  // The first and last tenth of the fill: does an append cost more once the table is big?
  const tenth = Math.max(1, Math.floor(groups.length / 10));
  const rateOf = (slice: number[]): number => (slice.length * GROUP) / (slice.reduce((a, b) => a + b, 0) / 1000);
  const firstTenthRate = rateOf(groups.slice(0, tenth));
  const lastTenthRate = rateOf(groups.slice(-tenth));
  const sorted = [...groups].sort((a, b) => a - b);
  return {
    backlog,
    fillSec,
    appendRate: backlog / fillSec,
    cpuUsPerEvent: (cpu.user + cpu.system) / backlog,
    firstTenthRate,
    lastTenthRate,
    groupCommitP50Ms: percentile(sorted, 50),
    groupCommitP99Ms: percentile(sorted, 99),
    groups: groups.length,
    dbBytes,
    peakRssMb: peakRssMb(),
  };
}

async function drain(url: string): Promise<BacklogDrain> {
  const rssStartMb = process.memoryUsage().rss / MB;
  const opening = performance.now();
  const run = await startDurable(url, dir as string, WINDOW);
  const startSec = (performance.now() - opening) / 1000;
  // The drain proper: from the uplink connected (as when the broker comes back to a running
  // gateway) to the last acknowledgement. Publishing starts at the connection, a moment earlier.
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  if (run.outbox.depth !== backlog) throw new Error(`drain found ${run.outbox.depth} events, expected ${backlog}`);
  // Acknowledgements, counted as they come (the depth drops a turn later, when removals are flushed).
  let delivered = 0;
  await new Promise<void>((resolve) => {
    run.uplink.on('delivered', () => {
      delivered += 1;
      if (delivered === backlog) resolve();
    });
  });
  const drainSec = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  run.outbox.flushRemovals();
  const left = run.outbox.depth;
  await run.close();
  if (left !== 0) throw new Error(`drain ended with ${left} events left`);
  return { backlog, startSec, drainSec, drainRate: backlog / drainSec, cpuUsPerEvent: (cpu.user + cpu.system) / backlog, rssStartMb, peakRssMb: peakRssMb() };
}

if (mode === 'drain' && !brokerUrl) throw new Error('drain needs BROKER_URL');
const result = mode === 'fill' ? await fill() : await drain(brokerUrl as string);
process.stdout.write(`${JSON.stringify(result)}\n`);
