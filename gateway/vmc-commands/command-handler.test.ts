/**
 * A post's answers to the VMC's commands, on a real gateway (outbox, database) and post runtime:
 * every command gets exactly one event, `command.applied` or `command.refused` with the reason's
 * code; a refused command changes nothing (a vehicle on the old watchlist is still red, one on the
 * refused list is not); an applied one is kept across a restart with its version floor; a model
 * rollout is verified with the post's model keys and scores the next vehicle; an evidence request
 * sends the pieces the post holds, with its id.
 */
import { once } from 'node:events';
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { signManifest, type ModelManifest, type UnsignedManifest } from '../../edge-models/manifest.js';
import { signCommand, type CommandEnvelope, type CommandKind } from '../../contract/vmc-command.js';
import { EVENT_SCHEMA_DIR } from '../../contract/json-schemas.js';
import { UNFIT_CHAR_RANGES } from '../../core/device-text.js';
import { EVIDENCE_CHUNK_BYTES } from '../../contract/catalogue.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { DeviceFeedStandIn } from '../../test/helpers/post-harness.js';
import { startTestGateway, tempDir, testConfig } from '../../test/helpers/test-config.js';
import type { Gateway } from '../daemon.js';
import { BUNDLED_MODELS, startPostRuntime, type PostRuntime } from '../post-runtime.js';
import { REFUSALS_AT_ONCE, REFUSAL_REFILL_MS, REFUSAL_SUMMARY_MS } from './command-handler.js';
import type { Crossing } from '../workflow/lane-workflow.js';

interface Stored {
  type: string;
  data: Record<string, unknown>;
}

const vmcKeys = generateKeyPairSync('ed25519');
const otherKeys = generateKeyPairSync('ed25519');
const modelKeys = generateKeyPairSync('ed25519');
const POST = 'test-post';
const OLD_PLATE = 'AB123CD';
const NEW_PLATE = 'XY987ZW';

function crossing(plate: string): Crossing {
  return {
    crossingId: `c-${plate}`,
    laneId: 'lane-1',
    state: 'weighed',
    plate,
    plateConfidence: 0.94,
    vehicleType: 'tractor-trailer',
    detectedBy: 'anpr',
    declaration: { direction: 'import', declaredWeightKg: 20_000, documents: ['SAD-1'], aeo: false, previousVisits30d: 8 },
    weightKg: 20_050,
    risk: null,
    xray: false,
    inspectionOutcome: null,
    scan: null,
    wallMs: { arrived: Date.UTC(2026, 10, 26, 10) },
    monoMs: { arrived: 0 },
    clock: { synchronised: true, offsetMs: 0.2 },
  };
}

function command(kind: CommandKind, version: number, payload: Record<string, unknown>, options: { postIds?: string[]; key?: KeyObject; commandId?: string; issuedAt?: string } = {}): CommandEnvelope {
  return signCommand(
    { kind, commandId: options.commandId ?? randomUUID(), postIds: options.postIds ?? [POST], version, issuedAt: options.issuedAt ?? '2026-11-27T08:00:00.000Z', payload },
    options.key ?? vmcKeys.privateKey,
  );
}

const unsigned = ({ signature: _signature, ...body }: ModelManifest): UnsignedManifest => body;

const bytes = (value: unknown): Buffer => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

