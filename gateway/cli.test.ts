/**
 * The dispatcher in-process, for every form of every command: `--help` answers (exit 0) with each
 * option the parser takes, a wrong option is a coded usage error that names the form's `--help`,
 * and `--version` prints the package's version. One process per form would cost a second each;
 * the wiring as a real process is test/cli-help.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formUsage, parseForm, type FormSpec } from '../core/command-line.js';
import { PACKAGE_ROOT } from '../core/package-info.js';
import { listCommands, main, type CliIo } from './cli.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (text) => void (out += text), err: (text) => void (err += text) };
  const code = await main(argv, io);
  return { code, out, err };
}

const forms = listCommands().flatMap(({ spec }) => spec.forms.map((form) => [form.path, form, spec.forms.length > 1 && form.path === spec.name] as const));

/** The `--name VALUE` pairs (and bare flags) a help text lists, read back from the text itself. */
function optionsIn(help: string): { name: string; takesValue: boolean }[] {
  return [...help.matchAll(/^ {2}(?:-\w, )?--([a-z][a-z-]*)( \S+)? {2}/gm)].map((m) => ({ name: m[1] as string, takesValue: m[2] !== undefined })).filter((o) => o.name !== 'help');
}

/** A command line that gives the form every option its help lists, and its operands. */
function everyOption(form: FormSpec, help: string): string[] {
  const operands = (form.operands ?? []).filter((o) => !o.startsWith('[')).map((o) => `x-${o.toLowerCase().replace(/\W/g, '')}`);
  return [...operands, ...optionsIn(help).flatMap(({ name, takesValue }) => (takesValue ? [`--${name}`, '1'] : [`--${name}`]))];
}

