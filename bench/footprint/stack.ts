/**
 * One footprint stack: a Mosquitto of its own, the 4-lane demo post's simulator (`sim`) in one
 * process and the gateway (`run`) in another, with the node flags under test. The gateway is
 * watched from outside (/proc) and from inside (bench/footprint/probe.ts, preloaded); the broker's
 * events are counted, not kept. Several stacks run side by side so that flags are compared on the
 * same machine at the same moment.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { loadConfigFile } from '../../config/load-config.js';
import type { PostConfig } from '../../config/schema.js';
import { freePort } from '../../core/free-port.js';
import { adjustDemoConfig } from '../../gateway/demo/demo-config.js';
import { Mosquitto } from '../../test/helpers/mosquitto.js';
import { tempDir } from '../../test/helpers/test-config.js';
import type { ProbeLine } from './probe.js';
import { readProcSample, type ProcSample } from './proc-stats.js';
import { residentByMapping, type MappingRss } from './smaps.js';

const CLI = fileURLToPath(new URL('../../gateway/cli.js', import.meta.url));
const PROBE = new URL('./probe.js', import.meta.url).href;
const PASSWORD = 'footprint inspector 7';
/** The first seconds after spawn are sampled this often, to catch the start-up peak. */
const STARTUP_SAMPLE_MS = 50;
const STARTUP_WATCH_MS = 40_000;

export interface StackOptions {
  label: string;
  /** Node and V8 flags of the gateway process (the unit's NODE_OPTIONS), given on its command line. */
  nodeOptions: string;
  /** Extra environment of the gateway process (e.g. MALLOC_ARENA_MAX). */
  env: Record<string, string>;
  /** The post's `models.engine` (default: the configuration's). */
  modelEngine?: 'auto' | 'onnxruntime';
  configFile: string;
  speed: number;
  /** Bytes of each camera snapshot (`sim --snapshot-bytes`); null: the simulator's 1×1 JPEG. */
  pictureBytes: number | null;
  intervalSec: number;
  minutes: number;
  sampleSec: number;
  /** Minutes at which a heap snapshot is written. */
  snapshotAt: number[];
  /** Called with a progress line about once a minute. */
  progress: (line: string) => void;
}

export interface Sample {
  /** Seconds since the gateway was spawned. */
  sec: number;
  proc: ProcSample;
  probe: ProbeLine | null;
  /** crossing.completed events seen at the broker so far. */
  crossings: number;
  arrivals: number;
  events: number;
  outboxDepth: number | null;
}

/** Bytes of the gateway's database by table, its indexes counted with it (SQLite's dbstat), largest first. */
export function databaseTables(path: string): { name: string; bytes: number }[] {
  const db = new Database(path, { readonly: true });
  try {
    const objects = db.prepare<[], { name: string; tbl_name: string }>("SELECT name, tbl_name FROM sqlite_schema WHERE type IN ('table', 'index')").all();
    const tableOf = new Map(objects.map((o) => [o.name, o.tbl_name]));
    const bytes = new Map<string, number>();
    for (const row of db.prepare<[], { name: string; bytes: number }>('SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name').all()) {
      const table = tableOf.get(row.name) ?? row.name;
      bytes.set(table, (bytes.get(table) ?? 0) + row.bytes);
    }
    return [...bytes].map(([name, total]) => ({ name, bytes: total })).sort((a, b) => b.bytes - a.bytes);
  } finally {
    db.close();
  }
}

export interface StackResult {
  options: StackOptions;
  postId: string;
  lanes: number;
  devices: number;
  /** ms from spawn; null when never seen. */
  coldStart: { healthz: number | null; running: number | null; firstEvent: number | null; firstArrival: number | null };
  /** The start-up peak (VmHWM during the first seconds) and when it was reached. */
  startupPeak: { kb: number; atMs: number };
  atFirstEvent: ProcSample | null;
  samples: Sample[];
  mappings: MappingRss[];
  /** The database's bytes by table once the gateway has stopped. */
  tables: { name: string; bytes: number }[];
  tally: BrokerTally;
  logBytes: number;
  logLines: number;
  dataDir: string;
  probeDir: string;
  simComplaints: string[];
  stderr: string[];
}

