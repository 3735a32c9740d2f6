/**
 * Evidence at the post, all real processes: `border-gateway run` with an HTTP-push camera and an
 * HTTP-push X-ray scanner, a real Mosquitto, and a VMC-like subscriber that reassembles chunks and
 * checks their sha256. A plate snapshot (1 MiB, 32 chunks) is cut mid-transfer by stopping the
 * broker; the scan's thumbnail and full image are stored while it is down; the gateway is killed
 * with SIGKILL while both transfers are unfinished, started again, and the broker with it: both
 * arrive whole. Then the VMC asks for the full image (1024 × 1024 16-bit PGM, 65 chunks) with a
 * signed `evidence.request`; its transfer is cut by the broker and the gateway is SIGKILLed again:
 * it arrives whole too, every chunk carrying the request's id. A request for another post, and a
 * tampered one, are refused with their `command.refused`.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { EVIDENCE_CHUNK_BYTES } from '../contract/catalogue.js';
import { commandTopic, signCommand, type CommandEnvelope } from '../contract/vmc-command.js';
import { encodePgm } from '../drivers/xray/pgm.js';
import { SimulatedScanner } from '../sim/xray/simulated-scanner.js';
import { Collector } from './helpers/collector.js';
import {
  chunksOf,
  EVIDENCE_POST,
  listenersOf,
  provisionEvidencePost,
  pushPlate,
  pushScan,
  reassembled,
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

const PLATE = 'GE123AB';
/** Chunk events in the outbox at once: small, so a transfer is surely unfinished when cut. */
const WINDOW = 4;

