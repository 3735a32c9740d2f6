/**
 * Node-RED doing the gateway's job with its usual nodes (node-red-flow.json): http in → function
 * → xml → function → mqtt out (QoS 1) and http response. It is installed by the benchmark's setup
 * step into a folder of its own, `.bench/node-red` (never a dependency of this package), and runs
 * as `node red.js` with a user directory of its own per run, the editor and admin API off (so
 * nothing needs admin credentials), and Node-RED's defaults otherwise: MQTT 3.1.1, clean
 * session, reconnect every 5 s (mqttReconnectTime). Its push endpoint has no authentication at
 * all, which spares it work the gateway does on every push.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../core/free-port.js';
import { PACKAGE_ROOT } from '../../core/package-info.js';
import { PeerProcess, type Classified, type Peer } from './peer-process.js';

/** The release line the benchmark compares against: 4.1 is what installs on Node 20. */
export const NODE_RED_SPEC = 'node-red@~4.1.0';
export const NODE_RED_PREFIX = join(PACKAGE_ROOT, '.bench/node-red');
const NODE_RED_PACKAGE = join(NODE_RED_PREFIX, 'node_modules/node-red');
const FLOW = join(PACKAGE_ROOT, 'bench/peers/node-red-flow.json');
export const NODE_RED_TOPIC = 'nodered/bench-post/lane-1/anpr.plate';
/** The message that stands for one read on this side, for the report. */
export const NODE_RED_COUNTED = `${NODE_RED_TOPIC} (JSON; the plate in .plate); nothing else`;

/**
 * The setup step: installs Node-RED into `.bench/node-red` unless it is there. Returns its
 * version, or why it cannot be had (then there is no peer to compare with, and nothing is faked).
 */
export function ensureNodeRed(log: (line: string) => void): { version: string } | { error: string } {
  if (!existsSync(join(NODE_RED_PACKAGE, 'package.json'))) {
    log(`  setup: npm install --prefix .bench/node-red ${NODE_RED_SPEC}`);
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const install = spawnSync(npm, ['install', '--prefix', NODE_RED_PREFIX, '--no-audit', '--no-fund', NODE_RED_SPEC], { cwd: PACKAGE_ROOT, encoding: 'utf8' });
    if (install.error || install.status !== 0) {
      const output = `${install.stdout ?? ''}${install.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
      return { error: `npm install ${NODE_RED_SPEC} failed (${install.error?.message ?? `exit ${String(install.status)}`}):\n${output}` };
    }
  }
  try {
    const { version } = JSON.parse(readFileSync(join(NODE_RED_PACKAGE, 'package.json'), 'utf8')) as { version: string };
    if (!/^4\.1\./.test(version)) return { error: `.bench/node-red holds node-red ${version}, not 4.1.x: remove .bench/node-red and run again` };
    return { version };
  } catch (error) {
    return { error: `node-red is not installed in .bench/node-red: ${(error as Error).message}` };
  }
}

/** Starts Node-RED on a free port with the benchmark's flow; resolves once it serves and is connected to the broker. */
export async function startNodeRedPeer(options: { brokerPort: number; userDir: string }): Promise<Peer> {
  const port = await freePort();
  copyFileSync(FLOW, join(options.userDir, 'flows.json'));
  const settings = {
    uiHost: '127.0.0.1',
    uiPort: port,
    flowFile: 'flows.json',
    credentialSecret: false,
    // No editor and no admin API: nothing to log in to, and nothing the benchmark does needs them.
    httpAdminRoot: false,
    diagnostics: { enabled: false, ui: false },
    telemetry: { enabled: false, updateNotification: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    functionExternalModules: false,
    logging: { console: { level: 'info', metrics: false, audit: false } },
  };
  const settingsFile = join(options.userDir, 'settings.js');
  writeFileSync(settingsFile, `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
  const child = new PeerProcess(process.execPath, [join(NODE_RED_PACKAGE, 'red.js'), '--settings', settingsFile, '--userDir', options.userDir], {
    cwd: options.userDir,
    env: { BENCH_MQTT_PORT: String(options.brokerPort) },
  });
  const connectedAt: number[] = [];
  let serving = false;
  child.on('line', (line) => {
    if (line.includes('Connected to broker')) connectedAt.push(performance.now());
    if (line.includes('Server now running')) serving = true;
  });
  // A peer that never gets ready is not left running behind the error.
  await child.waitUntil(() => serving && connectedAt.length > 0, 60_000, 'Node-RED serving and connected to the broker').catch(async (error: unknown) => {
    await child.stop();
    throw error;
  });
  return {
    name: 'Node-RED',
    pid: child.pid,
    pushUrl: new URL(`http://127.0.0.1:${port}/anpr/cam-1`),
    pushHeaders: {},
    classify: (topic, payload) => classifyNodeRedMessage(topic, payload),
    connectedSince: (sinceMs, timeoutMs) => child.firstSince(connectedAt, sinceMs, timeoutMs, 'Node-RED connected to the broker again'),
    // Nothing is kept to send later: once reconnected (the kill run waits for that first), MQTT.js
    // resends what it had in flight, and what the flow handed over while disconnected was dropped
    // (the mqtt out node does not publish then).
    drained: () => Promise.resolve(true),
    stop: () => child.stop(),
  };
}

export function classifyNodeRedMessage(topic: string, payload: Buffer): Classified {
  if (!topic.startsWith('nodered/bench-post/')) return null;
  if (topic !== NODE_RED_TOPIC) return { other: topic.slice(topic.lastIndexOf('/') + 1) };
  const plate = (JSON.parse(payload.toString('utf8')) as { plate?: unknown }).plate;
  return typeof plate === 'string' ? { plate } : { other: 'anpr.plate without a plate' };
}
