/**
 * `border-gateway run --config FILE`: the production gateway (docs/operations.md). SIGHUP reloads
 * the models; SIGINT/SIGTERM stop devices, runtime and gateway in that order.
 */
import { resolve } from 'node:path';
import { loadConfigFile } from '../../config/load-config.js';
import { parseForm } from '../../core/command-line.js';
import { systemClock } from '../../core/clock.js';
import { EXIT_CODES } from '../../core/errors.js';
import { logLevelOption } from '../cli-args.js';
import { Gateway } from '../daemon.js';
import { DeviceManager } from '../devices/device-manager.js';
import { createLogger } from '../logger.js';
import { startPostRuntime } from '../post-runtime.js';
import { resolveUplinkSettings } from '../uplink/resolve-settings.js';
import { RUN_FORM } from './command-specs.js';
import { untilSignal } from './until-signal.js';

export async function runCommand(args: string[]): Promise<number> {
  const { values } = parseForm(RUN_FORM, args);
  const configFile = values.config as string;
  const config = loadConfigFile(configFile);
  const logger = createLogger(logLevelOption(values['log-level'], config.logLevel));
  const dataDir = resolve(values.data ?? 'data');
  const gateway = await Gateway.start({
    config,
    uplink: resolveUplinkSettings(config, values.mqtt ? [values.mqtt] : undefined),
    logger,
    clock: systemClock,
    dataDir,
  });
  const devices = new DeviceManager(config, gateway, systemClock, logger.child({ module: 'devices' }), dataDir);
  const runtime = await startPostRuntime({ config, gateway, devices, clock: systemClock, logger });
  await devices.start();
  logger.info({ postId: config.post.id, lanes: config.lanes.length, riskModel: runtime.riskSlot.version, screeningModel: runtime.screeningSlot.version }, 'gateway running');
  if (gateway.accounts.accounts().length === 0) {
    // No default account exists: say how to make the first one rather than leave people guessing.
    logger.warn(`no accounts yet: nobody can log in until one is made, e.g. border-gateway user add NAME --role admin --config ${configFile}${values.data ? ` --data ${values.data}` : ''}`);
  }
  // SIGHUP reloads the models (verified first; a bad one leaves the running model in place).
  const onHangup = (): void => void runtime.reloadModels({ requestedBy: { id: 'sighup', role: 'system' } });
  process.on('SIGHUP', onHangup);
  await untilSignal(async () => {
    process.off('SIGHUP', onHangup);
    await devices.stop();
    await runtime.stop();
    await gateway.stop();
  });
  return EXIT_CODES.ok;
}
