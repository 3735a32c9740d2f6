/** The fault endpoint: a fault is injected; a body over 4 KiB is refused without reaching the simulator. */
import { describe, expect, it } from 'vitest';
import { startControlServer } from './control-server.js';
import type { Fault, RunningSimulator } from './post-simulator.js';

describe('simulator control endpoint', () => {
  it('injects a fault, and refuses an oversized body with 413', async () => {
    const injected: [string, Fault][] = [];
    const simulator = { inject: (deviceId: string, fault: Fault) => void injected.push([deviceId, fault]) } as unknown as RunningSimulator;
    const control = await startControlServer(simulator, 0);
    try {
      const url = `http://127.0.0.1:${control.port}/faults/cam-1`;
      expect((await fetch(url, { method: 'POST', body: '{"fault":"garbage"}' })).status).toBe(200);
      const big = await fetch(url, { method: 'POST', body: JSON.stringify({ fault: 'garbage', pad: 'x'.repeat(8192) }) }).then(
        (response) => response.status,
        () => 'reset',
      );
      // Refused either way (413, or the socket closed while the body was still sent): nothing injected.
      expect([413, 'reset']).toContain(big);
      expect(injected).toEqual([['cam-1', { fault: 'garbage' }]]);
    } finally {
      await control.close();
    }
  });
});
