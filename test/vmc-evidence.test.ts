/**
 * Evidence end to end at the VMC, all real processes: Mosquitto and a `border-gateway vmc` child
 * (SQLite, with a command key). A post's plate snapshot and X-ray thumbnail arrive as chunk
 * events published to the broker — interleaved, some twice, one re-sent as a new event, the
 * announcements after their chunks — and come back from `GET /api/evidence/{digest}` byte for
 * byte with safe headers, beside their crossing with the screening regions. A corrupted piece is
 * rejected, counted and never served. `POST /api/evidence/requests` and
 * `vmc command request-evidence` publish signed `evidence.request` commands on the post's
 * evidence topic (verified here with the contract's own check); the full image sent in answer is
 * served as a download.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudEvent } from '../contract/envelope.js';
import { commandEnvelopeSchema, commandSignatureValid, type CommandEnvelope } from '../contract/vmc-command.js';
import { systemClock } from '../core/clock.js';
import type { CrossingEvidence } from '../vmc/evidence/evidence-records.js';
import { VmcStore } from '../vmc/store/vmc-store.js';
import { VmcAuth } from '../vmc/vmc-auth.js';
import { GatewayProcess } from './helpers/gateway-process.js';
import { ManualClock } from './helpers/manual-clock.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { greyPng, rgbPng } from './helpers/png.js';
import { tempDir } from './helpers/test-config.js';
import { digestOf, EventMaker } from './helpers/vmc-events.js';
import { waitUntil } from './helpers/wait-until.js';

/** Within the tests' own 60 s, so a wait that never ends says what it waited for. */
const POLL = { timeoutMs: 30_000 };

const topicOf = (event: CloudEvent): string => {
  const [, , post, lane] = event.source.split('/');
  return `border/v1/${post}/${lane}/${event.type}`;
};

