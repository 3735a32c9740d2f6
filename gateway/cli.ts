#!/usr/bin/env node
/**
 * `border-gateway`: the command line of the contract (../docs/operations.md). Exit codes: 0 ok,
 * 1 runtime failure, 64 usage error, 78 configuration error.
 *
 * Each command is a spec (its forms, options and help: commands/command-specs.ts) and a `run`
 * that loads the command's code only when it runs: `run --help` or `config check` never load the
 * simulator, the demo, the VMC or PostgreSQL. A command line is checked against its form before
 * that code is loaded; `--help` after any command or subcommand prints the form's options.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { asksForHelp, commandHelp, formGroup, formHelp, parseForm, PROGRAM, selectForm, unknownForm, type CommandSpec } from '../core/command-line.js';
import { EXIT_CODES, GatewayError, isGatewayError } from '../core/errors.js';
import { GATEWAY_VERSION } from '../core/package-info.js';
import { VMC } from '../vmc/vmc-cli-spec.js';
import { AUDIT, CLIENT, CONFIG, DEMO, HELP, MODEL, RUN, SIM, TRS, USER } from './commands/command-specs.js';
import { BACKUP, RESTORE } from './commands/backup-specs.js';

interface Command {
  spec: CommandSpec;
  /** Runs the command with the arguments after its name (imports its code on the way). */
  run: (args: string[], io: CliIo) => Promise<number>;
}

const printLine = (line: string): void => void process.stdout.write(`${line}\n`);

/** How account commands print and read a password (a prompt without echo, or a line of stdin). */
async function commandIo(): Promise<{ out: (line: string) => void; readSecret: (prompt: string) => Promise<string> }> {
  const { readSecretFromStdin } = await import('./commands/read-secret.js');
  return { out: printLine, readSecret: readSecretFromStdin };
}

/** Every command, in the order the help lists them. */
const COMMANDS: Record<string, Command> = {
  demo: { spec: DEMO, run: async (args) => (await import('./commands/demo-command.js')).demoCommand(args) },
  run: { spec: RUN, run: async (args) => (await import('./commands/run-command.js')).runCommand(args) },
  sim: { spec: SIM, run: async (args) => (await import('./commands/sim-command.js')).simCommand(args) },
  config: { spec: CONFIG, run: async (args) => (await import('./commands/config-command.js')).configCommand(args) },
  model: { spec: MODEL, run: async (args) => (await import('./model-commands.js')).modelCommand(args, printLine) },
  trs: { spec: TRS, run: async (args) => (await import('./commands/trs-command.js')).trsCommand(args) },
  user: { spec: USER, run: async (args) => (await import('./account-commands.js')).accountCommand('user', args, await commandIo()) },
  client: { spec: CLIENT, run: async (args) => (await import('./account-commands.js')).accountCommand('client', args, await commandIo()) },
  audit: { spec: AUDIT, run: async (args) => (await import('./account-commands.js')).accountCommand('audit', args, await commandIo()) },
  backup: { spec: BACKUP, run: async (args) => (await import('./backup-commands.js')).backupCommand(args, printLine) },
  restore: { spec: RESTORE, run: async (args) => (await import('./backup-commands.js')).restoreCommand(args, printLine) },
  vmc: { spec: VMC, run: async (args) => (await import('../vmc/vmc-cli.js')).vmcCommand(args, await commandIo()) },
  help: { spec: HELP, run: (args, io) => Promise.resolve(printHelp(args[0], io)) },
};

/** Each command's name and spec, in the help's order (the help tests walk every form). */
export function listCommands(): { name: string; spec: CommandSpec }[] {
  return Object.entries(COMMANDS).map(([name, command]) => ({ name, spec: command.spec }));
}

/** Where the dispatcher writes its help, version and errors (a test passes its own). */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

const PROCESS_IO: CliIo = { out: (text) => void process.stdout.write(text), err: (text) => void process.stderr.write(text) };

function programHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length)) + 2;
  const lines = Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(width)}${command.spec.summary}`);
  return [
    `usage: ${PROGRAM} <command> [options]`,
    '',
    'commands:',
    ...lines,
    '',
    `${PROGRAM} <command> --help     the command's forms and every option`,
    `${PROGRAM} --version            the version (also -v, version)`,
    '',
    'Exit codes: 0 ok, 1 runtime failure, 64 usage error, 78 configuration error (docs/errors.md).',
  ].join('\n') + '\n';
}

function printHelp(name: string | undefined, io: CliIo): number {
  if (name === undefined) {
    io.out(programHelp());
    return EXIT_CODES.ok;
  }
  io.out(commandHelp(commandNamed(name).spec));
  return EXIT_CODES.ok;
}

function commandNamed(name: string): Command {
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) throw new GatewayError('GW_ERR_CLI_USAGE', `unknown command "${name}"; valid: ${Object.keys(COMMANDS).join(', ')}\n  (see ${PROGRAM} --help)`);
  return command;
}

async function dispatch(argv: string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h') return printHelp(undefined, io);
  if (name === '--version' || name === '-v' || name === 'version') {
    io.out(`${PROGRAM} ${GATEWAY_VERSION}\n`);
    return EXIT_CODES.ok;
  }
  const command = commandNamed(name);
  const selected = selectForm(command.spec, args);
  if (asksForHelp(selected?.form ?? null, selected?.rest ?? args)) {
    // A subcommand's help is its own, a group's its forms' (`vmc user --help`); the bare command
    // (`model --help`, `vmc --help`) shows every form.
    const alone = selected && (selected.form.path !== command.spec.name || command.spec.forms.length === 1);
    io.out(alone ? formHelp(selected.form, command.spec.notes) : commandHelp(formGroup(command.spec, args) ?? command.spec));
    return EXIT_CODES.ok;
  }
  if (!selected) throw unknownForm(command.spec, args);
  // Checked before the command's code is loaded: a typo costs no database, broker or model.
  parseForm(selected.form, selected.rest);
  return command.run(args, io);
}

/** The coded error on stderr, and the exit code its kind calls for. */
async function report(error: unknown, io: CliIo): Promise<number> {
  if (!isGatewayError(error)) {
    io.err(`${PROGRAM}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT_CODES.failure;
  }
  if (error.code.startsWith('GW_ERR_CONFIG')) {
    // Loaded only here: a ConfigError exists only if the loader was loaded.
    const { ConfigError, formatProblem } = await import('../config/load-config.js');
    if (error instanceof ConfigError) {
      io.err(`${error.code}: ${error.file}: ${error.problems.length} problem(s)\n`);
      for (const problem of error.problems) io.err(`  ${formatProblem(error.file, problem)}\n`);
      return EXIT_CODES.config;
    }
  }
  io.err(`${error.code}: ${error.message}\n`);
  // A command version out of range is what `vmc command … --version N` was told: a usage error.
  if (error.code === 'GW_ERR_CLI_USAGE' || error.code === 'GW_ERR_VMC_COMMAND_VERSION') return EXIT_CODES.usage;
  if (error.code.startsWith('GW_ERR_CONFIG')) return EXIT_CODES.config;
  return EXIT_CODES.failure;
}

export async function main(argv: string[], io: CliIo = PROCESS_IO): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (error) {
    return report(error, io);
  }
}

/** Whether this file is the program node was started with (through the bin's symlink too), not an import. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // Everything was stopped in order; a handle some library left open must not keep a stopped
      // gateway alive (a supervisor waits for the exit).
      setTimeout(() => process.exit(code), 2000).unref();
    },
    (error: unknown) => {
      process.stderr.write(`${PROGRAM}: ${String(error)}\n`);
      process.exitCode = EXIT_CODES.failure;
    },
  );
}
