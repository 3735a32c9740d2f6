/**
 * `border-gateway vmc …`: the reference central consumer (docs/vmc.md), and its accounts.
 *   vmc --mqtt URL [--store sqlite:PATH | postgres://…] [--http HOST:PORT] [--group NAME] [--name NAME]
 *   vmc user add NAME --role analyst|admin [--store …]   (password from a prompt or stdin)
 *   vmc export-training --out FILE [--store …] [--from DATE] [--to DATE] [--posts A,B,…]
 * The gateway's CLI dispatches here and hands in how to print and read a secret; nothing here
 * imports the gateway.
 */
import { pino } from 'pino';
import { systemClock } from '../core/clock.js';
import { formUsage, parseForm } from '../core/command-line.js';
import { EXIT_CODES, GatewayError } from '../core/errors.js';
import { brokerUrlProblem } from '../config/schema.js';
import { REDACTED_LOG_PATHS } from '../config/secrets.js';
import { VmcAuth } from './vmc-auth.js';
import { VmcStore } from './store/vmc-store.js';
import { startVmc } from './vmc-service.js';
import { loadHistory } from './history-loader.js';
import { exportTrainingRows } from './training-export.js';
import { VMC, VMC_EXPORT_TRAINING_FORM, VMC_LOAD_HISTORY_FORM, VMC_RUN_FORM, VMC_USER_ADD_FORM, VMC_USER_LIST_FORM } from './vmc-cli-spec.js';
import { ID_PATTERN, ID_RULE } from '../core/identifiers.js';

export interface VmcCommandIo {
  out(line: string): void;
  readSecret(prompt: string): Promise<string>;
}

/** Every form's usage line, made from the forms' option tables (vmc-cli-spec.ts). */
export const VMC_USAGE = `usage:\n${VMC.forms.map((form) => `  ${formUsage(form)}`).join('\n')}`;

const DEFAULT_STORE = 'sqlite:vmc.db';
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function hostPort(value: string | undefined): { host: string; port: number } | null {
  if (value === undefined) return null;
  const match = /^(.+):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (!match?.[1] || !(port >= 0 && port <= 65_535)) throw new GatewayError('GW_ERR_CLI_USAGE', `--http takes HOST:PORT, got "${value}"`);
  return { host: match[1].replace(/^\[(.*)\]$/, '$1'), port };
}

/** The broker URL of --mqtt; a usage error (not a TypeError) when it is not one. */
function mqttUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch (error) {
    throw new GatewayError('GW_ERR_CLI_USAGE', `--mqtt takes a broker URL (mqtt://, mqtts://, ws://, wss://), got "${value.slice(0, 200)}"\n${VMC_USAGE}`, { cause: error });
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:', 'ssl:', 'tls:'].includes(url.protocol)) {
    throw new GatewayError('GW_ERR_CLI_USAGE', `--mqtt takes a broker URL (mqtt://, mqtts://, ws://, wss://), got the scheme "${url.protocol}"\n${VMC_USAGE}`);
  }
  // As config check checks uplink.brokers: `mqtt://` alone would have connected to localhost:1883.
  const problem = brokerUrlProblem(value);
  if (problem) throw new GatewayError('GW_ERR_CLI_USAGE', `--mqtt "${value.slice(0, 200)}": ${problem}\n${VMC_USAGE}`);
  return url;
}

