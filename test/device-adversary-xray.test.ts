/**
 * An X-ray drop folder as an adversary fills it, against the real gateway process (`run`) with a
 * 96 MB heap: a 1.5 GB sparse image named like a scan and FIFOs named like scans are refused
 * (by size, by kind) without reading them, the process stays alive, `/healthz` answers within a
 * second while they are handled, and a valid scan dropped afterwards is still read.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SimulatedScanner } from '../sim/xray/simulated-scanner.js';
import { freePort } from './helpers/free-port.js';
import { GatewayProcess, type LogLine } from './helpers/gateway-process.js';
import { systemRig } from './helpers/rig.js';
import { tempDir } from './helpers/test-config.js';

const GB_1_5 = 1_500_000_000;

/** GET /healthz, bounded to one second as the issue asks. */
async function healthz(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
  await response.arrayBuffer();
  return response.status;
}

const refusedLine = (name: string) => (line: LogLine) => line.msg === 'scan file refused' && Array.isArray(line.files) && line.files[0] === name;

describe('X-ray drop folder attack on the running gateway', () => {
  const rig = systemRig();

  it('refuses a 1.5 GB sparse image and FIFOs, keeps /healthz answering, and still reads a valid scan', async () => {
    const folder = tempDir('xray-drop-');
    const dataDir = tempDir();
    const httpPort = await freePort();
    const configFile = join(tempDir(), 'post.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        version: 1,
        post: { id: 'adversary-post' },
        lanes: [{ id: 'lane-1', devices: [{ id: 'lane-1-xray', driver: 'xray-folder', connection: { folder }, rescanMs: 200 }] }],
        // Nobody listens there: the uplink stays down, which the drop folder must not care about.
        uplink: { brokers: [`mqtt://127.0.0.1:${await freePort()}`] },
        outbox: { path: 'outbox.db' },
        http: { port: httpPort },
        logLevel: 'info',
      }),
    );
    const gateway = new GatewayProcess(['run', '--config', configFile, '--data', dataDir], { NODE_OPTIONS: '--max-old-space-size=96' });
    rig.processes.push(gateway);
    await gateway.waitForLog((line) => line.msg === 'gateway running', 60_000, 'the gateway running');
    expect(await healthz(httpPort)).toBe(200);

    // The image first, then the metadata naming it (the scanner's own order).
    writeFileSync(join(folder, 'huge.pgm'), 'P5\n4 2\n65535\n');
    truncateSync(join(folder, 'huge.pgm'), GB_1_5);
    execFileSync('mkfifo', [join(folder, 'piped.pgm'), join(folder, 'fifo.json')]);
    writeFileSync(join(folder, 'piped.json'), JSON.stringify({ scanId: 'piped', scannerId: 'scanner-A', status: 'completed', time: new Date().toISOString(), image: 'piped.pgm' }));
    writeFileSync(join(folder, 'huge.json'), JSON.stringify({ scanId: 'huge', scannerId: 'scanner-A', status: 'completed', time: new Date().toISOString(), image: 'huge.pgm' }));
    // Asked while the folder is being handled: answered within the second all the same.
    expect(await healthz(httpPort)).toBe(200);

    const [huge, piped, fifo] = await Promise.all([gateway.waitForLog(refusedLine('huge.json')), gateway.waitForLog(refusedLine('piped.json')), gateway.waitForLog(refusedLine('fifo.json'))]);
    expect(huge).toMatchObject({ code: 'GW_ERR_XRAY_FILE_REFUSED', deviceId: 'lane-1-xray', reason: `image huge.pgm is ${GB_1_5} bytes, more than the 268435456 allowed` });
    expect(piped.reason).toBe('image piped.pgm is a FIFO, not a regular file');
    expect(fifo.reason).toBe('metadata fifo.json is a FIFO, not a regular file');
    expect(await healthz(httpPort)).toBe(200);

    new SimulatedScanner(folder, 'scanner-A').completed('after-attack', 'GE123AB', { width: 1024, height: 1024 });
    await gateway.waitForLog((line) => line.msg === 'scan read' && line.scanId === 'after-attack', 30_000, 'the valid scan read');
    expect(await healthz(httpPort)).toBe(200);
    expect(gateway.child.exitCode).toBeNull();
    expect(gateway.logs.filter((line) => line.level >= 50 && line.deviceId === 'lane-1-xray')).toEqual([]);
    rmSync(folder, { recursive: true, force: true });
  });
});
