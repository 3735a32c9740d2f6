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
import { createScaledClock, systemClock } from '../../core/clock.js';
import { PACKAGE_ROOT } from '../../core/package-info.js';
import { GatewayDeskClient } from '../../sim/gateway-client.js';
import { startPostSimulator, type RunningSimulator } from '../../sim/post-simulator.js';
import { Gateway } from '../daemon.js';
import { DeviceManager } from '../devices/device-manager.js';
import { startPostRuntime, type PostRuntime } from '../post-runtime.js';
import { resolveUplinkSettings } from '../uplink/resolve-settings.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded-broker.js';

export interface DemoOptions {
  mqttUrl?: string;
  speed: number;
  dataDir: string;
  /** Stop after this many real seconds; run until a signal when undefined. */
  durationSec?: number;
  /** Mean trucks per lane per hour of traffic-clock time. */
  vehiclesPerHourPerLane: number;
  brokerPort: number;
  httpPort?: number;
  configFile?: string;
  logger: Logger;
  out: (line: string) => void;
  /** Seconds between summary lines (default 5). */
  summaryEverySec?: number;
}

export const DEMO_CONFIG_FILE = join(PACKAGE_ROOT, 'config', 'examples', 'demo-post.yaml');

export interface RunningDemo {
  gateway: Gateway;
  broker: EmbeddedBroker | null;
  simulator: RunningSimulator;
  runtime: PostRuntime;
  /** Resolves when the demo has stopped (duration over or stop() called). */
  done: Promise<void>;
  stop(): Promise<void>;
}

export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const config = loadConfigFile(options.configFile ?? DEMO_CONFIG_FILE);
  if (options.httpPort !== undefined) config.http.port = options.httpPort;
  const broker = options.mqttUrl ? null : await startEmbeddedBroker(options.brokerPort);
  const brokerUrl = options.mqttUrl ?? (broker as EmbeddedBroker).url;
  // One fast clock for TRS stamps and for the trucks' waiting, so durations agree.
  const postClock = createScaledClock(options.speed);
  const gateway = await Gateway.start({
    config,
    uplink: resolveUplinkSettings(config, [brokerUrl]),
    logger: options.logger,
    clock: systemClock,
    eventClock: postClock,
    dataDir: options.dataDir,
  });
  const devices = new DeviceManager(config, gateway, systemClock, options.logger.child({ module: 'devices' }), options.dataDir);
  const runtime = await startPostRuntime({ config, gateway, devices, clock: postClock, logger: options.logger });
  const http = gateway.httpAddress;
  const simulator = await startPostSimulator(config, systemClock, {
    intervalSec: 3600 / options.vehiclesPerHourPerLane,
    trafficClock: postClock,
    traffic: false,
    desk: http ? new GatewayDeskClient(`http://${http.host}:${http.port}`) : null,
    onError: (error) => options.logger.warn({ err: error }, 'simulated truck'),
  });
  await devices.start();
  simulator.traffic.start();

  const url = new URL(brokerUrl);
  const port = url.port || '1883';
  options.out(
    [
      `border-gateway demo: post "${config.post.id}", ${config.lanes.length} lanes, traffic clock x${options.speed} (a day in ${(1440 / options.speed).toFixed(0)} min)`,
      `  MQTT broker: ${brokerUrl}${broker ? ' (embedded)' : ''}`,
      `  watch:       mosquitto_sub -h ${url.hostname} -p ${port} -t 'border/#' -v`,
      http ? `  lanes:       http://${http.host}:${http.port}/api/lanes   health: /healthz   metrics: /metrics` : '',
      `  models:      risk ${runtime.riskSlot.version ?? 'none (rules)'}, X-ray screening ${runtime.screeningSlot.version ?? 'none'}`,
      `  outbox:      ${join(options.dataDir, config.outbox.path)}`,
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
    const { counts } = runtime.post;
    options.out(
      `trucks ${simulator.traffic.trucks}, registered ${simulator.traffic.registered}; crossings completed ${counts.completed}, abandoned ${counts.abandoned}, alarms ${counts.alarms}; ` +
        `risk by model ${runtime.assessor.decisions.model}, by rules ${runtime.assessor.decisions.rules}; outbox depth ${stats.depth}, last seq ${stats.lastSeq}; uplink ${gateway.uplink.state}`,
    );
  }, (options.summaryEverySec ?? 5) * 1000);
  summaryTimer.unref();
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(summaryTimer);
      simulator.traffic.stop();
      await devices.stop();
      await runtime.stop();
      await simulator.stop();
      await gateway.stop();
      await broker?.close();
      resolveDone();
    })();
    return stopping;
  };
  if (options.durationSec !== undefined) setTimeout(() => void stop(), options.durationSec * 1000);
  return { gateway, broker, simulator, runtime, done, stop };
}
