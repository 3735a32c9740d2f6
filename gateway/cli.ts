#!/usr/bin/env node
/**
 * `border-gateway`: the command line of the contract (../docs/operations.md). Exit codes: 0 ok,
 * 1 runtime failure, 64 usage error, 78 configuration error.
 */
import { resolve } from 'node:path';
import { parse } from './cli-args.js';
import { ConfigError, formatProblem, loadConfigFile } from '../config/load-config.js';
import { postConfigJsonSchema } from '../config/json-schema.js';
import { createScaledClock, systemClock } from '../core/clock.js';
import { startControlServer } from '../sim/control-server.js';
import { startPostSimulator } from '../sim/post-simulator.js';
import { readDeskCredentials } from '../sim/gateway-client.js';
import { Gateway } from './daemon.js';
import { DeviceManager } from './devices/device-manager.js';
import { emptyOutboxNote, outboxCounts, readJsonLines, readOutbox, subscribe } from './trs/event-sources.js';
import { formatCsv, formatJson, formatTable } from './trs/format-report.js';
import { crossingRecord, trsReport, type CrossingRecord } from '../contract/trs-report.js';
import { startDemo } from './demo/run-demo.js';
import { modelCommand } from './model-commands.js';
import { accountCommand, readSecretFromStdin } from './account-commands.js';
import { startPostRuntime } from './post-runtime.js';
import { EXIT_CODES, GatewayError, isGatewayError } from '../core/errors.js';
import { createLogger } from './logger.js';
import { resolveUplinkSettings } from './uplink/resolve-settings.js';
import { vmcCommand } from '../vmc/vmc-cli.js';

type Command = { summary: string; run: (args: string[]) => Promise<number> };

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

const COMMANDS: Record<string, Command> = {
  demo: { summary: 'the whole post: simulated devices and trucks, drivers, lane workflow, models, outbox, embedded broker [--speed N] [--rate N] [--duration SEC] [--free-ports] [--traffic post|synthetic] [--control-port N]', run: runDemo },
  run: { summary: 'the production gateway: run --config FILE [--data DIR] [--mqtt URL]', run: runGateway },
  sim: { summary: "the post's simulated hardware: sim --config FILE [--credentials FILE] [--interval SEC] [--speed N] [--control-port N] [--no-traffic]", run: runSimulator },
  config: { summary: 'config check FILE | config schema', run: runConfig },
  model: { summary: 'model keygen --out DIR | model train --key PEM --out DIR | model verify MANIFEST [--public-key PEM]', run: (args) => modelCommand(args, (line) => process.stdout.write(`${line}\n`)) },
  trs: { summary: 'trs report [--input FILE | --outbox DB | --mqtt URL] [--format table|csv|json] [--interval MIN]', run: runTrs },
  user: { summary: 'user add NAME --role operator|supervisor|admin | passwd NAME | disable NAME | enable NAME | list  (--config FILE [--data DIR]; password from a prompt or stdin)', run: (args) => accountCommand('user', args, commandIo) },
  client: { summary: 'client add NAME --role registration|device [--device ID] [--allow CIDR ...] | rotate NAME | disable NAME | enable NAME | list  (--config FILE [--data DIR])', run: (args) => accountCommand('client', args, commandIo) },
  audit: { summary: 'audit verify | audit list [--search TEXT] [--limit N]  (--config FILE [--data DIR])', run: (args) => accountCommand('audit', args, commandIo) },
  vmc: { summary: 'the central consumer: vmc --mqtt URL [--store sqlite:PATH | postgres://…] [--http HOST:PORT] [--group NAME] [--name NAME] | vmc user add NAME --role analyst|admin [--store …]', run: (args) => vmcCommand(args, commandIo) },
  help: { summary: 'this text', run: () => Promise.resolve(printHelp()) },
};

const commandIo = { out: (line: string) => void process.stdout.write(`${line}\n`), readSecret: readSecretFromStdin };

function printHelp(): number {
  const lines = Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(8)} ${command.summary}`);
  process.stdout.write(`usage: border-gateway <command> [options]\n\ncommands:\n${lines.join('\n')}\n`);
  return EXIT_CODES.ok;
}

function numberOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) throw new GatewayError('GW_ERR_CLI_USAGE', `--${name} must be a non-negative number, got "${value}"`);
  return parsed;
}

function logLevelOption(value: string | undefined, fallback: LogLevel): LogLevel {
  if (value === undefined) return fallback;
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new GatewayError('GW_ERR_CLI_USAGE', `--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  }
  return value as LogLevel;
}