export async function vmcCommand(args: string[], io: VmcCommandIo): Promise<number> {
  if (args[0] === 'user') return userCommand(args.slice(1), io);
  if (args[0] === 'load-history') return loadHistoryCommand(args.slice(1), io);
  if (args[0] === 'export-training') return exportTrainingCommand(args.slice(1), io);
  if (args[0] === 'keygen' || args[0] === 'command') return (await import('./commands/command-cli.js')).commandCli(args, (line) => io.out(line));
  const { values } = parseForm(VMC_RUN_FORM, args);
  if (!values.mqtt) throw new GatewayError('GW_ERR_CLI_USAGE', `vmc needs --mqtt URL\n${VMC_USAGE}`);
  const level = values['log-level'] ?? 'info';
  if (!LOG_LEVELS.includes(level)) throw new GatewayError('GW_ERR_CLI_USAGE', `--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const maxMessageBytes = values['max-message-bytes'] === undefined ? undefined : Number(values['max-message-bytes']);
  if (maxMessageBytes !== undefined && !(Number.isInteger(maxMessageBytes) && maxMessageBytes >= 1024 && maxMessageBytes <= 16 * 1024 * 1024)) {
    throw new GatewayError('GW_ERR_CLI_USAGE', '--max-message-bytes must be an integer from 1024 to 16777216');
  }
  const gapGraceSec = values['gap-grace'] === undefined ? undefined : Number(values['gap-grace']);
  if (gapGraceSec !== undefined && !(gapGraceSec >= 0)) throw new GatewayError('GW_ERR_CLI_USAGE', '--gap-grace takes seconds >= 0');
  const evidenceDays = values['evidence-days'] === undefined ? undefined : Number(values['evidence-days']);
  if (evidenceDays !== undefined && !(Number.isInteger(evidenceDays) && evidenceDays >= 0 && evidenceDays <= 36_500)) {
    throw new GatewayError('GW_ERR_CLI_USAGE', '--evidence-days takes whole days from 0 (keep every piece) to 36500');
  }
  const connections = Number(values.connections ?? 1);
  if (!(Number.isInteger(connections) && connections >= 1 && connections <= 16)) throw new GatewayError('GW_ERR_CLI_USAGE', '--connections takes 1 to 16');
  const group = values.group ?? 'vmc';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(group)) throw new GatewayError('GW_ERR_CLI_USAGE', '--group is 1-64 of A-Z a-z 0-9 _ -');
  const logger = pino({ name: 'border-gateway-vmc', level, redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime }, process.stderr);
  const url = mqttUrl(values.mqtt);
  // Credentials in the URL stay out of the logs: they are taken out and passed as options.
  const username = url.username ? decodeURIComponent(url.username) : process.env.VMC_MQTT_USERNAME;
  const password = url.password ? decodeURIComponent(url.password) : process.env.VMC_MQTT_PASSWORD;
  url.username = '';
  url.password = '';
  const vmc = await startVmc({
    mqttUrl: url.toString(),
    store: values.store ?? process.env.VMC_STORE ?? DEFAULT_STORE,
    group,
    ...(values.name !== undefined ? { name: values.name } : {}),
    http: hostPort(values.http ?? '127.0.0.1:8090'),
    ...(values.topic !== undefined ? { topic: values.topic } : {}),
    ...(maxMessageBytes !== undefined ? { maxMessageBytes } : {}),
    connections,
    ...(gapGraceSec !== undefined ? { gapGraceMs: gapGraceSec * 1000 } : {}),
    ...(username !== undefined ? { mqttUsername: username } : {}),
    ...(password !== undefined ? { mqttPassword: password } : {}),
    ...(evidenceDays !== undefined ? { evidenceBounds: { maxVerifiedAgeMs: evidenceDays * 86_400_000 } } : {}),
    ...(values['command-key'] !== undefined ? { commandKey: (await import('./commands/command-cli.js')).readCommandKey(values['command-key']) } : {}),
    clock: systemClock,
    logger,
  });
  io.out(`border-gateway vmc: ${vmc.consumer.subscription} on ${url.host}, store ${vmc.store.dialect}, API ${vmc.address ?? 'off'}`);
  if ((await vmc.store.accounts()).length === 0) {
    logger.warn('no accounts yet: nobody can log in until one is made, e.g. border-gateway vmc user add NAME --role admin --store …');
  }
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      vmc.stop().then(resolve, (error: unknown) => {
        logger.error({ err: error }, 'stop failed');
        resolve();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return EXIT_CODES.ok;
}

async function userCommand(args: string[], io: VmcCommandIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'add' && sub !== 'list') throw new GatewayError('GW_ERR_CLI_USAGE', `vmc user needs a subcommand: add, list\n${VMC_USAGE}`);
  if (sub === 'list') {
    const { values } = parseForm(VMC_USER_LIST_FORM, rest);
    const store = await VmcStore.open(values.store ?? process.env.VMC_STORE ?? DEFAULT_STORE, systemClock.now());
    try {
      for (const account of await store.accounts()) io.out(`${account.name} ${account.role}${account.disabled ? ' (disabled)' : ''}`);
      return EXIT_CODES.ok;
    } finally {
      await store.close();
    }
  }
  const { values, positionals } = parseForm(VMC_USER_ADD_FORM, rest);
  const store = await VmcStore.open(values.store ?? process.env.VMC_STORE ?? DEFAULT_STORE, systemClock.now());
  try {
    const name = positionals[0];
    if (!name || !values.role) throw new GatewayError('GW_ERR_CLI_USAGE', `vmc user add needs NAME and --role\n${VMC_USAGE}`);
    const password = await io.readSecret(`password for ${name}: `);
    await new VmcAuth(store, systemClock).addAccount(name, values.role, password);
    io.out(`account ${name} (${values.role}) added`);
    return EXIT_CODES.ok;
  } finally {
    await store.close();
  }
}

async function loadHistoryCommand(args: string[], io: VmcCommandIo): Promise<number> {
  const { values } = parseForm(VMC_LOAD_HISTORY_FORM, args);
  const posts = (values.posts ?? '').split(',').filter((p) => p !== '');
  if (posts.length === 0 || posts.some((p) => !ID_PATTERN.test(p))) throw new GatewayError('GW_ERR_CLI_USAGE', `load-history needs --posts A,B,… (each ${ID_RULE})\n${VMC_USAGE}`);
  const days = Number(values.days ?? 730);
  const perDay = Number(values['per-day'] ?? 120);
  const seed = Number(values.seed ?? 11);
  // Two years up to today by default: the year-over-year views then have a full previous year.
  const fromMs = values.from === undefined ? Date.UTC(new Date().getUTCFullYear() - 2, 0, 1) : Date.parse(`${values.from}T00:00:00Z`);
  if (!Number.isFinite(fromMs) || !(Number.isInteger(days) && days >= 1 && days <= 3660) || !(perDay > 0 && perDay <= 5000) || !Number.isInteger(seed)) {
    throw new GatewayError('GW_ERR_CLI_USAGE', `load-history: --from YYYY-MM-DD, --days 1-3660, --per-day 1-5000, --seed an integer\n${VMC_USAGE}`);
  }
  const store = await VmcStore.open(values.store ?? process.env.VMC_STORE ?? DEFAULT_STORE, systemClock.now());
  try {
    const loaded = await loadHistory(store, { posts, fromMs, days, perDay, seed }, systemClock);
    io.out(`loaded ${loaded} crossings of ${posts.length} post(s) from ${new Date(fromMs).toISOString().slice(0, 10)}, ${days} days`);
    return EXIT_CODES.ok;
  } finally {
    await store.close();
  }
}

/** A time of --from/--to: YYYY-MM-DD (UTC midnight) or an RFC 3339 time with its offset. */
function timeArg(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(value) ? Date.parse(`${value}T00:00:00Z`) : /^\d{4}-\d{2}-\d{2}T.+(?:Z|[+-]\d{2}:\d{2})$/.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) throw new GatewayError('GW_ERR_CLI_USAGE', `${name} takes YYYY-MM-DD (UTC) or an RFC 3339 time with an offset, got "${value.slice(0, 64)}"\n${VMC_USAGE}`);
  return ms;
}

async function exportTrainingCommand(args: string[], io: VmcCommandIo): Promise<number> {
  const { values } = parseForm(VMC_EXPORT_TRAINING_FORM, args);
  if (!values.out) throw new GatewayError('GW_ERR_CLI_USAGE', `export-training needs --out FILE\n${VMC_USAGE}`);
  const posts = values.posts === undefined ? undefined : values.posts.split(',').filter((p) => p !== '');
  if (posts !== undefined && (posts.length === 0 || posts.some((p) => !ID_PATTERN.test(p)))) throw new GatewayError('GW_ERR_CLI_USAGE', `--posts takes A,B,… (each ${ID_RULE})\n${VMC_USAGE}`);
  const fromMs = timeArg('--from', values.from);
  const toMs = timeArg('--to', values.to);
  if (fromMs !== undefined && toMs !== undefined && !(fromMs < toMs)) throw new GatewayError('GW_ERR_CLI_USAGE', '--from must be before --to (--to is exclusive)');
  const store = await VmcStore.open(values.store ?? process.env.VMC_STORE ?? DEFAULT_STORE, systemClock.now());
  try {
    const summary = await exportTrainingRows(store, { outPath: values.out, filter: { ...(posts ? { posts } : {}), ...(fromMs !== undefined ? { fromMs } : {}), ...(toMs !== undefined ? { toMs } : {}) } });
    const { notAssessed, noFeatures, invalid } = summary.skipped;
    const span = summary.firstCompletedAt === null ? 'no crossings' : `completed ${summary.firstCompletedAt} … ${summary.lastCompletedAt}`;
    io.out(`exported ${summary.rows} crossings of ${summary.posts.length} post(s) (${span}) to ${values.out}: ${summary.scanned} X-rayed, ${summary.inspected} inspected`);
    if (notAssessed + noFeatures + invalid > 0) {
      io.out(`  left out: ${noFeatures} whose risk.assessed carried no features (a gateway older than the field), ${notAssessed} never assessed, ${invalid} not a valid row`);
    }
    return EXIT_CODES.ok;
  } finally {
    await store.close();
  }
}
