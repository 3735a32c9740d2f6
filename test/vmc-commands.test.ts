/**
 * Signed commands end to end, all real processes: two posts (`demo` gateways with the simulated
 * hardware and the lane workflow) → Mosquitto → a `vmc` instance on SQLite. The VMC's key is made
 * with `vmc keygen`; a model is rolled out to both posts with `vmc command rollout-model`; both
 * answer `command.applied`, their next vehicles are assessed by the new model version, and the
 * VMC store shows both posts at it and the rollout 2/2. A watchlist command sent to one post's
 * topic but naming the other is refused by it as wrong-post, and the store records that answer.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { commandTopic, signCommand } from '../contract/vmc-command.js';
import { signManifest, type ModelManifest, type UnsignedManifest } from '../edge-models/manifest.js';
import { BUNDLED_MODELS } from '../gateway/post-runtime.js';
import { VmcStore } from '../vmc/store/vmc-store.js';
import { readCommandKey } from '../vmc/commands/command-cli.js';
import { Collector } from './helpers/collector.js';
import { GatewayProcess, REPO_ROOT } from './helpers/gateway-process.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { systemRig } from './helpers/rig.js';
import { tempDir } from './helpers/test-config.js';
import { waitUntil } from './helpers/wait-until.js';

const POSTS = ['post-east', 'post-west'] as const;
const unsigned = ({ signature: _signature, ...body }: ModelManifest): UnsignedManifest => body;
const NEW_VERSION = '2099.1.1';

describe('signed VMC commands across two posts', () => {
  const rig = systemRig<Mosquitto>();

  it('rolls a model out to both posts with the CLI, their next vehicles use it, and a wrong-post watchlist is refused', async () => {
    const dir = tempDir('vmc-cmd-');
    const broker = (rig.broker = await Mosquitto.start());
    const collector = (rig.collector = await Collector.connect(broker.url, 'border/#'));
    const spec = `sqlite:${join(dir, 'vmc.db')}`;

    const keygen = new GatewayProcess(['vmc', 'keygen', '--out', join(dir, 'keys')]);
    expect((await keygen.exited).code).toBe(0);
    // A model key of the test's: the rolled-out model is the bundled one re-signed as a newer version.
    const modelKeys = generateKeyPairSync('ed25519');
    writeFileSync(join(dir, 'model.pub.pem'), modelKeys.publicKey.export({ type: 'spki', format: 'pem' }));
    const bundled = unsigned(JSON.parse(readFileSync(BUNDLED_MODELS.risk, 'utf8')) as ModelManifest);
    writeFileSync(join(dir, 'risk.onnx'), readFileSync(join(dirname(BUNDLED_MODELS.risk), bundled.file)));
    const manifestPath = join(dir, 'risk.manifest.json');
    writeFileSync(manifestPath, JSON.stringify(signManifest({ ...bundled, version: NEW_VERSION, file: 'risk.onnx' }, modelKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())));

    const vmc = new GatewayProcess(['vmc', '--mqtt', broker.url, '--store', spec, '--http', '127.0.0.1:0', '--log-level', 'warn']);
    rig.processes.push(vmc);
    await vmc.waitForStdout((l) => l.startsWith('border-gateway vmc:'), 90_000, 'the vmc banner');

    const demo = readFileSync(join(REPO_ROOT, 'config', 'examples', 'demo-post.yaml'), 'utf8');
    const gateways = POSTS.map((post) => {
      const file = join(dir, `${post}.yaml`);
      writeFileSync(
        file,
        `${demo.replace(/^( {2}id: )demo-post$/m, `$1${post}`)}\nmodels:\n  publicKeys: [${JSON.stringify(BUNDLED_MODELS.publicKey)}, ${JSON.stringify(join(dir, 'model.pub.pem'))}]\ncommands:\n  publicKeys: [${JSON.stringify(join(dir, 'keys', 'vmc-command.pub.pem'))}]\n`,
      );
      return new GatewayProcess(['demo', '--mqtt', broker.url, '--config', file, '--speed', '300', '--rate', '120', '--data', tempDir(`vmc-cmd-${post}-`), '--free-ports', '--control-port', '0', '--http-port', '0', '--log-level', 'warn']);
    });
    rig.processes.push(...gateways);
    // Each post has come up (its first vehicles assessed by the bundled model) and subscribed.
    const assessed = (post: string, version: string) =>
      collector.received.filter((m) => m.type === 'risk.assessed' && String(m.event.source).startsWith(`/border/${post}/`) && m.event.data.modelVersion === version);
    const assessedOn = (post: string) => collector.received.filter((m) => m.type === 'risk.assessed' && String(m.event.source).startsWith(`/border/${post}/`));
    await collector.waitFor(() => POSTS.every((post) => assessedOn(post).length > 0), 120_000, 'a first vehicle assessed on each post');
    for (const post of POSTS) expect(new Set(assessedOn(post).map((m) => m.event.data.modelVersion)), post).toEqual(new Set([bundled.version]));

    const rollout = new GatewayProcess(['vmc', 'command', 'rollout-model', '--manifest', manifestPath, '--posts', POSTS.join(','), '--key', join(dir, 'keys', 'vmc-command.key.pem'), '--mqtt', broker.url, '--store', spec]);
    expect((await rollout.exited).code).toBe(0);
    expect(await rollout.waitForStdout((l) => l.startsWith('model.rollout version 1'), 5_000, 'the rollout line')).toContain('post-east');

    const answers = (type: string) => collector.received.filter((m) => m.type === type);
    await collector.waitFor(() => answers('command.applied').length === 2, 30_000, 'both posts applied the rollout');
    for (const answer of answers('command.applied')) expect(answer.event.data).toMatchObject({ kind: 'model.rollout', version: 1, current: { modelCommandVersion: 1, models: { risk: NEW_VERSION } } });
    // The next vehicles of each post are assessed by the new model.
    await collector.waitFor(() => POSTS.every((post) => assessed(post, NEW_VERSION).length >= 2), 60_000, 'vehicles assessed by the rolled-out model on both posts');

    const store = await VmcStore.open(spec, Date.now());
    try {
      await waitUntil('the store to record both answers', async () => (await store.commands.progress())[0]?.applied.length === 2);
      const [progress] = await store.commands.progress();
      expect(progress).toMatchObject({ kind: 'model.rollout', version: 1, applied: [...POSTS], refused: [], waiting: [], summary: `risk ${NEW_VERSION}` });
      expect((await store.commands.postVersions()).map((p) => [p.postId, p.modelCommandVersion, p.riskModel])).toEqual(POSTS.map((post) => [post, 1, NEW_VERSION]));

      // A validly signed watchlist naming post-west, published on post-east's topic.
      const command = signCommand(
        { kind: 'watchlist.update', commandId: randomUUID(), postIds: ['post-west'], version: 1, issuedAt: new Date().toISOString(), payload: { plates: ['AB123CD'] } },
        readCommandKey(join(dir, 'keys', 'vmc-command.key.pem')),
      );
      await store.commands.recordSent({ commandId: command.commandId, kind: command.kind, version: 1, postIds: ['post-west'], summary: '1 plate(s)', issuedBy: 'test', issuedAt: command.issuedAt });
      const publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
      await publisher.publishAsync(commandTopic('border/v1/post-east', 'watchlist.update'), JSON.stringify(command), { qos: 1 });
      await publisher.endAsync();
      await collector.waitFor(() => answers('command.refused').length === 1, 30_000, 'post-east refusing the wrong-post command');
      const [refused] = answers('command.refused');
      expect(String(refused?.event.source)).toBe('/border/post-east/post');
      expect(refused?.event.data).toMatchObject({ commandId: command.commandId, reason: { code: 'GW_ERR_COMMAND_WRONG_POST' }, current: { watchlistVersion: null } });
      await waitUntil('the store to record the refusal', async () => (await store.commands.progress()).some((c) => c.commandId === command.commandId && c.waiting.length === 1));
      // Stored as post-east's refusal; post-west, which it names, has not answered (it never got it).
      expect((await store.commands.progress()).find((c) => c.commandId === command.commandId)).toMatchObject({ applied: [], waiting: ['post-west'] });
    } finally {
      await store.close();
    }
    for (const gateway of gateways) expect((await gateway.kill('SIGTERM')).code).toBe(0);
  }, 300_000);
});
