/**
 * Evidence from the post to the VMC's API, both halves real (issue 13): Mosquitto, a
 * `border-gateway vmc` child (SQLite, a command key, an analyst), and `border-gateway run` with an
 * HTTP-push camera and an HTTP-push X-ray scanner, trusting the VMC's public key for commands.
 *
 * 1. The camera pushes a read with a 3 MiB picture (96 chunks); once its first chunks flowed the
 *    broker stops; offline, the vehicle is registered and weighed off its declaration (X-ray) and
 *    a 1024 × 1024 16-bit scan is pushed; the gateway is SIGKILLed with both transfers unfinished
 *    (read from its database); the broker starts again and, once the VMC has subscribed again
 *    (Mosquitto 2.0 keeps no shared subscription across a restart), the gateway.
 * 2. The VMC serves the snapshot and the thumbnail byte for byte, and lists them beside the
 *    crossing with the scan's screening regions and the thumbnail's `of` (the full image, not held).
 * 3. An analyst asks the VMC for the full image (`POST /api/evidence/requests`): the VMC signs and
 *    publishes the evidence.request, the post applies it; mid-transfer the broker stops and the
 *    gateway is SIGKILLed again; both start again (in that order) and the VMC serves the full
 *    image as a download.
 * 4. One line counts what went over the broker and what the VMC stored, per piece; nothing is
 *    missing, duplicated as a new event, rejected, or served wrong.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../core/clock.js';
import { encodePgm } from '../drivers/xray/pgm.js';
import { SimulatedScanner } from '../sim/xray/simulated-scanner.js';
import type { IntakeStats } from '../vmc/event-intake.js';
import type { CrossingEvidence, EvidenceSummary } from '../vmc/evidence/evidence-records.js';
import { VmcStore } from '../vmc/store/vmc-store.js';
import { VmcAuth } from '../vmc/vmc-auth.js';
import { Collector } from './helpers/collector.js';
import {
  chunksOf,
  EVIDENCE_POST,
  listenersOf,
  provisionEvidencePost,
  pushPlate,
  pushScan,
  receivedChunks,
  registerAndWeigh,
  sha256,
  uploadsOnDisk,
  writeEvidencePostConfig,
} from './helpers/evidence-post.js';
import { GatewayProcess } from './helpers/gateway-process.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { systemRig } from './helpers/rig.js';
import { tempDir } from './helpers/test-config.js';
import { waitUntil } from './helpers/wait-until.js';

const PLATE = 'GE456CD';
/** Chunk events in the outbox at once: small, so a transfer is surely unfinished when cut. */
const WINDOW = 4;
/**
 * Chunks of the snapshot: many, so the broker, stopped once the first chunk is seen, stops with the
 * transfer unfinished. With 32 (4 in flight) a run on a loaded machine had every chunk queued
 * before the stop took effect; 96 leaves three times as long.
 */
const SNAPSHOT_CHUNKS = 96;
const ANALYST = { name: 'ana', password: 'analyst-password-1' };

