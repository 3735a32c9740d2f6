/**
 * A one-lane post for the evidence system test, run by the real `border-gateway run`: an ANPR
 * camera that pushes its reads with a picture (anpr-http-push) and an X-ray scanner that pushes its
 * scans (xray-http), both over HTTP to the device listener; a supervisor who registers and weighs
 * through the lane API; and, on the VMC's side, what reassembles evidence from the chunks a
 * Collector received.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { hashPassword } from '../../core/passwords.js';
import { AccountStore } from '../../gateway/auth/account-store.js';
import type { Collector, Received } from './collector.js';
import type { GatewayProcess } from './gateway-process.js';

export const EVIDENCE_POST = 'evidence-post';
const BOUNDARY = 'evidence-test-boundary';
const SUPERVISOR = { name: 'sup-1', password: 'a long supervisor passphrase 9' };

export const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * Writes the post's configuration; returns its path. `options.screening`: run the bundled X-ray
 * screening model, so a scan's `xray.scanned` carries a score and regions (default: no model).
 */
export function writeEvidencePostConfig(dir: string, brokerUrl: string, vmcKeyFile: string, maxQueuedChunks: number, options: { screening?: boolean } = {}): string {
  const file = join(dir, 'post.yaml');
  writeFileSync(
    file,
    `version: 1
post: { id: ${EVIDENCE_POST} }
lanes:
  - id: lane-1
    devices:
      - { id: cam-1, driver: anpr-http-push, role: entry, connection: { path: /anpr/cam-1 } }
      - { id: xray-1, driver: xray-http, connection: { path: /xray/xray-1 } }
uplink:
  brokers: [${JSON.stringify(brokerUrl)}]
  reconnect: { initialMs: 50, maxMs: 400 }
outbox: { path: outbox.db }
http: { port: 0 }
devicePush: { port: 0 }
workflow: { randomXrayShare: 0 }
models: { risk: null${options.screening === true ? '' : ', xrayScreening: null'} }
commands: { publicKeys: [${JSON.stringify(vmcKeyFile)}] }
evidence: { maxQueuedChunks: ${maxQueuedChunks} }
logLevel: info
`,
  );
  return file;
}

/** The devices' and the supervisor's credentials, written into the post's database before its first start. */
export async function provisionEvidencePost(dataDir: string): Promise<{ camera: string; scanner: string }> {
  const db = new Database(join(dataDir, 'outbox.db'));
  try {
    const accounts = new AccountStore(db);
    const basic = (name: string, secret: string): string => `Basic ${Buffer.from(`${name}:${secret}`).toString('base64')}`;
    const camera = basic('cam-1', accounts.addClient('cam-1', 'device', { deviceId: 'cam-1' }));
    const scanner = basic('xray-1', accounts.addClient('xray-1', 'device', { deviceId: 'xray-1' }));
    accounts.addAccount(SUPERVISOR.name, 'supervisor', await hashPassword(SUPERVISOR.password));
    return { camera, scanner };
  } finally {
    db.close();
  }
}

/** The post's HTTP listeners once `run` has logged them. */
export async function listenersOf(gateway: GatewayProcess): Promise<{ operators: string; devices: string }> {
  const operators = await gateway.waitForLog((line) => String(line.msg).startsWith('operators listening'), 90_000, 'the operators listener');
  const devices = await gateway.waitForLog((line) => line.msg === 'devices listening', 90_000, 'the device listener');
  return { operators: `http://127.0.0.1:${Number(operators.port)}`, devices: `http://127.0.0.1:${Number(devices.port)}` };
}

function multipart(parts: { name: string; filename?: string; contentType: string; body: Buffer }[]): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(
    Buffer.concat([
      ...parts.flatMap((part) => [
        Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${part.name}"${part.filename ? `; filename="${part.filename}"` : ''}\r\nContent-Type: ${part.contentType}\r\n\r\n`),
        part.body,
        Buffer.from('\r\n'),
      ]),
      Buffer.from(`--${BOUNDARY}--\r\n`),
    ]),
  );
}

