/**
 * `vmc export-training` over both stores: the same events give the same rows on SQLite and
 * PostgreSQL, paged by completion time, each crossing joined to its own post's decision and
 * outcomes, and the crossings that cannot make a row counted, not guessed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventData, EventType } from '../contract/catalogue.js';
import { createEventFactory, type CloudEvent } from '../contract/envelope.js';
import { trainingRowSchema, type TrainingRow } from '../contract/training-rows.js';
import { systemClock } from '../core/clock.js';
import { vmcStoreKinds } from '../test/helpers/postgres.js';
import { tempDir } from '../test/helpers/test-config.js';
import { crossingData } from '../test/helpers/vmc-events.js';
import { VmcStore } from './store/vmc-store.js';
import { exportTrainingRows } from './training-export.js';
import { vmcCommand } from './vmc-cli.js';

const T0 = Date.UTC(2026, 9, 5, 8);
const MIN = 60_000;
const FEATURES = { weightDeviation: 0.015625, weightUnknown: 0, watchlistMatch: 0, plateConfidence: 0.875, plateMismatches: 0, visits30d: 4, direction: 0, vehicleType: 1, aeo: 0, hourOfDay: 8 };
const clockQuality = { synchronised: true, offsetMs: 0.5 };

/** One gateway's events, each stamped at the minute given (not in time order: a post's crossings overlap), seq from 1. */
class Post {
  private nowMs = T0;
  private readonly factory;
  private seq = 0;
  readonly events: CloudEvent[] = [];

  constructor(readonly postId: string) {
    this.factory = createEventFactory(postId, { ...systemClock, now: () => this.nowMs });
  }

  at<T extends EventType>(minute: number, type: T, data: EventData<T>, subject: string): void {
    this.nowMs = T0 + minute * MIN;
    this.events.push({ ...this.factory.create(type, 'lane-1', data, subject), seq: (this.seq += 1) });
  }

  assessed(minute: number, crossingId: string, channel: 'green' | 'orange' | 'red', features: Record<string, number> | undefined): void {
    const data: EventData<'risk.assessed'> = { crossingId, clock: clockQuality, sinceArrivalSec: 60, channel, score: channel === 'green' ? 0.05 : 0.6, modelVersion: '2026.11.26', reasons: [], xrayRequested: channel !== 'green' };
    this.at(minute, 'risk.assessed', features ? { ...data, features } : data, crossingId);
  }

  scanned(minute: number, crossingId: string, result: 'clear' | 'suspect'): void {
    this.at(minute, 'xray.scanned', { crossingId, clock: clockQuality, sinceArrivalSec: 600, scannerId: 'x-1', result, imageRef: null, screening: null }, crossingId);
  }

  inspected(minute: number, crossingId: string, outcome: 'cleared' | 'irregularity' | 'refused'): void {
    this.at(minute, 'inspection.completed', { crossingId, clock: clockQuality, sinceArrivalSec: 900, outcome }, crossingId);
  }

  completed(minute: number, crossingId: string, extra: Partial<EventData<'crossing.completed'>> = {}): void {
    this.at(minute, 'crossing.completed', crossingData(this.postId, crossingId, 30, extra), crossingId);
  }
}

function posts(): { a: Post; b: Post } {
  const a = new Post('post-a');
  const b = new Post('post-b');
  // c1: green, picked for X-ray at random, clear.
  a.assessed(1, 'c1', 'green', FEATURES);
  a.scanned(20, 'c1', 'clear');
  a.completed(30, 'c1', { xray: true });
  // c2: red, suspect image, irregularity found.
  a.assessed(2, 'c2', 'red', { ...FEATURES, weightDeviation: 0.25 });
  a.scanned(25, 'c2', 'suspect');
  a.inspected(60, 'c2', 'irregularity');
  a.completed(70, 'c2', { channel: 'red', xray: true });
  // c3: decided by a gateway older than the features field.
  a.assessed(3, 'c3', 'green', undefined);
  a.completed(31, 'c3');
  // c4: released by an officer before any assessment.
  a.completed(32, 'c4');
  // c5: abandoned: no row, not counted.
  a.assessed(4, 'c5', 'green', FEATURES);
  a.completed(33, 'c5', { outcome: 'abandoned' });
  // c6: green overridden to orange by a supervisor, then a clear scan.
  a.assessed(5, 'c6', 'green', { ...FEATURES, hourOfDay: 9 });
  a.scanned(40, 'c6', 'clear');
  a.completed(50, 'c6', { channel: 'orange', xray: true });
  // c7: completes after --to.
  a.assessed(6, 'c7', 'green', FEATURES);
  a.completed(24 * 60, 'c7');
  // post-b has a crossing of the same id: its own events, not post-a's.
  b.assessed(1, 'c1', 'red', { ...FEATURES, watchlistMatch: 1 });
  b.scanned(10, 'c1', 'clear');
  b.inspected(35, 'c1', 'cleared');
  b.completed(45, 'c1', { channel: 'red', xray: true });
  return { a, b };
}

