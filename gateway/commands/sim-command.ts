/**
 * `border-gateway sim --config FILE`: only the post's simulated hardware and trucks, on the
 * endpoints its configuration names, for a gateway run elsewhere (docs/integrators.md).
 */
import { loadConfigFile } from '../../config/load-config.js';
import { parseForm } from '../../core/command-line.js';
import { createScaledClock, systemClock } from '../../core/clock.js';
import { EXIT_CODES } from '../../core/errors.js';
import { isAddressTaken } from '../../core/listen.js';
import { startControlServer } from '../../sim/control-server.js';
import { readDeskCredentials } from '../../sim/gateway-client.js';
import { portTaken, startPostSimulator, type RunningSimulator } from '../../sim/post-simulator.js';
import { numberOption } from '../cli-args.js';
import { SIM_FORM } from './command-specs.js';
import { untilSignal } from './until-signal.js';

export async function simCommand(args: string[]): Promise<number> {
  const { values } = parseForm(SIM_FORM, args);
  const credentials = values.credentials === undefined ? undefined : readDeskCredentials(values.credentials);
  // `required` in SIM_FORM: parseForm has refused a command line without it.
  const config = loadConfigFile(values.config as string);
  const speed = numberOption(values.speed, 'speed', 1) || 1;
  const controlPort = numberOption(values['control-port'], 'control-port', 18090);
  // Devices keep real time (frames, arm travel); --speed runs the traffic's queues and waits faster.
  const simulator = await startPostSimulator(config, systemClock, {
    intervalSec: numberOption(values.interval, 'interval', 600) || 600,
    traffic: !values['no-traffic'],
    trafficClock: speed === 1 ? systemClock : createScaledClock(speed),
    ...(credentials ? { credentials } : {}),
    ...(values['snapshot-bytes'] === undefined ? {} : { snapshotBytes: numberOption(values['snapshot-bytes'], 'snapshot-bytes', 0) }),
    onError: (error) => process.stderr.write(`sim traffic: ${error.message}\n`),
  });
  const control = await startFaultEndpoint(simulator, controlPort, () => simulator.stop());
  const lines = simulator.endpoints.map((e) => `  ${e.laneId.padEnd(10)} ${e.deviceId.padEnd(22)} ${e.endpoint}`);
  const skipped = simulator.skipped.map((s) => `  (not simulated) ${s.deviceId}: ${s.reason}`);
  const desk = credentials ? '' : "  no --credentials: trucks pass the devices, but nobody registers them at the gateway's lane API\n";
  // The handlers are in place before "ready" is read: until then a SIGTERM ends the process on the spot.
  const stopped = untilSignal(async () => {
    await control.close();
    await simulator.stop();
  });
  process.stdout.write(`border-gateway sim: post "${config.post.id}"\n${[...lines, ...skipped, faultsLine(control.port)].join('\n')}\n${desk}  ready\n`);
  await stopped;
  return EXIT_CODES.ok;
}

/** The fault endpoint; when it cannot listen, `undo` closes what was opened before the coded error. */
export async function startFaultEndpoint(simulator: RunningSimulator, port: number, undo: () => Promise<void>): ReturnType<typeof startControlServer> {
  try {
    return await startControlServer(simulator, port);
  } catch (error) {
    await undo();
    throw isAddressTaken(error) ? portTaken('the fault endpoint (--control-port)', error) : error;
  }
}

/** How to inject a fault into the simulator through its control endpoint. */
export function faultsLine(port: number): string {
  return `  faults: curl -X POST http://127.0.0.1:${port}/faults/<deviceId> -d '{"fault":"garbage|disconnect|modbus-exception|slow|jam|misread|unreadable|tailgate|clock-skew"}'`;
}
