/**
 * One gateway per data directory: a second `run` on the same data exits non-zero at once, naming
 * the holder, before it opens the outbox or connects to a broker; after the first is killed with
 * SIGKILL (no clean-up at all) the next one starts.
 */
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GatewayProcess } from './helpers/gateway-process.js';
import { systemRig } from './helpers/rig.js';
import { tempDir } from './helpers/test-config.js';

describe('one gateway per data directory', () => {
  const rig = systemRig();

  it('refuses a second instance before it touches the outbox or the broker; a SIGKILLed holder leaves no stale lock', async () => {
    // "Brokers" that only count who connects: one for the first gateway, one for the second.
    const sockets = new Set<Socket>();
    const connections = [0, 0];
    const brokers = [0, 1].map((index) =>
      createServer((socket) => {
        connections[index] = (connections[index] ?? 0) + 1;
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      }).listen(0, '127.0.0.1'),
    );
    await Promise.all(brokers.map((broker) => once(broker, 'listening')));
    const ports = brokers.map((broker) => (broker.address() as { port: number }).port);
    try {
      const dir = tempDir();
      const configs = ports.map((port, index) => {
        const file = join(dir, `post-${index}.yaml`);
        writeFileSync(file, `version: 1\npost: { id: lock-post }\nlanes: [{ id: lane-1 }]\nuplink: { brokers: ['mqtt://127.0.0.1:${port}'] }\noutbox: { path: outbox.db }\nhttp: { port: 0 }\nmodels: { risk: null, xrayScreening: null }\n`);
        return file;
      });
      const args = ['run', '--config', configs[0] as string, '--data', dir];

      const first = new GatewayProcess(args);
      rig.processes.push(first);
      await first.waitForLog((line) => line.msg === 'gateway running');
      await first.waitForLog((line) => line.msg.startsWith('operators listening'));

      const second = new GatewayProcess(['run', '--config', configs[1] as string, '--data', dir]);
      rig.processes.push(second);
      const { code } = await second.exited;
      expect(code).toBe(1);
      const message = second.stderrText.join('\n');
      expect(message).toContain('GW_ERR_DATA_DIR_LOCKED: another gateway is running on this data directory');
      expect(message).toContain(`held by pid ${first.child.pid}`);
      expect(second.logs.some((line) => line.msg === 'outbox open')).toBe(false);
      expect(connections[1]).toBe(0);

      await first.kill('SIGKILL');
      const third = new GatewayProcess(args);
      rig.processes.push(third);
      await third.waitForLog((line) => line.msg === 'gateway running');
    } finally {
      for (const socket of sockets) socket.destroy();
      for (const broker of brokers) broker.close();
    }
  });
});
