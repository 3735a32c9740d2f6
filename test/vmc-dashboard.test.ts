/**
 * The VMC dashboard in a real browser: Debian's Chromium driven by playwright-core against a
 * `border-gateway vmc` child process whose store holds two years of history of two posts
 * (`vmc load-history`'s loader) and today's crossings of two more. An analyst logs in (after a
 * wrong password) and sees, at 1280×800: the headline figures, vehicles by direction against the
 * year before, vehicles per year, the channel shares per year, the monthly dynamics, the interval
 * curve and table — each figure checked against the API's own answer, the periods not yet over
 * compared to date wherever a change is shown. Then filters by vehicle type, by a month, by post
 * and direction, by today so far, and watches a crossing published to the broker appear without
 * reloading. The page's clock is fixed (Playwright's `page.clock`) where a figure depends on
 * "now", and the API is asked as of the same instant (`asOf`). Screenshots in test-artifacts/vmc/.
 *
 * Needs /usr/bin/chromium and the built dashboards (dist/vmc-ui/, built here with Vite when
 * missing or older than ui/vmc/).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrsReport } from '../contract/trs-report.js';
import { systemClock } from '../core/clock.js';
import { loadHistory } from '../vmc/history-loader.js';
import type { PeriodVolume } from '../vmc/store/vmc-store.js';
import { VmcStore } from '../vmc/store/vmc-store.js';
import { VmcAuth } from '../vmc/vmc-auth.js';
import { buildUiIfStale, launchChromium } from './helpers/browser.js';
import { GatewayProcess, REPO_ROOT } from './helpers/gateway-process.js';
import { ManualClock } from './helpers/manual-clock.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { tempDir } from './helpers/test-config.js';
import { EventMaker } from './helpers/vmc-events.js';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'vmc');
const DAY_MS = 86_400_000;
const isoDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
/** How the dashboard prints a change: +6.0% / -3.2%, and 0.0% (no sign) for what rounds to none. */
const percent = (r: number): string => {
  const shown = (r * 100).toFixed(1);
  return Number(shown) === 0 ? '0.0%' : `${r > 0 ? '+' : ''}${shown}%`;
};
const changeText = (now: number, before: number): string => percent((now - before) / before);
/** The same date and time a year before (29 February: the end of 28 February), written out here rather than taken from the code under test. */
const yearBeforeMs = (ms: number): number => {
  const d = new Date(ms);
  if (d.getUTCMonth() === 1 && d.getUTCDate() === 29) return Date.UTC(d.getUTCFullYear() - 1, 2, 1);
  return Date.UTC(d.getUTCFullYear() - 1, d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
};
const isoTime = (ms: number): string => new Date(ms).toISOString();

describe('the VMC dashboard in Chromium', () => {
  let broker: Mosquitto;
  let vmc: GatewayProcess;
  let browser: Browser;
  let base: string;
  let token: string;
  const north = new EventMaker('post-north', new ManualClock(Date.UTC(2026, 10, 26, 6)));
  const south = new EventMaker('post-south', new ManualClock(Date.UTC(2026, 10, 26, 6)));

  const get = async <T,>(path: string): Promise<T> => {
    const reply = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
    expect(reply.status, path).toBe(200);
    return (await reply.json()) as T;
  };

  beforeAll(async () => {
    buildUiIfStale('vmc', 'vmc-ui');
    mkdirSync(ARTIFACTS, { recursive: true });
    const path = join(tempDir('vmc-ui-test-'), 'vmc.db');
    const store = await VmcStore.open(`sqlite:${path}`, systemClock.now());
    // History up to yesterday, from 1 January two years before yesterday's year: two whole years
    // and the latest one to date (today is left out: the loader spreads a day's arrivals over all
    // of it, into the future). Counted from yesterday, not today: on 1 January today's year has
    // no history yet, and the latest year with traffic is the one that just ended.
    const today = Math.floor(systemClock.now() / DAY_MS) * DAY_MS;
    const fromMs = Date.UTC(new Date(today - DAY_MS).getUTCFullYear() - 2, 0, 1);
    await loadHistory(store, { posts: ['post-east', 'post-west'], fromMs, days: (today - fromMs) / DAY_MS, perDay: 6, seed: 5 }, systemClock);
    const events = [
      ...Array.from({ length: 40 }, (_, i) => north.crossing(`n${i}`, 20 + ((i * 37) % 160), { direction: i % 3 ? 'import' : 'export', channel: i % 7 ? 'green' : 'red', xray: i % 4 === 0, vehicleType: i % 5 ? 'truck' : 'van' })),
      ...Array.from({ length: 25 }, (_, i) => south.crossing(`s${i}`, 45 + ((i * 53) % 200), { direction: 'transit-entry', channel: i % 5 ? 'green' : 'orange' })),
      // One crossing of almost 12 hours: at a 1-minute interval, the table's last row gathers it.
      south.crossing('s-long', 700, { direction: 'transit-entry' }),
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
    const login = await fetch(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ana', password: 'analyst-password-1' }) });
    token = ((await login.json()) as { token: string }).token;
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await vmc?.kill('SIGTERM');
    await broker?.stop();
  });

  const figure = (page: Page, id: string) => page.locator(`[data-testid=${id}] b`);
  const logIn = async (page: Page) => {
    await page.goto(base);
    await page.fill('input[name=name]', 'ana');
    await page.fill('input[name=password]', 'analyst-password-1');
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=fig-vehicles]');
  };

  it('logs in and draws every view of two years of history, each figure as the API answers it', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().includes('401')) problems.push(message.text());
    });
    // The page's "now", and the API's: one instant, so what is compared to date is the same on both.
    const now = Date.now();
    await page.clock.setFixedTime(now);
    const asOf = isoTime(now);
    await page.goto(base);
    // An empty form is not sent: the browser asks for the name (no schema text from the API).
    let logins = 0;
    page.on('request', (request) => {
      if (request.url().endsWith('/api/login')) logins += 1;
    });
    await page.click('button[type=submit]');
    expect(await page.locator('input[name=name]').evaluate((input: HTMLInputElement) => [input.validity.valueMissing, input.validationMessage !== ''])).toEqual([true, true]);
    expect(await page.locator('input[name=password]').evaluate((input: HTMLInputElement) => input.validity.valueMissing)).toBe(true);
    expect(await page.locator('form.login .error').count()).toBe(0);
    expect(logins).toBe(0);
    await page.fill('input[name=name]', 'ana');
    await page.fill('input[name=password]', 'wrong-password-1');
    await page.click('button[type=submit]');
    await page.waitForSelector('text=wrong name or password');
    await page.screenshot({ path: join(ARTIFACTS, '1-login-refused.png') });
    await page.fill('input[name=password]', 'analyst-password-1');
    await page.click('button[type=submit]');

    const all = await get<TrsReport>('/api/trs');
    await expect.poll(() => figure(page, 'fig-vehicles').textContent()).toBe(String(all.vehicles));
    await expect.poll(() => page.getByTestId('updated').textContent()).toMatch(/^Live · updated /);
    await page.waitForSelector('[data-testid=interval-chart] canvas');
    await page.screenshot({ path: join(ARTIFACTS, '2-overview-1280x800.png') });
    // Every post of the four is in view in the posts list, none behind a scroll bar.
    const postList = page.locator('select[name=post]');
    expect(await postList.locator('option').count()).toBe(4);
    expect(await postList.evaluate((select: HTMLSelectElement) => select.scrollHeight <= select.clientHeight)).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, '3-overview-full.png'), fullPage: true });

    // Vehicles by direction: the latest year to date against the same dates a year before.
    const years = await get<PeriodVolume[]>(`/api/volumes?unit=year&asOf=${asOf}`);
    expect(years.length).toBeGreaterThanOrEqual(3);
    // The latest year of the data (not of today's date), cut at now when it is not over.
    const year = Number(years.at(-1)!.period);
    const end = Math.min(now, Date.UTC(year + 1, 0, 1));
    const thisYear = await get<TrsReport>(`/api/trs?from=${year}-01-01&to=${isoTime(end)}`);
    const yearBefore = await get<TrsReport>(`/api/trs?from=${year - 1}-01-01&to=${isoTime(yearBeforeMs(end))}`);
    const yoy = page.getByTestId('direction-yoy');
    const directions = Object.keys({ ...yearBefore.byDirection, ...thisYear.byDirection });
    expect(directions.length).toBeGreaterThanOrEqual(4);
    for (const direction of directions) {
      const group = yoy.locator(`g[data-category="${direction}"]`);
      expect(Number(await group.locator('rect[data-series="this period"]').getAttribute('data-value')), direction).toBe(thisYear.byDirection[direction] ?? 0);
      expect(Number(await group.locator('rect[data-series="year before"]').getAttribute('data-value')), direction).toBe(yearBefore.byDirection[direction] ?? 0);
      expect(await group.locator('text.note').textContent(), direction).toBe(changeText(thisYear.byDirection[direction] ?? 0, yearBefore.byDirection[direction] ?? 0));
    }
    expect(await page.getByTestId('fig-vehicles').textContent()).toContain(changeText(thisYear.vehicles, yearBefore.vehicles));
    const xrayPoints = (thisYear.xrayShare - yearBefore.xrayShare) * 100;
    expect(await page.getByTestId('fig-xray').textContent()).toContain(`${xrayPoints >= 0 ? '+' : ''}${xrayPoints.toFixed(1)} pp vs ${year - 1}`);
    // The year not yet over is compared to date, as the direction chart is: in the chart, in the
    // table under it and in the API alike.
    expect(await page.locator(`[data-testid=years-chart] g[data-category="${year}"] text.note`).textContent()).toBe(changeText(thisYear.vehicles, yearBefore.vehicles));
    expect(years.at(-1)!.changeVsPreviousYear).toBeCloseTo((thisYear.vehicles - yearBefore.vehicles) / yearBefore.vehicles, 6);
    const yearRows = page.locator('section[aria-label=months] details table').first().locator('tbody tr');
    expect(await yearRows.count()).toBe(years.length);
    for (const [i, y] of years.entries()) {
      const shown = y.changeVsPreviousYear === null ? '–' : percent(y.changeVsPreviousYear);
      expect(await yearRows.nth(i).locator('td').nth(2).textContent(), y.period).toBe(shown);
      if (y.changeVsPreviousYear !== null) expect(await page.locator(`[data-testid=years-chart] g[data-category="${y.period}"] text.note`).textContent(), y.period).toBe(shown);
    }

    // Vehicles per year, and the channel shares of each year as stacked bars labelled in %.
    expect(await page.locator('[data-testid=years-chart] rect').count()).toBe(years.length);
    for (const y of years) {
      expect(Number(await page.locator(`[data-testid=years-chart] g[data-category="${y.period}"] rect`).getAttribute('data-value'))).toBe(y.vehicles);
      const bar = page.locator(`[data-testid=channel-shares] g[data-category="${y.period}"]`);
      for (const channel of ['green', 'orange', 'red']) {
        const share = (((y.byChannel[channel] ?? 0) / y.vehicles) * 100).toFixed(1);
        expect(await bar.locator(`rect[data-channel=${channel}]`).getAttribute('data-share'), `${y.period} ${channel}`).toBe(share);
      }
      expect(await bar.textContent()).toContain(`${(((y.byChannel.green ?? 0) / y.vehicles) * 100).toFixed(1)}%`);
    }
    // The monthly dynamics: the last 24 months as bars.
    const months = await get<PeriodVolume[]>(`/api/volumes?unit=month&asOf=${asOf}`);
    const monthBars = page.locator('[data-testid=months-chart] rect');
    expect(await monthBars.count()).toBe(24);
    expect(Number(await monthBars.last().getAttribute('data-value'))).toBe(months.at(-1)!.vehicles);

    // The latest year picked: its 24 months from January of the year before, each with its change
    // against the same month a year before, though that month is not among the 24.
    await page.selectOption('select[name=year]', String(year));
    const first = `${year - 1}-01`;
    const firstChange = months.find((m) => m.period === first)!.changeVsPreviousYear;
    expect(firstChange).not.toBeNull();
    await expect.poll(() => page.locator('[data-testid=months-chart] g[data-category]').first().getAttribute('data-category')).toBe(first);
    await expect.poll(() => page.locator(`[data-testid=months-chart] g[data-category="${first}"] text.note`).textContent()).toBe(percent(firstChange!));
    // The month not yet over: its change in the table (and on its bar, where the bar has a note)
    // is the headline's once it is picked, both to date.
    const thisMonth = isoTime(now).slice(0, 7);
    const monthNow = months.find((m) => m.period === thisMonth);
    if (year === new Date(now).getUTCFullYear() && monthNow?.changeVsPreviousYear != null) {
      const soFar = await get<TrsReport>(`/api/trs?from=${thisMonth}-01&to=${asOf}`);
      const before = await get<TrsReport>(`/api/trs?from=${year - 1}${thisMonth.slice(4)}-01&to=${isoTime(yearBeforeMs(now))}`);
      const text = changeText(soFar.vehicles, before.vehicles);
      expect(percent(monthNow.changeVsPreviousYear)).toBe(text);
      const monthRow = page.locator('section[aria-label=months] details table').nth(1).locator('tbody tr').filter({ hasText: thisMonth });
      expect(await monthRow.locator('td').nth(2).textContent()).toBe(text);
      const note = page.locator(`[data-testid=months-chart] g[data-category="${thisMonth}"] text.note`);
      if ((await note.count()) > 0) expect(await note.textContent()).toBe(text);
      await page.selectOption('select[name=month]', thisMonth.slice(5));
      await expect.poll(() => page.getByTestId('fig-vehicles').textContent()).toContain(`${text} vs ${year - 1}`);
    }
    expect(problems).toEqual([]);
    await page.close();
  }, 120_000);

  it('filters by vehicle type and by a month (this month a year ago), and the figures follow the API', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(base);
    await page.fill('input[name=name]', 'ana');
    await page.fill('input[name=password]', 'analyst-password-1');
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=fig-vehicles]');

    const vans = await get<TrsReport>('/api/trs?vehicleType=van');
    expect(vans.vehicles).toBeGreaterThan(8);
    await page.selectOption('select[name=vehicleType]', 'van');
    await expect.poll(() => figure(page, 'fig-vehicles').textContent()).toBe(String(vans.vehicles));

    // The last history day's month a year before (the history covers it and the same month a year
    // before that), whatever today's date: on 1 January that is last December's.
    const lastHistoryDay = new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS - DAY_MS);
    const previous = String(lastHistoryDay.getUTCFullYear() - 1);
    const mm = String(lastHistoryDay.getUTCMonth() + 1).padStart(2, '0');
    const next = isoDay(Date.UTC(Number(previous), lastHistoryDay.getUTCMonth() + 1, 1));
    const nextBefore = isoDay(Date.UTC(Number(previous) - 1, lastHistoryDay.getUTCMonth() + 1, 1));
    expect(await page.locator('select[name=month]').isDisabled()).toBe(true);
    await page.selectOption('select[name=year]', previous);
    await page.selectOption('select[name=month]', mm);
    const month = await get<TrsReport>(`/api/trs?vehicleType=van&from=${previous}-${mm}-01&to=${next}`);
    const monthBefore = await get<TrsReport>(`/api/trs?vehicleType=van&from=${Number(previous) - 1}-${mm}-01&to=${nextBefore}`);
    expect(month.vehicles).toBeGreaterThan(0);
    expect(monthBefore.vehicles).toBeGreaterThan(0);
    await expect.poll(() => figure(page, 'fig-vehicles').textContent()).toBe(String(month.vehicles));
    // Alarms follow the period too: post-north's alarm was raised after this month.
    const alarms = await get<unknown[]>(`/api/alarms?from=${previous}-${mm}-01&to=${next}`);
    expect(alarms).toEqual([]);
    expect(await page.locator('section[aria-label="gaps and alarms"]').textContent()).not.toContain('GW_ERR_OUTBOX_FULL');
    expect(await figure(page, 'fig-crossing').textContent()).toBe(month.crossing.avgMin!.toFixed(1));
    expect(await page.getByTestId('fig-crossing').textContent()).toContain(changeText(month.crossing.avgMin!, monthBefore.crossing.avgMin!));
    const days = await get<PeriodVolume[]>(`/api/volumes?unit=day&vehicleType=van&from=${previous}-${mm}-01&to=${next}`);
    expect(await figure(page, 'fig-per-day').textContent()).toBe((month.vehicles / days.length).toFixed(1));
    expect(await page.locator('select[name=day] option').count()).toBe(1 + new Date(Date.UTC(Number(previous), lastHistoryDay.getUTCMonth() + 1, 0)).getUTCDate());
    const lastRow = page.locator('section[aria-label="interval table"] tbody tr').last();
    expect(await lastRow.locator('td').nth(3).textContent()).toBe('100.00');
    await page.waitForSelector('[data-testid=interval-chart] canvas');
    await page.screenshot({ path: join(ARTIFACTS, '4-vans-month-1280x800.png') });
    await page.screenshot({ path: join(ARTIFACTS, '5-vans-month-full.png'), fullPage: true });
    await page.close();
  }, 120_000);

  it('filters by post and direction, shows lanes, devices and alarms, and follows new events live', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(base);
    await page.fill('input[name=name]', 'ana');
    await page.fill('input[name=password]', 'analyst-password-1');
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=fig-vehicles]');

    await page.selectOption('select[name=post]', ['post-north']);
    await expect.poll(() => figure(page, 'fig-vehicles').textContent()).toBe('40');
    // post-north has no crossing a year before: no change, not "+n pp" against an empty year.
    expect(await page.getByTestId('fig-vehicles').textContent()).not.toContain(' vs ');
    expect(await page.getByTestId('fig-xray').textContent()).not.toContain('pp');
    expect(await page.locator('section[aria-label=posts]').textContent()).toContain('lane-1-entry-cam (lane-1): down');
    expect(await page.locator('section[aria-label="gaps and alarms"]').textContent()).toContain('GW_ERR_OUTBOX_FULL');
    await page.selectOption('select[name=direction]', 'export');
    await expect.poll(() => figure(page, 'fig-vehicles').textContent()).toBe('14');
    const updated = await page.getByTestId('updated').textContent();

    // A crossing reaches the VMC through the broker: the dashboard shows it without a reload.
    const publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    const live = north.crossing('n-live', 42, { direction: 'export' });
    await publisher.publishAsync(`border/v1/post-north/lane-1/${live.type}`, JSON.stringify(live), { qos: 1 });
    await publisher.endAsync();
    await expect.poll(() => figure(page, 'fig-vehicles').textContent(), { timeout: 30_000 }).toBe('15');
    expect(await page.getByTestId('updated').textContent()).not.toBe(updated);
    await page.screenshot({ path: join(ARTIFACTS, '6-north-export-live.png'), fullPage: true });

    // The session ends (its cookie expires): the next poll is refused, and the login form says why.
    await page.context().clearCookies();
    await page.getByTestId('login-notice').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('login-notice').textContent()).toBe('Your session has expired: log in again.');
    await page.screenshot({ path: join(ARTIFACTS, '8-session-expired.png') });
    expect(problems).toEqual([]);
  }, 120_000);
  it('compares a day not yet over up to now with the same hours of that day a year before', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    // "Now" is noon of the last history day: the history has crossings of it after noon too, and
    // of the same day a year before.
    const day = Math.floor(Date.now() / DAY_MS) * DAY_MS - DAY_MS;
    const now = day + DAY_MS / 2;
    await page.clock.setFixedTime(now);
    await logIn(page);
    const [y, m, d] = isoDay(day).split('-') as [string, string, string];
    await page.selectOption('select[name=year]', y);
    await page.selectOption('select[name=month]', m);
    await page.selectOption('select[name=day]', d);
    const whole = await get<TrsReport>(`/api/trs?from=${isoDay(day)}&to=${isoDay(day + DAY_MS)}`);
    const soFar = await get<TrsReport>(`/api/trs?from=${isoDay(day)}&to=${isoTime(now)}`);
    const before = await get<TrsReport>(`/api/trs?from=${isoDay(yearBeforeMs(day))}&to=${isoTime(yearBeforeMs(now))}`);
    const wholeBefore = await get<TrsReport>(`/api/trs?from=${isoDay(yearBeforeMs(day))}&to=${isoDay(yearBeforeMs(day + DAY_MS))}`);
    expect(whole.vehicles).toBeGreaterThan(soFar.vehicles);
    expect(wholeBefore.vehicles).toBeGreaterThan(before.vehicles);
    await expect.poll(() => figure(page, 'fig-vehicles').textContent()).toBe(String(whole.vehicles));
    expect(await page.getByTestId('fig-vehicles').textContent()).toContain(`${changeText(soFar.vehicles, before.vehicles)} vs ${Number(y) - 1}`);
    expect(await page.locator('section[aria-label=figures] h2').textContent()).toContain(`${isoDay(day)} until 12:00 UTC against ${isoDay(yearBeforeMs(day))} until 12:00 UTC`);
    await page.close();
  }, 120_000);

  it('takes only an interval the API takes, and names the long tail’s row for what it is', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().includes('401')) problems.push(message.text());
    });
    await logIn(page);
    const interval = page.locator('input[name=interval]');
    expect(await interval.getAttribute('max')).toBe('999');
    for (const refused of ['1440', '2.5']) {
      await interval.fill(refused);
      await interval.press('Tab');
      await expect.poll(() => page.getByTestId('interval-note').textContent()).toContain('whole minutes 1–999');
      expect(await interval.inputValue()).toBe('10');
    }
    expect(await page.locator('section.filters .error').filter({ hasNotText: 'whole minutes' }).count()).toBe(0);
    const report = await get<TrsReport>('/api/trs?interval=1');
    const tail = report.intervals.at(-1)!;
    expect(tail.overMin).toBe(499);
    await interval.fill('1');
    await interval.press('Tab');
    const lastRow = page.locator('section[aria-label="interval table"] tbody tr').last();
    await expect.poll(() => lastRow.locator('td').first().textContent()).toBe('over 499');
    expect(await lastRow.locator('td').nth(1).textContent()).toBe(String(tail.vehicles));
    expect(await page.getByTestId('interval-tail').textContent()).toContain(`over 499 min: ${tail.vehicles} vehicle(s), the longest up to ${tail.upToMin} min`);
    expect(await page.getByTestId('interval-note').count()).toBe(0);
    await page.waitForSelector('[data-testid=interval-chart] canvas');
    await page.locator('section[aria-label=distribution]').screenshot({ path: join(ARTIFACTS, '7-interval-tail.png') });
    expect(problems).toEqual([]);
    await page.close();
  }, 120_000);
});
