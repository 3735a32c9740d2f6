/**
 * The VMC dashboard's crossings, evidence and commands panels in Debian's Chromium
 * (playwright-core), against a `border-gateway vmc` child process with a command key and
 * Mosquitto. The store holds two posts' crossings, one with a plate snapshot, an X-ray thumbnail
 * and its screening regions (sent as chunk events), and the posts' answers to earlier commands.
 * An admin opens the crossing and sees the snapshot and the thumbnail with the regions drawn
 * where the full image's pixels put them; clicks "request full image" (a signed evidence.request
 * reaches the post's topic), and once the post has sent the image, downloads it. Then the
 * commands panel: each post's versions, each rollout's progress (applied, refused with its
 * reason, waiting); a watchlist rolled out from the form reaches both posts' topics signed, and
 * a post's answer shows; a model rolled out from its manifest and ONNX file. Screenshots in
 * test-artifacts/vmc/ (evidence-*.png, commands-*.png).
 */
import { createHash, createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudEvent } from '../contract/envelope.js';
import { commandEnvelopeSchema, commandSignatureValid, type CommandEnvelope } from '../contract/vmc-command.js';
import { systemClock } from '../core/clock.js';
import { VmcStore } from '../vmc/store/vmc-store.js';
import { VmcAuth } from '../vmc/vmc-auth.js';
import { buildUiIfStale, launchChromium } from './helpers/browser.js';
import { GatewayProcess, REPO_ROOT } from './helpers/gateway-process.js';
import { ManualClock } from './helpers/manual-clock.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { greyPng, rgbPng } from './helpers/png.js';
import { tempDir } from './helpers/test-config.js';
import { digestOf, EventMaker, rolloutManifest } from './helpers/vmc-events.js';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'vmc');
const topicOf = (event: CloudEvent): string => {
  const [, , post, lane] = event.source.split('/');
  return `border/v1/${post}/${lane}/${event.type}`;
};

/** The full scan is 2048 × 1024; the thumbnail shows it at 320 × 160, and the regions are in the scan's pixels. */
const SCAN = { width: 2048, height: 1024 };
const THUMB = { width: 320, height: 160 };
const REGIONS = [
  { x: 1180, y: 260, width: 360, height: 300, density: 0.94 },
  { x: 380, y: 560, width: 240, height: 180, density: 0.71 },
];

/** A picture of a plate: a white plate with a dark rim and blocky "characters". */
function platePicture(): Buffer {
  return rgbPng(320, 120, (x, y) => {
    const onPlate = x >= 30 && x < 290 && y >= 30 && y < 90;
    if (!onPlate) return [70 + ((x + y) % 30), 80, 90];
    if (x < 34 || x >= 286 || y < 34 || y >= 86) return [20, 20, 20];
    if (x >= 36 && x < 52 && y >= 36 && y < 84) return [30, 60, 160]; // the country band
    const glyph = Math.floor((x - 60) / 28);
    const inGlyph = x >= 60 && (x - 60) % 28 < 18 && y >= 42 && y < 78;
    const stroke = inGlyph && ((x - 60) % 28 < 4 || (x - 60) % 28 >= 14 || (glyph % 2 === 0 ? y < 46 || y >= 74 : (y >= 58 && y < 62)));
    return stroke ? [15, 15, 15] : [245, 245, 240];
  });
}

/** A thumbnail of a truck's scan: dense (dark) where the regions are, so the overlay can be seen to fit. */
function scanThumbnail(): Buffer {
  const scale = THUMB.width / SCAN.width;
  return greyPng(THUMB.width, THUMB.height, (x, y) => {
    const inRegion = REGIONS.some((r) => x >= r.x * scale && x < (r.x + r.width) * scale && y >= r.y * scale && y < (r.y + r.height) * scale);
    if (inRegion) return 40 + ((x * 13 + y * 7) % 20);
    const body = x >= 20 && x < 300 && y >= 25 && y < 125;
    const wheel = y >= 125 && y < 145 && [50, 90, 230, 270].some((cx) => Math.abs(x - cx) < 11);
    if (wheel) return 60;
    if (body) return x < 80 ? 120 : 170 + ((x >> 3) % 3) * 8;
    return 235;
  });
}

