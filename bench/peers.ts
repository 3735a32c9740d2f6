/**
 * `npm run bench -- peers`: the gateway beside Node-RED doing the same job, one after the other
 * in one run, against the same local Mosquitto left at its defaults (Receive Maximum 20, Nagle
 * on; the test helper's persistence on): a camera POSTs plate reads (Hikvision multipart pushes),
 * each becomes one MQTT QoS 1 message at a subscriber standing in for the VMC. At 1, 8 and 32
 * pushes in flight: pushes/s, answer latency p50/p99, CPU per 1,000 reads and peak RSS of the
 * peer's own process, how long after the last 200 the last message arrived, and each push's time
 * to its message (p50/p99; stamped by a subscriber in a process of its own, so the camera's work
 * here never delays a stamp: subscriber-process.ts). Then the broker
 * is killed (SIGKILL) mid-run and restarted: what each answered 200 and never delivered. Figures
 * are printed with the ratio gateway / Node-RED measured in the same run; absolute numbers vary
 * with the machine. Not a test: nothing here passes or fails.
 *
 *   BENCH_PEER_REQUESTS   pushes per run (default 5000), after BENCH_PEER_WARMUP (default 200)
 *   BENCH_PEER_ROUNDS     runs per peer and load, interleaved; the median by pushes/s is reported (default 3)
 *   BENCH_PEER_LEVELS     pushes in flight (default "1,8,32"; empty: none)
 *   BENCH_PEER_PLATE_KB   plate crop JPEG per push, KiB (default 8)
 *   BENCH_PEER_SCENE_KB   scene JPEG per push, KiB (default 160)
 *   BENCH_PEER_KILL       "0" skips the run with the broker killed
 *   BENCH_PEER_GATEWAY_PUSHES  the gateway's devicePush.maxConcurrentPushes (default: its own default)
 */
import { cpus, loadavg } from 'node:os';
import { GATEWAY_VERSION } from '../core/package-info.js';
import { Mosquitto } from '../test/helpers/mosquitto.js';
import { Arrivals } from './peers/arrivals.js';
import { CameraPushes } from './peers/camera-push.js';
import { GATEWAY_COUNTED, GATEWAY_ROOT } from './peers/gateway-peer.js';
import { ensureNodeRed, NODE_RED_COUNTED } from './peers/node-red-peer.js';
import { fmt, printKills, printThroughput, type LevelResult } from './peers/report.js';
import { killRun, PlatePrefixes, startPeer, throughputRun, type KillFigures, type PeerKind, type RunFigures, type RunSettings } from './peers/runs.js';

const REQUESTS = Number(process.env.BENCH_PEER_REQUESTS ?? 5000);
const WARMUP = Number(process.env.BENCH_PEER_WARMUP ?? 200);
const ROUNDS = Math.max(1, Number(process.env.BENCH_PEER_ROUNDS ?? 3));
const LEVELS = (process.env.BENCH_PEER_LEVELS ?? '1,8,32')
  .split(',')
  .filter((level) => level.trim() !== '')
  .map(Number);
const PLATE_KB = Number(process.env.BENCH_PEER_PLATE_KB ?? 8);
const SCENE_KB = Number(process.env.BENCH_PEER_SCENE_KB ?? 160);
const GATEWAY_PUSHES = process.env.BENCH_PEER_GATEWAY_PUSHES === undefined ? undefined : Number(process.env.BENCH_PEER_GATEWAY_PUSHES);
const KILL_LEVEL = 8;
/**
 * After the broker is back and the peer has nothing left to send, this long without a message
 * ends the kill run: Node-RED's reconnect interval (mqttReconnectTime, 5 s).
 */
const QUIET_MS = 5000;

const load = (): string => `load average ${fmt(loadavg()[0] ?? 0, 1)} on ${cpus().length} cores`;

