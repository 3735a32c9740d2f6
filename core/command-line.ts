/**
 * Command-line forms declared once: each form of a command (`run`, `model train`, `vmc user add`)
 * lists its options with a placeholder and a line of help, and both the strict parser and the
 * `--help` text are made from that table, so the help cannot drift from what the parser accepts.
 * A parse error is GW_ERR_CLI_USAGE (exit 64) and says which `--help` to read.
 */
import { parseArgs } from 'node:util';
import { GatewayError } from './errors.js';

export const PROGRAM = 'border-gateway';

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** May be given more than once; the values come as a list. */
  multiple?: boolean;
  /** One-letter alias, e.g. `o` for `-o`. */
  short?: string;
  /** The value's placeholder in the help, e.g. FILE (string options; default VALUE). */
  value?: string;
  /** Shown without brackets in the usage line, and its absence is a usage error. */
  required?: boolean;
  /** What it does, with its default. */
  help: string;
}

export type OptionTable = Record<string, OptionSpec>;

export interface FormSpec<O extends OptionTable = OptionTable> {
  /** The words that run it after the program's name: 'run', 'model train', 'vmc user add'. */
  path: string;
  /** Positional placeholders: 'FILE' is required, '[NAME]' optional, 'FILE...' one or more. */
  operands?: readonly string[];
  /** What it does, one sentence. */
  summary: string;
  options: O;
  /** Lines printed under this form's help only, e.g. where its password is read from. */
  notes?: readonly string[];
}

/** A command of the program: one form (`run`) or several (`model keygen|train|verify|sign`). */
export interface CommandSpec {
  name: string;
  /** One line for the program's command list. */
  summary: string;
  forms: readonly FormSpec[];
  /** Lines printed under the help of the command and of each of its forms. */
  notes?: readonly string[];
}

/** Declares a form, keeping its option table's literal types for the parser. */
export function defineForm<const O extends OptionTable>(form: FormSpec<O>): FormSpec<O> {
  return form;
}

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/** The usage error of a form: the problem, then where the help is. */
export function usageError(path: string, problem: string, cause?: unknown): GatewayError {
  return new GatewayError('GW_ERR_CLI_USAGE', `${problem}\n  (see ${PROGRAM} ${path} --help)`, cause === undefined ? undefined : { cause });
}

function operandBounds(operands: readonly string[]): { min: number; max: number } {
  const min = operands.filter((o) => !o.startsWith('[')).length;
  return { min, max: operands.some((o) => o.endsWith('...')) ? Number.POSITIVE_INFINITY : operands.length };
}

function optionLabel(name: string, option: OptionSpec): string {
  return option.type === 'boolean' ? `--${name}` : `--${name} ${option.value ?? 'VALUE'}`;
}

/**
 * Parses a form's arguments (after its path words) strictly: unknown options, a missing value or
 * required option, and too many or too few operands are GW_ERR_CLI_USAGE.
 */
export function parseForm<const O extends OptionTable>(form: FormSpec<O>, args: string[]) {
  let parsed;
  try {
    // parseArgs reads only type, multiple and short of each option; the help fields ride along.
    parsed = parseArgs({ args, options: form.options, allowPositionals: true, strict: true });
  } catch (error) {
    // Node's advice on positionals that start with '-' misleads here: an unknown option is a typo.
    const unknown = (error as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
    throw usageError(form.path, unknown ? (error as Error).message.replace(/\. To specify a positional argument.*$/s, '') : (error as Error).message, error);
  }
  const operands = form.operands ?? [];
  const { min, max } = operandBounds(operands);
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    const wanted = operands.length === 0 ? 'no operands' : operands.join(' ');
    throw usageError(form.path, `${form.path} takes ${wanted}, got ${parsed.positionals.length === 0 ? 'none' : `"${parsed.positionals.join(' ')}"`}`);
  }
  const values = parsed.values as Record<string, unknown>;
  for (const [name, option] of Object.entries(form.options)) {
    if (option.required && values[name] === undefined) throw usageError(form.path, `${form.path} needs ${optionLabel(name, option)}`);
  }
  return parsed;
}

/** The words of a form after the command's name: [] for the command's bare form. */
function subWords(form: FormSpec): string[] {
  return form.path.split(' ').slice(1);
}

/**
 * The form that `args` (after the command's name) select, and the arguments left for it; null
 * when they name no form (a missing or unknown subcommand).
 */
export function selectForm(command: CommandSpec, args: string[]): { form: FormSpec; rest: string[] } | null {
  const bySpecificity = [...command.forms].sort((a, b) => subWords(b).length - subWords(a).length);
  for (const form of bySpecificity) {
    const words = subWords(form);
    if (words.every((word, i) => args[i] === word)) {
      // Beside subcommands a bare form takes options, not words: "vmc usr" is a wrong subcommand.
      const besideSubcommands = words.length === 0 && (form.operands ?? []).length === 0 && command.forms.length > 1;
      if (besideSubcommands && args[0] !== undefined && !args[0].startsWith('-')) return null;
      return { form, rest: args.slice(words.length) };
    }
  }
  return null;
}

