/**
 * One measured run of a peer: a throughput run (pushes at a fixed number in flight, then wait for
 * every answered read's message) and the run with the broker killed mid-way. Each starts the peer
 * as a fresh process and measures it from /proc; the figures are returned, printed elsewhere.
 */
import { rmSync } from 'node:fs';
import { Mosquitto } from '../../test/helpers/mosquitto.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { percentile } from '../uplink-bench.js';
import { Arrivals } from './arrivals.js';
import type { CameraPushes } from './camera-push.js';
import { classifyGatewayMessage, startGatewayPeer } from './gateway-peer.js';
import { runLoad, type PushRecord } from './load.js';
import { MqttTap } from './mqtt-tap.js';
import { classifyNodeRedMessage, startNodeRedPeer } from './node-red-peer.js';
import type { Peer } from './peer-process.js';
import { cpuMs, peakRssMb } from './proc-stats.js';

export type PeerKind = 'gateway' | 'Node-RED';

/** Longest wait for the last messages of a run to arrive. */
const ARRIVAL_TIMEOUT_MS = 120_000;

export interface RunSettings {
  /** Pushes measured per run, and pushes sent before them to warm the peer up. */
  requests: number;
  warmup: number;
  pushes: CameraPushes;
  /** The subscriber's topic filters: both peers' trees. */
  topics: string[];
  /** The gateway's `devicePush.maxConcurrentPushes`; undefined: its default. */
  gatewayMaxConcurrentPushes?: number | undefined;
}

export interface RunFigures {
  pushesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  cpuMsPer1000: number;
  peakRssMb: number;
  /** From the last 200 to the last message arrived (negative: it arrived before that answer). */
  lastArrivalAfterLastAnswerMs: number;
  /** From the first push sent to the last message arrived. */
  allArrivedSec: number;
  /** Each answered push, from its first byte sent to its message's arrival at the subscriber: p50 and p99. */
  arrivalP50Ms: number;
  arrivalP99Ms: number;
  answered: number;
  /** Answered 200 and not arrived within ARRIVAL_TIMEOUT_MS. */
  missing: number;
  repeats: number;
  others: Map<string, number>;
}

export interface KillSchedule {
  inFlight: number;
  /** The broker is killed when this many pushes have their answer, and started again at `restartAt`. */
  killAt: number;
  restartAt: number;
  /** After the peer is back and has nothing left to send, this long without a message ends the run. */
  quietMs: number;
}

export interface KillFigures {
  answered: number;
  refused: number;
  arrived: number;
  lost: number;
  /** Lost although the broker had acknowledged them (PUBACK): lost in the broker's crash. */
  lostAfterBrokerAck: number;
  /** Read numbers of the pushes lost before the broker acknowledged them, first and last. */
  lostSpan: [number, number] | null;
  arrivedUnanswered: number;
  repeats: number;
  brokerDownMs: number;
  reconnectedAfterMs: number | null;
}

/** Two letters no other run of the process uses, to start its plates with. */
export class PlatePrefixes {
  private next = 0;

  take(): string {
    const n = this.next;
    this.next += 1;
    return String.fromCharCode(65 + (Math.floor(n / 26) % 26), 65 + (n % 26));
  }
}

/** The read number a plate was made from (CameraPushes: two letters, then the number). */
const readNumber = (plate: string): number => Number(plate.slice(2));

/**
 * Starts a peer publishing to the broker (or the relay in front of it) on `brokerPort`, in a
 * directory of its own (the gateway's data, Node-RED's user directory) that `stop()` removes.
 */
