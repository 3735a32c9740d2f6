/**
 * The VMC dashboard against what a hostile (or badly broken) border post can send inside the
 * contract: figures the TRS report cannot round, strings that go on for kilobytes or carry bidi
 * controls, crossings stamped decades ahead. Each post's events pass the contract's own check
 * (`checkEvent`, what the VMC's intake runs) before they are stored; the dashboard is the built
 * one (dist/vmc-ui), served in process, in Debian's Chromium at 1366×768. Screenshots in
 * test-artifacts/vmc-hostile/.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudEvent } from '../contract/envelope.js';
import { checkEvent } from '../contract/event-validator.js';
import { MAX_ID_LENGTH } from '../core/identifiers.js';
import { systemClock } from '../core/clock.js';
import { buildVmcApp } from '../vmc/http/vmc-app.js';
import { VmcStore } from '../vmc/store/vmc-store.js';
import { VmcAuth } from '../vmc/vmc-auth.js';
import { buildUiIfStale, launchChromium } from './helpers/browser.js';
import { REPO_ROOT } from './helpers/gateway-process.js';
import { ManualClock } from './helpers/manual-clock.js';
import { tempDir } from './helpers/test-config.js';
import { EventMaker } from './helpers/vmc-events.js';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'vmc-hostile');
const HOUR_MS = 3_600_000;

describe('the VMC dashboard against a hostile post', () => {
  let browser: Browser;
  const running: { app: FastifyInstance; store: VmcStore }[] = [];

  beforeAll(async () => {
    buildUiIfStale('vmc', 'vmc-ui');
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    for (const { app, store } of running) {
      await app.close();
      await store.close();
    }
  });

  /** A VMC holding `events` (each checked against the contract first), at a free port; its URL. */
  const serve = async (events: CloudEvent[]): Promise<string> => {
    for (const event of events) expect(checkEvent(JSON.parse(JSON.stringify(event))), event.type).toMatchObject({ ok: true });
    const store = await VmcStore.open(`sqlite:${join(tempDir('vmc-hostile-'), 'vmc.db')}`, systemClock.now());
    await store.store(events, 'test', systemClock.now());
    await new VmcAuth(store, systemClock).addAccount('ana', 'analyst', 'analyst-password-1');
    const app = await buildVmcApp({ store, auth: new VmcAuth(store, systemClock), status: () => ({ name: 'hostile-test' }) });
    running.push({ app, store });
    return app.listen({ host: '127.0.0.1', port: 0 });
  };

  const open = async (base: string, now = Date.now()): Promise<{ page: Page; problems: string[] }> => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.clock.setFixedTime(now);
    await page.goto(base);
    await page.fill('input[name=name]', 'ana');
    await page.fill('input[name=password]', 'analyst-password-1');
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=fig-vehicles]');
    return { page, problems };
  };
  const figure = (page: Page, id: string) => page.locator(`[data-testid=${id}] b`);

  it('shows a post whose crossing times overflow the report’s rounding: its figures, not the last post’s', async () => {
    const now = Date.now();
    const good = new EventMaker('post-good', new ManualClock(now - 5 * HOUR_MS));
    const evil = new EventMaker('post-evil', new ManualClock(now - 4 * HOUR_MS));
    const base = await serve([
      ...Array.from({ length: 6 }, (_, i) => good.crossing(`g${i}`, 20 + i * 7)),
      // Within the contract (durations: any number ≥ 0): /api/trs answers their average as null.
      evil.crossing('e1', 1, { durations: { registrationSec: 1.7e308, crossingSec: 1.7e308 } }),
      evil.crossing('e2', 1, { durations: { registrationSec: 1.7e308, crossingSec: 1.7e308 } }),
    ]);
    const { page, problems } = await open(base, now);
    await expect.poll(() => figure(page, 'fig-vehicles').textContent()).toBe('8');
    await page.selectOption('select[name=post]', ['post-evil']);
    await expect.poll(() => figure(page, 'fig-vehicles').textContent()).toBe('2');
    const lastRow = page.locator('section[aria-label="interval table"] tbody tr').last();
    await expect.poll(() => lastRow.locator('td').nth(1).textContent()).toBe('2');
    expect(await lastRow.locator('td').nth(4).textContent()).toBe('–');
    expect(await figure(page, 'fig-crossing').textContent()).toBe('–');
    // And back to the well-behaved post: the dashboard still follows the filters.
    await page.selectOption('select[name=post]', ['post-good']);
    await expect.poll(() => figure(page, 'fig-vehicles').textContent()).toBe('6');
    await page.screenshot({ path: join(ARTIFACTS, '1-overflowing-figures.png'), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  }, 120_000);

  it('keeps a post’s kilobyte strings (plate, lane, device error, alarm message) and 1e303-minute figures inside their boxes at 1366×768', async () => {
    const now = Date.now();
    const good = new EventMaker('post-good', new ManualClock(now - 5 * HOUR_MS));
    const evil = new EventMaker('post-evil', new ManualClock(now - 4 * HOUR_MS));
    const long = (c: string, n: number) => c.repeat(n);
    const base = await serve([
      ...Array.from({ length: 6 }, (_, i) => good.crossing(`g${i}`, 20 + i * 7)),
      evil.crossing('e-plate', 30, { plate: long('W', 3000) }),
      evil.crossing('e-huge', 1, { durations: { registrationSec: 1e307, crossingSec: 1e307 } }),
      evil.event('device.status', 'lane-1', { deviceId: 'cam-1', state: 'degraded', lastError: long('E', 5000) }),
      evil.event('alarm.raised', 'post', { alarm: 'GW_ERR_X', severity: 'warning', message: long('M', 5000), details: {} }),
      evil.event('alarm.raised', `lane-${long('l', MAX_ID_LENGTH - 5)}`, { alarm: 'GW_ERR_Y', severity: 'warning', message: `a lane id of ${MAX_ID_LENGTH} characters, the longest a post may have`, details: {} }),
    ]);
    // A longer one is no post's: the intake refuses it before anything shows it.
    expect(checkEvent(JSON.parse(JSON.stringify(evil.event('alarm.raised', `lane-${long('l', 300)}`, { alarm: 'GW_ERR_Y', severity: 'warning', message: 'a lane id of 305 characters', details: {} }))))).toMatchObject({ ok: false, reason: 'envelope' });
    const { page, problems } = await open(base, now);
    await expect.poll(() => figure(page, 'fig-vehicles').textContent()).toBe('8');
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    await page.waitForSelector('[data-testid=interval-chart] canvas');
    expect(await overflow()).toBe(0);
    // The averages are 2e303 minutes: shown whole in their tiles, not cut to what reads as "2.0".
    for (const id of ['fig-registration', 'fig-crossing']) {
      expect(await figure(page, id).textContent(), id).toMatch(/e\+30\d$/);
      expect(await figure(page, id).evaluate((b) => b.scrollWidth <= b.clientWidth && b.getBoundingClientRect().right <= b.parentElement!.getBoundingClientRect().right), id).toBe(true);
    }
    const alarms = page.locator('section[aria-label="gaps and alarms"]');
    expect((await alarms.textContent())!.length).toBeLessThan(1000);
    expect((await page.locator('section[aria-label=posts]').textContent())!.length).toBeLessThan(1000);
    await page.screenshot({ path: join(ARTIFACTS, '2-long-strings-figures.png'), fullPage: true });

    // The crossings: the 3000-character plate leaves the other columns in view.
    await page.click('nav a[href="#crossings"]');
    const row = page.locator('tr[data-crossing=e-plate]');
    await row.waitFor();
    const section = await page.locator('section[aria-label=crossings]').boundingBox();
    const ended = await row.locator('td').last().boundingBox();
    expect(ended!.x + ended!.width).toBeLessThanOrEqual(section!.x + section!.width);
    expect(await overflow()).toBe(0);
    await row.locator('button').click();
    await page.getByTestId('evidence-panel').waitFor();
    expect(await overflow()).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, '3-long-plate-crossings.png') });
    expect(problems).toEqual([]);
    await page.close();
  }, 120_000);

  it('keeps a post’s bidi controls to itself: a device, alarm or plate cannot turn the text after it around', async () => {
    const now = Date.now();
    const evil = new EventMaker('post-evil', new ManualClock(now - 4 * HOUR_MS));
    const RLO = '\u202e';
    const base = await serve([
      evil.crossing('e-rlo', 30, { plate: `AB${RLO}123CD` }),
      // A device id holds no control since ids are the configuration's (the intake refuses one); its error may.
      evil.event('device.status', 'lane-1', { deviceId: 'cam-1', state: 'down', lastError: `time${RLO}out` }),
      evil.event('alarm.raised', 'post', { alarm: `GW_ERR${RLO}`, severity: 'warning', message: 'disk full', details: {} }),
    ]);
    const { page, problems } = await open(base, now);
    await page.locator('section[aria-label=posts] [data-device]').waitFor();
    /** Whether `first` is drawn left of `second` in the text node of `scope` that holds `word` (their first occurrences in it). */
    const inOrder = (scope: string, word: string, first: string, second: string) =>
      page.evaluate(
        ([scope, word, first, second]) => {
          const walker = document.createTreeWalker(document.querySelector(scope)!, NodeFilter.SHOW_TEXT);
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const at = node.textContent!.indexOf(word);
            if (at < 0) continue;
            const rect = (offset: number) => {
              const range = document.createRange();
              range.setStart(node, offset);
              range.setEnd(node, offset + 1);
              return range.getBoundingClientRect().left;
            };
            return rect(at + word.indexOf(first)) < rect(at + word.indexOf(second));
          }
          return null;
        },
        [scope, word, first, second] as const,
      );
    // The device's state and error, the alarm's message: as sent, left to right.
    expect(await inOrder('section[aria-label=posts] [data-device]', 'down', 'd', 'n')).toBe(true);
    expect(await inOrder('section[aria-label=posts] [data-device]', '[U+202E]out', 'o', 't')).toBe(true);
    expect(await inOrder('section[aria-label="gaps and alarms"] [data-alarm]', 'disk full', 'd', 'f')).toBe(true);
    // The control itself is shown for what it is, not obeyed: the plate reads as stored.
    expect(await page.locator('section[aria-label=posts] [data-device]').textContent()).toContain('cam-1 (lane-1): down — time[U+202E]out');
    await page.screenshot({ path: join(ARTIFACTS, '4-bidi-figures.png'), fullPage: true });
    await page.click('nav a[href="#crossings"]');
    const plate = page.locator('tr[data-crossing=e-rlo] button');
    await plate.waitFor();
    expect(await plate.textContent()).toBe('AB[U+202E]123CD');
    expect(await inOrder('tr[data-crossing=e-rlo] button', '123CD', '1', 'D')).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, '5-bidi-crossings.png') });
    expect(problems).toEqual([]);
    await page.close();
  }, 120_000);

  it('compares the latest year up to now, whatever a post stamped decades ahead', async () => {
    const now = Date.now();
    const good = new EventMaker('post-good', new ManualClock(now - 365 * 24 * HOUR_MS - 5 * HOUR_MS));
    const events: CloudEvent[] = Array.from({ length: 4 }, (_, i) => good.crossing(`last-year-${i}`, 20 + i));
    good.clock.advance(365 * 24 * HOUR_MS);
    events.push(...Array.from({ length: 6 }, (_, i) => good.crossing(`this-year-${i}`, 30 + i)));
    // A gateway whose clock says 2099 (a dead RTC battery's reset, or a post that means harm).
    const future = new EventMaker('post-evil', new ManualClock(Date.UTC(2099, 5, 1)));
    events.push(future.crossing('e-2099', 30));
    const base = await serve(events);
    const year = new Date(now - 5 * HOUR_MS).getUTCFullYear();
    const { page, problems } = await open(base, now);
    await expect.poll(() => figure(page, 'fig-vehicles').textContent()).toBe('11');
    // The headline and the direction chart compare this year to date with the same dates of the last.
    await expect.poll(() => page.locator('section[aria-label=figures] h2').textContent()).toContain(`changes: ${year}-01-01 – `);
    expect(await page.getByTestId('fig-vehicles').textContent()).toContain(`vs ${year - 1}`);
    expect(await page.locator('section[aria-label=directions]').count()).toBe(1);
    // The monthly dynamics are the months up to now: 2099 is among the years, not the last 24 months.
    expect(await page.locator('[data-testid=years-chart] g[data-category="2099"]').count()).toBe(1);
    const months = await page.locator('[data-testid=months-chart] g[data-category]').evaluateAll((groups) => groups.map((g) => g.getAttribute('data-category')));
    expect(months.at(-1)).toBe(new Date(now - 5 * HOUR_MS).toISOString().slice(0, 7));
    await page.screenshot({ path: join(ARTIFACTS, '6-far-future-post.png'), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  }, 120_000);
});
