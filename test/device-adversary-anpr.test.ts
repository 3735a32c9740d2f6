/**
 * A hostile ONVIF camera against the real gateway process: `border-gateway run` with a 96 MB old
 * space (`--max-old-space-size=96`) and one camera whose address is a local server answering every
 * request with a 100 MB reply, streamed without Content-Length. The gateway must keep running:
 * every reply is cut off at its cap, the camera is reported down with the code, the driver retries
 * with backoff, and `/healthz` answers within 1 s (the bound the issue asks for) all the while.
 */
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { freePort } from './helpers/free-port.js';
import { GatewayProcess } from './helpers/gateway-process.js';
import { systemRig } from './helpers/rig.js';
import { tempDir, writeDegradedPost } from './helpers/test-config.js';

const REPLY_BYTES = 100 * 1024 * 1024;

/** Answers everything with 100 MB of XML-looking filler, as fast as the reader takes it. */
class FloodingCamera {
  readonly server: Server;
  requests = 0;
  /** Bytes written per request, and whether the gateway hung up before the end. */
  readonly replies: { written: number; hungUp: boolean }[] = [];
  private waiters: (() => void)[] = [];

  constructor() {
    this.server = createServer((request, response) => {
      request.resume();
      this.requests += 1;
      const reply = { written: 0, hungUp: false };
      this.replies.push(reply);
      response.writeHead(200, { 'content-type': 'application/soap+xml; charset=utf-8' });
      this.flood(response, reply);
      for (const resolve of this.waiters.splice(0)) resolve();
    });
  }

  async listen(port: number): Promise<void> {
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
  }

  /** Resolves at the next request the gateway makes. */
  nextRequest(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  private flood(response: ServerResponse, reply: { written: number; hungUp: boolean }): void {
    const chunk = Buffer.alloc(64 * 1024, '<tt:Lol>lol</tt:Lol>');
    response.on('close', () => (reply.hungUp = reply.written < REPLY_BYTES));
    const pump = (): void => {
      while (reply.written < REPLY_BYTES && !response.destroyed) {
        reply.written += chunk.length;
        if (!response.write(chunk)) return void response.once('drain', pump);
      }
      if (!response.destroyed) response.end();
    };
    pump();
  }
}

describe('a camera that floods every reply', () => {
  const rig = systemRig<FloodingCamera>();

  it('leaves the gateway running and /healthz answering within 1 s; the camera is down with the code, retried', async () => {
    const camera = (rig.broker = new FloodingCamera());
    const [cameraPort, httpPort] = [await freePort(), await freePort()];
    await camera.listen(cameraPort);
    const dataDir = tempDir();
    const configFile = writeDegradedPost(
      dataDir,
      ['- id: evil-cam', '  driver: onvif', `  connection: { url: "http://127.0.0.1:${cameraPort}/onvif/device_service", username: admin, password: { env: EVIL_CAM_PASSWORD } }`],
      { httpPort },
    );
    const gateway = new GatewayProcess(['run', '--config', configFile, '--data', dataDir, '--log-level', 'info'], {
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-old-space-size=96`.trim(),
      EVIL_CAM_PASSWORD: 'not-for-you',
    });
    rig.processes.push(gateway);

    const lost = await gateway.waitForLog((line) => line.msg === 'camera subscription lost' && line.code === 'GW_ERR_DEVICE_REPLY_TOO_LARGE', 60_000, 'the first flood cut off');
    expect(lost.err).toBe('GW_ERR_DEVICE_REPLY_TOO_LARGE: evil-cam GetDeviceInformation: the reply passed the limit of 262144 bytes and was cut off');
    await gateway.waitForLog((line) => line.msg === 'gateway running', 60_000, 'the gateway running');

    // The camera keeps attacking (each retry is another 100 MB reply); the gateway keeps answering.
    const healthz = `http://127.0.0.1:${httpPort}/healthz`;
    for (let attack = 0; attack < 3; attack += 1) {
      const next = camera.nextRequest();
      const answer = await fetch(healthz, { signal: AbortSignal.timeout(1000) });
      expect([200, 503]).toContain(answer.status);
      expect(await answer.json()).toMatchObject({ postId: 'adversary-post' });
      await next;
      const during = await fetch(healthz, { signal: AbortSignal.timeout(1000) });
      expect(during.status).toBe(200);
    }
    expect(gateway.child.exitCode).toBeNull();
    expect(camera.requests).toBeGreaterThanOrEqual(4);
    // Every reply was cut off: the gateway hung up long before 100 MB.
    const finished = camera.replies.slice(0, -1);
    expect(finished.every((reply) => reply.hungUp && reply.written < REPLY_BYTES / 2)).toBe(true);

    // The camera's health as operators and the VMC see it: down, with the code.
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(1000) })).text();
    expect(metrics).toMatch(/gateway_device_health\{device="evil-cam",state="down"\} 1/);
    const db = new Database(join(dataDir, 'outbox.db'), { readonly: true });
    const statuses = (db.prepare("SELECT payload FROM events WHERE type = 'device.status'").all() as { payload: string }[]).map((row) => (JSON.parse(row.payload) as { data: { deviceId: string; state: string; lastError: string | null } }).data);
    db.close();
    expect(statuses).toContainEqual(expect.objectContaining({ deviceId: 'evil-cam', state: 'down', lastError: expect.stringMatching(/^GW_ERR_DEVICE_REPLY_TOO_LARGE: evil-cam GetDeviceInformation/) as unknown }));
  });
});