/** The bundled risk model's manifest, re-signed by the test model key at `version`, as a rollout payload. */
function rolloutPayload(version: string, onnx?: Buffer): Record<string, unknown> {
  const bundled = unsigned(JSON.parse(readFileSync(BUNDLED_MODELS.risk, 'utf8')) as ModelManifest);
  const original = readFileSync(join(dirname(BUNDLED_MODELS.risk), bundled.file));
  const manifest = signManifest({ ...bundled, version, file: 'risk.onnx' }, modelKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  return { manifest, onnxBase64: (onnx ?? original).toString('base64') };
}

const ajv = new Ajv2020({ strict: false });
addFormats.default(ajv);
/** The published JSON Schemas of the answers (docs/schemas): every answer must match its own. */
const validators = Object.fromEntries(['command.applied', 'command.refused'].map((type) => [type, ajv.compile(JSON.parse(readFileSync(join(EVENT_SCHEMA_DIR, `${type}.json`), 'utf8')) as object)]));

describe('VMC commands on a post', () => {
  let gateway: Gateway | undefined;
  let runtime: PostRuntime | undefined;
  afterEach(async () => {
    await runtime?.stop();
    await gateway?.stop();
    runtime = undefined;
    gateway = undefined;
  });

  async function startPost(
    dir: string,
    withKeys = true,
  ): Promise<{
    runtime: PostRuntime;
    clock: ManualClock;
    logs: Record<string, unknown>[];
    all: () => Promise<Stored[]>;
    answers: () => Promise<Stored[]>;
    send: (message: unknown) => Promise<Stored>;
  }> {
    writeFileSync(join(dir, 'vmc.pub.pem'), vmcKeys.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(dir, 'model.pub.pem'), modelKeys.publicKey.export({ type: 'spki', format: 'pem' }));
    const config = testConfig(['mqtt://127.0.0.1:1']);
    config.workflow.watchlist = [OLD_PLATE];
    config.workflow.randomXrayShare = 0;
    config.models = { publicKeys: [join(dir, 'model.pub.pem'), BUNDLED_MODELS.publicKey], xrayScreening: null };
    config.commands = { publicKeys: withKeys ? [join(dir, 'vmc.pub.pem')] : [], maxBytes: 64 * 1024 };
    gateway = await startTestGateway(config, dir);
    const started = gateway;
    const clock = new ManualClock(Date.UTC(2026, 10, 27));
    const logs: Record<string, unknown>[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
    runtime = await startPostRuntime({ config, gateway: started, devices: new DeviceFeedStandIn(), clock, logger });
    const post = runtime;
    const all = async (): Promise<Stored[]> => {
      while (started.outbox.durableSeq < started.outbox.lastSeq) await once(started.outbox, 'committed');
      return started.outbox.readFrom(0, 10_000).map((row) => JSON.parse(row.payload) as Stored);
    };
    const answers = async (): Promise<Stored[]> => (await all()).filter((e) => e.type.startsWith('command.'));
    const send = async (message: unknown): Promise<Stored> => {
      const before = (await answers()).length;
      await post.commands.handle(bytes(message));
      const after = await answers();
      expect(after.length - before, 'exactly one answer per command').toBe(1);
      const answer = after.at(-1) as Stored;
      expect(validators[answer.type]?.(answer), JSON.stringify(validators[answer.type]?.errors)).toBe(true);
      return answer;
    };
    return { runtime: post, clock, logs, all, answers, send };
  }

  const channelOf = async (post: PostRuntime, plate: string): Promise<string> => (await post.assessor.assess(crossing(plate), Date.UTC(2026, 10, 26, 10))).channel;

  it('applies a signed watchlist and refuses a tampered, a badly signed, an unknown-key, a wrong-post, a replayed, an older, an oversized and a malformed one, keeping the list in use', async () => {
    const dir = tempDir('commands-');
    const { runtime: post, send } = await startPost(dir);
    expect(await channelOf(post, OLD_PLATE)).toBe('red');
    expect(await channelOf(post, NEW_PLATE)).not.toBe('red');

    // Version 5 applied: the new plate is red, the old one no longer.
    const applied = command('watchlist.update', 5, { plates: ['xy-987 zw', OLD_PLATE + '9'] });
    const answer = await send(applied);
    expect(answer).toMatchObject({ type: 'command.applied', data: { commandId: applied.commandId, kind: 'watchlist.update', version: 5, current: { watchlistVersion: 5, watchlistPlates: 2 } } });
    expect(await channelOf(post, NEW_PLATE)).toBe('red');
    expect(await channelOf(post, OLD_PLATE)).not.toBe('red');

    // Each refusal below would have put OLD_PLATE back on the list and taken NEW_PLATE off.
    const back = { plates: [OLD_PLATE] };
    const tampered = command('watchlist.update', 6, { plates: [NEW_PLATE] });
    const cases: [string, unknown, string][] = [
      ['tampered', { ...tampered, payload: back }, 'GW_ERR_COMMAND_SIGNATURE'],
      // Every other field the signature covers, changed after signing: another post's command
      // re-addressed to this one, an older one re-numbered past the floor, a new id, a new date.
      ['re-addressed', { ...command('watchlist.update', 6, back, { postIds: ['other-post'] }), postIds: [POST] }, 'GW_ERR_COMMAND_SIGNATURE'],
      ['re-numbered', { ...command('watchlist.update', 4, back), version: 6 }, 'GW_ERR_COMMAND_SIGNATURE'],
      ['re-identified', { ...command('watchlist.update', 6, back), commandId: randomUUID() }, 'GW_ERR_COMMAND_SIGNATURE'],
      ['re-dated', { ...command('watchlist.update', 6, back), issuedAt: '2026-11-28T08:00:00.000Z' }, 'GW_ERR_COMMAND_SIGNATURE'],
      ['bad signature', { ...command('watchlist.update', 6, back), signature: tampered.signature }, 'GW_ERR_COMMAND_SIGNATURE'],
      ['unknown key', command('watchlist.update', 6, back, { key: otherKeys.privateKey }), 'GW_ERR_COMMAND_KEY_UNKNOWN'],
      ['wrong post', command('watchlist.update', 6, back, { postIds: ['other-post'] }), 'GW_ERR_COMMAND_WRONG_POST'],
      ['replay (same command)', applied, 'GW_ERR_COMMAND_REPLAY'],
      ['replay (same version)', command('watchlist.update', 5, back), 'GW_ERR_COMMAND_REPLAY'],
      ['older', command('watchlist.update', 4, back), 'GW_ERR_COMMAND_OLDER'],
      ['oversized', command('watchlist.update', 6, { plates: Array.from({ length: 8000 }, (_, i) => `PL${String(i).padStart(6, '0')}`) }), 'GW_ERR_COMMAND_TOO_LARGE'],
      ['malformed JSON', '{"kind":"watchlist.update",', 'GW_ERR_COMMAND_MALFORMED'],
      ['not a plate', command('watchlist.update', 6, { plates: ['AB\u0007C'] }), 'GW_ERR_COMMAND_MALFORMED'],
    ];
    for (const [name, message, code] of cases) {
      const refused = await send(message);
      expect(refused, name).toMatchObject({ type: 'command.refused', data: { reason: { code }, current: { watchlistVersion: 5, watchlistPlates: 2 } } });
      expect(await channelOf(post, NEW_PLATE), name).toBe('red');
      expect(await channelOf(post, OLD_PLATE), name).not.toBe('red');
    }
    const malformed = (await send('{"kind":"watchlist.update",')).data;
    expect(malformed).toMatchObject({ commandId: null, kind: null, version: null });
    // JSON.parse quotes the sender's bytes in its message: what reaches the VMC's dashboard is made fit to show.
    const quoted = (await send('\u202egnp.exe\n\u0007{')).data as { reason: { message: string } };
    expect(quoted.reason.message).toContain('gnp.exe');
    expect(quoted.reason.message).not.toMatch(new RegExp(`[${UNFIT_CHAR_RANGES}]`));

    // The retained copy of the applied command, delivered again on a reconnect, is not answered.
    post.commands.receive(bytes(applied), true);
    await post.commands.idle();

    // A restart keeps the applied list and its version floor.
    await runtime?.stop();
    await gateway?.stop();
    const again = await startPost(dir);
    expect(await channelOf(again.runtime, NEW_PLATE)).toBe('red');
    expect(await channelOf(again.runtime, OLD_PLATE)).not.toBe('red');
    expect((await again.send(command('watchlist.update', 5, back))).data).toMatchObject({ reason: { code: 'GW_ERR_COMMAND_REPLAY' } });
    expect((await again.send(command('watchlist.update', 7, { plates: [OLD_PLATE] }))).type).toBe('command.applied');
    expect(await channelOf(again.runtime, OLD_PLATE)).toBe('red');
    const answered = await again.answers();
    expect(answered.filter((a) => a.type === 'command.applied')).toHaveLength(2);
    expect(answered).toHaveLength(cases.length + 5);
  });

  it('refuses every command while no VMC key is configured', async () => {
    const { runtime: post, send } = await startPost(tempDir('commands-nokey-'), false);
    expect((await send(command('watchlist.update', 1, { plates: [NEW_PLATE] }))).data).toMatchObject({ reason: { code: 'GW_ERR_COMMAND_KEY_UNKNOWN', message: expect.stringContaining('no VMC key') as unknown } });
    expect(await channelOf(post, NEW_PLATE)).not.toBe('red');
  });

  it('rolls out a model signed by a model key, scores the next vehicle with it, and refuses a tampered file or an older model', async () => {
    const dir = tempDir('commands-model-');
    const { runtime: post, send } = await startPost(dir);
    const before = post.riskSlot.version;
    expect(before).not.toBeNull();
    // Over maxBytes of this post (64 KiB) the 23 KB model still fits in base64.
    const applied = await send(command('model.rollout', 1, rolloutPayload('2099.1.1')));
    expect(applied).toMatchObject({ type: 'command.applied', data: { kind: 'model.rollout', version: 1, current: { modelCommandVersion: 1, models: { risk: '2099.1.1' } } } });
    expect((await post.assessor.assess(crossing(NEW_PLATE), Date.UTC(2026, 10, 26, 10))).modelVersion).toBe('2099.1.1');

    const digest = await send(command('model.rollout', 2, rolloutPayload('2099.2.1', Buffer.from('not the model'))));
    expect(digest.data).toMatchObject({ reason: { code: 'GW_ERR_MODEL_DIGEST' }, current: { models: { risk: '2099.1.1' }, modelCommandVersion: 1 } });
    const older = await send(command('model.rollout', 3, rolloutPayload('2098.1.1')));
    expect(older.data).toMatchObject({ reason: { code: 'GW_ERR_MODEL_ROLLBACK' } });
    expect(post.riskSlot.version).toBe('2099.1.1');

    // After a restart the rolled-out model runs, not the configured one.
    await runtime?.stop();
    await gateway?.stop();
    const again = await startPost(dir);
    expect(again.runtime.riskSlot.version).toBe('2099.1.1');
  });

  it('sends the pieces an evidence request names with its id, refuses one naming none held, and leaves the versions of the other kinds alone', async () => {
    const dir = tempDir('commands-evidence-');
    const { runtime: post, send, all } = await startPost(dir);
    expect((await send(command('watchlist.update', 3, { plates: [NEW_PLATE] }))).type).toBe('command.applied');
    const image = randomBytes(3 * EVIDENCE_CHUNK_BYTES + 10);
    const held = await post.evidence.store.put(image, { kind: 'xray-image', contentType: 'image/x-portable-graymap', crossing: { crossingId: 'c-1', laneId: 'lane-1' }, deviceId: 'xray-1', forward: false });
    expect(held?.chunks).toBe(0);
    const unknown = `sha256:${'e'.repeat(64)}`;

    const request = command('evidence.request', 1, { digests: [held!.digest, unknown, held!.digest] });
    const applied = await send(request);
    expect(applied).toMatchObject({ type: 'command.applied', data: { commandId: request.commandId, kind: 'evidence.request', version: 1, current: { watchlistVersion: 3, watchlistPlates: 1, modelCommandVersion: null } } });
    await post.evidence.idle();
    const chunks = (await all()).filter((e) => e.type === 'evidence.chunk');
    expect(chunks.map((c) => [c.data.index, c.data.requestId, c.data.digest])).toEqual([0, 1, 2, 3].map((index) => [index, request.commandId, held!.digest]));
    expect(Buffer.concat(chunks.map((c) => Buffer.from(String(c.data.data), 'base64'))).equals(image)).toBe(true);

    const cases: [string, unknown, string][] = [
      ['none held', command('evidence.request', 2, { digests: [unknown] }), 'GW_ERR_EVIDENCE_NOT_HELD'],
      ['wrong post', command('evidence.request', 2, { digests: [held!.digest] }, { postIds: ['other-post'] }), 'GW_ERR_COMMAND_WRONG_POST'],
      ['tampered', { ...command('evidence.request', 2, { digests: [unknown] }), payload: { digests: [held!.digest] } }, 'GW_ERR_COMMAND_SIGNATURE'],
      ['replay', request, 'GW_ERR_COMMAND_REPLAY'],
      ['not a digest', command('evidence.request', 2, { digests: ['sha256:xyz'] }), 'GW_ERR_COMMAND_MALFORMED'],
      ['no digest', command('evidence.request', 2, { digests: [] }), 'GW_ERR_COMMAND_MALFORMED'],
    ];
    for (const [name, message, code] of cases) {
      const refused = await send(message);
      expect(refused, name).toMatchObject({ type: 'command.refused', data: { kind: 'evidence.request', reason: { code }, current: { watchlistVersion: 3, watchlistPlates: 1, modelCommandVersion: null } } });
    }
    await post.evidence.idle();
    expect((await all()).filter((e) => e.type === 'evidence.chunk')).toHaveLength(4);
    // The next request with a newer version is applied again; the watchlist floor is untouched.
    expect((await send(command('evidence.request', 2, { digests: [held!.digest] }))).type).toBe('command.applied');
    expect((await send(command('watchlist.update', 3, { plates: [OLD_PLATE] }))).data).toMatchObject({ reason: { code: 'GW_ERR_COMMAND_REPLAY' } });
  });

  it('answers a refused command once, not again each time the broker hands over its retained copy on a reconnect', async () => {
    const dir = tempDir('commands-retained-refused-');
    const { runtime: post, send, answers } = await startPost(dir);
    const strangerModelKey = generateKeyPairSync('ed25519');
    const payload = rolloutPayload('2099.1.1');
    const foreign = { ...payload, manifest: signManifest({ ...unsigned(payload.manifest as ModelManifest) }, strangerModelKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()) };
    const rollout = command('model.rollout', 4, foreign);
    // Delivered live and refused: the post does not know the model's signer.
    expect((await send(rollout)).data).toMatchObject({ reason: { code: 'GW_ERR_MODEL_SIGNATURE' } });
    // The VMC keeps it retained on the post's topic: every reconnect hands it over again.
    for (let reconnect = 0; reconnect < 3; reconnect += 1) {
      post.commands.receive(bytes(rollout), true);
      await post.commands.idle();
    }
    expect((await answers()).filter((answer) => answer.data.commandId === rollout.commandId)).toHaveLength(1);
    // A newer command is still heard.
    expect((await send(command('model.rollout', 5, rolloutPayload('2099.2.1')))).type).toBe('command.applied');
  });

  it("tries a command refused for the post's own fault (its model could not be written) again when the retained copy comes", async () => {
    const dir = tempDir('commands-retained-apply-');
    const { runtime: post, send, answers } = await startPost(dir);
    // Where rolled-out models go, a file instead of a folder: the write fails, not the command.
    const modelDir = join(dirname(gateway!.outbox.database.name), 'vmc-models');
    writeFileSync(modelDir, 'not a folder');
    const rollout = command('model.rollout', 4, rolloutPayload('2099.1.1'));
    expect((await send(rollout)).data).toMatchObject({ reason: { code: 'GW_ERR_COMMAND_APPLY' } });
    rmSync(modelDir);
    post.commands.receive(bytes(rollout), true);
    await post.commands.idle();
    expect((await answers()).filter((answer) => answer.data.commandId === rollout.commandId).map((answer) => answer.type)).toEqual(['command.refused', 'command.applied']);
  });

  it('answers refusals one by one only within the budget, counts the rest into one alarm, and still applies a valid command', async () => {
    const { runtime: post, clock, all, answers } = await startPost(tempDir('commands-budget-'));
    const junk = ['not json', JSON.stringify({ ...command('watchlist.update', 9, { plates: [NEW_PLATE] }), payload: { plates: [] } }), JSON.stringify(command('watchlist.update', 9, { plates: [NEW_PLATE] }, { postIds: ['other-post'] }))];
    // One at a time, each handled before the next comes: a slow flood, not a burst.
    for (let i = 0; i < 60; i += 1) {
      post.commands.receive(bytes(junk[i % junk.length]));
      await post.commands.idle();
    }
    expect(await answers()).toHaveLength(REFUSALS_AT_ONCE);
    const valid = command('watchlist.update', 1, { plates: [NEW_PLATE] });
    post.commands.receive(bytes(valid));
    await post.commands.idle();
    expect((await answers()).filter((answer) => answer.type === 'command.applied').map((answer) => answer.data.commandId)).toEqual([valid.commandId]);
    // A minute on: one more refusal answered, and the summary of the 50 counted.
    clock.advance(REFUSAL_REFILL_MS);
    post.commands.receive(bytes('not json'));
    post.commands.receive(bytes('not json either'));
    await post.commands.idle();
    const refused = (await answers()).filter((answer) => answer.type === 'command.refused');
    expect(refused).toHaveLength(REFUSALS_AT_ONCE + 1);
    const alarms = (await all()).filter((event) => event.type === 'alarm.raised' && event.data.alarm === 'GW_ERR_COMMAND_FLOOD');
    expect(alarms.map((alarm) => alarm.data.details)).toEqual([{ dropped: 50, byCode: { GW_ERR_COMMAND_MALFORMED: 16, GW_ERR_COMMAND_SIGNATURE: 17, GW_ERR_COMMAND_WRONG_POST: 17 }, intervalMs: REFUSAL_SUMMARY_MS }]);
    // The one counted since is summarised when the post stops.
    await runtime?.stop();
    runtime = undefined;
    const after = (await all()).filter((event) => event.type === 'alarm.raised' && event.data.alarm === 'GW_ERR_COMMAND_FLOOD');
    expect(after.map((alarm) => (alarm.data.details as { dropped: number }).dropped)).toEqual([50, 1]);
  });

  it('applies a genuine command whose id a forged message named first, and answers copies of a waiting command once', async () => {
    const { runtime: post, answers } = await startPost(tempDir('commands-forged-id-'));
    const genuine = command('watchlist.update', 2, { plates: [NEW_PLATE] });
    // Someone who read the genuine command off the broker publishes a tampered copy with its id;
    // on the next reconnect the broker hands both over, retained, the forged one first.
    const forged = { ...genuine, payload: { plates: [] } };
    post.commands.receive(bytes(forged), true);
    post.commands.receive(bytes(genuine), true);
    await post.commands.idle();
    expect((await answers()).map((answer) => [answer.type, answer.data.commandId])).toEqual([
      ['command.refused', genuine.commandId],
      ['command.applied', genuine.commandId],
    ]);
    expect(await channelOf(post, NEW_PLATE)).toBe('red');
    // A bridge looping delivers a new command three times before it is applied: one answer.
    const next = command('watchlist.update', 3, { plates: [OLD_PLATE] });
    for (let copy = 0; copy < 3; copy += 1) post.commands.receive(bytes(next));
    await post.commands.idle();
    expect((await answers()).filter((answer) => answer.data.commandId === next.commandId).map((answer) => answer.type)).toEqual(['command.applied']);
  });

  it('applies a command whatever its issuedAt says (a post with a wrong clock keeps getting rollbacks), and logs one issued ahead of the post', async () => {
    const { runtime: post, clock, logs, send } = await startPost(tempDir('commands-issued-at-'));
    const ahead = () => logs.filter((line) => line.code === 'GW_ERR_COMMAND_ISSUED_AHEAD');
    // The post's clock reads 2026-11-27T00:00Z. Issued half a year ahead: the VMC's clock is wrong, or the post's.
    const future = command('watchlist.update', 1, { plates: [NEW_PLATE] }, { issuedAt: '2027-06-01T00:00:00.000Z' });
    expect((await send(future)).type).toBe('command.applied');
    expect(ahead()).toEqual([expect.objectContaining({ commandId: future.commandId, issuedAt: '2027-06-01T00:00:00.000Z', postTime: '2026-11-27T00:00:00.000Z' })]);
    // Issued years ago (a retained command after a long outage, or a post clock far ahead): applied, nothing to say.
    expect((await send(command('watchlist.update', 2, { plates: [OLD_PLATE] }, { issuedAt: '2019-01-01T00:00:00.000Z' }))).type).toBe('command.applied');
    expect(ahead()).toHaveLength(1);
    // Four minutes ahead is clock drift, not worth a line.
    expect((await send(command('watchlist.update', 3, { plates: [OLD_PLATE] }, { issuedAt: '2026-11-27T00:04:00.000Z' }))).type).toBe('command.applied');
    expect(ahead()).toHaveLength(1);
    // The post's RTC reset to 1970 after a power cut: a model rollback still comes through.
    clock.stepWall(-Date.UTC(2026, 10, 27));
    const rollout = await send(command('model.rollout', 1, rolloutPayload('2099.1.1'), { issuedAt: '2026-11-27T09:00:00.000Z' }));
    expect(rollout).toMatchObject({ type: 'command.applied', data: { current: { models: { risk: '2099.1.1' } } } });
    expect(post.riskSlot.version).toBe('2099.1.1');
    expect(ahead()).toHaveLength(2);
  });
});