const iso = (minute: number): string => new Date(T0 + minute * MIN).toISOString();
const row = (postId: string, crossingId: string, assessed: number, completed: number, rest: Partial<TrainingRow>): TrainingRow => ({
  format: 1,
  crossingId,
  postId,
  laneId: 'lane-1',
  assessedAt: iso(assessed),
  completedAt: iso(completed),
  features: FEATURES,
  decision: { channel: 'green', score: 0.05, modelVersion: '2026.11.26' },
  channel: 'green',
  xray: null,
  inspection: null,
  ...rest,
});

const EXPECTED: TrainingRow[] = [
  row('post-a', 'c1', 1, 30, { xray: 'clear' }),
  row('post-b', 'c1', 1, 45, {
    features: { ...FEATURES, watchlistMatch: 1 },
    decision: { channel: 'red', score: 0.6, modelVersion: '2026.11.26' },
    channel: 'red',
    xray: 'clear',
    inspection: 'cleared',
  }),
  row('post-a', 'c6', 5, 50, { features: { ...FEATURES, hourOfDay: 9 }, channel: 'orange', xray: 'clear' }),
  row('post-a', 'c2', 2, 70, {
    features: { ...FEATURES, weightDeviation: 0.25 },
    decision: { channel: 'red', score: 0.6, modelVersion: '2026.11.26' },
    channel: 'red',
    xray: 'suspect',
    inspection: 'irregularity',
  }),
];

const KINDS = vmcStoreKinds('vmc-export');

const readRows = (path: string): TrainingRow[] =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((line) => trainingRowSchema.parse(JSON.parse(line)));

describe.each(KINDS)('training export from the $name store', (kind) => {
  let spec: string;
  let drop: () => Promise<void>;
  let store: VmcStore;
  const dir = tempDir('export-out-');

  beforeEach(async () => {
    ({ spec, drop } = await kind.make());
    store = await VmcStore.open(spec, T0);
    const { a, b } = posts();
    // Stored out of order, as two consumers of one share group would.
    await store.store(b.events, 'vmc-2', T0);
    await store.store(a.events, 'vmc-1', T0);
  });

  afterEach(async () => {
    await store.close();
    await drop();
  });

  it('writes one row per completed, assessed crossing with its features and outcomes, in completion order across pages', async () => {
    const out = join(dir, `${kind.name}-all.jsonl`);
    const summary = await exportTrainingRows(store, { outPath: out, filter: { toMs: T0 + 12 * 60 * MIN }, pageSize: 2 });
    expect(readRows(out)).toEqual(EXPECTED);
    expect(summary).toEqual({
      rows: 4,
      scanned: 4,
      inspected: 2,
      skipped: { notAssessed: 1, noFeatures: 1, invalid: 0 },
      posts: ['post-a', 'post-b'],
      firstCompletedAt: iso(30),
      lastCompletedAt: iso(70),
    });
    expect(existsSync(`${out}.partial`)).toBe(false);
  });

  it('exports only the posts and the period asked for, through the command line', async () => {
    const out = join(dir, `${kind.name}-b.jsonl`);
    const printed: string[] = [];
    const io = { out: (line: string) => printed.push(line), readSecret: () => Promise.resolve('') };
    expect(await vmcCommand(['export-training', '--store', spec, '--out', out, '--posts', 'post-b', '--from', '2026-10-05', '--to', '2026-10-06'], io)).toBe(0);
    expect(readRows(out)).toEqual([EXPECTED[1]]);
    expect(printed).toEqual([`exported 1 crossings of 1 post(s) (completed ${iso(45)} … ${iso(45)}) to ${out}: 1 X-rayed, 1 inspected`]);
    // The crossing completed a day later is in the next day's export.
    expect(await vmcCommand(['export-training', '--store', spec, '--out', out, '--posts', 'post-a', '--from', '2026-10-06T00:00:00Z'], io)).toBe(0);
    expect(readRows(out).map((r) => r.crossingId)).toEqual(['c7']);
  });
});

describe('vmc export-training command line', () => {
  const io = { out: () => undefined, readSecret: () => Promise.resolve('') };

  it('refuses a missing --out, a time it cannot read, an empty period and bad post names before opening a store', async () => {
    const store = ['--store', 'sqlite:/nonexistent/dir/vmc.db'];
    for (const args of [[], ['--out', 'x.jsonl', '--from', '05/10/2026'], ['--out', 'x.jsonl', '--from', '2026-10-06', '--to', '2026-10-05'], ['--out', 'x.jsonl', '--posts', 'Post A']]) {
      await expect(vmcCommand(['export-training', ...store, ...args], io), args.join(' ')).rejects.toMatchObject({ code: 'GW_ERR_CLI_USAGE' });
    }
  });
});