async function runDemo(args: string[]): Promise<number> {
  const { values } = parse(args, {
    mqtt: { type: 'string' },
    speed: { type: 'string' },
    data: { type: 'string' },
    duration: { type: 'string' },
    rate: { type: 'string' },
    'broker-port': { type: 'string' },
    'http-port': { type: 'string' },
    config: { type: 'string' },
    'log-level': { type: 'string' },
    'free-ports': { type: 'boolean' },
    traffic: { type: 'string' },
    'control-port': { type: 'string' },
  });
  const logger = createLogger(logLevelOption(values['log-level'], 'warn'));
  const traffic = values.traffic ?? 'post';
  if (traffic !== 'post' && traffic !== 'synthetic') throw new GatewayError('GW_ERR_CLI_USAGE', `--traffic must be post or synthetic, got "${traffic}"`);
  const demo = await startDemo({
    ...(values.mqtt !== undefined ? { mqttUrl: values.mqtt } : {}),
    speed: numberOption(values.speed, 'speed', 120) || 1,
    dataDir: resolve(values.data ?? 'data/demo'),
    ...(values.duration !== undefined ? { durationSec: numberOption(values.duration, 'duration', 0) } : {}),
    vehiclesPerHourPerLane: numberOption(values.rate, 'rate', 6) || 6,
    brokerPort: numberOption(values['broker-port'], 'broker-port', 18830),
    ...(values['http-port'] !== undefined ? { httpPort: numberOption(values['http-port'], 'http-port', 0) } : {}),
    ...(values.config !== undefined ? { configFile: values.config } : {}),
    freePorts: values['free-ports'] ?? false,
    traffic,
    logger,
    out: (line) => process.stdout.write(`${line}\n`),
  });
  // The simulator's fault endpoint, on request (as `sim` has it): to provoke an unread plate, a
  // jam or a device going down while watching the console. Loopback only; 0 picks a free port.
  const control = values['control-port'] !== undefined && demo.simulator ? await startControlServer(demo.simulator, numberOption(values['control-port'], 'control-port', 0)) : null;
  if (control) process.stdout.write(`${faultsLine(control.port)}\n`);
  onSignals(async () => {
    await control?.close();
    await demo.stop();
  });
  await demo.done;
  await control?.close();
  return EXIT_CODES.ok;
}

