/**
 * `border-gateway demo`: the whole post on one machine. An embedded MQTT broker (unless `--mqtt`),
 * the demo post's simulated devices and trucks, and the gateway reading those devices over their
 * real protocols: drivers → lane workflow → risk and screening models → outbox → MQTT. Queues and
 * waits run on a sped-up clock (`--speed`), so a day of traffic passes in minutes, while the
 * devices keep real time. Prints how to watch the events and a summary line every few seconds.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { loadConfigFile } from '../../config/load-config.js';
import { redactUrl } from '../../config/secrets.js';
import { systemClock } from '../../core/clock.js';
import { counted } from '../../core/counted.js';
import { PortReservations } from '../../core/free-port.js';
import { PACKAGE_ROOT } from '../../core/package-info.js';
import { GatewayDeskClient } from '../../sim/gateway-client.js';
import { startPostSimulator, type RunningSimulator } from '../../sim/post-simulator.js';
import { Gateway, outboxPathOf } from '../daemon.js';
import { isOutboxRefusal } from '../outbox/sqlite-outbox.js';
import { DeviceManager } from '../devices/device-manager.js';
import { startPostRuntime, type PostRuntime } from '../post-runtime.js';
import { resolveUplinkSettings } from '../uplink/resolve-settings.js';
import { startDemoClock } from './demo-clock.js';
import { createClockQualityProbe } from '../../core/clock-quality.js';
import { adjustDemoConfig } from './demo-config.js';
import { createDemoAccounts } from './demo-accounts.js';
import { SyntheticTraffic } from './synthetic-traffic.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded-broker.js';

/** Bytes of the demo cameras' pictures: small, and each one different (sim --snapshot-bytes). */
const DEMO_PICTURE_BYTES = 2048;

export interface DemoOptions {
  mqttUrl?: string;
  speed: number;
  dataDir: string;
  /** Stop after this many real seconds; run until a signal when undefined. */
  durationSec?: number;
  /** Mean trucks per lane per hour of traffic-clock time. */
  vehiclesPerHourPerLane: number;
  /** The embedded broker's port (default 18830; 0 with `freePorts`); a taken port falls back to a free one. */
  brokerPort?: number;
  /** The gateway's HTTP port (default the configuration's; 0 with `freePorts`). */
  httpPort?: number;
  configFile?: string;
  logger: Logger;
  out: (line: string) => void;
  /** Seconds between summary lines (default 5). */
  summaryEverySec?: number;
  /**
   * Everything the demo listens on gets a free port instead of the configured one: every simulated
   * device, the HTTP server (and the device-push listener) and the embedded broker, so demos and
   * tests run side by side. A port given explicitly (`brokerPort`, `httpPort`) is kept.
   */
  freePorts?: boolean;
  /**
   * `post` (default): simulated devices and trucks through the drivers and the workflow.
   * `synthetic`: crossing events made up directly, no devices — a load generator for the uplink.
   */
  traffic?: 'post' | 'synthetic';
}

export const DEMO_CONFIG_FILE = join(PACKAGE_ROOT, 'config', 'examples', 'demo-post.yaml');
/** Where `npm start`'s broker listens, as the README's watch line says. */
export const DEFAULT_BROKER_PORT = 18830;

export interface RunningDemo {
  gateway: Gateway;
  broker: EmbeddedBroker | null;
  simulator: RunningSimulator | null;
  runtime: PostRuntime | null;
  /** Resolves when the demo has stopped (duration over or stop() called). */
  done: Promise<void>;
  stop(): Promise<void>;
}