describe('evidence from the post to the VMC', () => {
  const rig = systemRig<Mosquitto>();

  it('delivers a snapshot, a thumbnail and a requested full image whole across a stopped broker and two SIGKILLs', async () => {
    const dir = tempDir('evidence-');
    const vmcKeys = generateKeyPairSync('ed25519');
    writeFileSync(join(dir, 'vmc.pub.pem'), vmcKeys.publicKey.export({ type: 'spki', format: 'pem' }));
    const broker = (rig.broker = await Mosquitto.start());
    const collector = (rig.collector = await Collector.connect(broker.url, 'border/#'));
    const config = writeEvidencePostConfig(dir, broker.url, join(dir, 'vmc.pub.pem'), WINDOW);
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir, { mode: 0o700 });
    const credentials = await provisionEvidencePost(dataDir);
    const start = (): GatewayProcess => {
      const gateway = new GatewayProcess(['run', '--config', config, '--data', dataDir]);
      rig.processes.push(gateway);
      return gateway;
    };
    const stored = (kind: string) => collector.received.find((m) => m.type === 'evidence.stored' && m.event.data.kind === kind)?.event.data;

    // 1. The camera's read with a 1 MiB picture; the broker stops while its chunks flow.
    let gateway = start();
    let http = await listenersOf(gateway);
    await gateway.waitForLog((line) => line.msg === 'gateway running', 90_000, 'the gateway running');
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(1024 * 1024 - 6), Buffer.from([0xff, 0xd9])]);
    const snapshot = sha256(jpeg);
    expect(await pushPlate(http.devices, credentials.camera, PLATE, jpeg)).toBe(200);
    await collector.waitFor(() => chunksOf(collector, snapshot).size > 0, 60_000, 'the first chunk of the snapshot');
    await broker.stop();
    const snapshotAtCut = chunksOf(collector, snapshot).size;
    expect(stored('plate-snapshot')).toMatchObject({ digest: snapshot, bytes: jpeg.length, chunks: 32, deviceId: 'cam-1' });
    expect(snapshotAtCut).toBeLessThan(32);

    // 2. Offline, the vehicle is registered, weighed off its declaration (orange: X-ray), scanned.
    const crossing = await registerAndWeigh(http.operators, PLATE, 10_000, 20_000);
    expect(crossing.state).toBe('scanning');
    const pgm = encodePgm(new SimulatedScanner(dir, 'scanner-A').image(1024, 1024, { concealed: true }));
    expect(await pushScan(http.devices, credentials.scanner, 'scan-1', PLATE, pgm)).toBe(200);
    const thumbnailLog = await gateway.waitForLog((line) => line.msg === 'evidence stored' && line.kind === 'xray-thumbnail', 60_000, 'the thumbnail stored');
    await gateway.waitForLog((line) => line.msg === 'evidence stored' && line.kind === 'xray-image', 60_000, 'the full image stored');

    // 3. Killed with both transfers unfinished (the window of the snapshot's chunks was never acknowledged).
    expect((await gateway.kill('SIGKILL')).signal).toBe('SIGKILL');
    const thumbnail = String(thumbnailLog.digest);
    const atKill = uploadsOnDisk(dataDir);
    expect(atKill.find((u) => u.digest === snapshot)).toMatchObject({ request_id: null, chunks: 32 });
    expect(atKill.find((u) => u.digest === snapshot)!.next_index).toBeLessThan(32);
    expect(atKill.find((u) => u.digest === thumbnail)?.next_index).toBeLessThan(Number(thumbnailLog.chunks));

    gateway = start();
    http = await listenersOf(gateway);
    await broker.run();
    await collector.waitFor(() => reassembled(collector, snapshot) !== null && reassembled(collector, thumbnail) !== null, 90_000, 'the snapshot and the thumbnail whole');
    expect(sha256(reassembled(collector, snapshot)!)).toBe(snapshot);
    expect(reassembled(collector, snapshot)!.equals(jpeg)).toBe(true);
    const png = reassembled(collector, thumbnail)!;
    expect(sha256(png)).toBe(thumbnail);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    const full = stored('xray-image');
    expect(full).toMatchObject({ digest: sha256(pgm), bytes: pgm.length, chunks: 0, crossingId: crossing.crossingId });
    expect(stored('xray-thumbnail')).toMatchObject({ digest: thumbnail, crossingId: crossing.crossingId, imageWidth: 1024, imageHeight: 1024, of: sha256(pgm) });
    expect(chunksOf(collector, sha256(pgm)).size).toBe(0);

    // 4. The VMC asks for the full image; the broker stops mid-transfer, the gateway is killed.
    const command = (version: number, digests: string[], postIds = [EVIDENCE_POST]): CommandEnvelope =>
      signCommand({ kind: 'evidence.request', commandId: randomUUID(), postIds, version, issuedAt: new Date().toISOString(), payload: { digests } }, vmcKeys.privateKey);
    const request = command(1, [sha256(pgm)]);
    const vmc = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    await vmc.publishAsync(commandTopic(`border/v1/${EVIDENCE_POST}`, 'evidence.request'), JSON.stringify(request), { qos: 1, retain: true });
    await vmc.endAsync();
    const answers = (type: string) => collector.received.filter((m) => m.type === type && m.event.data.kind === 'evidence.request');
    await collector.waitFor(() => answers('command.applied').length > 0, 60_000, 'the request applied');
    expect(answers('command.applied')[0]?.event.data).toMatchObject({ commandId: request.commandId, version: 1 });
    await collector.waitFor(() => chunksOf(collector, sha256(pgm)).size >= 2, 60_000, 'the first chunks of the full image');
    await broker.stop();
    const fullAtCut = chunksOf(collector, sha256(pgm)).size;
    expect(fullAtCut).toBeLessThan(65);
    expect((await gateway.kill('SIGKILL')).signal).toBe('SIGKILL');
    const fullAtKill = uploadsOnDisk(dataDir).find((u) => u.digest === sha256(pgm));
    expect(fullAtKill).toMatchObject({ request_id: request.commandId, chunks: 65 });
    expect(fullAtKill!.next_index).toBeLessThan(65);

    gateway = start();
    await listenersOf(gateway);
    await broker.run();
    await collector.waitFor(() => reassembled(collector, sha256(pgm)) !== null, 120_000, 'the full image whole');
    expect(reassembled(collector, sha256(pgm))!.equals(pgm)).toBe(true);
    const fullChunks = [...chunksOf(collector, sha256(pgm)).values()];
    expect(fullChunks.every((m) => m.event.data.requestId === request.commandId && m.laneId === 'lane-1' && m.event.subject === crossing.crossingId)).toBe(true);
    expect(fullChunks.every((m) => Buffer.from(String(m.event.data.data), 'base64').length <= EVIDENCE_CHUNK_BYTES)).toBe(true);
    // The retained request, handed over again on each subscription, is answered once.
    expect(answers('command.applied')).toHaveLength(1);

    // 5. A request naming another post, and one changed after signing, are refused.
    const other = command(2, [sha256(pgm)], ['other-post']);
    const tampered = { ...command(2, [`sha256:${'0'.repeat(64)}`]), payload: { digests: [snapshot] } };
    const publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    for (const message of [other, tampered]) await publisher.publishAsync(commandTopic(`border/v1/${EVIDENCE_POST}`, 'evidence.request'), JSON.stringify(message), { qos: 1 });
    await publisher.endAsync();
    await collector.waitFor(() => answers('command.refused').length >= 2, 60_000, 'both refusals');
    expect(answers('command.refused').map((m) => [m.event.data.commandId, (m.event.data.reason as { code: string }).code])).toEqual([
      [other.commandId, 'GW_ERR_COMMAND_WRONG_POST'],
      [tampered.commandId, 'GW_ERR_COMMAND_SIGNATURE'],
    ]);
    expect(answers('command.refused').every((m) => m.laneId === 'post')).toBe(true);

    const counts = [
      ['snapshot', snapshot, 32, snapshotAtCut],
      ['thumbnail', thumbnail, Number(thumbnailLog.chunks), null],
      ['full image', sha256(pgm), 65, fullAtCut],
    ] as const;
    console.log(
      `evidence: ${counts
        .map(([name, digest, count, atCut]) => `${name} ${count} chunks (${receivedChunks(collector, digest)} received, ${chunksOf(collector, digest).size} distinct${atCut === null ? '' : `, ${atCut} before the cut`})`)
        .join('; ')}; snapshot ${jpeg.length} bytes, thumbnail ${png.length}, full image ${pgm.length}; at the first kill the snapshot's transfer was at chunk ${atKill.find((u) => u.digest === snapshot)?.next_index}, the thumbnail's at ${atKill.find((u) => u.digest === thumbnail)?.next_index}; at the second the full image's at ${fullAtKill?.next_index}`,
    );
    expect((await gateway.kill('SIGTERM')).code).toBe(0);
  }, 300_000);
});
