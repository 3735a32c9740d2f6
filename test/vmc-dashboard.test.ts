/**
 * The VMC dashboard in a real browser: Debian's Chromium driven by playwright-core against a
 * `border-gateway vmc` child process whose store holds crossings of two posts. An analyst logs in
 * (after a wrong password), filters by post and by direction, and sees the figures, the interval
 * table, the distribution curve and the per-year table follow; screenshots in test-artifacts/vmc/.
 *
 * Needs /usr/bin/chromium and the built dashboards (dist/vmc-ui/, built here with Vite when
 * missing or older than ui/vmc/).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../core/clock.js';
import { VmcStore } from '../vmc/store/vmc-store.js';
import { VmcAuth } from '../vmc/vmc-auth.js';
import { buildUiIfStale, launchChromium } from './helpers/browser.js';
import { GatewayProcess, REPO_ROOT } from './helpers/gateway-process.js';
import { ManualClock } from './helpers/manual-clock.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { tempDir } from './helpers/test-config.js';
import { EventMaker } from './helpers/vmc-events.js';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'vmc');

describe('the VMC dashboard in Chromium', () => {
  let broker: Mosquitto;
  let vmc: GatewayProcess;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    buildUiIfStale('vmc', 'vmc-ui');
    mkdirSync(ARTIFACTS, { recursive: true });
    const path = join(tempDir('vmc-ui-test-'), 'vmc.db');
    const store = await VmcStore.open(`sqlite:${path}`, systemClock.now());
    const north = new EventMaker('post-north', new ManualClock(Date.UTC(2026, 10, 26, 6)));
    const south = new EventMaker('post-south', new ManualClock(Date.UTC(2026, 10, 26, 6)));
    const events = [
      ...Array.from({ length: 40 }, (_, i) => north.crossing(`n${i}`, 20 + ((i * 37) % 160), { direction: i % 3 ? 'import' : 'export', channel: i % 7 ? 'green' : 'red', xray: i % 4 === 0 })),
      ...Array.from({ length: 25 }, (_, i) => south.crossing(`s${i}`, 45 + ((i * 53) % 200), { direction: 'transit-entry', channel: i % 5 ? 'green' : 'orange' })),
      north.deviceStatus('lane-1-entry-cam', 'down'),
      north.alarm('GW_ERR_OUTBOX_FULL'),
    ];
    await store.store(events, 'loader', systemClock.now());
    await new VmcAuth(store, systemClock).addAccount('ana', 'analyst', 'analyst-password-1');
    await store.close();
    broker = await Mosquitto.start();
    vmc = new GatewayProcess(['vmc', '--mqtt', broker.url, '--store', `sqlite:${path}`, '--http', '127.0.0.1:0', '--name', 'ui-test', '--log-level', 'warn']);
    const banner = await vmc.waitForStdout((l) => l.startsWith('border-gateway vmc:'), 30_000, 'the vmc banner');
    base = /API (http:\/\/\S+)/.exec(banner)![1]!;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await vmc?.kill('SIGTERM');
    await broker?.stop();
  });

  it('logs in, filters by post and direction, and shows the figures, the table and the curve', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().includes('401')) problems.push(message.text());
    });
    await page.goto(base);
    await page.fill('input[name=name]', 'ana');
    await page.fill('input[name=password]', 'wrong-password-1');
    await page.click('button[type=submit]');
    await page.waitForSelector('text=wrong name or password');
    await page.screenshot({ path: join(ARTIFACTS, '1-login-refused.png') });
    await page.fill('input[name=password]', 'analyst-password-1');
    await page.click('button[type=submit]');

    const vehicles = page.locator('.figure', { hasText: 'Vehicles' }).locator('b');
    await expect.poll(() => vehicles.textContent()).toBe('65');
    await page.waitForSelector('[data-testid=interval-chart] canvas');
    await page.screenshot({ path: join(ARTIFACTS, '2-all-posts.png'), fullPage: true });
    expect(await page.locator('section[aria-label=posts]').textContent()).toContain('lane-1-entry-cam (lane-1): down');
    expect(await page.locator('section[aria-label="gaps and alarms"]').textContent()).toContain('GW_ERR_OUTBOX_FULL');
    const lastYear = page.locator('section[aria-label=years] table').first().locator('tbody tr').last();
    await expect.poll(() => lastYear.locator('td').nth(1).textContent()).toBe('65');
    expect(await lastYear.locator('td').first().textContent()).toBe('2026');

    await page.selectOption('select[name=post]', ['post-north']);
    await expect.poll(() => vehicles.textContent()).toBe('40');
    await page.selectOption('select[name=direction]', 'export');
    await expect.poll(() => vehicles.textContent()).toBe('14');
    await page.waitForSelector('[data-testid=interval-chart] canvas');
    const rows = await page.locator('section[aria-label="interval table"] tbody tr').count();
    expect(rows).toBeGreaterThan(3);
    expect(await page.locator('section[aria-label="interval table"] tbody tr').last().locator('td').nth(3).textContent()).toBe('100.00');
    await page.screenshot({ path: join(ARTIFACTS, '3-north-export.png'), fullPage: true });
    expect(problems).toEqual([]);
  }, 120_000);
});
