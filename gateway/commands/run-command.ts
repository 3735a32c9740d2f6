/**
 * `border-gateway run --config FILE`: the production gateway (docs/operations.md). SIGHUP reloads
 * the models; SIGINT/SIGTERM stop devices, runtime and gateway in that order. Under systemd
 * (`Type=notify`) it reports readiness, status, reloads and stops, and pings the watchdog while
 * its outbox commits (gateway/systemd/, docs/deployment.md).
 */
import { resolve } from 'node:path';
import { checkSecrets } from '../../config/check-secrets.js';
import { loadConfigFile } from '../../config/load-config.js';
import type { PostConfig } from '../../config/schema.js';
import { parseForm } from '../../core/command-line.js';
import { systemClock } from '../../core/clock.js';
import { EXIT_CODES } from '../../core/errors.js';
import { brokerUrlOption, logLevelOption } from '../cli-args.js';
import { Gateway } from '../daemon.js';
import { DeviceManager } from '../devices/device-manager.js';
import { createLogger } from '../logger.js';
import { startPostRuntime } from '../post-runtime.js';
import { statusLine } from '../systemd/status-line.js';
import { SystemdNotifier } from '../systemd/systemd-notifier.js';
import { resolveUplinkSettings } from '../uplink/resolve-settings.js';
import { RUN_FORM } from './command-specs.js';
import { untilSignal } from './until-signal.js';

export async function runCommand(args: string[]): Promise<number> {
  const { values } = parseForm(RUN_FORM, args);
  // Checked before the configuration is read or anything opens, as config check checks uplink.brokers.
  const mqtt = brokerUrlOption(values.mqtt);
  const configFile = values.config as string;
  const config = loadConfigFile(configFile);
  // Every secret, TLS file and signing key read as `config check --secrets` reads them, before
  // anything opens: one missing was found only after the outbox, the listener and the uplink
  // (status `online` at the VMC) had started, and the process left them to a forced exit, with
  // exit 1 (restarted by systemd every 5 s) for a signing key.
  checkSecrets(config);
  const logger = createLogger(logLevelOption(values['log-level'], config.logLevel));
  const dataDir = resolve(values.data ?? 'data');
  const gateway = await Gateway.start({
    config,
    uplink: resolveUplinkSettings(config, mqtt !== undefined ? [mqtt] : undefined),
    logger,
    clock: systemClock,
    dataDir,
  });
  const devices = new DeviceManager(config, gateway, systemClock, logger.child({ module: 'devices' }), dataDir);
  const runtime = await startPostRuntime({ config, gateway, devices, clock: systemClock, logger });
  await devices.start();
  let notifier: SystemdNotifier | null = null;
  // SIGHUP reloads the models (verified first; a bad one leaves the running model in place).
  const onHangup = (): void => {
    notifier?.reloading();
    void runtime
      .reloadModels({ requestedBy: { id: 'sighup', role: 'system' } })
      .catch((error: unknown) => logger.error({ err: error }, 'model reload failed'))
      .finally(() => notifier?.reloaded());
  };
  // The handlers are in place before anyone can read that the gateway runs: until then a SIGTERM
  // has its default action and ends the process on the spot, without the ordered stop.
  process.on('SIGHUP', onHangup);
  const stopped = untilSignal(async () => {
    notifier?.stopping();
    process.off('SIGHUP', onHangup);
    await devices.stop();
    await runtime.stop();
    await gateway.stop();
    await notifier?.close();
  });
  logger.info({ postId: config.post.id, lanes: config.lanes.length, riskModel: runtime.riskSlot.version, screeningModel: runtime.screeningSlot.version }, 'gateway running');
  if (gateway.accounts.accounts().length === 0) {
    // No default account exists: say how to make the first one rather than leave people guessing.
    logger.warn(`no accounts yet: nobody can log in until one is made, e.g. border-gateway user add NAME --role admin --config ${configFile}${values.data ? ` --data ${values.data}` : ''}`);
  }
  // Outbox open, lanes restored, listening: started, for systemd too (null when not under it).
  notifier = SystemdNotifier.fromEnvironment({
    clock: systemClock,
    logger: logger.child({ module: 'systemd' }),
    commitState: () => gateway.commitState(),
    status: () => runStatus(config, gateway, devices),
  });
  notifier?.ready();
  await stopped;
  return EXIT_CODES.ok;
}

/** The STATUS= line of `systemctl status`: lanes, devices, uplink, outbox, commits. */
function runStatus(config: PostConfig, gateway: Gateway, devices: DeviceManager): string {
  const stats = gateway.outbox.stats();
  let devicesUp = 0;
  for (const health of devices.health.values()) if (health.state === 'up') devicesUp += 1;
  return statusLine({
    lanes: config.lanes.length,
    devicesUp,
    devices: config.lanes.reduce((count, lane) => count + lane.devices.length, 0),
    uplink: gateway.uplink.state,
    outboxDepth: stats.depth,
    oldestAgeMs: stats.oldestAgeMs,
    commitError: gateway.commitState().lastError,
  });
}
