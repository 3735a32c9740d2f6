/**
 * The gateway as an integrator runs it (`border-gateway run --config FILE --data DIR --mqtt URL`,
 * here the benchmark's own compiled copy of the CLI, so it measures the sources as they are): one
 * lane, one `anpr-http-push` entry camera, a fresh data directory per run, and a `device` client
 * made for the camera with `client add` as docs/integrators.md says; the camera sends its
 * credentials with HTTP Basic from 127.0.0.1, the only address the client is allowed from.
 *
 * Every push is answered 200 only once its `anpr.plate` event is committed to the outbox; the
 * lane workflow then makes a `vehicle.arrived` of the same read. Both are published.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../core/free-port.js';
import { PACKAGE_ROOT } from '../../core/package-info.js';
import { PeerProcess, type Classified, type Peer } from './peer-process.js';

const CLI = fileURLToPath(new URL('../../gateway/cli.js', import.meta.url));
const POST_ID = 'bench-post';
const DEVICE_ID = 'cam-1';
export const GATEWAY_ROOT = `border/v1/${POST_ID}`;
/** The message that stands for one read on this side, and what else it publishes, for the report. */
export const GATEWAY_COUNTED = `${GATEWAY_ROOT}/lane-1/anpr.plate (a CloudEvent; the plate in data.plate.text); also published per read: vehicle.arrived (the lane workflow's arrival)`;

export interface GatewayPeerOptions {
  brokerUrl: string;
  dataDir: string;
  /**
   * `workflow.maxUnregisteredPerLane`: above the run's reads, so each read stays one arrival. At
   * a post vehicles register; a run of pushes nobody registers would otherwise close the oldest
   * arrival as abandoned on every read past 200 (one `crossing.completed` more per read).
   */
  maxUnregistered: number;
  /** `devicePush.maxConcurrentPushes`; undefined: the gateway's default. */
  maxConcurrentPushes?: number | undefined;
}

/** Starts the gateway and resolves once it runs and its uplink is connected. */
export async function startGatewayPeer(options: GatewayPeerOptions): Promise<Peer> {
  const [devicePort, httpPort] = [await freePort(), await freePort()];
  const configFile = join(options.dataDir, 'post.yaml');
  writeFileSync(
    configFile,
    [
      'version: 1',
      `post: { id: ${POST_ID} }`,
      'lanes:',
      '  - id: lane-1',
      '    devices:',
      `      - { id: ${DEVICE_ID}, driver: anpr-http-push, role: entry, connection: { path: /anpr/${DEVICE_ID} } }`,
      `uplink: { brokers: ['${options.brokerUrl}'] }`,
      'outbox: { path: outbox.db }',
      `http: { host: 127.0.0.1, port: ${httpPort} }`,
      `devicePush: { host: 127.0.0.1, port: ${devicePort}${options.maxConcurrentPushes === undefined ? '' : `, maxConcurrentPushes: ${options.maxConcurrentPushes}`} }`,
      `workflow: { maxUnregisteredPerLane: ${options.maxUnregistered} }`,
      // The job is one message per read, as Node-RED's flow does it: the pictures are not kept or
      // sent to the VMC as evidence (a post does that by default: docs/operations.md#evidence).
      'evidence: { maxBytes: 0 }',
      'logLevel: info',
      '',
    ].join('\n'),
  );
  const added = execFileSync(process.execPath, [CLI, 'client', 'add', DEVICE_ID, '--role', 'device', '--device', DEVICE_ID, '--allow', '127.0.0.1', '--config', configFile, '--data', options.dataDir], {
    cwd: PACKAGE_ROOT,
    encoding: 'utf8',
  });
  const secret = /HTTP Basic:\s+user \S+\s+password (\S+)/.exec(added)?.[1];
  if (!secret) throw new Error(`client add printed no secret:\n${added}`);

  const child = new PeerProcess(process.execPath, [CLI, 'run', '--config', configFile, '--data', options.dataDir, '--mqtt', options.brokerUrl], { cwd: PACKAGE_ROOT });
  const connectedAt: number[] = [];
  let running = false;
  child.on('line', (line) => {
    if (!line.startsWith('{')) return;
    const msg = (JSON.parse(line) as { msg?: unknown }).msg;
    if (msg === 'uplink connected') connectedAt.push(performance.now());
    if (msg === 'gateway running') running = true;
  });
  // A peer that never gets ready is not left running behind the error.
  await child.waitUntil(() => running && connectedAt.length > 0, 60_000, 'the gateway running and its uplink connected').catch(async (error: unknown) => {
    await child.stop();
    throw error;
  });

  const metricsUrl = `http://127.0.0.1:${httpPort}/metrics`;
  return {
    name: 'gateway',
    pid: child.pid,
    pushUrl: new URL(`http://127.0.0.1:${devicePort}/anpr/${DEVICE_ID}`),
    pushHeaders: { authorization: `Basic ${Buffer.from(`${DEVICE_ID}:${secret}`).toString('base64')}` },
    classify: (topic, payload) => classifyGatewayMessage(topic, payload),
    connectedSince: (sinceMs, timeoutMs) => child.firstSince(connectedAt, sinceMs, timeoutMs, 'the uplink connected again'),
    drained: (timeoutMs) => outboxEmpty(metricsUrl, timeoutMs),
    stop: () => child.stop(),
  };
}

/** A gateway event: its `anpr.plate` is the read; every other event type counts as an extra. */
export function classifyGatewayMessage(topic: string, payload: Buffer): Classified {
  if (!topic.startsWith(`${GATEWAY_ROOT}/`) || topic === `${GATEWAY_ROOT}/status`) return null;
  const type = topic.slice(topic.lastIndexOf('/') + 1);
  if (type !== 'anpr.plate') return { other: type };
  const event = JSON.parse(payload.toString('utf8')) as { data?: { plate?: { text?: unknown } | null } };
  const plate = event.data?.plate?.text;
  return typeof plate === 'string' ? { plate } : { other: 'anpr.plate without a plate' };
}

/** Polls the gateway's /metrics until `gateway_outbox_depth` is 0; false after `timeoutMs`. */
async function outboxEmpty(metricsUrl: string, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const text = await fetch(metricsUrl).then(
      (response) => response.text(),
      () => '',
    );
    if (/^gateway_outbox_depth 0$/m.test(text)) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}