export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const freePorts = options.freePorts ?? false;
  // The simulated devices' ports, held until the simulator listens on them (core/free-port.ts).
  const devicePorts = freePorts ? new PortReservations() : null;
  // A start that fails before the simulator listens lets the held ports go with its error.
  const releasingPorts = async (error: unknown): Promise<never> => {
    await devicePorts?.release();
    throw error;
  };
  const config = await adjustDemoConfig(loadConfigFile(options.configFile ?? DEMO_CONFIG_FILE), options.dataDir, devicePorts ? () => devicePorts.take() : undefined);
  if (options.httpPort !== undefined) config.http.port = options.httpPort;
  else if (freePorts) config.http.port = 0;
  if (freePorts) config.devicePush.port = 0;
  const broker = options.mqttUrl ? null : await startEmbeddedBroker(options.brokerPort ?? (freePorts ? 0 : DEFAULT_BROKER_PORT)).catch(releasingPorts);
  const brokerUrl = options.mqttUrl ?? (broker as EmbeddedBroker).url;
  // One fast clock for TRS stamps and for the trucks' waiting, so durations agree; after a restart
  // it resumes where it stood, ahead of the crossings the lanes carry over (demo-clock.ts).
  const demoClock = startDemoClock({
    dataDir: options.dataDir,
    speed: options.speed,
    onSaveError: (error) => options.logger.debug({ err: error }, 'demo traffic clock not saved'),
  });
  const postClock = demoClock.clock;
  const gateway = await Gateway.start({
    config,
    uplink: resolveUplinkSettings(config, [brokerUrl]),
    logger: options.logger,
    clock: systemClock,
    eventClock: postClock,
    dataDir: options.dataDir,
  }).catch(async (error: unknown) => {
    demoClock.stop();
    await devicePorts?.release();
    await broker?.close();
    throw error;
  });
  const http = gateway.httpAddress;
  const accounts = await createDemoAccounts(gateway).catch(releasingPorts);
  let post: { devices: DeviceManager; runtime: PostRuntime; simulator: RunningSimulator } | null = null;
  /** Open crossings the lanes took back from the data directory: their trucks were the last run's simulator's. */
  let carriedOver = 0;
  let synthetic: SyntheticTraffic | null = null;
  if (options.traffic === 'synthetic') {
    await devicePorts?.release();
    synthetic = new SyntheticTraffic({
      postId: config.post.id,
      lanes: config.lanes,
      clock: postClock,
      clockQuality: createClockQualityProbe(systemClock),
      emit: (type, laneId, data, subject) => gateway.emit(type, laneId, data, subject),
      vehiclesPerHourPerLane: options.vehiclesPerHourPerLane,
      onEmitError: (error) => (isOutboxRefusal(error) ? options.logger.debug({ code: error.code }, 'synthetic event not stored') : options.logger.error({ err: error }, 'synthetic event not stored')),
    });
    synthetic.start();
  } else {
    const devices = new DeviceManager(config, gateway, systemClock, options.logger.child({ module: 'devices' }), options.dataDir);
    const runtime = await startPostRuntime({ config, gateway, devices, clock: postClock, logger: options.logger, clockSpeed: options.speed }).catch(releasingPorts);
    for (const lane of runtime.post.lanes.values()) carriedOver += lane.workflow.open().length;
    await devicePorts?.release();
    const simulator = await startPostSimulator(config, systemClock, {
      intervalSec: 3600 / options.vehiclesPerHourPerLane,
      trafficClock: postClock,
      traffic: false,
      desk: http ? new GatewayDeskClient(`http://${http.host}:${http.port}`, accounts.desk) : null,
      // Each plate picture different, as a real camera's: the console shows each truck its own.
      snapshotBytes: DEMO_PICTURE_BYTES,
      onError: (error) => options.logger.warn({ err: error }, 'simulated truck'),
    }).catch(async (error: unknown) => {
      // A device port another process holds (GW_ERR_SIM_LISTEN, e.g. a `sim` of this post already
      // running): stop what has started, so the coded error is the demo's last word.
      await runtime.stop();
      await gateway.stop();
      await broker?.close();
      demoClock.stop();
      throw error;
    });
    await devices.start();
    simulator.traffic.start();
    post = { devices, runtime, simulator };
  }

  const url = new URL(brokerUrl);
  const port = url.port || '1883';
  options.out(
    [
      `border-gateway demo: post "${config.post.id}", ${counted(config.lanes.length, 'lane')}, traffic clock x${options.speed} (a day in ${(1440 / options.speed).toFixed(0)} min)` +
        (demoClock.resumedFrom !== null ? `, resumed at ${new Date(demoClock.resumedFrom).toISOString()} where the last run stopped` : ''),
      `  MQTT broker: ${redactUrl(brokerUrl)}${broker ? ' (embedded)' : ''}`,
      `  watch:       mosquitto_sub -h ${url.hostname} -p ${port} -t 'border/#' -v`,
      http ? `  console:     http://${http.host}:${http.port}/   (log in with an account below)` : '',
      http ? `  health:      http://${http.host}:${http.port}/healthz   metrics: http://${http.host}:${http.port}/metrics` : '',
      http ? `  lane API:    http://${http.host}:${http.port}/api/lanes (log in first: POST /api/session)` : '',
      `  accounts:    ${accounts.people.map((a) => `${a.name} / ${a.password}`).join('   ')}`,
      '               (fresh random passwords every start; no default password exists)',
      http
        ? `  try:         curl -s -c cookies.txt http://${http.host}:${http.port}/api/session -H 'content-type: application/json' -d '{"name":"demo-supervisor","password":"${accounts.people[1]?.password ?? ''}"}'\n` +
          `               curl -s -b cookies.txt http://${http.host}:${http.port}/api/lanes`
        : '',
      post
        ? `  models:      risk ${post.runtime.riskSlot.version ?? 'none (rules)'}, X-ray screening ${post.runtime.screeningSlot.version ?? 'none'}`
        : '  traffic:     synthetic crossing events (no devices, no workflow)',
      `  outbox:      ${outboxPathOf(config, options.dataDir)}`,
      carriedOver > 0 ? carriedOverNote(carriedOver, config.workflow.abandonAfterMin, options.speed, options.dataDir) : '',
      '  Ctrl-C stops.',
    ]
      .filter(Boolean)
      .join('\n'),
  );

  let stopping: Promise<void> | null = null;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const summaryTimer = setInterval(() => {
    const stats = gateway.outbox.stats();
    const spine = `outbox depth ${stats.depth}, last seq ${stats.lastSeq}; uplink ${gateway.uplink.state}`;
    if (!post) {
      options.out(`synthetic crossings started ${synthetic?.started ?? 0}, completed ${synthetic?.completed ?? 0}; ${spine}`);
      return;
    }
    const { counts } = post.runtime.post;
    const { traffic } = post.simulator;
    options.out(
      `trucks ${traffic.trucks}, registered ${traffic.registered}; crossings completed ${counts.completed}, abandoned ${counts.abandoned}, alarms ${counts.alarms}; ` +
        `risk by model ${post.runtime.assessor.decisions.model}, by rules ${post.runtime.assessor.decisions.rules}; ${spine}`,
    );
  }, (options.summaryEverySec ?? 5) * 1000);
  summaryTimer.unref();
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(summaryTimer);
      synthetic?.stop();
      if (post) {
        post.simulator.traffic.stop();
        await post.devices.stop();
        await post.runtime.stop();
        await post.simulator.stop();
      }
      await gateway.stop();
      await broker?.close();
      demoClock.stop();
      resolveDone();
    })();
    return stopping;
  };
  if (options.durationSec !== undefined) setTimeout(() => void stop(), options.durationSec * 1000);
  return { gateway, broker, simulator: post?.simulator ?? null, runtime: post?.runtime ?? null, done, stop };
}

/**
 * The lanes carry their open crossings over a restart, as `run` must (the trucks are still at a
 * real post). The last run's simulated trucks went with it; this run's simulator sends a truck for
 * each one with a plate, from its step on (sim/traffic.ts, adoptOpenCrossings), the registered
 * ones onto the platform first, so each is weighed with its own weight. Said at start, with the
 * way to start afresh.
 */
function carriedOverNote(crossings: number, abandonAfterMin: number, speed: number, dataDir: string): string {
  const realMin = Math.max(1, Math.round(abandonAfterMin / speed));
  return (
    `  carried over: ${counted(crossings, 'open crossing')} of the last run; the simulator sends a truck for each one with a plate, from its step on\n` +
    `               (one that arrived unread is the next unread truck's, or abandoned after ${abandonAfterMin / 60} h of traffic time, ${realMin} min here). To start afresh: stop, rm -rf ${dataDir}`
  );
}