describe('evidence at the VMC', () => {
  const dir = tempDir('vmc-evidence-');
  const spec = `sqlite:${join(dir, 'vmc.db')}`;
  const keys = generateKeyPairSync('ed25519');
  const keyPath = join(dir, 'vmc-command.key.pem');
  let broker: Mosquitto;
  let vmc: GatewayProcess;
  let publisher: MqttClient;
  let base: string;
  let token: string;
  const post = new EventMaker('post-east', new ManualClock(Date.UTC(2026, 10, 28, 9)));
  // A plate snapshot over three chunks and a thumbnail over two: noise, which deflate cannot shrink.
  const noise = (x: number, y: number, seed: number): number => (Math.imul((x * 73_856_093) ^ (y * 19_349_663) ^ seed, 2_654_435_761) >>> 24) & 255;
  const snapshot = rgbPng(160, 160, (x, y) => [noise(x, y, 1), noise(x, y, 2), noise(x, y, 3)]);
  const thumbnail = greyPng(120, 120, (x, y) => noise(x, y, 4));
  const fullImage = Buffer.concat([Buffer.from('P5\n1024 512\n65535\n'), Buffer.alloc(1024 * 2 * 3, 0x5a)]);
  const regions = [{ x: 600, y: 100, width: 200, height: 150, density: 0.93 }];

  const api = async (path: string, init: { method?: string; body?: unknown } = {}) =>
    fetch(`${base}${path}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${token}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
  const evidenceOf = async (crossingId: string): Promise<CrossingEvidence> => (await (await api(`/api/crossings/${crossingId}/evidence?post=post-east`)).json()) as CrossingEvidence;
  const publish = async (events: CloudEvent[]) => {
    for (const event of events) await publisher.publishAsync(topicOf(event), JSON.stringify(event), { qos: 1 });
  };
  /** The next command the broker hands a subscriber of the post's evidence topic. */
  const nextCommand = async (start: () => Promise<unknown>): Promise<{ topic: string; command: CommandEnvelope }> => {
    const reader = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    try {
      await reader.subscribeAsync('border/v1/post-east/commands/evidence', { qos: 1, rap: true, rh: 2 });
      const received = new Promise<{ topic: string; command: CommandEnvelope }>((resolve) =>
        reader.once('message', (topic, payload) => resolve({ topic, command: commandEnvelopeSchema.parse(JSON.parse(payload.toString())) })),
      );
      await start();
      return await received;
    } finally {
      await reader.endAsync();
    }
  };

  beforeAll(async () => {
    writeFileSync(keyPath, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const store = await VmcStore.open(spec, systemClock.now());
    await new VmcAuth(store, systemClock).addAccount('ana', 'analyst', 'analyst-password-1');
    await store.close();
    broker = await Mosquitto.start();
    vmc = new GatewayProcess(['vmc', '--mqtt', broker.url, '--store', spec, '--http', '127.0.0.1:0', '--name', 'evidence-test', '--command-key', keyPath, '--log-level', 'warn']);
    const banner = await vmc.waitForStdout((l) => l.startsWith('border-gateway vmc:'), 60_000, 'the vmc banner');
    base = /API (http:\/\/\S+)/.exec(banner)![1]!;
    const login = await fetch(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ana', password: 'analyst-password-1' }) });
    token = ((await login.json()) as { token: string }).token;
    publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  }, 90_000);

  afterAll(async () => {
    await publisher?.endAsync();
    await vmc?.kill('SIGTERM');
    await broker?.stop();
  });

  it('assembles chunks published interleaved and twice, and serves them byte for byte beside their crossing', async () => {
    const s = post.evidenceChunks(snapshot, 'plate-snapshot', 'image/png');
    const t = post.evidenceChunks(thumbnail, 'xray-thumbnail', 'image/png');
    expect([s.length, t.length]).toEqual([3, 2]);
    const resent = post.evidenceChunks(snapshot, 'plate-snapshot', 'image/png')[1]!;
    await publish([s[2]!, t[1]!, s[0]!, s[0]!, resent, t[1]!, s[1]!, t[0]!, s[2]!]);
    await publish([
      post.evidenceStored(snapshot, 'plate-snapshot', 'image/png', 'c-77'),
      post.evidenceStored(thumbnail, 'xray-thumbnail', 'image/png', 'c-77', { deviceId: 'xray-1', imageWidth: 1024, imageHeight: 512, of: digestOf(fullImage) }),
      post.xrayScanned('c-77', { score: 0.88, modelVersion: 'xray-2026.11', regions }),
      post.crossing('c-77', 42, { xray: true, channel: 'orange' }),
    ]);
    await waitUntil('both pieces complete and announced', async () => (await evidenceOf('c-77')).pieces.filter((p) => p.complete && p.chunks !== null).length === 2, POLL);
    const view = await evidenceOf('c-77');
    expect(view.screening).toMatchObject({ score: 0.88, regions });
    expect(view.pieces.map((p) => [p.kind, p.digest, p.complete])).toEqual([
      ['plate-snapshot', digestOf(snapshot), true],
      ['xray-thumbnail', digestOf(thumbnail), true],
      ['xray-image', digestOf(fullImage), false],
    ]);
    expect(view.pieces[1]).toMatchObject({ imageWidth: 1024, imageHeight: 512, of: digestOf(fullImage) });

    for (const [bytes, digest] of [[snapshot, digestOf(snapshot)], [thumbnail, digestOf(thumbnail)]] as const) {
      const reply = await api(`/api/evidence/${digest}`);
      expect(reply.status).toBe(200);
      expect(Buffer.from(await reply.arrayBuffer()).equals(bytes)).toBe(true);
      expect(Object.fromEntries(['content-type', 'x-content-type-options', 'content-security-policy', 'cache-control'].map((h) => [h, reply.headers.get(h)]))).toEqual({
        'content-type': 'image/png',
        'x-content-type-options': 'nosniff',
        'content-security-policy': "default-src 'none'; sandbox",
        'cache-control': 'private, max-age=86400, immutable',
      });
    }
    expect((await fetch(`${base}/api/evidence/${digestOf(snapshot)}`)).status).toBe(401);
    const missing = await api(`/api/evidence/${digestOf(fullImage)}`);
    expect([missing.status, ((await missing.json()) as { code: string }).code]).toEqual([404, 'GW_ERR_VMC_EVIDENCE_NOT_FOUND']);
    const status = (await (await api('/api/status')).json()) as { intake: { evidence: { stored: number; duplicateChunks: number } }; evidence: { pieces: number }; evidenceBusy: unknown };
    expect(status.intake.evidence).toMatchObject({ stored: 2, duplicateChunks: 1 });
    expect(status.evidence.pieces).toBe(2);
    // Nothing refused as busy (vmc-evidence-unread.test.ts refuses some): both causes counted from 0.
    expect(status.evidenceBusy).toEqual({ budget: 0, share: 0 });
  });

  it('rejects and counts a piece whose bytes do not match its digest, and never serves it', async () => {
    const picture = rgbPng(100, 100, (x, y) => [y, x, 128]);
    const chunks = post.evidenceChunks(picture, 'plate-snapshot', 'image/png');
    const last = chunks.at(-1)!;
    const spoilt = Buffer.from(last.data.data, 'base64');
    spoilt[0] = (spoilt[0] as number) ^ 1;
    await publish([post.evidenceStored(picture, 'plate-snapshot', 'image/png', 'c-78'), ...chunks.slice(0, -1), { ...last, data: { ...last.data, data: spoilt.toString('base64') } }]);
    await waitUntil('the piece rejected', async () => (await evidenceOf('c-78')).pieces[0]?.problem === 'digest-mismatch', POLL);
    expect((await api(`/api/evidence/${digestOf(picture)}`)).status).toBe(404);
    const status = (await (await api('/api/status')).json()) as { intake: { evidence: { rejected: Record<string, number> } } };
    expect(status.intake.evidence.rejected['digest-mismatch']).toBe(1);
    expect(vmc.logs.some((l) => l.code === 'GW_ERR_VMC_EVIDENCE_REJECTED' && l.reason === 'digest-mismatch')).toBe(true);
  });

  it('asks the post for the full image with a signed evidence.request (API and CLI), and serves it once sent', async () => {
    const publicKey = createPublicKey(keys.privateKey);
    // Another piece the post announced and has not sent (its picture kept at the post).
    const kept = rgbPng(40, 40, (x, y) => [x, y, 7]);
    const other = digestOf(kept);
    await publish([post.evidenceStored(kept, 'plate-snapshot', 'image/png', 'c-79')]);
    await waitUntil('the kept piece announced', async () => (await evidenceOf('c-79')).pieces.length === 1, POLL);
    // What no post announced is asked of none: refused before anything is signed or sent.
    const madeUp = `sha256:${'ab'.repeat(32)}`;
    for (const body of [{ post: 'post-nowhere', digests: [other] }, { post: 'post-east', digests: [other, madeUp] }]) {
      const refused = await api('/api/evidence/requests', { method: 'POST', body });
      expect(refused.status).toBe(404);
      expect(await refused.json()).toMatchObject({ code: 'GW_ERR_VMC_EVIDENCE_UNKNOWN' });
    }
    const refusedCli = new GatewayProcess(['vmc', 'command', 'request-evidence', '--post', 'post-east', '--digest', madeUp, '--key', keyPath, '--mqtt', broker.url, '--store', spec]);
    expect((await refusedCli.exited).code).toBe(1);
    expect(refusedCli.stderrText.join('\n')).toContain(`GW_ERR_VMC_EVIDENCE_UNKNOWN: post post-east has announced no evidence ${madeUp}`);
    expect(((await (await api('/api/evidence/requests')).json()) as { requests: unknown[] }).requests).toEqual([]);
    // The analyst asks from the API; the broker hands the command to the post's evidence topic.
    const { topic, command } = await nextCommand(async () => {
      const reply = await api('/api/evidence/requests', { method: 'POST', body: { post: 'post-east', digests: [digestOf(fullImage), digestOf(snapshot)] } });
      expect(reply.status).toBe(201);
      expect(await reply.json()).toMatchObject({ version: 1, requested: [digestOf(fullImage)], held: [digestOf(snapshot)], carried: [], topics: ['border/v1/post-east/commands/evidence'] });
    });
    expect(topic).toBe('border/v1/post-east/commands/evidence');
    expect(command).toMatchObject({ kind: 'evidence.request', postIds: ['post-east'], version: 1, payload: { digests: [digestOf(fullImage)] } });
    expect(commandSignatureValid(command, publicKey)).toBe(true);
    expect(commandSignatureValid({ ...command, payload: { digests: [other] } }, publicKey)).toBe(false);
    expect((await evidenceOf('c-77')).pieces[2]).toMatchObject({ kind: 'xray-image', complete: false, request: { commandId: command.commandId, answer: 'waiting', requestedBy: 'user:ana' } });

    // The CLI asks for another piece; the unanswered request is carried along (the retained slot holds only the latest).
    const cli = await nextCommand(async () => {
      const run = new GatewayProcess(['vmc', 'command', 'request-evidence', '--post', 'post-east', '--digest', other, '--key', keyPath, '--mqtt', broker.url, '--store', spec]);
      expect((await run.exited).code).toBe(0);
      expect(run.stdout.join('\n')).toMatch(/^evidence\.request version 2 \(1 piece\(s\), 1 unanswered earlier carried along\), command /);
    });
    expect(cli.command).toMatchObject({ kind: 'evidence.request', version: 2, payload: { digests: [other, digestOf(fullImage)] } });
    expect(commandSignatureValid(cli.command, publicKey)).toBe(true);

    // The post sends the scan in answer; it is served as a download, never as an image.
    await publish(post.evidenceChunks(fullImage, 'xray-image', 'image/x-portable-graymap', { requestId: command.commandId }));
    await waitUntil('the full image', async () => (await evidenceOf('c-77')).pieces[2]?.complete === true, POLL);
    const reply = await api(`/api/evidence/${digestOf(fullImage)}`);
    expect(Buffer.from(await reply.arrayBuffer()).equals(fullImage)).toBe(true);
    expect([reply.headers.get('content-type'), reply.headers.get('content-disposition')]).toEqual(['application/octet-stream', `attachment; filename="${digestOf(fullImage).slice(7, 23)}.pgm"`]);
    const requests = (await (await api('/api/evidence/requests')).json()) as { requests: { version: number; waiting: string[] }[] };
    expect(requests.requests.map((r) => [r.version, r.waiting])).toEqual([
      [2, ['post-east']],
      [1, ['post-east']],
    ]);
    // The rollouts view does not list evidence requests.
    expect(((await (await api('/api/commands')).json()) as { commands: unknown[] }).commands).toEqual([]);
  });
});
