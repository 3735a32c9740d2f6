/**
 * The command line as a real process: `--version`, `run --help`, a wrong option (exit 64 with the
 * code), and what `run --help` and `config check` load. Each command's code is imported only when
 * it runs, so these two never load the simulator, the demo, the VMC, PostgreSQL, the broker, the
 * models or the database: they start in a fraction of the time and memory of the gateway.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GatewayProcess, REPO_ROOT } from './helpers/gateway-process.js';
import { tempDir } from './helpers/test-config.js';

/** A resolve hook that appends every module URL the process loads to $RECORD_IMPORTS. */
const HOOKS = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.RECORD_IMPORTS, resolved.url + '\\n');
  return resolved;
}`;
const RECORD_IMPORTS = `data:text/javascript,${encodeURIComponent(`import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)});`)}`;

async function loadedBy(args: string[]): Promise<{ code: number | null; stdout: string; modules: string[] }> {
  const file = join(tempDir('cli-imports-'), 'imports.txt');
  const run = new GatewayProcess(args, { RECORD_IMPORTS: file }, { nodeArgs: ['--import', RECORD_IMPORTS] });
  const { code } = await run.exited;
  // Paths inside the repository without its root (gateway/cli.ts), node: builtins as they are.
  const root = `file://${REPO_ROOT.replace(/\/?$/, '/')}`;
  const modules = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((url) => url.replace(root, ''));
  return { code, stdout: run.stdout.join('\n'), modules };
}

/** Modules neither `run --help` nor `config check` may load: whole subsystems and heavy libraries. */
const NOT_FOR_HELP_OR_CHECK = [/^sim\//, /^gateway\/demo\//, /^vmc\/(?!vmc-cli-spec)/, /^gateway\/daemon/, /(^|\/)node_modules\/(pg|aedes|onnxruntime-node|better-sqlite3|fastify|mqtt|pino|serialport|modbus-serial)\//];

describe('border-gateway as a process', () => {
  it('prints its version, and `run --help` with exit 0', async () => {
    const version = new GatewayProcess(['--version']);
    expect((await version.exited).code).toBe(0);
    const { version: expected } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(version.stdout).toEqual([`border-gateway ${expected}`]);

    const help = new GatewayProcess(['run', '--help']);
    expect((await help.exited).code).toBe(0);
    expect(help.stdout[0]).toBe('usage: border-gateway run --config FILE [--data DIR] [--mqtt URL] [--log-level LEVEL]');
    expect(help.stderrText).toEqual([]);
  });

  it('refuses an unknown option with GW_ERR_CLI_USAGE and exit 64, pointing at --help', async () => {
    const run = new GatewayProcess(['sim', '--config', 'config/examples/demo-post.yaml', '--speeed', '10']);
    expect((await run.exited).code).toBe(64);
    expect(run.stderrText).toEqual(["GW_ERR_CLI_USAGE: Unknown option '--speeed'", '  (see border-gateway sim --help)']);
  });

  it('loads no simulator, demo, VMC, database, broker or model code for `run --help` and `config check`', async () => {
    const help = await loadedBy(['run', '--help']);
    expect(help.code).toBe(0);
    const check = await loadedBy(['config', 'check', 'config/examples/four-lane-post.yaml']);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('ok (post');
    for (const { modules } of [help, check]) {
      expect(modules.filter((url) => NOT_FOR_HELP_OR_CHECK.some((pattern) => pattern.test(url)))).toEqual([]);
    }
    // The recorder works: the command's own module was loaded for `config check`, not for help.
    expect(check.modules).toContain('gateway/commands/config-command.ts');
    expect(check.modules).toContain('config/load-config.ts');
    expect(help.modules).toContain('gateway/commands/command-specs.ts');
    expect(help.modules).not.toContain('gateway/commands/run-command.ts');
  });
});