/** The event stream at the broker, counted (not kept: an hour of it would be this process's memory). */
export class BrokerTally {
  events = 0;
  arrivals = 0;
  completed = 0;
  abandoned = 0;
  firstEventAt: number | null = null;
  firstArrivalAt: number | null = null;
  readonly byType = new Map<string, number>();

  count(topic: string, payload: Buffer): void {
    if (topic.endsWith('/status')) return;
    const event = JSON.parse(payload.toString()) as { type: string; data?: { outcome?: string } };
    const now = performance.now();
    this.events += 1;
    this.firstEventAt ??= now;
    this.byType.set(event.type, (this.byType.get(event.type) ?? 0) + 1);
    if (event.type === 'vehicle.arrived') {
      this.arrivals += 1;
      this.firstArrivalAt ??= now;
    }
    if (event.type === 'crossing.completed') {
      if (event.data?.outcome === 'abandoned') this.abandoned += 1;
      else this.completed += 1;
    }
  }
}

/** Runs the CLI to completion (account commands), with `input` on its stdin. */
function cli(args: string[], input = ''): string {
  return execFileSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Hands each line of a child's stream to `onLine`; the stream is always drained. */
function lines(child: ChildProcess, stream: 'stdout' | 'stderr', onLine: (line: string) => void): void {
  const source = child[stream];
  if (source) createInterface({ input: source }).on('line', onLine);
}

const exitOf = (child: ChildProcess): string | null => (child.exitCode !== null || child.signalCode !== null ? `code ${child.exitCode}, signal ${child.signalCode}` : null);

/**
 * Polls `ready` until it holds; rejects when `child` exits first or after `timeoutMs` (a hung
 * process), with the last of what it wrote to stderr.
 */
function waitFor(what: string, timeoutMs: number, ready: () => boolean, child: ChildProcess, stderr: string[]): Promise<void> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (ready()) return resolve();
      const exit = exitOf(child);
      if (exit !== null) return reject(new Error(`${what}: the process exited (${exit}); stderr:\n${stderr.slice(-8).join('\n')}`));
      if (performance.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}; stderr:\n${stderr.slice(-8).join('\n')}`));
      setTimeout(check, 20);
    };
    check();
  });
}

async function outboxDepth(base: string): Promise<number | null> {
  try {
    const text = await (await fetch(`${base}/metrics`)).text();
    const match = /^gateway_outbox_depth (\d+)/m.exec(text);
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

function lastProbeLine(file: string): ProbeLine | null {
  try {
    const text = readFileSync(file, 'utf8').trimEnd();
    return JSON.parse(text.slice(text.lastIndexOf('\n') + 1)) as ProbeLine;
  } catch {
    return null;
  }
}

/** Every file under `dir` with its size, named relative to `dir`. */
export function fileSizes(dir: string): { name: string; bytes: number }[] {
  const found: { name: string; bytes: number }[] = [];
  const walk = (path: string, name: string): void => {
    const stat = statSync(path);
    if (stat.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry), name ? `${name}/${entry}` : entry);
    else found.push({ name, bytes: stat.size });
  };
  walk(dir, '');
  return found;
}

/** What every stack has started and not yet stopped, for `stopEverything` on Ctrl-C. */
const running = { children: new Set<ChildProcess>(), brokers: new Set<Mosquitto>() };

/** Kills every child process and broker the stacks started (the bench was interrupted). */
export function stopEverything(): void {
  for (const child of running.children) if (exitOf(child) === null) child.kill('SIGKILL');
  // stop() signals the broker at once; its promise only waits for the exit.
  for (const broker of running.brokers) void broker.stop();
}

export async function runStack(options: StackOptions): Promise<StackResult> {
  const dataDir = tempDir('footprint-');
  const probeDir = join(dataDir, 'probe');
  mkdirSync(probeDir);
  const probeFile = join(probeDir, 'probe.jsonl');
  const configFile = join(dataDir, 'post.yaml');
  /** The post on free ports of this moment, written where `sim` and `run` read it. */
  const freshConfig = async (): Promise<PostConfig> => {
    const adjusted = await adjustDemoConfig(loadConfigFile(options.configFile), dataDir, freePort);
    adjusted.http.port = await freePort();
    if (options.modelEngine) adjusted.models = { ...adjusted.models, engine: options.modelEngine };
    writeFileSync(configFile, stringify(adjusted));
    return adjusted;
  };
  let config = await freshConfig();
  const where = ['--config', configFile, '--data', dataDir];
  cli(['user', 'add', 'sim-inspector', '--role', 'supervisor', ...where], `${PASSWORD}\n`);
  const token = /bearer token: +(\S+)/.exec(cli(['client', 'add', 'sim-registration', '--role', 'registration', ...where]))?.[1];
  if (!token) throw new Error('client add printed no bearer token');
  const credentials = join(dataDir, 'sim-credentials.json');
  writeFileSync(credentials, JSON.stringify({ registrationToken: token, supervisor: { name: 'sim-inspector', password: PASSWORD } }));

  const broker = await Mosquitto.start();
  running.brokers.add(broker);
  const tally = new BrokerTally();
  const subscriber = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clean: true });
  subscriber.on('message', (topic, payload) => tally.count(topic, payload));
  await subscriber.subscribeAsync(`border/v1/${config.post.id}/#`, { qos: 1 });

  const children: ChildProcess[] = [];
  const simComplaints: string[] = [];
  const stderr: string[] = [];
  let logBytes = 0;
  let logLines = 0;
  try {
    for (let attempt = 1; ; attempt += 1) {
      const simArgs = ['sim', '--config', configFile, '--credentials', credentials, '--speed', String(options.speed), '--interval', String(options.intervalSec), '--control-port', String(await freePort()), ...(options.pictureBytes === null ? [] : ['--snapshot-bytes', String(options.pictureBytes)])];
      const sim = spawn(process.execPath, [CLI, ...simArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(sim);
      running.children.add(sim);
      let simReady = false;
      lines(sim, 'stdout', (line) => (simReady ||= line.trim() === 'ready'));
      lines(sim, 'stderr', (line) => simComplaints.push(line));
      try {
        await waitFor('the simulator ready', 60_000, () => simReady, sim, simComplaints);
        break;
      } catch (error) {
        // The ports were free when picked; another process may have bound one since.
        if (attempt >= 3 || !simComplaints.some((line) => line.includes('GW_ERR_SIM_LISTEN'))) throw error;
        simComplaints.length = 0;
        config = await freshConfig();
      }
    }

    const spawnedAt = performance.now();
    // On the command line rather than in NODE_OPTIONS, which refuses most of V8's own flags
    // (--optimize-for-size, …): a variant can try any of them, as a unit's ExecStart could.
    const nodeFlags = options.nodeOptions.split(/\s+/).filter(Boolean);
    const gateway = spawn(process.execPath, [...nodeFlags, '--import', PROBE, CLI, 'run', ...where, '--mqtt', broker.url], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env, NODE_OPTIONS: '', BENCH_PROBE_FILE: probeFile, BENCH_PROBE_MS: String(options.sampleSec * 1000), BENCH_PROBE_DIR: probeDir },
    });
    children.push(gateway);
    running.children.add(gateway);
    const pid = gateway.pid as number;
    let runningAt: number | null = null;
    /** The gateway's last stderr lines (log or not), for the error when it fails to start. */
    const logTail: string[] = [];
    lines(gateway, 'stderr', (line) => {
      logBytes += line.length + 1;
      logLines += 1;
      logTail.push(line);
      if (logTail.length > 20) logTail.shift();
      if (!line.startsWith('{')) stderr.push(line);
      else if (runningAt === null && line.includes('"gateway running"')) runningAt = performance.now();
    });
    lines(gateway, 'stdout', () => undefined);

    // The start-up peak: VmHWM read often while the gateway starts and its lanes fill.
    const startupPeak = { kb: 0, atMs: 0 };
    const startupWatch = setInterval(() => {
      const sample = readProcSample(pid);
      if (sample && sample.hwmKb > startupPeak.kb) Object.assign(startupPeak, { kb: sample.hwmKb, atMs: sample.atMs - spawnedAt });
      if (performance.now() - spawnedAt > STARTUP_WATCH_MS) clearInterval(startupWatch);
    }, STARTUP_SAMPLE_MS);

    const base = `http://127.0.0.1:${config.http.port}`;
    let healthyAt: number | null = null;
    const pollHealth = async (): Promise<void> => {
      while (healthyAt === null && exitOf(gateway) === null) {
        try {
          if ((await fetch(`${base}/healthz`)).status === 200) healthyAt = performance.now();
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    };
    const health = pollHealth();
    await waitFor('the gateway healthy', 90_000, () => healthyAt !== null, gateway, logTail);
    await health;
    await waitFor('a first event at the broker', 90_000, () => tally.firstEventAt !== null, gateway, logTail);
    const atFirstEvent = readProcSample(pid);

    const samples: Sample[] = [];
    const endAt = spawnedAt + options.minutes * 60_000;
    const snapshots = [...options.snapshotAt];
    let nextProgress = spawnedAt + 60_000;
    while (performance.now() < endAt) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(options.sampleSec * 1000, Math.max(0, endAt - performance.now()))));
      const proc = readProcSample(pid);
      if (!proc) throw new Error(`${options.label}: the gateway exited (${exitOf(gateway)}): ${stderr.slice(-10).join('\n')}`);
      const sec = (proc.atMs - spawnedAt) / 1000;
      const sample: Sample = { sec, proc, probe: lastProbeLine(probeFile), crossings: tally.completed + tally.abandoned, arrivals: tally.arrivals, events: tally.events, outboxDepth: await outboxDepth(base) };
      samples.push(sample);
      if (snapshots.length > 0 && sec >= (snapshots[0] as number) * 60) {
        snapshots.shift();
        gateway.kill('SIGUSR2');
      }
      if (performance.now() >= nextProgress) {
        nextProgress += 60_000;
        options.progress(progressLine(options.label, sample));
      }
    }
    clearInterval(startupWatch);
    // Where the memory lies, read while the gateway still runs.
    const mappings = residentByMapping(pid);
    gateway.kill('SIGTERM');
    await new Promise((resolve) => (exitOf(gateway) !== null ? resolve(null) : gateway.once('exit', resolve)));
    const ms = (at: number | null): number | null => (at === null ? null : at - spawnedAt);
    const tables = databaseTables(resolve(dataDir, config.outbox.path));
    return {
      options,
      postId: config.post.id,
      lanes: config.lanes.length,
      devices: config.lanes.reduce((n, lane) => n + lane.devices.length, 0),
      coldStart: { healthz: ms(healthyAt), running: ms(runningAt), firstEvent: ms(tally.firstEventAt), firstArrival: ms(tally.firstArrivalAt) },
      startupPeak,
      atFirstEvent,
      samples,
      mappings,
      tables,
      tally,
      logBytes,
      logLines,
      dataDir,
      probeDir,
      simComplaints,
      stderr,
    };
  } finally {
    for (const child of children) {
      if (exitOf(child) === null) child.kill('SIGKILL');
      running.children.delete(child);
    }
    await subscriber.endAsync(true);
    await broker.stop();
    running.brokers.delete(broker);
  }
}

const MB = 1024 * 1024;
const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function progressLine(label: string, s: Sample): string {
  const heap = s.probe ? `heap used ${fmt(s.probe.heapUsed / MB, 1)} of ${fmt(s.probe.heapTotal / MB, 1)} MB, new space ${fmt((s.probe.spaces.new_space?.size ?? 0) / MB, 1)} MB` : 'no probe';
  return `  [${label}] ${fmt(s.sec / 60, 1).padStart(5)} min  RSS ${fmt(s.proc.rssKb / 1024, 1)} MB (${heap})  CPU ${fmt(s.proc.cpuMs / 1000, 1)} s  arrivals ${s.arrivals}  crossings ${s.crossings}  outbox depth ${s.outboxDepth ?? '?'}`;
}
