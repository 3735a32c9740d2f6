import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../core/clock.js';
import { tempDir } from '../test/helpers/test-config.js';
import { loadHistory } from './history-loader.js';
import { VmcStore } from './store/vmc-store.js';

describe('vmc load-history', () => {
  let store: VmcStore;
  afterEach(() => store.close());

  it('loads seeded crossings with the demo shares, complete seqs, and the same figures for the same seed', async () => {
    store = await VmcStore.open(`sqlite:${join(tempDir('vmc-history-'), 'vmc.db')}`, 0);
    const options = { posts: ['post-a', 'post-b'], fromMs: Date.UTC(2025, 0, 1), days: 60, perDay: 40, seed: 3 };
    const loaded = await loadHistory(store, options, systemClock);
    expect(loaded).toBeGreaterThan(2 * 60 * 20);
    const report = await store.trsReport({}, 10);
    expect(report.vehicles).toBe(loaded);
    expect(report.channels.green).toBeGreaterThan(0.72);
    expect(report.channels.green).toBeLessThan(0.84);
    expect(report.xrayShare).toBeGreaterThan(0.18);
    expect(report.xrayShare).toBeLessThan(0.36);
    expect(report.registration.avgMin).toBeGreaterThan(85);
    expect(report.registration.avgMin).toBeLessThan(115);
    expect(report.crossing.avgMin).toBeGreaterThan(120);
    expect(report.crossing.avgMin).toBeLessThan(160);
    expect((await store.trsReport({ fromMs: Date.UTC(2025, 1, 1), toMs: Date.UTC(2025, 1, 2), posts: ['post-a'] })).vehicles).toBeGreaterThan(5);
    expect((await store.scanGaps(Date.now() + 60_000, 0)).opened).toEqual([]);
    // The same options again: the same ids, so nothing is added; into a fresh store, the same figures.
    expect(await loadHistory(store, options, systemClock)).toBe(0);
    expect((await store.eventCounts()).total).toBe(loaded);
    const again = await VmcStore.open(`sqlite:${join(tempDir('vmc-history-'), 'vmc.db')}`, 0);
    await loadHistory(again, options, systemClock);
    expect(await again.trsReport({}, 10)).toEqual(report);
    await again.close();
  });
});