export async function startPeer(kind: PeerKind, brokerPort: number, settings: RunSettings): Promise<Peer> {
  const dir = tempDir(kind === 'gateway' ? 'bench-peers-gw-' : 'bench-peers-nr-');
  try {
    const peer =
      kind === 'gateway'
        ? await startGatewayPeer({ brokerUrl: `mqtt://127.0.0.1:${brokerPort}`, dataDir: dir, maxUnregistered: 10 * (settings.requests + settings.warmup), maxConcurrentPushes: settings.gatewayMaxConcurrentPushes })
        : await startNodeRedPeer({ brokerPort, userDir: dir });
    return {
      ...peer,
      stop: async () => {
        await peer.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

function answeredPlates(records: PushRecord[]): string[] {
  return records.filter((r) => r.status === 200).map((r) => r.plate);
}

async function warmUp(peer: Peer, arrivals: Arrivals, settings: RunSettings, prefixes: PlatePrefixes, inFlight: number): Promise<void> {
  if (settings.warmup <= 0) return;
  const tally = arrivals.watch((topic, payload) => peer.classify(topic, payload));
  const records = await runLoad({ url: peer.pushUrl, headers: peer.pushHeaders, pushes: settings.pushes, platePrefix: prefixes.take(), count: settings.warmup, inFlight });
  await arrivals.waitForPlates(tally, answeredPlates(records), ARRIVAL_TIMEOUT_MS);
}

/** `settings.requests` pushes at `inFlight`, after the warm-up; figures once every answered read has arrived (or the wait timed out). */
export async function throughputRun(peer: Peer, arrivals: Arrivals, settings: RunSettings, prefixes: PlatePrefixes, inFlight: number): Promise<RunFigures> {
  await warmUp(peer, arrivals, settings, prefixes, inFlight);
  const tally = arrivals.watch((topic, payload) => peer.classify(topic, payload));
  const cpuBefore = cpuMs(peer.pid);
  const records = await runLoad({ url: peer.pushUrl, headers: peer.pushHeaders, pushes: settings.pushes, platePrefix: prefixes.take(), count: settings.requests, inFlight });
  const answered = answeredPlates(records);
  await arrivals.waitForPlates(tally, answered, ARRIVAL_TIMEOUT_MS);
  const cpuUsed = cpuMs(peer.pid) - cpuBefore;
  const firstSent = Math.min(...records.map((r) => r.sentMs));
  const lastAnswer = Math.max(...records.map((r) => r.answeredMs));
  const arrivedAt = answered.map((plate) => tally.firstArrival.get(plate)).filter((at): at is number => at !== undefined);
  const lastArrival = arrivedAt.length > 0 ? Math.max(...arrivedAt) : Number.NaN;
  const latencies = records.filter((r) => r.status === 200).map((r) => r.answeredMs - r.sentMs).sort((a, b) => a - b);
  const arrivalLatencies = records
    .filter((r) => r.status === 200)
    .map((r) => (tally.firstArrival.get(r.plate) ?? Number.NaN) - r.sentMs)
    .filter((ms) => !Number.isNaN(ms))
    .sort((a, b) => a - b);
  return {
    pushesPerSec: answered.length / ((lastAnswer - firstSent) / 1000),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    cpuMsPer1000: (cpuUsed / settings.requests) * 1000,
    peakRssMb: peakRssMb(peer.pid),
    lastArrivalAfterLastAnswerMs: lastArrival - lastAnswer,
    allArrivedSec: (lastArrival - firstSent) / 1000,
    arrivalP50Ms: percentile(arrivalLatencies, 50),
    arrivalP99Ms: percentile(arrivalLatencies, 99),
    answered: answered.length,
    missing: answered.length - arrivedAt.length,
    repeats: tally.repeats,
    others: new Map(tally.others),
  };
}

/**
 * A fresh broker, a subscriber with a persistent session on it, and the peer behind a relay that
 * records what the broker acknowledged; the broker SIGKILLed and started again on the same port
 * while the pushes go on. What each answered 200 and never delivered is its loss.
 */
export async function killRun(kind: PeerKind, settings: RunSettings, prefixes: PlatePrefixes, schedule: KillSchedule): Promise<KillFigures> {
  const broker = await Mosquitto.start();
  const cleanUp: (() => Promise<void>)[] = [() => broker.stop()];
  try {
    // The subscriber's session (clean start off, expiry 1 h) is saved to the persistence file by
    // a clean restart before the run: the SIGKILL later loses only what came after, as it would
    // at a VMC whose broker crashes.
    const arrivals = await Arrivals.connect(broker.url, settings.topics, { persistentId: `bench-vmc-kill-${process.pid}` });
    cleanUp.unshift(() => arrivals.close());
    await broker.stop();
    await broker.run();
    // The peer reaches the broker through a relay that notes which of its messages the broker
    // acknowledged: a message lost after that was the broker's to lose, not the peer's.
    const tap = await MqttTap.start(broker.port, kind === 'gateway' ? classifyGatewayMessage : classifyNodeRedMessage);
    cleanUp.unshift(() => tap.close());
    const peer = await startPeer(kind, tap.port, settings);
    cleanUp.unshift(() => peer.stop());
    await warmUp(peer, arrivals, settings, prefixes, schedule.inFlight);

    const tally = arrivals.watch((topic, payload) => peer.classify(topic, payload));
    let killedAt = 0;
    let restartedAt = 0;
    let killing: Promise<void> = Promise.resolve();
    let restarting: Promise<void> = Promise.resolve();
    const records = await runLoad({
      url: peer.pushUrl,
      headers: peer.pushHeaders,
      pushes: settings.pushes,
      platePrefix: prefixes.take(),
      count: settings.requests,
      inFlight: schedule.inFlight,
      onSettled: (settled) => {
        if (settled === schedule.killAt) {
          killing = broker.kill().then(() => {
            killedAt = performance.now();
          });
        }
        if (settled === schedule.restartAt) {
          restarting = killing.then(async () => {
            await broker.run();
            restartedAt = performance.now();
          });
        }
      },
    });
    await restarting;
    // No connection can come between the kill and the restart. Reported as "not reconnected"
    // when it never does; what arrived is counted all the same.
    const reconnectedAfterMs = await peer.connectedSince(killedAt, 60_000).then(
      (at) => at - restartedAt,
      () => null,
    );
    await peer.drained(ARRIVAL_TIMEOUT_MS);
    await arrivals.waitQuiet(tally, schedule.quietMs, ARRIVAL_TIMEOUT_MS);

    const answered = new Set(answeredPlates(records));
    const lost = [...answered].filter((plate) => !tally.firstArrival.has(plate));
    const lostByPeer = lost.filter((plate) => !tap.acknowledged.has(plate)).map(readNumber);
    let arrivedUnanswered = 0;
    for (const record of records) if (record.status !== 200 && tally.firstArrival.has(record.plate)) arrivedUnanswered += 1;
    return {
      answered: answered.size,
      refused: records.length - answered.size,
      arrived: answered.size - lost.length,
      lost: lost.length,
      lostAfterBrokerAck: lost.length - lostByPeer.length,
      lostSpan: lostByPeer.length > 0 ? [Math.min(...lostByPeer), Math.max(...lostByPeer)] : null,
      arrivedUnanswered,
      repeats: tally.repeats,
      brokerDownMs: restartedAt - killedAt,
      reconnectedAfterMs,
    };
  } finally {
    for (const step of cleanUp) await step();
  }
}
