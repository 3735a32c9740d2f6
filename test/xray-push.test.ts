/** An X-ray scanner pushing scans over HTTP: stored before 200; bad or partial pushes refused with the reason. */
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { encodePgm } from '../drivers/xray/pgm.js';
import { SimulatedScanner } from '../sim/xray/simulated-scanner.js';
import { SCAN_BOUNDARY, scanPush, xrayPost, type XrayPost } from './helpers/scan-push.js';
import { tempDir } from './helpers/test-config.js';

describe('X-ray HTTP push', () => {
  let xray: XrayPost | undefined;
  afterEach(async () => {
    await xray?.devices.stop();
    await xray?.gateway.stop();
  });

  it('stores completed scans with their image, and refuses partial or invalid pushes with the reason', async () => {
    xray = await xrayPost();
    // The scanner's own client, bearer token form; nothing is stored for a push without it.
    const { gateway, authorization } = xray;
    const url = `http://127.0.0.1:${gateway.deviceAddress?.port}/xray/lane-1`;
    const post = (body: Uint8Array<ArrayBuffer>) => fetch(url, { method: 'POST', headers: { authorization, 'content-type': `multipart/form-data; boundary=${SCAN_BOUNDARY}` }, body });
    expect((await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ scanId: 'scan-8', scannerId: 'scanner-A', status: 'started', time: new Date().toISOString() }) })).status).toBe(401);
    const image = encodePgm(new SimulatedScanner(tempDir(), 's').image(64, 32));
    const time = new Date().toISOString();

    const ok = await post(scanPush({ scanId: 'scan-9', scannerId: 'scanner-A', status: 'completed', plate: 'GE123AB', time }, image));
    expect(ok.status).toBe(200);
    const row = gateway.outbox.readFrom(0, 100).find((r) => r.type === 'xray.scan');
    const data = (JSON.parse(row!.payload) as { data: { image: { width: number; height: number }; imageRef: string } }).data;
    expect(data.image).toMatchObject({ width: 64, height: 32 });
    expect(existsSync(data.imageRef)).toBe(true);

    const partial = await post(scanPush({ scanId: 'scan-10', scannerId: 'scanner-A', status: 'completed', time }, image.subarray(0, 100)));
    expect(partial.status).toBe(400);
    expect(await partial.text()).toMatch(/^image: truncated image: expected 4096 bytes of samples, got \d+$/);
    const invalid = await post(scanPush({ scanId: 'scan 11!', scannerId: 'scanner-A', status: 'finished', time }));
    expect(invalid.status).toBe(400);
    expect(await invalid.text()).toMatch(/^invalid metadata: scanId: .*; status: /);
    const started = await fetch(url, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify({ scanId: 'scan-12', scannerId: 'scanner-A', status: 'started', time }) });
    expect(started.status).toBe(200);
    expect(gateway.outbox.readFrom(0, 100).filter((r) => r.type === 'xray.scan')).toHaveLength(2);
    // A full-size scan (2048 × 2100 16-bit, 8.2 MiB): within the device's limits, so stored.
    const large = encodePgm(new SimulatedScanner(tempDir(), 's').image(2048, 2100));
    expect(large.length).toBeGreaterThan(8 * 1024 * 1024);
    expect((await post(scanPush({ scanId: 'scan-13', scannerId: 'scanner-A', status: 'completed', time }, large))).status).toBe(200);
    expect(gateway.outbox.readFrom(0, 100).filter((r) => r.type === 'xray.scan')).toHaveLength(3);
  });
});
