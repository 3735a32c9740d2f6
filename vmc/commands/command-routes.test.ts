/**
 * The commands API: analysts read each post's versions and each command's progress (from the
 * posts' answers as stored events); only admins send, only with the server's key, and what is
 * sent is a signed command retained on each named post's topic (a real Mosquitto).
 */
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventFactory, type CloudEvent } from '../../contract/envelope.js';
import { commandKeyId, commandSignatureValid, type CommandEnvelope } from '../../contract/vmc-command.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { Mosquitto } from '../../test/helpers/mosquitto.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { rolloutManifest } from '../../test/helpers/vmc-events.js';
import { buildVmcApp, MAX_BODY_DEPTH } from '../http/vmc-app.js';
import { VmcStore } from '../store/vmc-store.js';
import { VmcAuth } from '../vmc-auth.js';
import { sendCommand } from './send-command.js';

describe('commands API', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 27, 12));
  const keys = generateKeyPairSync('ed25519');
  let broker: Mosquitto;
  let store: VmcStore;
  let app: FastifyInstance;
  let keyless: FastifyInstance;
  let analyst: string;
  let admin: string;

  beforeAll(async () => {
    broker = await Mosquitto.start();
    store = await VmcStore.open(`sqlite:${join(tempDir('vmc-cmd-api-'), 'vmc.db')}`, clock.now());
    const auth = new VmcAuth(store, clock);
    await auth.addAccount('ana', 'analyst', 'analyst-password-1');
    await auth.addAccount('root', 'admin', 'admin-password-12');
    app = await buildVmcApp({ store, auth, status: () => ({}), uiDir: null, commandSender: { key: keys.privateKey, broker: { url: broker.url }, clock } });
    keyless = await buildVmcApp({ store, auth, status: () => ({}), uiDir: null });
    const login = async (name: string, password: string) => (await app.inject({ method: 'POST', url: '/api/login', payload: { name, password } })).json<{ token: string }>().token;
    analyst = await login('ana', 'analyst-password-1');
    admin = await login('root', 'admin-password-12');
  });

  afterAll(async () => {
    await app.close();
    await keyless.close();
    await store.close();
    await broker.stop();
  });

  const post = (target: FastifyInstance, url: string, token: string, payload: object) => target.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}` }, payload });

  it('sends a signed watchlist for admins only, retained per post, and shows the posts answering it', async () => {
    expect((await post(app, '/api/commands/watchlist', analyst, { plates: 'AB123CD', posts: ['post-a'] })).statusCode).toBe(403);
    expect((await post(keyless, '/api/commands/watchlist', admin, { plates: 'AB123CD', posts: ['post-a'] })).json()).toMatchObject({ code: 'GW_ERR_VMC_NO_COMMAND_KEY' });
    expect((await post(app, '/api/commands/watchlist', admin, { plates: 'AB\u0007', posts: ['post-a'] })).statusCode).toBe(400);
    // A post named twice would get the command twice, under one version.
    expect((await post(app, '/api/commands/watchlist', admin, { plates: 'AB123CD', posts: ['post-a', 'post-a'] })).statusCode).toBe(400);

    const sent = await post(app, '/api/commands/watchlist', admin, { plates: 'AB-123 CD\n# a comment\nXY987ZW\n', posts: ['post-a', 'post-b'] });
    expect(sent.statusCode).toBe(201);
    expect(sent.json()).toMatchObject({ kind: 'watchlist.update', version: 1, topics: ['border/v1/post-a/commands/watchlist', 'border/v1/post-b/commands/watchlist'] });
    // The next one takes the next version.
    expect((await post(app, '/api/commands/watchlist', admin, { plates: 'XY987ZW', posts: ['post-b'] })).json()).toMatchObject({ version: 2 });

    // A late subscriber still gets the retained command, signed by the server's key.
    const reader = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    const retained = new Promise<CommandEnvelope>((resolve) => reader.once('message', (_topic, payload) => resolve(JSON.parse(payload.toString()) as CommandEnvelope)));
    await reader.subscribeAsync('border/v1/post-a/commands/+', { qos: 1 });
    const command = await retained;
    await reader.endAsync();
    expect(command).toMatchObject({ kind: 'watchlist.update', version: 1, postIds: ['post-a', 'post-b'], payload: { plates: ['AB123CD', 'XY987ZW'] }, keyId: commandKeyId(keys.publicKey) });
    expect(commandSignatureValid(command, keys.publicKey)).toBe(true);

    // post-a applies it, post-b refuses it; the answers arrive as events.
    const answer = (postId: string, type: 'command.applied' | 'command.refused'): CloudEvent => {
      const data = {
        commandId: command.commandId,
        kind: command.kind,
        version: 1,
        current: { watchlistVersion: type === 'command.applied' ? 1 : null, watchlistPlates: 2, modelCommandVersion: null, models: { risk: '2026.11.26', xrayScreening: null } },
        ...(type === 'command.refused' ? { reason: { code: 'GW_ERR_COMMAND_KEY_UNKNOWN', message: 'no VMC key' } } : {}),
      };
      return { ...createEventFactory(postId, clock).create(type, 'post', data), seq: 1 };
    };
    // post-zz was not sent it: its answer is stored as its event, and counts for nothing.
    await store.store([answer('post-a', 'command.applied'), answer('post-b', 'command.refused'), answer('post-zz', 'command.applied')], 'vmc-1', clock.now());

    const view = (await app.inject({ method: 'GET', url: '/api/commands', headers: { authorization: `Bearer ${analyst}` } })).json<{
      canSend: boolean;
      posts: { postId: string; watchlistVersion: number | null }[];
      commands: { version: number; applied: string[]; refused: { postId: string; code: string }[]; waiting: string[] }[];
    }>();
    expect(view.canSend).toBe(true);
    expect(view.posts.map((p) => [p.postId, p.watchlistVersion])).toEqual([
      ['post-a', 1],
      ['post-b', null],
      ['post-zz', 1],
    ]);
    const first = view.commands.find((c) => c.version === 1);
    expect(first).toMatchObject({ applied: ['post-a'], refused: [{ postId: 'post-b', code: 'GW_ERR_COMMAND_KEY_UNKNOWN' }], waiting: [] });
    expect(view.commands.find((c) => c.version === 2)).toMatchObject({ applied: [], waiting: ['post-b'] });
  });

  /** The highest version of `kind` the store has recorded as sent: a refused command records none. */
  const highest = (kind: 'watchlist.update' | 'model.rollout') => store.commands.highestVersion(kind);

  it('clears watchlists only when told to: an empty list alone, or a clear with plates, is refused before anything is signed', async () => {
    const before = await highest('watchlist.update');
    for (const plates of ['', '\n# only a comment\n   \n']) {
      const refused = await post(app, '/api/commands/watchlist', admin, { plates, posts: ['post-c'] });
      expect(refused.statusCode).toBe(400);
      expect(refused.json()).toMatchObject({ code: 'GW_ERR_COMMAND_MALFORMED', message: expect.stringContaining('clears the posts') as string });
    }
    expect((await post(app, '/api/commands/watchlist', admin, { plates: 'AB123CD', posts: ['post-c'], clear: true })).json()).toMatchObject({ code: 'GW_ERR_COMMAND_MALFORMED' });
    expect(await highest('watchlist.update')).toBe(before);
    const cleared = await post(app, '/api/commands/watchlist', admin, { plates: '', posts: ['post-c'], clear: true });
    expect(cleared.statusCode).toBe(201);
    expect(cleared.json()).toMatchObject({ version: before + 1 });
  });

  it('refuses a version far above the highest sent of its kind (it would block the kind on every post), and one not above it', async () => {
    const before = await highest('watchlist.update');
    for (const version of [Number.MAX_SAFE_INTEGER, before + 1001, before]) {
      const refused = await post(app, '/api/commands/watchlist', admin, { plates: 'AB123CD', posts: ['post-c'], version });
      expect(refused.statusCode, String(version)).toBe(400);
      expect(refused.json(), String(version)).toMatchObject({ code: 'GW_ERR_VMC_COMMAND_VERSION', message: expect.stringContaining(`above ${before}`) as string });
    }
    expect(await highest('watchlist.update')).toBe(before);
    // A jump of 1000 is allowed; the next ceiling is 1000 above that.
    const jumped = await post(app, '/api/commands/watchlist', admin, { plates: 'AB123CD', posts: ['post-c'], version: before + 1000 });
    expect(jumped.statusCode).toBe(201);
    expect(jumped.json()).toMatchObject({ version: before + 1000 });
    expect((await post(app, '/api/commands/watchlist', admin, { plates: 'AB123CD', posts: ['post-c'], version: before + 2001 })).json()).toMatchObject({ code: 'GW_ERR_VMC_COMMAND_VERSION' });
    expect(await highest('watchlist.update')).toBe(before + 1000);
  });

  /** A model file and a manifest of the shape the posts load, naming it. */
  const onnx = Buffer.from('an onnx file, as far as this test goes');
  const manifest = rolloutManifest(onnx, '2026.11.29');

  it('refuses a model rollout the posts could not load, before it is signed, recorded or retained', async () => {
    const before = await highest('model.rollout');
    const cases: [string, object][] = [
      ['a manifest of nothing but its kind', { manifest: { kind: 'risk' }, onnxBase64: onnx.toString('base64') }],
      ['an empty manifest', { manifest: {}, onnxBase64: onnx.toString('base64') }],
      ['an unknown kind', { manifest: { ...manifest, kind: 'weather' }, onnxBase64: onnx.toString('base64') }],
      ['a path for a file name', { manifest: { ...manifest, file: '../../etc/cron.d/x' }, onnxBase64: onnx.toString('base64') }],
      ['no file', { manifest, onnxBase64: '' }],
      ['not base64', { manifest, onnxBase64: '!!!notbase64' }],
      ['another file than the one signed', { manifest, onnxBase64: Buffer.from('another file').toString('base64') }],
    ];
    for (const [what, body] of cases) {
      const refused = await post(app, '/api/commands/model', admin, { ...body, posts: ['post-c'] });
      expect(refused.statusCode, what).toBe(400);
      expect(refused.json(), what).toMatchObject({ code: 'GW_ERR_COMMAND_MALFORMED' });
    }
    expect(await highest('model.rollout')).toBe(before);
    // Nothing was retained for the post either.
    const reader = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    const got: string[] = [];
    reader.on('message', (topic) => got.push(topic));
    await reader.subscribeAsync('border/v1/post-c/commands/model', { qos: 1 });
    // A marker published after the subscription: once it is back, a retained command would have come before it.
    await reader.subscribeAsync('border/v1/post-c/commands/model-marker', { qos: 1 });
    await reader.publishAsync('border/v1/post-c/commands/model-marker', 'x', { qos: 1 });
    await expect.poll(() => got.includes('border/v1/post-c/commands/model-marker')).toBe(true);
    expect(got.filter((topic) => topic === 'border/v1/post-c/commands/model')).toEqual([]);
    await reader.endAsync();

    const sent = await post(app, '/api/commands/model', admin, { manifest, onnxBase64: onnx.toString('base64'), posts: ['post-c'] });
    expect(sent.statusCode).toBe(201);
  });

  it('refuses a manifest nested 20,000 deep as a bad request before it is parsed (it was a 500), and takes one nested to the bound', async () => {
    const before = await highest('model.rollout');
    const send = (quality: string) =>
      app.inject({
        method: 'POST',
        url: '/api/commands/model',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ manifest, onnxBase64: onnx.toString('base64'), posts: ['post-d'] }).replace('"quality":{}', `"quality":{"matrix":${quality}}`),
      });
    const refused = await send(`${'['.repeat(20_000)}${']'.repeat(20_000)}`);
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ code: 'GW_ERR_HTTP_BAD_REQUEST', message: `the body is nested deeper than ${MAX_BODY_DEPTH}` });
    expect(refused.headers.connection).toBe('close');
    expect(await highest('model.rollout')).toBe(before);
    // The body, its manifest and its quality are 3 levels: 29 arrays inside them reach the bound.
    expect((await send(`${'['.repeat(MAX_BODY_DEPTH - 2)}${']'.repeat(MAX_BODY_DEPTH - 2)}`)).json()).toMatchObject({ code: 'GW_ERR_HTTP_BAD_REQUEST', message: `the body is nested deeper than ${MAX_BODY_DEPTH}` });
    const deepest = await send(`${'['.repeat(MAX_BODY_DEPTH - 3)}${']'.repeat(MAX_BODY_DEPTH - 3)}`);
    expect(deepest.statusCode).toBe(201);
  });

  it('sends a command once to a post named twice (the command line passes its --posts as given)', async () => {
    const { command, topics } = await sendCommand(store.commands, { url: broker.url }, keys.privateKey, { kind: 'watchlist.update', payload: { plates: ['AB123CD'] }, summary: '1 plate(s)', postIds: ['post-t', 'post-t'], issuedBy: 'cli:test' }, clock);
    expect([command.postIds, topics]).toEqual([['post-t'], ['border/v1/post-t/commands/watchlist']]);
  });

});
