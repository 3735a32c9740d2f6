/**
 * The lane console in a real browser: Debian's Chromium driven by playwright-core against
 * `border-gateway demo` (a child process on free ports with its own data directory), as the booth
 * uses it. An operator logs in (after a wrong password), watches a truck move through the steps,
 * resolves an unread-plate alarm from the alarm's own action (a refused plate first, with the API's
 * message; its pop-up titled as the board titles it), reads a jammed barrier's alarm by its title,
 * sees a barrier whose limit switches disagree shown as a fault, sees a weight dialog say its truck
 * moved on meanwhile, and finds the channel override neither offered nor allowed; a supervisor
 * overrides a channel, finds it in the audit log (no number, name, action or id broken on a narrow
 * screen, the table scrolling inside its box) and verifies the chain; the console switches to Azerbaijani (remembered over a reload) and shows the post's
 * TRS day with its chart, as of the post clock's time; a session ended behind its back returns it to
 * the login screen. Each step leaves a screenshot in test-artifacts/console/.
 *
 * Needs /usr/bin/chromium (Debian's `chromium` package) and the built console (dist/console/,
 * built here with Vite when missing or older than ui/console/).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildUiIfStale, launchChromium } from './helpers/browser.js';
import { GatewayProcess, REPO_ROOT } from './helpers/gateway-process.js';
import { tempDir } from './helpers/test-config.js';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'console');
/** Long waits are for the simulated traffic (a truck takes about a minute through the demo post). */
const TRAFFIC_MS = 150_000;

interface Demo {
  process: GatewayProcess;
  base: string;
  passwords: Record<string, string>;
  /** The simulator's fault endpoint, when the demo prints one. */
  faults: string;
}

/** The newest change under `dir` (ms), to tell a stale build from a fresh one. */
async function startDemo(): Promise<Demo> {
  // A truck every 5 traffic-minutes per lane, 120 times faster than real time: about one every
  // 2.5 s per lane. The simulator's fault endpoint (--control-port) makes the unread plate.
  const process = new GatewayProcess(['demo', '--free-ports', '--http-port', '0', '--broker-port', '0', '--control-port', '0', '--data', tempDir('console-test-'), '--speed', '120', '--rate', '12']);
  // The fault endpoint's line comes after the demo's banner: then both are out.
  await process.waitForStdout((line) => line.includes('faults: curl'), 60_000, 'the demo started with its fault endpoint');
  const out = process.stdout.join('\n');
  const base = /lane API:\s+(https?:\/\/[^/\s]+)/.exec(out)?.[1];
  if (!base) throw new Error(`no lane API address in the demo's output:\n${out}`);
  const passwords = Object.fromEntries([...out.matchAll(/(demo-[a-z]+) \/ (\S+)/g)].map((m) => [m[1] as string, m[2] as string]));
  const faults = /faults: curl -X POST (https?:\/\/[^/\s]+)\/faults/.exec(out)?.[1];
  if (!faults) throw new Error(`no fault endpoint in the demo's output:\n${out}`);
  return { process, base, passwords, faults };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: false });
}

async function logIn(page: Page, demo: Demo, name: string): Promise<void> {
  await page.goto(`${demo.base}/`);
  await page.locator('input[name=name]').fill(name);
  await page.locator('input[name=password]').fill(demo.passwords[name] ?? '');
  await page.locator('form button[type=submit]').click();
  await page.waitForSelector(`[data-testid=who]:has-text("${name}")`);
  await page.waitForSelector('[data-testid=live-state][data-state=live]');
  await page.waitForSelector('[data-testid^=lane-]');
}

/** The crossing ids shown at each step, lane by lane. */
function stepsOnBoard(page: Page): Promise<Record<string, string>> {
  return page.evaluate(() => {
    const where: Record<string, string> = {};
    for (const element of document.querySelectorAll<HTMLElement>('li.step [data-crossing]')) {
      where[element.dataset.crossing ?? ''] = element.closest<HTMLElement>('li.step')?.dataset.step ?? '';
    }
    return where;
  });
}