/**
 * The forms under the subcommand words `args` begin with, for their help alone (`vmc user --help`:
 * `vmc user add` and `vmc user list`), as a command of their own; null when the words name no
 * such group.
 */
export function formGroup(command: CommandSpec, args: string[]): CommandSpec | null {
  const firstOption = args.findIndex((arg) => arg.startsWith('-'));
  const words = firstOption === -1 ? args : args.slice(0, firstOption);
  for (let n = words.length; n > 0; n -= 1) {
    const prefix = words.slice(0, n);
    const forms = command.forms.filter((form) => {
      const sub = subWords(form);
      return sub.length > n && prefix.every((word, i) => sub[i] === word);
    });
    if (forms.length > 0) return { name: `${command.name} ${prefix.join(' ')}`, summary: forms.map((form) => subWords(form).slice(n).join(' ')).join(', '), forms, ...(command.notes ? { notes: command.notes } : {}) };
  }
  return null;
}

/** Whether `-h`/`--help` is among a form's options (a value such as `--search -h` does not count). */
export function asksForHelp(form: FormSpec | null, args: string[]): boolean {
  try {
    const { tokens } = parseArgs({ args, options: { ...form?.options, ...HELP_OPTION }, allowPositionals: true, strict: false, tokens: true });
    return tokens.some((token) => token.kind === 'option' && token.name === 'help');
  } catch {
    return args.includes('--help') || args.includes('-h');
  }
}

export function formUsage(form: FormSpec): string {
  const options = Object.entries(form.options).map(([name, option]) => {
    const label = `${option.short ? `-${option.short}|` : ''}${optionLabel(name, option)}${option.multiple ? ' ...' : ''}`;
    return option.required ? label : `[${label}]`;
  });
  return [PROGRAM, form.path, ...(form.operands ?? []), ...options].join(' ');
}

function optionLines(form: FormSpec, indent: string): string[] {
  const rows = Object.entries(form.options).map(([name, option]) => [`${option.short ? `-${option.short}, ` : ''}${optionLabel(name, option)}`, `${option.help}${option.multiple ? ' (may be repeated)' : ''}${option.required ? ' (required)' : ''}`] as const);
  rows.push(['-h, --help', 'print this help and exit']);
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  return rows.map(([label, help]) => `${indent}${label.padEnd(width)}${help}`);
}

/** The help of one form: usage, what it does, every option. */
export function formHelp(form: FormSpec, commandNotes: readonly string[] = []): string {
  const notes = [...(form.notes ?? []), ...commandNotes];
  return [`usage: ${formUsage(form)}`, '', `${form.summary}`, '', 'options:', ...optionLines(form, '  '), ...(notes.length > 0 ? ['', ...notes] : [])].join('\n') + '\n';
}

/** The help of a command: every form's usage, then each form's options. */
export function commandHelp(command: CommandSpec): string {
  const [only] = command.forms;
  if (command.forms.length === 1 && only) return formHelp(only, command.notes);
  const lines = [`${PROGRAM} ${command.name}: ${command.summary}`, '', 'usage:', ...command.forms.map((form) => `  ${formUsage(form)}`)];
  for (const form of command.forms) lines.push('', `${form.path}: ${form.summary}`, ...optionLines(form, '  '));
  // Each note once, though several forms share it (a password read by `user add` and `user passwd`).
  const notes = [...new Set([...command.forms.flatMap((form) => form.notes ?? []), ...(command.notes ?? [])])];
  if (notes.length > 0) lines.push('', ...notes);
  const example = command.forms.find((form) => subWords(form).length > 0);
  if (example) lines.push('', `--help after a subcommand shows that one alone, e.g. ${PROGRAM} ${example.path} --help`);
  return lines.join('\n') + '\n';
}

/** The usage error for args that name no form of the command. */
export function unknownForm(command: CommandSpec, args: string[]): GatewayError {
  const subcommands = [...new Set(command.forms.map((form) => subWords(form).join(' ')).filter((words) => words !== ''))];
  const given = args[0];
  const under = given === undefined ? [] : subcommands.filter((words) => words.startsWith(`${given} `)).map((words) => words.slice(given.length + 1));
  const problem =
    given === undefined || given.startsWith('-')
      ? `${command.name} needs a subcommand: ${subcommands.join(', ')}`
      : under.length > 0
        ? `${command.name} ${given} needs a subcommand: ${under.join(', ')}`
        : `${command.name} has no subcommand "${given}"; valid: ${subcommands.join(', ')}`;
  return usageError(command.name, problem);
}