async function runGateway(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string' }, data: { type: 'string' }, mqtt: { type: 'string' }, 'log-level': { type: 'string' } });
  if (!values.config) throw new GatewayError('GW_ERR_CLI_USAGE', 'run needs --config FILE');
  const config = loadConfigFile(values.config);
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
    logger.warn(`no accounts yet: nobody can log in until one is made, e.g. border-gateway user add NAME --role admin --config ${values.config}${values.data ? ` --data ${values.data}` : ''}`);
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

async function runSimulator(args: string[]): Promise<number> {
  const { values } = parse(args, {
    config: { type: 'string' },
    interval: { type: 'string' },
    speed: { type: 'string' },
    'no-traffic': { type: 'boolean' },
    'control-port': { type: 'string' },
    credentials: { type: 'string' },
  });
  if (!values.config) throw new GatewayError('GW_ERR_CLI_USAGE', 'sim needs --config FILE');
  const credentials = values.credentials === undefined ? undefined : readDeskCredentials(values.credentials);
  const config = loadConfigFile(values.config);
  const speed = numberOption(values.speed, 'speed', 1) || 1;
  // Devices keep real time (frames, arm travel); --speed runs the traffic's queues and waits faster.
  const simulator = await startPostSimulator(config, systemClock, {
    intervalSec: numberOption(values.interval, 'interval', 600) || 600,
    traffic: !values['no-traffic'],
    trafficClock: speed === 1 ? systemClock : createScaledClock(speed),
    ...(credentials ? { credentials } : {}),
    onError: (error) => process.stderr.write(`sim traffic: ${error.message}\n`),
  });
  const lines = simulator.endpoints.map((e) => `  ${e.laneId.padEnd(10)} ${e.deviceId.padEnd(22)} ${e.endpoint}`);
  const skipped = simulator.skipped.map((s) => `  (not simulated) ${s.deviceId}: ${s.reason}`);
  const control = await startControlServer(simulator, numberOption(values['control-port'], 'control-port', 18090));
  const desk = credentials ? '' : "  no --credentials: trucks pass the devices, but nobody registers them at the gateway's lane API\n";
  const faults = faultsLine(control.port);
  process.stdout.write(`border-gateway sim: post "${config.post.id}"\n${[...lines, ...skipped, faults].join('\n')}\n${desk}  ready\n`);
  await untilSignal(async () => {
    await control.close();
    await simulator.stop();
  });
  return EXIT_CODES.ok;
}

function faultsLine(port: number): string {
  return `  faults: curl -X POST http://127.0.0.1:${port}/faults/<deviceId> -d '{"fault":"garbage|disconnect|modbus-exception|slow|jam|misread|unreadable|tailgate|clock-skew"}'`;
}

function runConfig(args: string[]): Promise<number> {
  return Promise.resolve(configCommand(args));
}

function configCommand(args: string[]): number {
  const [sub, ...rest] = args;
  if (sub === 'schema') {
    process.stdout.write(postConfigJsonSchema());
    return EXIT_CODES.ok;
  }
  if (sub !== 'check') throw new GatewayError('GW_ERR_CLI_USAGE', 'usage: border-gateway config check FILE | config schema');
  const { positionals } = parse(rest, {}, true);
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new GatewayError('GW_ERR_CLI_USAGE', 'usage: border-gateway config check FILE');
  const config = loadConfigFile(file);
  const devices = config.lanes.reduce((sum, lane) => sum + lane.devices.length, 0);
  process.stdout.write(`${file}: ok (post ${config.post.id}, ${config.lanes.length} lanes, ${devices} devices)\n`);
  return EXIT_CODES.ok;
}

async function runTrs(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'report') throw new GatewayError('GW_ERR_CLI_USAGE', 'usage: border-gateway trs report [--input FILE | --outbox DB | --mqtt URL] [--format table|csv|json] [--interval MIN]');
  const { values } = parse(rest, {
    input: { type: 'string' },
    outbox: { type: 'string' },
    mqtt: { type: 'string' },
    topic: { type: 'string' },
    duration: { type: 'string' },
    format: { type: 'string' },
    interval: { type: 'string' },
  });
  const sources = [values.input, values.outbox, values.mqtt].filter((v) => v !== undefined);
  if (sources.length !== 1) throw new GatewayError('GW_ERR_CLI_USAGE', 'trs report needs exactly one of --input FILE, --outbox DB, --mqtt URL');
  const format = values.format ?? 'table';
  if (!['table', 'csv', 'json'].includes(format)) throw new GatewayError('GW_ERR_CLI_USAGE', `--format must be table, csv or json, got "${format}"`);
  const interval = numberOption(values.interval, 'interval', 10);
  if (!(interval > 0)) throw new GatewayError('GW_ERR_CLI_USAGE', '--interval must be > 0');
  const events = values.input
    ? await readJsonLines(values.input)
    : values.outbox
      ? readOutbox(values.outbox)
      : await subscribe(values.mqtt as string, values.topic ?? 'border/#', numberOption(values.duration, 'duration', 10));
  const report = trsReport(events.map(crossingRecord).filter((r): r is CrossingRecord => r !== null), interval);
  if (values.outbox !== undefined && events.length === 0) {
    // The table would say "Vehicles: 0" and nothing else; JSON and CSV keep their shape for scripts.
    const note = emptyOutboxNote(values.outbox, outboxCounts(values.outbox));
    if (format === 'table') {
      process.stdout.write(`${note}\n`);
      return EXIT_CODES.ok;
    }
    process.stderr.write(`${note}\n`);
  }
  process.stdout.write(format === 'json' ? formatJson(report) : format === 'csv' ? formatCsv(report) : formatTable(report));
  return EXIT_CODES.ok;
}

/** Resolves once SIGINT/SIGTERM has run `stop` to its end. */
function untilSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((done) =>
    onSignals(async () => {
      await stop();
      done();
    }),
  );
}

function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting now\n`);
      process.exit(EXIT_CODES.failure);
    }
    stopping = true;
    stop().catch((error: unknown) => {
      process.stderr.write(`stop failed: ${String(error)}\n`);
      process.exit(EXIT_CODES.failure);
    });
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h') return printHelp();
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`border-gateway: unknown command "${name}"; valid: ${Object.keys(COMMANDS).join(', ')}\n`);
    return EXIT_CODES.usage;
  }
  try {
    return await command.run(args);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.code}: ${error.file}: ${error.problems.length} problem(s)\n`);
      for (const problem of error.problems) process.stderr.write(`  ${formatProblem(error.file, problem)}\n`);
      return EXIT_CODES.config;
    }
    if (isGatewayError(error)) {
      process.stderr.write(`${error.code}: ${error.message}\n`);
      if (error.code === 'GW_ERR_CLI_USAGE') return EXIT_CODES.usage;
      if (error.code.startsWith('GW_ERR_CONFIG')) return EXIT_CODES.config;
      return EXIT_CODES.failure;
    }
    process.stderr.write(`border-gateway: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT_CODES.failure;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Everything was stopped in order; a handle some library left open must not keep a stopped
    // gateway alive (a supervisor waits for the exit).
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (error: unknown) => {
    process.stderr.write(`border-gateway: ${String(error)}\n`);
    process.exitCode = EXIT_CODES.failure;
  },
);