describe('the VMC evidence and commands panels in Chromium', () => {
  const dir = tempDir('vmc-evidence-ui-');
  const spec = `sqlite:${join(dir, 'vmc.db')}`;
  const keys = generateKeyPairSync('ed25519');
  const keyPath = join(dir, 'vmc-command.key.pem');
  const east = new EventMaker('post-east', new ManualClock(Date.now() - 3_600_000));
  const west = new EventMaker('post-west', new ManualClock(Date.now() - 3_000_000));
  const snapshot = platePicture();
  const thumbnail = scanThumbnail();
  const fullImage = Buffer.concat([Buffer.from(`P5\n${SCAN.width} ${SCAN.height}\n65535\n`), createHash('sha512').update('scan').digest(), Buffer.alloc(70_000, 0x7f)]);
  let broker: Mosquitto;
  let vmc: GatewayProcess;
  let browser: Browser;
  let publisher: MqttClient;
  let base: string;
  const watchlistCommandId = randomUUID();

  const publish = async (events: CloudEvent[]) => {
    for (const event of events) await publisher.publishAsync(topicOf(event), JSON.stringify(event), { qos: 1 });
  };
  /** A post's answer to a command, as its gateway would publish it. */
  const answer = (maker: EventMaker, type: 'command.applied' | 'command.refused', command: { commandId: string; kind: 'watchlist.update' | 'model.rollout'; version: number }, current: { watchlistVersion: number | null; plates: number }): CloudEvent => {
    const data = {
      ...command,
      current: { watchlistVersion: current.watchlistVersion, watchlistPlates: current.plates, modelCommandVersion: null, models: { risk: '2026.11.26', xrayScreening: 'xray-2026.11' } },
      ...(type === 'command.refused' ? { reason: { code: 'GW_ERR_COMMAND_KEY_UNKNOWN', message: 'no VMC key is configured (commands.publicKeys)' } } : {}),
    };
    return maker.event(type, 'post', data);
  };
  /** What the broker delivers next on `filter` after `start` (retained copies from before are not sent: retain handling 2). */
  const nextCommand = async (filter: string, start: () => Promise<unknown>): Promise<CommandEnvelope> => {
    const reader = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    try {
      await reader.subscribeAsync(filter, { qos: 1, rh: 2 });
      const received = new Promise<CommandEnvelope>((resolve) => reader.once('message', (_topic, payload) => resolve(commandEnvelopeSchema.parse(JSON.parse(payload.toString())))));
      await start();
      return await received;
    } finally {
      await reader.endAsync();
    }
  };
  const login = async (page: Page, name: string, password: string) => {
    await page.goto(base);
    await page.fill('input[name=name]', name);
    await page.fill('input[name=password]', password);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=fig-vehicles]');
  };

  beforeAll(async () => {
    buildUiIfStale('vmc', 'vmc-ui');
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(keyPath, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const store = await VmcStore.open(spec, systemClock.now());
    const auth = new VmcAuth(store, systemClock);
    await auth.addAccount('root', 'admin', 'admin-password-12');
    await auth.addAccount('ana', 'analyst', 'analyst-password-1');
    // Crossings of both posts; c-scan was X-rayed and screened.
    await store.store(
      [
        ...Array.from({ length: 6 }, (_, i) => east.crossing(`c-east-${i}`, 20 + i * 7, { plate: `AA${100 + i}BB` })),
        ...Array.from({ length: 4 }, (_, i) => west.crossing(`c-west-${i}`, 30 + i * 5, { plate: `WW${200 + i}ZZ`, direction: 'export' })),
        east.xrayScanned('c-scan', { score: 0.91, modelVersion: 'xray-2026.11', regions: REGIONS }),
        east.crossing('c-scan', 64, { plate: 'XR777AZ', channel: 'orange', xray: true }),
        // Driven off before it cleared the post.
        west.crossing('c-gone', 12, { plate: 'GO404NE', outcome: 'abandoned' }),
      ],
      'loader',
      systemClock.now(),
    );
    // Earlier commands: a watchlist to both posts (east applied, west refused), a model to east (no answer yet).
    const issuedAt = new Date(Date.now() - 600_000).toISOString();
    await store.commands.recordSent({ commandId: watchlistCommandId, kind: 'watchlist.update', version: 1, postIds: ['post-east', 'post-west'], summary: '2 plate(s)', issuedBy: 'user:root', issuedAt });
    await store.commands.recordSent({ commandId: randomUUID(), kind: 'model.rollout', version: 1, postIds: ['post-east'], summary: 'risk 2026.11.27', issuedBy: 'cli:3f1c0aa2b7d9e410', issuedAt });
    await store.store(
      [
        answer(east, 'command.applied', { commandId: watchlistCommandId, kind: 'watchlist.update', version: 1 }, { watchlistVersion: 1, plates: 2 }),
        answer(west, 'command.refused', { commandId: watchlistCommandId, kind: 'watchlist.update', version: 1 }, { watchlistVersion: null, plates: 14 }),
      ],
      'loader',
      systemClock.now(),
    );
    await store.close();
    broker = await Mosquitto.start();
    vmc = new GatewayProcess(['vmc', '--mqtt', broker.url, '--store', spec, '--http', '127.0.0.1:0', '--name', 'evidence-ui', '--command-key', keyPath, '--log-level', 'warn']);
    const banner = await vmc.waitForStdout((l) => l.startsWith('border-gateway vmc:'), 60_000, 'the vmc banner');
    base = /API (http:\/\/\S+)/.exec(banner)![1]!;
    publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    // The evidence arrives as the post sends it: chunks (interleaved), then the announcements.
    const s = east.evidenceChunks(snapshot, 'plate-snapshot', 'image/png');
    const t = east.evidenceChunks(thumbnail, 'xray-thumbnail', 'image/png');
    await publish([...t, ...s, s[0]!]);
    await publish([
      east.evidenceStored(snapshot, 'plate-snapshot', 'image/png', 'c-scan', { deviceId: 'lane-1-entry-cam' }),
      east.evidenceStored(thumbnail, 'xray-thumbnail', 'image/png', 'c-scan', { deviceId: 'xray-1', ...{ imageWidth: SCAN.width, imageHeight: SCAN.height }, of: digestOf(fullImage) }),
      east.evidenceStored(fullImage, 'xray-image', 'image/x-portable-graymap', 'c-scan', { deviceId: 'xray-1', chunks: 0 }),
    ]);
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await publisher?.endAsync();
    await vmc?.kill('SIGTERM');
    await broker?.stop();
  });

  it("opens a crossing's evidence: the snapshot, the thumbnail with its regions, and the full image on request", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await login(page, 'root', 'admin-password-12');
    await page.click('header nav >> text=Crossings & evidence');
    await page.waitForSelector('table.crossings tr[data-crossing="c-scan"]');
    expect(await page.locator('table.crossings tbody tr').count()).toBe(12);
    // An abandoned crossing says so, beside completed ones.
    expect(await page.locator('tr[data-crossing="c-gone"] [data-testid=outcome]').textContent()).toBe('abandoned');
    expect(await page.locator('tr[data-crossing="c-scan"] [data-testid=outcome]').textContent()).toBe('completed');
    await page.screenshot({ path: join(ARTIFACTS, 'evidence-1-crossings.png') });

    await page.click('tr[data-crossing="c-scan"] button');
    const panel = page.getByTestId('evidence-panel');
    await panel.locator('[data-testid=plate-snapshot] img').waitFor();
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('[data-testid=evidence-panel] img')].filter((img) => img.complete && img.naturalWidth > 0).length === 2, undefined, { timeout: 20_000 });
    expect(await panel.locator('[data-testid=plate-snapshot] img').evaluate((img: HTMLImageElement) => [img.naturalWidth, img.naturalHeight])).toEqual([320, 120]);
    expect(await panel.locator('h2').textContent()).toContain('XR777AZ');
    expect(await panel.textContent()).toContain('screening 0.91 (suspect) · xray-2026.11 · 2 region(s)');

    // Each region's box sits where the full image's pixels put it on the thumbnail as shown.
    const image = (await panel.locator('[data-testid=xray-thumbnail] img').boundingBox())!;
    expect(await panel.locator('svg.regions g[data-region]').count()).toBe(REGIONS.length);
    for (const [i, region] of REGIONS.entries()) {
      const box = (await panel.locator(`svg.regions g[data-region="${i + 1}"] rect`).last().boundingBox())!;
      const expected = { x: image.x + (region.x / SCAN.width) * image.width, y: image.y + (region.y / SCAN.height) * image.height, width: (region.width / SCAN.width) * image.width, height: (region.height / SCAN.height) * image.height };
      // The stroke is drawn centred on the edge: the box grows by half its width (1.25 px) each side.
      for (const key of ['x', 'y', 'width', 'height'] as const) expect(Math.abs(box[key] - expected[key]), `region ${i + 1} ${key}`).toBeLessThan(key === 'x' || key === 'y' ? 2.5 : 4);
    }
    expect(await panel.getByTestId('full-image').textContent()).toContain('kept at the post (sent on request)');
    await page.screenshot({ path: join(ARTIFACTS, 'evidence-2-crossing-open.png') });

    // Request the full image: a signed evidence.request for it reaches the post's evidence topic.
    const command = await nextCommand('border/v1/post-east/commands/evidence', () => page.click('[data-testid=full-image] button:has-text("request full image")'));
    expect(command).toMatchObject({ kind: 'evidence.request', postIds: ['post-east'], payload: { digests: [digestOf(fullImage)] } });
    expect(commandSignatureValid(command, createPublicKey(keys.privateKey))).toBe(true);
    await panel.getByTestId('full-image').locator('text=requested').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'evidence-3-requested.png') });

    // The post sends it; the panel follows by itself and offers the download.
    await publish(east.evidenceChunks(fullImage, 'xray-image', 'image/x-portable-graymap', { requestId: command.commandId }));
    const link = panel.locator('[data-testid=full-image] a:has-text("download")');
    await link.waitFor({ timeout: 20_000 });
    expect(await panel.getByTestId('full-image').textContent()).toContain(`Full image arrived (${(fullImage.length / 1024).toFixed(0)} KiB)`);
    const href = (await link.getAttribute('href'))!;
    const downloaded = await page.evaluate(async (url) => {
      const reply = await fetch(url);
      return { status: reply.status, type: reply.headers.get('content-type'), bytes: (await reply.arrayBuffer()).byteLength };
    }, href);
    expect(downloaded).toEqual({ status: 200, type: 'application/octet-stream', bytes: fullImage.length });
    await page.screenshot({ path: join(ARTIFACTS, 'evidence-4-full-image-arrived.png') });
    await page.screenshot({ path: join(ARTIFACTS, 'evidence-5-full.png'), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  }, 120_000);

  it("shows each post's versions and each command's progress, and rolls out a watchlist and a model from the forms", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await login(page, 'root', 'admin-password-12');
    await page.click('header nav >> text=Commands');
    const versions = page.getByTestId('post-versions');
    // The rows come from the posts at once, their versions with the commands' answer.
    await versions.locator('tr[data-post="post-east"] >> text=v1 · 2 plates').waitFor();
    expect(await versions.locator('tr[data-post="post-west"]').textContent()).toContain('configured list · 14 plates');
    const watchlistRow = page.locator('table.commands tr[data-kind="watchlist.update"][data-version="1"]');
    await watchlistRow.waitFor();
    expect(await watchlistRow.textContent()).toContain('applied 1/2');
    expect(await watchlistRow.getByTestId('refused').textContent()).toContain('refused by post-west: GW_ERR_COMMAND_KEY_UNKNOWN — no VMC key is configured');
    expect(await page.locator('table.commands tr[data-kind="model.rollout"]').textContent()).toContain('waiting: post-east');
    // The evidence request of the first test is listed apart from the rollouts.
    expect(await page.locator('section[aria-label="evidence requests"] tr[data-kind="evidence.request"]').count()).toBe(1);
    expect(await page.locator('section[aria-label="rollouts"] tr[data-kind="evidence.request"]').count()).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, 'commands-1-panel.png') });

    // Roll out a watchlist to both posts from the form.
    const form = page.getByTestId('watchlist-form');
    const submit = form.locator('button[type=submit]');
    await form.locator('input[value="post-east"]').check();
    await form.locator('input[value="post-west"]').check();
    // No plates would clear the posts' lists: sent only once the admin ticks that it is meant.
    await form.locator('textarea[name=plates]').fill('# nothing yet\n');
    expect(await submit.textContent()).toBe('Clear watchlists');
    expect(await submit.isDisabled()).toBe(true);
    await form.locator('input[name=clear]').check();
    expect(await submit.isDisabled()).toBe(false);
    await form.locator('textarea[name=plates]').fill('# from the dashboard\nAB-123 CD\nXY987ZW\nKL555MN\n');
    expect(await submit.textContent()).toBe('Roll out watchlist');
    expect(await form.locator('input[name=clear]').count()).toBe(0);
    const sent = await nextCommand('border/v1/post-west/commands/watchlist', () => form.locator('button[type=submit]').click());
    expect(sent).toMatchObject({ kind: 'watchlist.update', version: 2, postIds: ['post-east', 'post-west'], payload: { plates: ['AB123CD', 'XY987ZW', 'KL555MN'] } });
    expect(commandSignatureValid(sent, createPublicKey(keys.privateKey))).toBe(true);
    await form.locator('text=watchlist.update version 2 sent to 2 post(s)').waitFor();
    const second = page.locator('table.commands tr[data-kind="watchlist.update"][data-version="2"]');
    await second.waitFor();
    expect(await second.textContent()).toContain('waiting: post-east, post-west');

    // post-east applies it: the panel shows its new version and the progress without a reload.
    await publish([answer(east, 'command.applied', { commandId: sent.commandId, kind: 'watchlist.update', version: 2 }, { watchlistVersion: 2, plates: 3 })]);
    await second.locator('text=applied 1/2').waitFor({ timeout: 20_000 });
    await versions.locator('tr[data-post="post-east"] >> text=v2 · 3 plates').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'commands-2-watchlist-rolled-out.png') });

    // Roll out a model: its manifest and ONNX file, to post-east.
    const onnx = Buffer.from('\x08\x07\x12\x04onnx-test-model', 'latin1');
    // Of the shape the posts load (the VMC checks that before it signs); its signature is the posts' to verify.
    const manifest = rolloutManifest(onnx, '2026.11.30');
    const model = page.getByTestId('model-form');
    await model.locator('input[name=manifest]').setInputFiles({ name: 'risk.manifest.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(manifest)) });
    await model.locator('input[name=onnx]').setInputFiles({ name: 'risk.onnx', mimeType: 'application/octet-stream', buffer: onnx });
    await model.locator('input[value="post-east"]').check();
    const rollout = await nextCommand('border/v1/post-east/commands/model', () => model.locator('button[type=submit]').click());
    expect(rollout).toMatchObject({ kind: 'model.rollout', version: 2, postIds: ['post-east'], payload: { manifest, onnxBase64: onnx.toString('base64') } });
    await model.locator('text=model.rollout version 2 sent to 1 post(s)').waitFor();
    await page.locator('table.commands tr[data-kind="model.rollout"][data-version="2"]').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'commands-3-full.png'), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  }, 120_000);

  it('lets an analyst read the commands panel but not send', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await login(page, 'ana', 'analyst-password-1');
    await page.goto(`${base}/#commands`);
    await page.getByTestId('post-versions').locator('tr[data-post="post-east"]').waitFor();
    expect(await page.locator('section[aria-label="send commands"]').textContent()).toContain('Only admins roll out watchlists and models.');
    // The versions and progress, not the forms: nothing to fill in that could not be sent.
    await page.locator('table.commands tr[data-kind="watchlist.update"]').first().waitFor();
    expect(await page.getByTestId('watchlist-form').count()).toBe(0);
    expect(await page.getByTestId('model-form').count()).toBe(0);
    expect(await page.locator('input[name=posts]').count()).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, 'commands-4-analyst.png'), fullPage: true });
    await page.close();
  }, 60_000);
});