describe('lane console in Chromium', () => {
  let demo: Demo | null = null;
  let browser: Browser | null = null;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    buildUiIfStale('console', 'console');
    demo = await startDemo();
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await demo?.process.kill('SIGTERM');
  });

  it('runs a lane from the console, as an operator and as a supervisor, in English and Azerbaijani', { timeout: 600_000 }, async () => {
    const d = demo as Demo;
    const context: BrowserContext = await (browser as Browser).newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB' });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    // Content-Security-Policy violations (an inline script or style the build let through) show here.
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) pageErrors.push(message.text());
    });

    // Login: a wrong password is refused in words, then the operator signs in.
    await page.goto(`${d.base}/`);
    await page.waitForSelector('input[name=name]');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('name');
    await shot(page, '01-login');
    await page.locator('input[name=name]').fill('demo-operator');
    await page.locator('input[name=password]').fill('not the password');
    await page.locator('form button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=login-error]').textContent()).toContain('Wrong name or password');
    await shot(page, '02-login-refused');
    await logIn(page, d, 'demo-operator');
    await expect.poll(() => page.locator('[data-testid=who]').textContent()).toContain('operator');
    // Operators do not read the audit log: the page is not offered.
    expect(await page.locator('[data-testid=nav-audit]').count()).toBe(0);
    await shot(page, '03-board-operator');
    // A jammed arm: lane 2's next open is not confirmed, and the workflow raises the barrier's alarm.
    expect((await fetch(`${d.faults}/faults/lane-2-barrier`, { method: 'POST', body: JSON.stringify({ fault: 'jam' }) })).status).toBe(200);
    // A truck the camera sees from now on appears on the board by itself (the live stream).
    const atLogin = new Set(Object.keys(await stepsOnBoard(page)));
    await expect.poll(async () => Object.keys(await stepsOnBoard(page)).some((id) => !atLogin.has(id)), { timeout: TRAFFIC_MS, interval: 500 }).toBe(true);

    // A truck appears at the booth and moves on through the steps; its waiting time ticks.
    await page.waitForSelector('li.step[data-step=registration] [data-crossing]', { timeout: TRAFFIC_MS });
    const watched = (await page.locator('li.step[data-step=registration] [data-crossing]').first().getAttribute('data-crossing')) as string;
    const wait = page.locator(`[data-crossing="${watched}"] [data-testid=wait-step]`);
    const firstWait = await wait.textContent();
    await expect.poll(() => wait.textContent(), { timeout: 10_000 }).not.toBe(firstWait);
    await shot(page, '04-truck-at-registration');
    // Then one of the trucks at the booths moves on. Any of them: a booth's time is 20 min plus an
    // exponential 80 min of traffic time, so one truck alone stays past this wait in ≈ 3 % of runs.
    const atBooths = Object.entries(await stepsOnBoard(page)).filter(([, step]) => step === 'registration').map(([id]) => id);
    const movedOn = async (): Promise<[string, string] | undefined> => {
      const where = await stepsOnBoard(page);
      const id = atBooths.find((crossing) => (where[crossing] ?? 'gone') !== 'registration');
      return id === undefined ? undefined : [id, where[id] ?? 'gone'];
    };
    await expect.poll(movedOn, { timeout: TRAFFIC_MS, interval: 500 }).toBeDefined();
    const [, reached] = (await movedOn()) as [string, string];
    expect(reached).toMatch(/^(weighbridge|scanner|inspection|barrier|exit|gone)$/);
    await shot(page, `05-truck-moved-to-${reached}`);

    // An unread plate: the alarm names its action, which the operator takes. Its pop-up (gone after
    // 8 s, so watched for from before the fault) has the board's title over the gateway's message.
    const unreadToast = page.locator('.toast-alarm[data-code=WF_PLATE_UNREAD]').first();
    const toastShown = unreadToast.waitFor({ timeout: 60_000 }).then(async () => ({
      title: await unreadToast.locator('.toast-title').textContent(),
      tooltip: await unreadToast.locator('.toast-title').getAttribute('title'),
      text: await unreadToast.locator('.toast-text').textContent(),
    }));
    expect((await fetch(`${d.faults}/faults/lane-1-entry-cam`, { method: 'POST', body: JSON.stringify({ fault: 'unreadable' }) })).status).toBe(200);
    // On lane 1, where the fault was made: another lane may have an unread plate of its own.
    const alarmLane = 'lane-1';
    const resolve = page.locator(`[data-lane="${alarmLane}"] [data-code=WF_PLATE_UNREAD] [data-testid=resolve-WF_PLATE_UNREAD]`).first();
    await resolve.waitFor({ timeout: 60_000 });
    await shot(page, '06-unread-plate-alarm');
    const toast = await toastShown;
    expect(toast.title).toBe('Plate unread');
    expect(toast.tooltip).toBe('WF_PLATE_UNREAD');
    expect(toast.text).toMatch(/^Alarm on lane-\d+: \S/);
    // The button itself, held: `resolve` is found again at each use, and another unread plate
    // arriving on the lane meanwhile would make it a different button.
    const resolveButton = await resolve.elementHandle();
    await resolveButton.click();
    const plateDialog = page.locator('[data-testid=dialog-plate]');
    await plateDialog.waitFor();
    // Focus starts in the plate field; Esc closes the dialog and gives focus back.
    expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('plate');
    await page.keyboard.press('Escape');
    await plateDialog.waitFor({ state: 'detached' });
    expect(await resolveButton.evaluate((button) => button === document.activeElement)).toBe(true);
    await resolveButton.dispose();
    await resolve.click();
    await plateDialog.waitFor();
    const unreadCrossing = (await plateDialog.locator('p.muted').first().textContent()) ?? '';
    const unreadId = /\(([^)]+)\)/.exec(unreadCrossing)?.[1] ?? '';
    // The API's refusal is shown as it says it.
    await page.locator('input[name=plate]').fill('###');
    await page.locator('textarea[name=reason]').fill('read from the trailer');
    await page.locator('[data-testid=action-submit]').click();
    await expect.poll(() => page.locator('[data-testid=action-error]').textContent()).toContain('plate has no letter or digit');
    await shot(page, '07-plate-refused-by-api');
    await page.locator('input[name=plate]').fill('AB123CD');
    await page.locator('[data-testid=action-submit]').click();
    await plateDialog.waitFor({ state: 'detached' });
    await page.waitForSelector(`[data-lane="${alarmLane}"] [data-crossing="${unreadId}"][data-plate=AB123CD]`);
    // That crossing's alarm is resolved (a lane may hold another unread plate meanwhile).
    await expect.poll(() => page.locator(`[data-testid=alarms-${alarmLane}] [data-code=WF_PLATE_UNREAD][data-alarm-crossing="${unreadId}"]`).count(), { timeout: 30_000 }).toBe(0);
    await shot(page, '08-plate-entered');
    expect(unreadCrossing).toContain(alarmLane);

    // The barrier's alarm has a title in words; its code stays at hand as the tooltip.
    const barrierAlarm = page.locator('[data-lane=lane-2] [data-code=GW_ERR_BARRIER_NOT_CONFIRMED]').first();
    await barrierAlarm.waitFor({ timeout: TRAFFIC_MS });
    expect(await barrierAlarm.locator('.alarm-code').textContent()).toBe('Barrier movement not confirmed');
    expect(await barrierAlarm.locator('.alarm-code').getAttribute('title')).toBe('GW_ERR_BARRIER_NOT_CONFIRMED');
    await shot(page, '08b-barrier-alarm-titled');
    expect((await fetch(`${d.faults}/faults/lane-2-barrier`, { method: 'POST', body: JSON.stringify({ fault: 'jam', on: false }) })).status).toBe(200);

    // Both limit switches at once (or one unreadable) reads `fault`: shown as a fault, not as unknown.
    // The simulated arm never gets there, so a second tab of the same session reads lane 2 so altered
    // (its live stream refused, the console polls /api/lanes, as it does while the stream is down).
    const faultTab = await context.newPage();
    await faultTab.route('**/api/live', (route) => route.abort());
    await faultTab.route('**/api/lanes', async (route) => {
      const response = await route.fetch();
      const lanes = (await response.json()) as { laneId: string; barrier: { position: string | null } | null }[];
      for (const lane of lanes) if (lane.laneId === 'lane-2' && lane.barrier) lane.barrier.position = 'fault';
      await route.fulfill({ response, json: lanes });
    });
    await faultTab.goto(`${d.base}/`);
    const faultyBarrier = faultTab.locator('[data-testid=barrier-lane-2]');
    await expect.poll(() => faultyBarrier.locator('strong').textContent()).toBe('fault — check the limit switches');
    expect(await faultyBarrier.getAttribute('data-position')).toBe('fault');
    expect(await faultyBarrier.locator('strong').getAttribute('class')).toContain('fault');
    expect(await faultTab.locator('[data-testid=barrier-lane-1] strong').textContent()).not.toMatch(/fault|unknown/);
    await shot(faultTab, '08d-barrier-fault');
    await faultTab.close();

    // A weight dialog left open while the weighbridge weighs its truck says so and sends nothing.
    await page.locator('[data-testid=action-weight]').first().click({ timeout: TRAFFIC_MS });
    const weightDialog = page.locator('[data-testid=dialog-weight]');
    await weightDialog.waitFor();
    await weightDialog.locator('input[name=weightKg]').fill('41250');
    await weightDialog.locator('textarea[name=reason]').fill('weighbridge display unreadable');
    const stale = weightDialog.locator('[data-testid=action-stale]');
    await stale.waitFor({ timeout: TRAFFIC_MS });
    expect(await stale.textContent()).toMatch(/^Meanwhile this vehicle (moved on \(now: [^)]+\)|left the lane)\. This action no longer applies to it\.$/);
    expect(await weightDialog.locator('[data-testid=action-submit]').isDisabled()).toBe(true);
    expect(await weightDialog.locator('[data-testid=action-cancel]').textContent()).toContain('Close');
    // What the operator typed is still there to read.
    expect(await weightDialog.locator('input[name=weightKg]').inputValue()).toBe('41250');
    await shot(page, '08c-weight-dialog-truck-moved-on');
    await page.keyboard.press('Escape');
    await weightDialog.waitFor({ state: 'detached' });

    // Operators may not override a channel: not offered, and the API refuses it with its message.
    expect(await page.locator('[data-testid=action-channel]').count()).toBe(0);
    const refused = await page.evaluate(async (laneId) => {
      const session = (await (await fetch('/api/session')).json()) as { csrfToken: string };
      const lanes = (await (await fetch('/api/lanes')).json()) as { laneId: string; crossings: { crossingId: string }[] }[];
      const crossingId = lanes.find((lane) => lane.laneId === laneId)?.crossings[0]?.crossingId ?? 'none';
      const response = await fetch(`/api/lanes/${laneId}/crossings/${crossingId}/channel`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken },
        body: JSON.stringify({ channel: 'red', reason: 'operator tries' }),
      });
      return { status: response.status, body: (await response.json()) as { message: string } };
    }, alarmLane);
    expect(refused.status).toBe(403);
    expect(refused.body.message).toContain('may not crossing.channel');
    await page.locator('[data-testid=logout]').click();
    await page.waitForSelector('[data-testid=login-notice]');

    // A supervisor overrides a channel (retrying if the truck moves on first), and finds it audited.
    await logIn(page, d, 'demo-supervisor');
    // Keyboard first: 1 goes to lane 1's first vehicle, P opens its plate dialog, Esc closes it.
    await page.waitForSelector('[data-lane=lane-1] [data-crossing]', { timeout: TRAFFIC_MS });
    await page.keyboard.press('1');
    expect(await page.evaluate(() => document.activeElement?.closest<HTMLElement>('.lane')?.dataset.lane)).toBe('lane-1');
    await page.keyboard.press('p');
    await page.locator('[data-testid=dialog-plate]').waitFor();
    await page.keyboard.press('Escape');
    await page.locator('[data-testid=dialog-plate]').waitFor({ state: 'detached' });
    const reason = `console test override ${Date.now().toString(36)}`;
    let overridden: string | null = null;
    for (let attempt = 0; attempt < 5 && !overridden; attempt += 1) {
      const button = page.locator('[data-testid=action-channel]').first();
      await button.waitFor({ timeout: TRAFFIC_MS });
      const crossingId = (await button.evaluate((b) => b.closest<HTMLElement>('[data-crossing]')?.dataset.crossing)) as string;
      await button.click();
      const dialog = page.locator('[data-testid=dialog-channel]');
      await dialog.waitFor();
      if (attempt === 0) await shot(page, '09-channel-dialog-supervisor');
      await dialog.locator('input[name=channel][value=green]').check();
      await dialog.locator('textarea[name=reason]').fill(reason);
      // Once the truck has moved on, Confirm is disabled and the dialog says so: clicked regardless
      // (a disabled button ignores it), so that attempt ends there instead of waiting for it.
      await dialog.locator('[data-testid=action-submit]').click({ force: true });
      const outcome = await Promise.race([
        dialog.waitFor({ state: 'detached' }).then(() => 'done'),
        page.locator('[data-testid=action-error]').waitFor().then(() => 'refused'),
        dialog.locator('[data-testid=action-stale]').waitFor().then(() => 'refused'),
      ]);
      if (outcome === 'done') overridden = crossingId;
      else {
        // The workflow refused, or the dialog saw the truck move on: its message is shown; try another.
        await shot(page, '09b-channel-refused-by-workflow');
        await page.keyboard.press('Escape');
        await dialog.waitFor({ state: 'detached' });
      }
    }
    expect(overridden).not.toBeNull();
    await page.waitForSelector('.toast-ok');
    await shot(page, '10-channel-overridden');
    // A scanned vehicle shows its screening regions drawn over the X-ray picture.
    const scanned = page.locator('.crossing:has([data-testid=xray-regions] rect)').first();
    await scanned.waitFor({ timeout: TRAFFIC_MS });
    await scanned.screenshot({ path: join(ARTIFACTS, '10b-xray-regions.png') });
    await page.locator('[data-testid=nav-audit]').click();
    await page.locator('[data-testid=audit-search]').fill(reason);
    await page.locator('[data-testid=audit-search]').press('Enter');
    const row = page.locator('[data-testid=audit-table] tr[data-action="crossing.channel"]');
    await row.first().waitFor();
    expect(await row.count()).toBe(1);
    expect(await row.first().textContent()).toContain('demo-supervisor');
    expect(await row.first().textContent()).toContain(overridden as string);
    await page.locator('[data-testid=audit-verify]').click();
    await page.waitForSelector('[data-testid=audit-verdict][data-ok=true]');
    await shot(page, '11-audit-entry-and-verdict');
    // The whole log on a narrow screen: every sequence number stays on one line.
    await page.locator('[data-testid=audit-search]').fill('');
    await page.locator('[data-testid=audit-search]').press('Enter');
    await expect.poll(() => page.locator('[data-testid=audit-table] tbody tr').count()).toBeGreaterThan(9);
    // Who, action and lane / crossing are names: no word of theirs is broken across lines (as
    // "crossing.r|egister" was); where the table is wider than the screen it scrolls in its own box.
    const brokenWords = (): Promise<string[]> =>
      page.evaluate(() => {
        const broken: string[] = [];
        for (const cell of document.querySelectorAll<HTMLElement>('[data-testid=audit-table] tbody td:is(:nth-child(3), :nth-child(4), :nth-child(5))')) {
          const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (const word of (node.textContent ?? '').matchAll(/\S+/g)) {
              const range = document.createRange();
              range.setStart(node, word.index);
              range.setEnd(node, word.index + word[0].length);
              if (new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size > 1) broken.push(word[0]);
            }
          }
        }
        return broken;
      });
    await page.setViewportSize({ width: 760, height: 800 });
    const seqLines = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('[data-testid=audit-table] tbody td:first-child')].map((cell) => {
        const range = document.createRange();
        range.selectNodeContents(cell);
        return { seq: cell.textContent ?? '', lines: new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size };
      }),
    );
    expect(seqLines.some(({ seq }) => seq.length >= 2)).toBe(true);
    expect(seqLines.filter(({ lines }) => lines !== 1)).toEqual([]);
    expect(await brokenWords()).toEqual([]);
    await shot(page, '11b-audit-narrow');
    await page.setViewportSize({ width: 480, height: 800 });
    expect(await brokenWords()).toEqual([]);
    const widths = await page.evaluate(() => {
      const box = document.querySelector<HTMLElement>('[data-testid=audit-table]')?.parentElement;
      return { page: document.documentElement.scrollWidth, screen: innerWidth, box: box?.clientWidth ?? 0, table: box?.scrollWidth ?? 0 };
    });
    expect(widths.table).toBeGreaterThan(widths.box);
    expect(widths.page).toBeLessThanOrEqual(widths.screen);
    await shot(page, '11c-audit-phone');
    await page.setViewportSize({ width: 1280, height: 800 });

    // Azerbaijani, remembered over a reload; dates and numbers in its locale.
    await page.locator('[data-testid=nav-lanes]').click();
    await page.locator('[data-testid=language]').first().selectOption('az');
    await expect.poll(() => page.locator('[data-testid=nav-lanes]').textContent()).toContain('Zolaqlar');
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('az');
    await page.reload();
    await page.waitForSelector('[data-testid=live-state][data-state=live]');
    await expect.poll(() => page.locator('[data-testid=nav-lanes]').textContent()).toContain('Zolaqlar');
    await shot(page, '12-board-azerbaijani');

    // The post's day: indicators, the interval table and its chart, drawn.
    await page.locator('[data-testid=nav-day]').click();
    await page.waitForSelector('[data-testid=trs-tiles]');
    // Crossings complete as the demo runs: wait for today's first ones (refreshing the page's data).
    await expect
      .poll(
        async () => {
          if ((await page.locator('[data-testid=interval-chart] canvas').count()) > 0) return true;
          await page.locator('.page-head button[type=button]').click();
          return false;
        },
        { timeout: TRAFFIC_MS, interval: 2000 },
      )
      .toBe(true);
    expect(await page.locator('[data-testid=day-date]').inputValue()).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const drawn = await page.evaluate(() => {
      const canvas = document.querySelector<HTMLCanvasElement>('[data-testid=interval-chart] canvas');
      if (!canvas) return 0;
      const pixels = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray();
      let painted = 0;
      for (let i = 3; i < pixels.length; i += 4) if ((pixels[i] ?? 0) > 0) painted += 1;
      return painted;
    });
    expect(drawn).toBeGreaterThan(500);
    expect(Number((await page.locator('[data-testid=trs-vehicles]').textContent())?.replace(/\D/g, ''))).toBeGreaterThan(0);
    expect(await page.locator('[data-testid=trs-intervals] tbody tr').count()).toBeGreaterThan(0);
    await expect.poll(() => page.locator('.page.day h1').textContent()).toContain('Postun günü');
    // "As of" is the post clock's time, as the board's timers are: the demo's runs 120 times as fast,
    // hours ahead of the browser's by now. Refreshed, it stands just behind the gateway's own now.
    const asOf = page.locator('[data-testid=day-as-of]');
    const before = await asOf.getAttribute('datetime');
    await page.locator('.page-head button[type=button]').click();
    await expect.poll(() => asOf.getAttribute('datetime')).not.toBe(before);
    const clocks = await page.evaluate(async () => {
      const lanes = (await (await fetch('/api/lanes')).json()) as { viewAt: string }[];
      return { post: Date.parse(lanes[0]?.viewAt ?? ''), browser: Date.now() };
    });
    const shown = Date.parse((await asOf.getAttribute('datetime')) ?? '');
    expect(clocks.post - clocks.browser).toBeGreaterThan(30 * 60_000);
    // Read a moment after the report came, by a clock that gains two minutes a second.
    expect(clocks.post - shown).toBeGreaterThan(-60_000);
    expect(clocks.post - shown).toBeLessThan(10 * 60_000);
    await shot(page, '13-day-azerbaijani');

    // The session ends behind the console's back: it returns to the login screen and says why.
    await page.evaluate(async () => {
      const session = (await (await fetch('/api/session')).json()) as { csrfToken: string };
      await fetch('/api/session', { method: 'DELETE', headers: { 'x-csrf-token': session.csrfToken } });
    });
    await page.waitForSelector('[data-testid=login-notice]', { timeout: 30_000 });
    expect(await page.locator('[data-testid=login-notice]').textContent()).toContain('Sessiyanız başa çatdı');
    await shot(page, '14-session-ended');

    // An account an admin made must choose its own password before anything else.
    await logIn(page, d, 'demo-admin');
    // Admins do not act on lanes: no action is offered to them.
    expect(await page.locator('.crossing button, [data-testid^=resolve-], [data-testid^=barrier-action-]').count()).toBe(0);
    const added = await page.evaluate(async () => {
      const session = (await (await fetch('/api/session')).json()) as { csrfToken: string };
      const response = await fetch('/api/users', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken },
        body: JSON.stringify({ name: 'booth-7', role: 'operator', password: 'chosen by the admin 7', reason: 'new booth operator' }),
      });
      return response.status;
    });
    expect(added).toBe(201);
    await page.locator('[data-testid=logout]').click();
    await page.locator('input[name=name]').fill('booth-7');
    await page.locator('input[name=password]').fill('chosen by the admin 7');
    await page.locator('form button[type=submit]').click();
    await page.waitForSelector('[data-testid=change-password]');
    await page.locator('input[name=current]').fill('chosen by the admin 7');
    await page.locator('input[name=new]').fill('my own booth passphrase');
    await page.locator('input[name=repeat]').fill('my own booth passphrase');
    await shot(page, '15-must-change-password');
    await page.locator('[data-testid=change-password] button[type=submit]').click();
    await page.waitForSelector('[data-testid=who]:has-text("booth-7")');
    await page.waitForSelector('[data-testid=live-state][data-state=live]');
    await page.locator('[data-testid=logout]').click();

    // Guessing is throttled: after a few wrong passwords the login says for how long it is locked.
    for (let attempt = 0; attempt < 10; attempt += 1) {
      await page.locator('input[name=name]').fill('booth-7');
      await page.locator('input[name=password]').fill(`guess ${attempt}`);
      const answered = page.waitForResponse((response) => response.url().endsWith('/api/session') && response.request().method() === 'POST');
      await page.locator('form button[type=submit]').click();
      if ((await answered).status() === 429) break;
    }
    await expect.poll(() => page.locator('[data-testid=login-error]').textContent()).toMatch(/Çoxlu uğursuz cəhd: giriş \d+ san\. bağlıdır/);
    await shot(page, '16-login-locked');
    expect(pageErrors).toEqual([]);
    await context.close();
  });
});