/** The camera (`camera`, its push path's last part) pushes a read of `plate` with `jpeg` (Hikvision's EventNotificationAlert form). */
export async function pushPlate(devices: string, authorization: string, plate: string, jpeg: Buffer, camera = 'cam-1'): Promise<number> {
  const alert = `<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">
<dateTime>${new Date().toISOString()}</dateTime><eventType>ANPR</eventType>
<ANPR><licensePlate>${plate}</licensePlate><confidenceLevel>95</confidenceLevel><vehicleType>truck</vehicleType></ANPR>
</EventNotificationAlert>`;
  const body = multipart([
    { name: 'anpr.xml', filename: 'anpr.xml', contentType: 'text/xml', body: Buffer.from(alert) },
    { name: 'licensePlatePicture.jpg', filename: 'licensePlatePicture.jpg', contentType: 'image/jpeg', body: jpeg },
  ]);
  const response = await fetch(`${devices}/anpr/${camera}`, { method: 'POST', headers: { authorization, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, body });
  return response.status;
}

/** The scanner pushes a completed scan of `plate`, decided clear by an analyst, with its PGM image. */
export async function pushScan(devices: string, authorization: string, scanId: string, plate: string, pgm: Buffer): Promise<number> {
  const metadata = { scanId, scannerId: 'scanner-A', status: 'completed', plate, time: new Date().toISOString(), decision: { analyst: 'analyst-1', result: 'clear' } };
  const body = multipart([
    { name: 'metadata', contentType: 'application/json', body: Buffer.from(JSON.stringify(metadata)) },
    { name: 'image', filename: `${scanId}.pgm`, contentType: 'image/x-portable-graymap', body: pgm },
  ]);
  const response = await fetch(`${devices}/xray/xray-1`, { method: 'POST', headers: { authorization, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, body });
  return response.status;
}

/** The supervisor registers the arrived vehicle declaring `declaredKg` and enters `weighedKg` by hand; answers its state. */
export async function registerAndWeigh(operators: string, plate: string, declaredKg: number, weighedKg: number): Promise<{ crossingId: string; state: string }> {
  const login = await fetch(`${operators}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...SUPERVISOR, bearer: true }) });
  if (login.status !== 201) throw new Error(`login: ${login.status} ${await login.text()}`);
  const { token } = (await login.json()) as { token: string };
  const call = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
    const response = await fetch(`${operators}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (response.status >= 300) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as Record<string, unknown>;
  };
  const registered = await call('/api/lanes/lane-1/registrations', { plate, direction: 'import', declaredWeightKg: declaredKg, documents: ['SAD-1'] });
  const crossingId = String(registered.crossingId);
  const weighed = await call(`/api/lanes/lane-1/crossings/${crossingId}/weight`, { weightKg: weighedKg, reason: 'weighbridge out of order' });
  return { crossingId, state: String(weighed.state) };
}

/** The distinct chunks of `digest` a collector received, by index (a chunk received twice counts once). */
export function chunksOf(collector: Collector, digest: string): Map<number, Received> {
  const chunks = new Map<number, Received>();
  for (const message of collector.received) {
    if (message.type === 'evidence.chunk' && message.event.data.digest === digest) chunks.set(Number(message.event.data.index), message);
  }
  return chunks;
}

/** The piece reassembled from its chunks, once all have arrived; null before. */
export function reassembled(collector: Collector, digest: string): Buffer | null {
  const chunks = chunksOf(collector, digest);
  const first = chunks.values().next().value;
  if (!first) return null;
  const count = Number(first.event.data.count);
  if (chunks.size < count) return null;
  return Buffer.concat(Array.from({ length: count }, (_, index) => Buffer.from(String(chunks.get(index)?.event.data.data), 'base64')));
}

/** Every `evidence.chunk` of `digest` received, duplicates included. */
export function receivedChunks(collector: Collector, digest: string): number {
  return collector.received.filter((message) => message.type === 'evidence.chunk' && message.event.data.digest === digest).length;
}

/** The transfers the post's database holds (read after a kill). */
export function uploadsOnDisk(dataDir: string): { digest: string; request_id: string | null; next_index: number; chunks: number }[] {
  const db = new Database(join(dataDir, 'outbox.db'));
  try {
    return db.prepare<[], { digest: string; request_id: string | null; next_index: number; chunks: number }>('SELECT digest, request_id, next_index, chunks FROM evidence_uploads ORDER BY id').all();
  } finally {
    db.close();
  }
}
