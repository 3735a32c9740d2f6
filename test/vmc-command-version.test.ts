/**
 * `vmc command … --version N` as a child process: a version far above the highest sent of its
 * kind is refused with GW_ERR_VMC_COMMAND_VERSION (exit 64), nothing signed, recorded or retained.
 * Each post keeps the version of the last command it applied as a floor: one command of version
 * 2^53 − 1 would have blocked that kind on every post for good.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import type { CommandEnvelope } from '../contract/vmc-command.js';
import { VmcStore } from '../vmc/store/vmc-store.js';
import { GatewayProcess } from './helpers/gateway-process.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { systemRig } from './helpers/rig.js';
import { tempDir } from './helpers/test-config.js';

describe('vmc command --version', () => {
  const rig = systemRig<Mosquitto>();

  it('refuses a version more than 1000 above the highest sent of its kind, and sends one at most 1000 above it', async () => {
    const dir = tempDir('vmc-cmd-version-');
    const broker = (rig.broker = await Mosquitto.start());
    const key = join(dir, 'command.key.pem');
    writeFileSync(key, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const plates = join(dir, 'plates.txt');
    writeFileSync(plates, 'AB123CD\n');
    const spec = `sqlite:${join(dir, 'vmc.db')}`;
    const send = async (...extra: string[]) => {
      const cli = new GatewayProcess(['vmc', 'command', 'watchlist', '--file', plates, '--posts', 'post-a', '--key', key, '--mqtt', broker.url, '--store', spec, ...extra]);
      rig.processes.push(cli);
      const { code } = await cli.exited;
      return { code, stdout: cli.stdout.join('\n'), stderr: cli.stderrText.join('\n') };
    };

    expect(await send()).toMatchObject({ code: 0, stdout: expect.stringContaining('watchlist.update version 1 ') as string });
    const refused = await send('--version', String(Number.MAX_SAFE_INTEGER));
    expect(refused).toMatchObject({ code: 64, stdout: '' });
    expect(refused.stderr).toContain(`GW_ERR_VMC_COMMAND_VERSION: watchlist.update version ${Number.MAX_SAFE_INTEGER} is more than 1000 above 1`);
    expect((await send('--version', '1002')).code).toBe(64);
    expect(await send('--version', '1001')).toMatchObject({ code: 0, stdout: expect.stringContaining('watchlist.update version 1001 ') as string });

    const store = await VmcStore.open(spec, Date.now());
    try {
      expect((await store.commands.progress()).map((c) => c.version)).toEqual([1001, 1]);
    } finally {
      await store.close();
    }
    // What the post would get on its topic is the last command sent, 1001: nothing else was retained.
    const reader = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    try {
      const retained = new Promise<CommandEnvelope>((resolve) => reader.once('message', (_topic, payload) => resolve(JSON.parse(payload.toString()) as CommandEnvelope)));
      await reader.subscribeAsync('border/v1/post-a/commands/watchlist', { qos: 1 });
      expect((await retained).version).toBe(1001);
    } finally {
      await reader.endAsync();
    }
  }, 120_000);
});