describe('border-gateway --help and --version', () => {
  it('lists every command, with how to get its help and the version', async () => {
    for (const argv of [[], ['--help'], ['-h'], ['help']]) {
      const { code, out } = await run(argv);
      expect(code, argv.join(' ')).toBe(0);
      for (const { name } of listCommands()) expect(out).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
      expect(out).toContain('border-gateway <command> --help');
      expect(out).toContain('border-gateway --version');
    }
  });

  it('prints the version of package.json for --version, -v and version', async () => {
    const { version } = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v', 'version']) expect(await run([flag])).toEqual({ code: 0, out: `border-gateway ${version}\n`, err: '' });
  });

  it.each(forms)('%s --help: exit 0, its usage and every option the parser takes', async (path, form, besideSubcommands) => {
    for (const flag of ['--help', '-h']) {
      const { code, out, err } = await run([...path.split(' '), flag]);
      expect(err).toBe('');
      expect(code).toBe(0);
      // `vmc --help` shows every vmc form; this form's options are its own section of that text.
      const section = besideSubcommands ? out.slice(out.indexOf(`\n${path}: `), out.indexOf('\n\n', out.indexOf(`\n${path}: `) + 1)) : out;
      expect(out).toContain(besideSubcommands ? `  border-gateway ${path} ` : `usage: border-gateway ${path}`);
      expect(section).toContain(form.summary);
      // Read back from the printed text: what the help shows is what the parser takes, no more.
      expect(optionsIn(section).map((o) => o.name).sort()).toEqual(Object.keys(form.options).sort());
      expect(() => parseForm(form, everyOption(form, section))).not.toThrow();
    }
  });

  it.each(forms)('%s --bogus: GW_ERR_CLI_USAGE, exit 64, pointing at its --help', async (path) => {
    const { code, out, err } = await run([...path.split(' '), '--bogus']);
    expect(code).toBe(64);
    expect(out).toBe('');
    expect(err).toBe(`GW_ERR_CLI_USAGE: Unknown option '--bogus'\n  (see border-gateway ${path} --help)\n`);
  });

  it('shows every form of a command with subcommands, and one form after a subcommand', async () => {
    for (const { name, spec } of listCommands().filter(({ spec }) => spec.forms.length > 1)) {
      const whole = await run([name, '--help']);
      expect(whole.code).toBe(0);
      for (const form of spec.forms) expect(whole.out, name).toContain(`  border-gateway ${form.path}`);
      expect((await run(['help', name])).out).toBe(whole.out);
    }
    const one = await run(['vmc', 'user', 'add', '--help']);
    expect(one.out).toMatch(/^usage: border-gateway vmc user add NAME --role analyst\|admin/);
    expect(one.out).not.toContain('load-history');
  });

  it('shows the forms under a group of subcommands alone (`vmc user --help`)', async () => {
    const vmc = listCommands().find(({ name }) => name === 'vmc')?.spec;
    for (const group of ['user', 'command']) {
      const help = await run(['vmc', group, '--help']);
      expect(help.code).toBe(0);
      expect(help.out).toMatch(new RegExp(`^border-gateway vmc ${group}: `));
      const under = vmc?.forms.filter((form) => form.path.startsWith(`vmc ${group} `)) ?? [];
      expect(under.length).toBeGreaterThan(1);
      for (const form of vmc?.forms ?? []) {
        if (under.includes(form)) expect(help.out).toContain(`  ${formUsage(form)}\n`);
        else expect(help.out, form.path).not.toContain(`  ${formUsage(form)}\n`);
      }
    }
  });

  it("prints a form's own notes under that form's help only, and each once under the command's", async () => {
    const password = /A password is read from a prompt/g;
    for (const [path, reads] of [
      ['user add', true],
      ['user passwd', true],
      ['user list', false],
      ['user disable', false],
      ['vmc user add', true],
      ['vmc user list', false],
      ['vmc', true],
    ] as const) {
      const help = await run([...path.split(' '), '--help']);
      expect(help.code, path).toBe(0);
      expect(help.out.match(password)?.length ?? 0, path).toBe(reads ? 1 : 0);
    }
    // The account note is the command's: under every form of it.
    expect((await run(['user', 'list', '--help'])).out).toContain('The gateway may be running');
    const whole = await run(['user', '--help']);
    expect(whole.out.match(password)).toHaveLength(1);
    expect(whole.out).toContain('The gateway may be running');
  });

  it('takes --help wherever it stands, but not as the value of an option', async () => {
    expect((await run(['run', '--config', 'post.yaml', '--help'])).code).toBe(0);
    const valued = await run(['audit', 'list', '--search=-h', '--limit', 'x']);
    // --search=-h searches for "-h": it is no help request, so the command line is checked (and
    // --config, required, is missing).
    expect(valued.code).toBe(64);
    expect(valued.err).toContain('audit list needs --config FILE');
  });

  it('refuses unknown commands and subcommands, a missing operand or required option, with exit 64', async () => {
    const cases: [string[], string][] = [
      [['fly'], 'GW_ERR_CLI_USAGE: unknown command "fly"; valid: '],
      [['model'], 'GW_ERR_CLI_USAGE: model needs a subcommand: keygen, train, sign, verify'],
      [['model', 'publish'], 'GW_ERR_CLI_USAGE: model has no subcommand "publish"'],
      [['vmc', 'user'], 'GW_ERR_CLI_USAGE: vmc user needs a subcommand: add, list'],
      [['config', 'check'], 'GW_ERR_CLI_USAGE: config check takes FILE, got none'],
      [['config', 'check', 'a.yaml', 'b.yaml'], 'GW_ERR_CLI_USAGE: config check takes FILE, got "a.yaml b.yaml"'],
      [['run'], 'GW_ERR_CLI_USAGE: run needs --config FILE'],
      [['run', 'now', '--config', 'post.yaml'], 'GW_ERR_CLI_USAGE: run takes no operands, got "now"'],
      [['trs', 'report', '--input'], "GW_ERR_CLI_USAGE: Option '--input <value>' argument missing"],
      [['help', 'fly'], 'GW_ERR_CLI_USAGE: unknown command "fly"'],
    ];
    for (const [argv, message] of cases) {
      const { code, err } = await run(argv);
      expect(code, argv.join(' ')).toBe(64);
      expect(err, argv.join(' ')).toContain(message);
      expect(err, argv.join(' ')).toMatch(/\(see border-gateway [a-z ]*--help\)\n$/);
    }
  });
});
