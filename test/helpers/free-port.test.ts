import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from './free-port.js';

const ephemeralStart = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

function hold(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe("the tests' free ports", () => {
  const held: Server[] = [];
  afterEach(async () => {
    await Promise.all(held.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  });

  it('come from below the ephemeral range, where connect() and listen(0) never take them', async () => {
    for (let i = 0; i < 50; i += 1) {
      const port = await freePort();
      expect(port).toBeGreaterThanOrEqual(20_000);
      expect(port).toBeLessThan(ephemeralStart);
    }
  });

  it('skip a port something holds and never repeat one soon after', async () => {
    const first = await freePort();
    // The allocator walks its block upwards: the port after `first` is the next candidate.
    const taken = first + 1;
    held.push(await hold(taken));
    const seen = new Set([first]);
    for (let i = 0; i < 20; i += 1) {
      const port = await freePort();
      expect(port).not.toBe(taken);
      expect(seen.has(port)).toBe(false);
      seen.add(port);
    }
  });
});