describe('evidence from the post to the VMC, both real', () => {
  const rig = systemRig<Mosquitto>();

  it('serves a snapshot, a thumbnail and a requested full image whole after broker cuts and gateway SIGKILLs', async () => {
    const dir = tempDir('evidence-vmc-');
    const keys = generateKeyPairSync('ed25519');
    const privateKey = join(dir, 'vmc-command.key.pem');
    const publicKey = join(dir, 'vmc-command.pub.pem');
    writeFileSync(privateKey, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(publicKey, keys.publicKey.export({ type: 'spki', format: 'pem' }));
    const vmcDb = join(dir, 'vmc.db');
    const spec = `sqlite:${vmcDb}`;
    const accounts = await VmcStore.open(spec, systemClock.now());
    await new VmcAuth(accounts, systemClock).addAccount(ANALYST.name, 'analyst', ANALYST.password);
    await accounts.close();

    const broker = (rig.broker = await Mosquitto.start());
    // Watches the broker beside the VMC: what the post sent (the VMC's own view is its API).
    const wire = (rig.collector = await Collector.connect(broker.url, 'border/#'));
    const vmc = new GatewayProcess(['vmc', '--mqtt', broker.url, '--store', spec, '--http', '127.0.0.1:0', '--name', 'evidence-vmc', '--command-key', privateKey]);
    rig.processes.push(vmc);
    const banner = await vmc.waitForStdout((line) => line.startsWith('border-gateway vmc:'), 60_000, 'the vmc banner');
    const base = /API (http:\/\/\S+)/.exec(banner)![1]!;
    const login = await fetch(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ANALYST) });
    const { token } = (await login.json()) as { token: string };
    const api = (path: string, body?: unknown): Promise<Response> =>
      fetch(`${base}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const evidenceOf = async (crossingId: string): Promise<CrossingEvidence> => (await (await api(`/api/crossings/${crossingId}/evidence?post=${EVIDENCE_POST}`)).json()) as CrossingEvidence;
    const served = async (digest: string): Promise<{ status: number; bytes: Buffer; type: string | null; disposition: string | null }> => {
      const reply = await api(`/api/evidence/${digest}`);
      return { status: reply.status, bytes: Buffer.from(await reply.arrayBuffer()), type: reply.headers.get('content-type'), disposition: reply.headers.get('content-disposition') };
    };

    /**
     * Starts the broker again and waits until the VMC has subscribed again. Mosquitto 2.0 does not
     * keep shared subscriptions across its restart (it persists sessions and plain subscriptions
     * only), so what a post publishes before the VMC subscribes again goes to no VMC: the gateway,
     * killed, starts only after that (docs/vmc.md, "What it guarantees").
     */
    const restartBroker = async (): Promise<void> => {
      const since = vmc.logs.length;
      await broker.run();
      await vmc.waitForLog((line) => line.msg === 'subscribed' && vmc.logs.indexOf(line) >= since, 60_000, 'the VMC subscribed again');
    };

    const config = writeEvidencePostConfig(dir, broker.url, publicKey, WINDOW, { screening: true });
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir, { mode: 0o700 });
    const credentials = await provisionEvidencePost(dataDir);
    const start = (): GatewayProcess => {
      const gateway = new GatewayProcess(['run', '--config', config, '--data', dataDir]);
      rig.processes.push(gateway);
      return gateway;
    };

    // 1. The read with a 1 MiB picture; the uplink is cut while its chunks flow.
    let gateway = start();
    let http = await listenersOf(gateway);
    await gateway.waitForLog((line) => line.msg === 'gateway running', 90_000, 'the gateway running');
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(SNAPSHOT_CHUNKS * 32 * 1024 - 6), Buffer.from([0xff, 0xd9])]);
    const snapshot = sha256(jpeg);
    expect(await pushPlate(http.devices, credentials.camera, PLATE, jpeg)).toBe(200);
    await wire.waitFor(() => chunksOf(wire, snapshot).size > 0, 60_000, 'the first chunk of the snapshot');
    await broker.stop();
    const snapshotAtCut = chunksOf(wire, snapshot).size;
    expect(snapshotAtCut).toBeLessThan(SNAPSHOT_CHUNKS);

    // Offline: registered, weighed off its declaration (orange: X-ray), scanned.
    const crossing = await registerAndWeigh(http.operators, PLATE, 10_000, 20_000);
    expect(crossing.state).toBe('scanning');
    const pgm = encodePgm(new SimulatedScanner(dir, 'scanner-A').image(1024, 1024, { concealed: true }));
    const fullImage = sha256(pgm);
    expect(await pushScan(http.devices, credentials.scanner, 'scan-1', PLATE, pgm)).toBe(200);
    const thumbnailLog = await gateway.waitForLog((line) => line.msg === 'evidence stored' && line.kind === 'xray-thumbnail', 60_000, 'the thumbnail stored');
    await gateway.waitForLog((line) => line.msg === 'evidence stored' && line.kind === 'xray-image', 60_000, 'the full image stored');
    const thumbnail = String(thumbnailLog.digest);
    const thumbnailChunks = Number(thumbnailLog.chunks);

    // Killed with both transfers unfinished.
    expect((await gateway.kill('SIGKILL')).signal).toBe('SIGKILL');
    const atFirstKill = uploadsOnDisk(dataDir);
    expect(atFirstKill.find((u) => u.digest === snapshot)).toMatchObject({ request_id: null, chunks: SNAPSHOT_CHUNKS });
    expect(atFirstKill.find((u) => u.digest === snapshot)!.next_index).toBeLessThan(SNAPSHOT_CHUNKS);
    expect(atFirstKill.find((u) => u.digest === thumbnail)?.next_index).toBeLessThan(thumbnailChunks);
    await restartBroker();
    gateway = start();
    http = await listenersOf(gateway);

    // 2. The VMC serves both byte for byte, beside the crossing, with the screening regions.
    await waitUntil('the snapshot and the thumbnail complete at the VMC', async () => {
      const view = await evidenceOf(crossing.crossingId);
      return [snapshot, thumbnail].every((digest) => view.pieces.some((p) => p.digest === digest && p.complete));
    }, { timeoutMs: 90_000 });
    const sentSnapshot = await served(snapshot);
    expect([sentSnapshot.status, sentSnapshot.type, sha256(sentSnapshot.bytes), sentSnapshot.bytes.equals(jpeg)]).toEqual([200, 'image/jpeg', snapshot, true]);
    const sentThumbnail = await served(thumbnail);
    expect([sentThumbnail.status, sentThumbnail.type, sha256(sentThumbnail.bytes)]).toEqual([200, 'image/png', thumbnail]);
    expect(sentThumbnail.bytes.subarray(1, 4).toString('latin1')).toBe('PNG');
    // Not held yet: kept at the post until asked for.
    expect((await served(fullImage)).status).toBe(404);

    const scanned = wire.received.find((m) => m.type === 'xray.scanned' && m.event.subject === crossing.crossingId)?.event.data as { screening: { regions: unknown[] } | null } | undefined;
    expect(scanned?.screening?.regions.length).toBeGreaterThan(0);
    await waitUntil('the scan at the VMC', async () => (await evidenceOf(crossing.crossingId)).screening !== null);
    const view = await evidenceOf(crossing.crossingId);
    expect(view.screening?.regions).toEqual(scanned!.screening!.regions);
    expect(view.pieces.map((p) => [p.kind, p.digest, p.complete])).toEqual([
      ['plate-snapshot', snapshot, true],
      ['xray-thumbnail', thumbnail, true],
      ['xray-image', fullImage, false],
    ]);
    expect(view.pieces[0]).toMatchObject({ contentType: 'image/jpeg', bytes: jpeg.length, deviceId: 'cam-1', chunks: SNAPSHOT_CHUNKS, count: SNAPSHOT_CHUNKS, received: SNAPSHOT_CHUNKS });
    expect(view.pieces[1]).toMatchObject({ contentType: 'image/png', chunks: thumbnailChunks, imageWidth: 1024, imageHeight: 1024, of: fullImage });
    expect(view.pieces[2]).toMatchObject({ contentType: 'image/x-portable-graymap', bytes: pgm.length, chunks: 0, count: 65, received: 0, request: null });

    // 3. The analyst asks the VMC for the full image; the post applies the signed request.
    const asked = await api('/api/evidence/requests', { post: EVIDENCE_POST, digests: [fullImage] });
    expect(asked.status).toBe(201);
    const request = (await asked.json()) as { commandId: string; version: number; requested: string[]; topics: string[] };
    expect(request).toMatchObject({ version: 1, requested: [fullImage], topics: [`border/v1/${EVIDENCE_POST}/commands/evidence`] });
    const answers = (type: string) => wire.received.filter((m) => m.type === type && m.event.data.kind === 'evidence.request');
    await wire.waitFor(() => answers('command.applied').length > 0, 60_000, 'the request applied');
    expect(answers('command.applied')[0]?.event.data).toMatchObject({ commandId: request.commandId, version: 1 });
    await wire.waitFor(() => chunksOf(wire, fullImage).size >= 2, 60_000, 'the first chunks of the full image');
    await broker.stop();
    const fullAtCut = chunksOf(wire, fullImage).size;
    expect(fullAtCut).toBeLessThan(65);
    expect((await gateway.kill('SIGKILL')).signal).toBe('SIGKILL');
    const atSecondKill = uploadsOnDisk(dataDir).find((u) => u.digest === fullImage);
    expect(atSecondKill).toMatchObject({ request_id: request.commandId, chunks: 65 });
    expect(atSecondKill!.next_index).toBeLessThan(65);
    await restartBroker();
    gateway = start();
    await listenersOf(gateway);

    await waitUntil('the full image complete at the VMC', async () => (await evidenceOf(crossing.crossingId)).pieces.some((p) => p.digest === fullImage && p.complete), { timeoutMs: 90_000 });
    const sentFull = await served(fullImage);
    expect([sentFull.status, sentFull.type, sentFull.disposition]).toEqual([200, 'application/octet-stream', `attachment; filename="${fullImage.slice(7, 23)}.pgm"`]);
    expect(sentFull.bytes.equals(pgm)).toBe(true);
    await waitUntil("the post's answer at the VMC", async () => (await evidenceOf(crossing.crossingId)).pieces[2]?.request?.answer === 'applied');
    expect((await evidenceOf(crossing.crossingId)).pieces[2]).toMatchObject({ complete: true, received: 65, request: { commandId: request.commandId, requestedBy: `user:${ANALYST.name}`, answer: 'applied' } });
    const chunksOfFull = [...chunksOf(wire, fullImage).values()];
    expect(chunksOfFull.every((m) => m.event.data.requestId === request.commandId && m.event.subject === crossing.crossingId)).toBe(true);
    // The retained request, handed over again on every subscription, is answered once.
    expect(answers('command.applied')).toHaveLength(1);

    // 4. What arrived: nothing missing, nothing re-sent as a new event, nothing rejected or pending.
    const status = (await (await api('/api/status')).json()) as { intake: IntakeStats; evidence: EvidenceSummary };
    expect(Object.values(status.intake.rejected).every((n) => n === 0)).toBe(true);
    expect(Object.values(status.intake.evidence.rejected).every((n) => n === 0)).toBe(true);
    expect(status.evidence).toMatchObject({ pieces: 3, bytes: jpeg.length + sentThumbnail.bytes.length + pgm.length, pendingPieces: 0, problems: {} });
    expect(vmc.logs.some((line) => line.code === 'GW_ERR_VMC_EVIDENCE_REJECTED')).toBe(false);
    const db = new Database(vmcDb, { readonly: true });
    const stored = db
      .prepare<[], { digest: string; events: number; indices: number }>(
        "SELECT json_extract(payload, '$.data.digest') AS digest, COUNT(*) AS events, COUNT(DISTINCT json_extract(payload, '$.data.index')) AS indices FROM events WHERE type = 'evidence.chunk' GROUP BY digest",
      )
      .all();
    const storedIds = new Set(db.prepare<[string], { id: string }>('SELECT id FROM events WHERE post_id = ?').all(EVIDENCE_POST).map((row) => row.id));
    db.close();
    // Every event the post sent is at the VMC, once.
    const sentIds = new Set(wire.received.filter((m) => m.topic.startsWith(`border/v1/${EVIDENCE_POST}/`) && !m.topic.includes('/commands/')).map((m) => m.id));
    expect([...sentIds].filter((id) => !storedIds.has(id))).toEqual([]);
    expect(storedIds.size).toBe(sentIds.size);
    const pieces = [
      ['snapshot', snapshot, SNAPSHOT_CHUNKS, snapshotAtCut],
      ['thumbnail', thumbnail, thumbnailChunks, null],
      ['full image', fullImage, 65, fullAtCut],
    ] as const;
    for (const [, digest, count] of pieces) expect(stored.find((s) => s.digest === digest)).toEqual({ digest, events: count, indices: count });
    console.log(
      `evidence at the VMC: ${pieces
        .map(([name, digest, count, atCut]) => {
          const sent = receivedChunks(wire, digest);
          return `${name} ${count} chunks (${sent} sent over the broker, ${sent - chunksOf(wire, digest).size} of them again${atCut === null ? '' : `, ${atCut} before the cut`}; ${stored.find((s) => s.digest === digest)?.events} stored by the VMC, served byte-identical)`;
        })
        .join('; ')}; VMC intake: ${status.intake.evidence.chunks} chunk events, ${status.intake.duplicates} redelivered events, ${status.intake.evidence.duplicateChunks} duplicate chunks, ${status.intake.evidence.stored} pieces verified; transfers at the kills: snapshot at chunk ${atFirstKill.find((u) => u.digest === snapshot)?.next_index}, thumbnail at ${atFirstKill.find((u) => u.digest === thumbnail)?.next_index}, full image at ${atSecondKill?.next_index}`,
    );
    expect(status.intake.evidence).toMatchObject({ chunks: SNAPSHOT_CHUNKS + thumbnailChunks + 65, duplicateChunks: 0, stored: 3 });

    expect((await gateway.kill('SIGTERM')).code).toBe(0);
    expect((await vmc.kill('SIGTERM')).code).toBe(0);
  }, 180_000);
});
