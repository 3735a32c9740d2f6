/**
 * The VMC dashboard's "Open gaps" in Chromium (playwright-core, /usr/bin/chromium) when there are
 * more than one page of them: seven posts at MAX_OPEN_GAPS_PER_POST open gaps (1,400) against the
 * 1,000 of GET /api/gaps's first page. The panel said nothing of the 400 it did not list, and
 * post-f and post-g were simply absent; it now says how many it shows of how many, and names the
 * posts it leaves out, each a link to that post's own gaps. The VMC's app runs in this process over
 * a SQLite store; screenshots in test-artifacts/vmc/.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildVmcApp } from '../vmc/http/vmc-app.js';
import { MAX_OPEN_GAPS_PER_POST, VmcStore } from '../vmc/store/vmc-store.js';
import { VmcAuth } from '../vmc/vmc-auth.js';
import { buildUiIfStale, launchChromium, logInToDashboard } from './helpers/browser.js';
import { REPO_ROOT } from './helpers/gateway-process.js';
import { ManualClock } from './helpers/manual-clock.js';
import { tempDir } from './helpers/test-config.js';
import { EventMaker } from './helpers/vmc-events.js';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'vmc');
const NOW = Date.UTC(2026, 10, 27, 12);
const POSTS = ['post-a', 'post-b', 'post-c', 'post-d', 'post-e', 'post-f', 'post-g'];

describe('the VMC dashboard’s open gaps past one page, in Chromium', () => {
  let store: VmcStore;
  let app: FastifyInstance;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    buildUiIfStale('vmc', 'vmc-ui');
    mkdirSync(ARTIFACTS, { recursive: true });
    store = await VmcStore.open(`sqlite:${join(tempDir('vmc-gaps-ui-'), 'vmc.db')}`, NOW);
    // Every other seq withheld: each post's open gaps at the bound.
    for (const post of POSTS) {
      const maker = new EventMaker(post, new ManualClock(NOW - 3_600_000));
      const events = Array.from({ length: 2 * MAX_OPEN_GAPS_PER_POST + 2 }, () => maker.deviceStatus('cam-1', 'up'));
      await store.store(events.filter((e) => e.seq % 2 === 0), 'vmc-1', NOW);
    }
    await store.scanGaps(NOW + 6000, 5000);
    await new VmcAuth(store, new ManualClock(NOW)).addAccount('ana', 'analyst', 'analyst-password-1');
    app = await buildVmcApp({ store, auth: new VmcAuth(store, new ManualClock(NOW)), status: () => ({}), uiDir: join(REPO_ROOT, 'dist', 'vmc-ui') });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await store?.close();
  });

  it('says it shows 1,000 of 1,400 open gaps and names the posts it does not list, each a link to its own gaps', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const problems: string[] = [];
    await logInToDashboard(page, base, 'ana', 'analyst-password-1', problems);
    const cut = page.locator('[data-gaps-cut]');
    await cut.waitFor();
    const total = POSTS.length * MAX_OPEN_GAPS_PER_POST;
    expect(await cut.textContent()).toBe(`Showing the first 1,000 of ${total.toLocaleString('en-US')} open gaps (by post, then seq); not listed: post-f (200), post-g (200)`);
    const listed = page.locator('section[aria-label="gaps and alarms"] p.down:not([data-gaps-cut])');
    expect(await listed.count()).toBe(1000);
    await cut.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, '9-open-gaps-cut.png') });
    // A post named there is a link to its own gaps: all of them fit, and the panel says nothing more.
    await page.locator('[data-gaps-post="post-g"]').click();
    await expect.poll(() => listed.count()).toBe(MAX_OPEN_GAPS_PER_POST);
    expect(await cut.count()).toBe(0);
    expect(new Set(await listed.evaluateAll((rows) => rows.map((row) => row.textContent?.split(':')[0])))).toEqual(new Set(['post-g']));
    expect(await page.locator('select[name=post]').evaluate((select) => [...(select as HTMLSelectElement).selectedOptions].map((option) => option.value))).toEqual(['post-g']);
    await page.screenshot({ path: join(ARTIFACTS, '9-open-gaps-one-post.png') });
    expect(problems).toEqual([]);
    await page.close();
  });
});
