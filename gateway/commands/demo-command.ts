/**
 * `border-gateway demo`: the whole post on this machine (gateway/demo/run-demo.ts), what
 * `npm start` runs; with `--control-port` also the simulator's fault endpoint, as `sim` has it.
 */
import { resolve } from 'node:path';
import { loadConfigFile } from '../../config/load-config.js';
import { parseForm } from '../../core/command-line.js';
import { EXIT_CODES, GatewayError } from '../../core/errors.js';
import { brokerUrlOption, logLevelOption, numberOption } from '../cli-args.js';
import { DEMO_CONFIG_FILE, startDemo } from '../demo/run-demo.js';
import { createLogger } from '../logger.js';
import { DEMO_FORM } from './command-specs.js';
import { faultsLine, startFaultEndpoint } from './sim-command.js';
import { onSignals } from './until-signal.js';

/**
 * Where a demo keeps its data unless told: `data/demo` for the demo post, `data/demo-ID` for
 * another post, by its post id (`demo-four-lane`: `data/demo-four-lane`). One directory for both
 * made the 4-lane demo resume the 2-lane one's traffic clock, seq and open crossings; a file's
 * name would still have two posts' `post.yaml` share one.
 */
export function defaultDemoDataDir(configFile: string | undefined): string {
  if (configFile === undefined || resolve(configFile) === DEMO_CONFIG_FILE) return 'data/demo';
  return `data/demo-${loadConfigFile(configFile).post.id.replace(/^demo-/, '')}`;
}

export async function demoCommand(args: string[]): Promise<number> {
  const { values } = parseForm(DEMO_FORM, args);
  const logger = createLogger(logLevelOption(values['log-level'], 'warn'));
  const mqtt = brokerUrlOption(values.mqtt);
  const traffic = values.traffic ?? 'post';
  if (traffic !== 'post' && traffic !== 'synthetic') throw new GatewayError('GW_ERR_CLI_USAGE', `--traffic must be post or synthetic, got "${traffic}"`);
  const demo = await startDemo({
    ...(mqtt !== undefined ? { mqttUrl: mqtt } : {}),
    speed: numberOption(values.speed, 'speed', 120) || 1,
    dataDir: resolve(values.data ?? defaultDemoDataDir(values.config)),
    ...(values.duration !== undefined ? { durationSec: numberOption(values.duration, 'duration', 0) } : {}),
    vehiclesPerHourPerLane: numberOption(values.rate, 'rate', 6) || 6,
    ...(values['broker-port'] !== undefined ? { brokerPort: numberOption(values['broker-port'], 'broker-port', 0) } : {}),
    ...(values['http-port'] !== undefined ? { httpPort: numberOption(values['http-port'], 'http-port', 0) } : {}),
    ...(values.config !== undefined ? { configFile: values.config } : {}),
    freePorts: values['free-ports'] ?? false,
    traffic,
    logger,
    out: (line) => process.stdout.write(`${line}\n`),
  });
  // The simulator's fault endpoint, on request (as `sim` has it): to provoke an unread plate, a
  // jam or a device going down while watching the console. Loopback only; 0 picks a free port.
  const simulator = demo.simulator;
  const control = values['control-port'] !== undefined && simulator ? await startFaultEndpoint(simulator, numberOption(values['control-port'], 'control-port', 0), () => demo.stop()) : null;
  if (control) process.stdout.write(`${faultsLine(control.port)}\n`);
  onSignals(async () => {
    await control?.close();
    await demo.stop();
  });
  await demo.done;
  await control?.close();
  return EXIT_CODES.ok;
}
