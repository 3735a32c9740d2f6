/**
 * A camera's credentials in hostile hands, against the real gateway process (`border-gateway run`
 * with a 96 MB old space): 40 pushes opened at once, each declaring the camera's whole 4 MiB limit,
 * then stalled. Before the fix every one of them was read into memory as its bytes came (220 such
 * pushes held 997 MB). Now the camera's pushes being read may hold twice its limit: two are read,
 * the other 38 answered 503 GW_ERR_PUSH_BUSY at their headers; the two fed 3 MiB each and left
 * hanging leave the process within a few MiB of where it was, /healthz answers, and once they are
 * gone the camera's next push is stored.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from './helpers/free-port.js';
import { GatewayProcess } from './helpers/gateway-process.js';
import { systemRig } from './helpers/rig.js';
import { tempDir, writeDegradedPost } from './helpers/test-config.js';
import { waitUntil } from './helpers/wait-until.js';

const LIMIT = 4 * 1024 * 1024;
const STALLED = 40;
const BOUNDARY = 'b7';
const ALERT = `<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">
<dateTime>2026-11-26T08:51:24+04:00</dateTime><eventType>ANPR</eventType><eventState>active</eventState>
<ANPR><licensePlate>GE-123-AB</licensePlate><confidenceLevel>93</confidenceLevel></ANPR>
</EventNotificationAlert>`;
const PUSH = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="anpr.xml"; filename="anpr.xml"\r\nContent-Type: text/xml\r\n\r\n${ALERT}\r\n--${BOUNDARY}--\r\n`);

const rssKb = (pid: number): number => Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

/** A push whose headers declare the whole limit and whose body does not come (yet). */
function stalledPush(port: number, authorization: string): { socket: Socket; response: () => string } {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (more: string) => (text += more));
  socket.on('error', () => undefined); // the gateway may hang up on it: that is the point
  socket.write(`POST /anpr/cam-1 HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${LIMIT}\r\n\r\n`);
  return { socket, response: () => text };
}

describe('a camera that opens many pushes and stalls them', () => {
  const rig = systemRig<never>();

  it("is read two at a time (twice its limit), refused 503 past that, and leaves the gateway's memory where it was", async () => {
    const [devicePort, httpPort] = [await freePort(), await freePort()];
    const dataDir = tempDir();
    const configFile = writeDegradedPost(dataDir, ['- { id: cam-1, driver: anpr-http-push, role: entry, connection: { path: /anpr/cam-1 } }'], { httpPort, devicePort });
    const where = ['--config', configFile, '--data', dataDir];
    const added = new GatewayProcess(['client', 'add', 'cam-1', '--role', 'device', '--device', 'cam-1', '--allow', '127.0.0.1', ...where]);
    expect((await added.exited).code).toBe(0);
    const secret = /password (\S+)/.exec(added.stdout.join('\n'))?.[1];
    const authorization = `Basic ${Buffer.from(`cam-1:${secret ?? ''}`).toString('base64')}`;

    const gateway = new GatewayProcess(['run', ...where, '--log-level', 'warn'], { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-old-space-size=96`.trim() });
    rig.processes.push(gateway);
    const healthz = `http://127.0.0.1:${httpPort}/healthz`;
    await waitUntil('the gateway answering', () => fetch(healthz).then(() => true, () => false));
    const pid = gateway.child.pid as number;
    const before = rssKb(pid);

    const pushes = Array.from({ length: STALLED }, () => stalledPush(devicePort, authorization));
    const refused = () => pushes.filter((push) => push.response().startsWith('HTTP/1.1 503'));
    await waitUntil(`${STALLED - 2} of the ${STALLED} stalled pushes refused`, () => Promise.resolve(refused().length >= STALLED - 2), { timeoutMs: 30_000 });
    expect(refused()[0]?.response()).toContain('"code":"GW_ERR_PUSH_BUSY"');
    const read = pushes.filter((push) => push.response() === '');
    expect(read).toHaveLength(2);

    // The two being read get 3 MiB each, and then nothing more.
    for (const { socket } of read) socket.write(Buffer.alloc(3 * 1024 * 1024, 0x41));
    expect((await fetch(healthz, { signal: AbortSignal.timeout(5000) })).status).toBeLessThan(600);
    const during = rssKb(pid);
    console.log(`gateway RSS ${(before / 1024).toFixed(1)} MB before, ${(during / 1024).toFixed(1)} MB with ${STALLED} pushes of 4 MiB opened and 2 being read`);
    expect(during - before).toBeLessThan(32 * 1024);

    // Gone: the camera's room comes back, and its next push is stored (answered 200).
    for (const { socket } of pushes) socket.destroy();
    const post = () =>
      fetch(`http://127.0.0.1:${devicePort}/anpr/cam-1`, { method: 'POST', headers: { authorization, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, body: new Uint8Array(PUSH) });
    await waitUntil("the camera's push stored", async () => (await post()).status === 200, { timeoutMs: 30_000 });
    expect(gateway.child.exitCode).toBeNull();
  });
});
