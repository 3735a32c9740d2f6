import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postConfigSchema, type PostConfig, type XrayFolderConfig } from '../../config/schema.js';
import { systemClock } from '../../core/clock.js';
import { Gateway } from '../../gateway/daemon.js';
import { createLogger } from '../../gateway/logger.js';
import { resolveUplinkSettings } from '../../gateway/uplink/resolve-settings.js';

/** A small valid post: three lanes, no devices, the given brokers and uplink/outbox overrides. */
export function testConfig(brokers: string[], overrides: { uplink?: Record<string, unknown>; outbox?: Record<string, unknown> } = {}): PostConfig {
  return postConfigSchema.parse({
    version: 1,
    post: { id: 'test-post' },
    lanes: [{ id: 'lane-1' }, { id: 'lane-2' }, { id: 'lane-3' }],
    uplink: { brokers, reconnect: { initialMs: 50, maxMs: 400 }, ...overrides.uplink },
    outbox: { path: 'outbox.db', ...overrides.outbox },
    http: { port: 0 },
    logLevel: 'warn',
  });
}

/** A post whose risk the rules decide alone (no models, no random X-ray) and whose broker nobody answers: for lane and evidence tests. */
export function rulesOnlyConfig(lanes: Record<string, unknown>[]): PostConfig {
  return postConfigSchema.parse({
    version: 1,
    post: { id: 'test-post' },
    lanes,
    uplink: { brokers: ['mqtt://127.0.0.1:1'] },
    outbox: { path: 'outbox.db' },
    workflow: { randomXrayShare: 0 },
    models: { risk: null, xrayScreening: null },
  });
}

/**
 * Writes `post.yaml` in `dataDir` for a one-lane post `adversary-post` with the given device lines
 * (YAML, indented as list items under `devices:`) and no broker: the gateway runs degraded, its
 * outbox keeping every event. Answers the file's path.
 */
export function writeDegradedPost(dataDir: string, devices: string[], listeners: { httpPort: number; devicePort?: number }): string {
  const file = join(dataDir, 'post.yaml');
  writeFileSync(
    file,
    [
      'version: 1',
      'post: { id: adversary-post }',
      'lanes:',
      '  - id: lane-1',
      '    devices:',
      ...devices.map((line) => `      ${line}`),
      'uplink: { brokers: ["mqtt://127.0.0.1:1"] }',
      'outbox: { path: outbox.db }',
      `http: { host: 127.0.0.1, port: ${listeners.httpPort} }`,
      ...(listeners.devicePort === undefined ? [] : [`devicePush: { host: 127.0.0.1, port: ${listeners.devicePort} }`]),
      '',
    ].join('\n'),
  );
  return file;
}

/** An `xray-folder` device of a one-lane post, watching `folder`, rescanning every 50 ms, with `options` over its defaults. */
export function xrayFolderConfig(folder: string, options: Record<string, unknown> = {}): XrayFolderConfig {
  return postConfigSchema.parse({
    version: 1,
    post: { id: 'p' },
    lanes: [{ id: 'lane-1', devices: [{ id: 'xray-1', driver: 'xray-folder', connection: { folder }, rescanMs: 50, ...options }] }],
    uplink: { brokers: ['mqtt://127.0.0.1:1'] },
  }).lanes[0]!.devices[0] as XrayFolderConfig;
}

export function tempDir(prefix = 'gw-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Starts an in-process gateway on `config` with a fresh data dir (or `dataDir`). */
export function startTestGateway(config: PostConfig, dataDir = tempDir(), http = false): Promise<Gateway> {
  return Gateway.start({
    config,
    uplink: resolveUplinkSettings(config),
    logger: createLogger(process.env.TEST_LOG_LEVEL === undefined ? 'silent' : (process.env.TEST_LOG_LEVEL as 'info')),
    clock: systemClock,
    dataDir,
    http,
  });
}

const clockQuality = { synchronised: false, offsetMs: null };

/** A valid `vehicle.weighed` event for crossing `n`. */
export function weighed(gateway: Gateway, laneId: string, n: number): Promise<unknown> {
  return gateway.emit('vehicle.weighed', laneId, { crossingId: `c-${laneId}-${n}`, clock: clockQuality, sinceArrivalSec: n, weightKg: 20_000 + n, deviceId: null }, `c-${laneId}-${n}`);
}

/** Emits `count` events round-robin over the lanes; resolves once all are committed. */
export async function emitBurst(gateway: Gateway, lanes: string[], count: number, offset = 0): Promise<void> {
  const commits: Promise<unknown>[] = [];
  for (let i = 0; i < count; i += 1) commits.push(weighed(gateway, lanes[i % lanes.length] as string, offset + i));
  await Promise.all(commits);
}

/** Resolves when the gateway's uplink is connected (at once if it already is). */
export function uplinkConnected(gateway: Gateway): Promise<void> {
  if (gateway.uplink.state === 'connected') return Promise.resolve();
  return new Promise((resolve) => {
    const onState = (state: string): void => {
      if (state !== 'connected') return;
      gateway.uplink.off('state', onState);
      resolve();
    };
    gateway.uplink.on('state', onState);
  });
}
