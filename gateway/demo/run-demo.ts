/**
 * `border-gateway demo`: the whole post on one machine. An embedded MQTT broker (unless `--mqtt`),
 * the demo post's configuration, synthetic crossings on a sped-up clock, the durable outbox and
 * the uplink. Prints how to watch the events with mosquitto_sub.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { loadConfigFile } from '../../config/load-config.js';
import { createScaledClock, systemClock } from '../../core/clock.js';
import { createClockQualityProbe } from '../../core/clock-quality.js';
import { Gateway } from '../daemon.js';
import { PACKAGE_ROOT } from '../../core/package-info.js';
import { resolveUplinkSettings } from '../uplink/resolve-settings.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded-broker.js';
import { SyntheticTraffic } from './synthetic-traffic.js';

export interface DemoOptions {
  mqttUrl?: string;
  speed: number;
  dataDir: string;
  /** Stop after this many real seconds; run until a signal when undefined. */
  durationSec?: number;
  vehiclesPerHourPerLane: number;
  brokerPort: number;
  httpPort?: number;
  configFile?: string;
  logger: Logger;
  out: (line: string) => void;
}

export const DEMO_CONFIG_FILE = join(PACKAGE_ROOT, 'config', 'examples', 'demo-post.yaml');

export interface RunningDemo {
  gateway: Gateway;
  broker: EmbeddedBroker | null;
  traffic: SyntheticTraffic;
  /** Resolves when the demo has stopped (duration over or stop() called). */
  done: Promise<void>;
  stop(): Promise<void>;
}

export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const config = loadConfigFile(options.configFile ?? DEMO_CONFIG_FILE);
  if (options.httpPort !== undefined) config.http.port = options.httpPort;
  const broker = options.mqttUrl ? null : await startEmbeddedBroker(options.brokerPort);
  const brokerUrl = options.mqttUrl ?? (broker as EmbeddedBroker).url;
  const eventClock = createScaledClock(options.speed);
  const gateway = await Gateway.start({
    config,
    uplink: resolveUplinkSettings(config, [brokerUrl]),
    logger: options.logger,
    clock: systemClock,
    eventClock,
    dataDir: options.dataDir,
  });
  const traffic = new SyntheticTraffic({
    postId: config.post.id,
    lanes: config.lanes,
    clock: eventClock,
    clockQuality: createClockQualityProbe(systemClock),
    emit: (type, laneId, data, subject) => gateway.emit(type, laneId, data, subject),
    vehiclesPerHourPerLane: options.vehiclesPerHourPerLane,
    onEmitError: (error) => options.logger.error({ err: error }, 'synthetic event not stored'),
  });
  traffic.start();

  const url = new URL(brokerUrl);
  const port = url.port || '1883';
  const http = gateway.httpAddress;
  options.out(
    [
      `border-gateway demo: post "${config.post.id}", ${config.lanes.length} lanes, clock x${options.speed}`,
      `  MQTT broker: ${brokerUrl}${broker ? ' (embedded)' : ''}`,
      `  watch:       mosquitto_sub -h ${url.hostname} -p ${port} -t 'border/#' -v`,
      http ? `  health:      http://${http.host}:${http.port}/healthz   metrics: http://${http.host}:${http.port}/metrics` : '',
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
    options.out(
      `crossings started ${traffic.started}, completed ${traffic.completed}; outbox depth ${stats.depth}, last seq ${stats.lastSeq}; uplink ${gateway.uplink.state}`,
    );
  }, 5000);
  summaryTimer.unref();
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(summaryTimer);
      traffic.stop();
      await gateway.stop();
      await broker?.close();
      resolveDone();
    })();
    return stopping;
  };
  if (options.durationSec !== undefined) setTimeout(() => void stop(), options.durationSec * 1000);
  return { gateway, broker, traffic, done, stop };
}