async function peersBench(): Promise<void> {
  console.log('peer benchmark: the gateway and Node-RED, a camera pushing plate reads over HTTP, one MQTT QoS 1 message each');
  const nodeRed = ensureNodeRed((line) => console.log(line));
  // No peer, no figures: nothing is made up in its place.
  if ('error' in nodeRed) throw new Error(`no peer to compare with: ${nodeRed.error}`);
  const settings: RunSettings = {
    requests: REQUESTS,
    warmup: WARMUP,
    pushes: new CameraPushes({ plateJpegBytes: PLATE_KB * 1024, sceneJpegBytes: SCENE_KB * 1024 }),
    topics: [`${GATEWAY_ROOT}/#`, 'nodered/bench-post/#'],
    gatewayMaxConcurrentPushes: GATEWAY_PUSHES,
  };
  const prefixes = new PlatePrefixes();
  const pushKiB = settings.pushes.push('XX', 0, 0).contentLength / 1024;
  console.log(
    `  each push: multipart/form-data, the captured Hikvision EventNotificationAlert (plate, time and UUID changed per read) + ${fmt(PLATE_KB)} KiB plate JPEG + ${fmt(SCENE_KB)} KiB scene JPEG = ${fmt(pushKiB, 1)} KiB; keep-alive connections, one per push in flight`,
  );
  console.log(`  gateway ${GATEWAY_VERSION}: border-gateway run, one lane, an anpr-http-push entry camera with a device client (HTTP Basic, allowed from 127.0.0.1); 200 once the read is committed to the outbox and on disk; camera pushes handled ${GATEWAY_PUSHES ?? 'the default number'} at a time (devicePush.maxConcurrentPushes)`);
  console.log(`    counts ${GATEWAY_COUNTED}`);
  console.log(`  Node-RED ${nodeRed.version}: http in (upload) → function → xml → function → mqtt out + http response (bench/peers/node-red-flow.json); 200 once handed to the mqtt out node; no authentication`);
  console.log(`    counts ${NODE_RED_COUNTED}`);
  console.log(
    `  ${fmt(REQUESTS)} pushes per run after ${fmt(WARMUP)} to warm up; each peer a fresh process (and data directory) per run; CPU and peak RSS are the peer process's own (/proc); ${ROUNDS} round(s) per load, interleaved, the median by pushes/s reported`,
  );
  console.log(`  machine: ${load()} at the start`);

  const levels: LevelResult[] = [];
  const broker = await Mosquitto.start();
  const arrivals = await Arrivals.connect(broker.url, settings.topics);
  try {
    console.log(`  broker: Mosquitto ${broker.url} with its defaults (Receive Maximum 20, Nagle on), persistence on; subscriber: MQTT 5, QoS 1, clean session, in a process of its own stamping each message as it arrives`);
    for (const [index, inFlight] of LEVELS.entries()) {
      const rounds = new Map<PeerKind, RunFigures[]>([
        ['gateway', []],
        ['Node-RED', []],
      ]);
      for (let round = 0; round < ROUNDS; round += 1) {
        // Who goes first alternates, so a machine that gets busier during the run hurts both alike.
        const order: PeerKind[] = (index + round) % 2 === 0 ? ['gateway', 'Node-RED'] : ['Node-RED', 'gateway'];
        for (const kind of order) {
          const peer = await startPeer(kind, broker.port, settings);
          try {
            rounds.get(kind)?.push(await throughputRun(peer, arrivals, settings, prefixes, inFlight));
          } finally {
            await peer.stop();
          }
        }
      }
      levels.push({
        inFlight,
        reported: new Map([...rounds].map(([kind, runs]) => [kind, medianRun(runs)])),
        roundsPushesPerSec: new Map([...rounds].map(([kind, runs]) => [kind, runs.map((run) => run.pushesPerSec)])),
      });
    }
  } finally {
    await arrivals.close();
    await broker.stop();
  }
  printThroughput(levels, REQUESTS);
  if (LEVELS.length > 0) console.log(`  machine: ${load()} at the end of these runs`);

  if (process.env.BENCH_PEER_KILL === '0') return;
  const schedule = { inFlight: KILL_LEVEL, killAt: Math.round(REQUESTS / 3), restartAt: Math.round(REQUESTS / 2), quietMs: QUIET_MS };
  console.log('');
  console.log(
    `broker killed mid-run: ${KILL_LEVEL} pushes in flight, a fresh broker per peer; SIGKILL once ${fmt(schedule.killAt)} of ${fmt(REQUESTS)} pushes are answered, started again on the same port once ${fmt(schedule.restartAt)} are (Mosquitto with persistence on, autosave at its default; the subscriber's persistent session was saved before the run, so the broker queues for it while it reconnects)`,
  );
  console.log(
    `  lost = answered 200 and never arrived, after the peer reconnected, had nothing left to send, and ${fmt(QUIET_MS / 1000)} s passed without a message; "after broker PUBACK" = of those, the ones the broker had acknowledged (seen by a relay between peer and broker) and lost in its crash, which no publisher can prevent; refused = no 200 (the camera keeps those and retries)`,
  );
  const kills = new Map<PeerKind, KillFigures>();
  for (const kind of ['gateway', 'Node-RED'] as PeerKind[]) kills.set(kind, await killRun(kind, settings, prefixes, schedule));
  printKills(kills);
  console.log(`  machine: ${load()} at the end`);
}

/** The run with the median pushes/s (the lower middle one of an even count). */
function medianRun(runs: RunFigures[]): RunFigures {
  const sorted = [...runs].sort((a, b) => a.pushesPerSec - b.pushesPerSec);
  return sorted[Math.floor((sorted.length - 1) / 2)] as RunFigures;
}

await peersBench();
