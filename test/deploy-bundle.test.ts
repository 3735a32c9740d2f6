/**
 * The offline bundle installs and runs on a machine without network: `scripts/bundle.sh` packs
 * this tree for this machine's CPU, `deploy/install.sh --root` installs it into an empty folder
 * inside a network namespace of its own (`unshare --net`: only a loopback, no route anywhere), and
 * the installed gateway runs there with NODE_PATH unset and an empty HOME, so nothing it loads can
 * come from outside the bundle: its native modules are read from /proc/PID/maps while it runs.
 * An upgrade over an installed version backs up the data directory first and keeps that version
 * for `--rollback`.
 *
 * The bundle is packed with --no-build: from the dist/ that `npm ci` (its prepare script) or
 * `npm run build` made. Rebuilding dist/ here would empty dist/console under the feet of the
 * console tests running beside this one. BUNDLE_TEST_ARCHIVE=path/to/….tar.gz uses a bundle
 * already built instead (its .sha256 and installer beside it), to save the minute packing takes.
 * Needs root (network namespaces, chown) and Debian's systemd (sysusers, tmpfiles, systemctl):
 * it fails without them, never skips.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { freePort } from './helpers/free-port.js';
import { REPO_ROOT } from './helpers/gateway-process.js';
import { release010Database } from './helpers/release-database.js';
import { tempDir } from './helpers/test-config.js';

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const ELF_ARCH: Record<string, string> = { x64: 'x86-64', arm64: 'ARM aarch64' };
/** What the installer and the bundled gateway see: no NODE_PATH, an empty HOME, the system PATH. */
const emptyHome = tempDir('gw-bundle-home-');
const BARE_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: emptyHome, LANG: 'C.UTF-8' };

/** `command` in a network namespace of its own with only the loopback up. */
function offline(command: string[]): string[] {
  return ['unshare', '--net', '--', 'sh', '-c', 'ip link set lo up && exec "$@"', 'offline', ...command];
}

function run(command: string[], env: NodeJS.ProcessEnv = BARE_ENV, timeoutMs = 120_000): SpawnSyncReturns<string> {
  const [program, ...args] = command as [string, ...string[]];
  const result = spawnSync(program, args, { encoding: 'utf8', env, timeout: timeoutMs });
  if (result.error) throw new Error(`${program} could not run: ${result.error.message}`);
  return result;
}

const output = (result: SpawnSyncReturns<string>): string => `${result.stdout}${result.stderr}`;

describe('the offline bundle', () => {
  let archive: string;
  let installer: string;
  let root: string;
  /** The folder of the bundle this suite built (none when BUNDLE_TEST_ARCHIVE names one). */
  let built: string | null = null;
  const opt = (): string => join(root, 'opt', 'border-gateway');

  beforeAll(() => {
    expect(process.getuid?.(), 'this suite needs root: network namespaces and chown').toBe(0);
    if (process.env.BUNDLE_TEST_ARCHIVE) {
      archive = process.env.BUNDLE_TEST_ARCHIVE;
    } else {
      built = tempDir('gw-bundle-out-');
      const bundled = run(['bash', join(REPO_ROOT, 'scripts', 'bundle.sh'), '--no-build', '--out', built], process.env, 600_000);
      expect(bundled.status, output(bundled)).toBe(0);
      archive = join(built, `border-gateway-${VERSION}-linux-${process.arch}.tar.gz`);
    }
    installer = join(dirname(archive), `border-gateway-${VERSION}-install.sh`);
    root = tempDir('gw-bundle-root-');
  }, 660_000);

  afterAll(() => {
    // The bundle and the installed tree are large (31 and 137 MB): leave neither behind in /tmp.
    for (const dir of [root, built]) if (dir) spawnSync('rm', ['-rf', dir]);
  });

  it('is checksummed: its .sha256 covers the archive and the installer', () => {
    // sha256sum reads the names relative to the working directory: run beside the files, as on the post.
    const beside = spawnSync('sha256sum', ['--check', '--strict', `${basename(archive)}.sha256`], { cwd: dirname(archive), encoding: 'utf8' });
    expect(beside.status, beside.stderr).toBe(0);
    expect(beside.stdout).toContain(`${basename(archive)}: OK`);
    expect(beside.stdout).toContain(`${basename(installer)}: OK`);
  });

  it('installs offline with --root: package, unit, user, retention rules, configuration, enabled', () => {
    const config = join(REPO_ROOT, 'config', 'examples', 'four-lane-post.yaml');
    const installed = run(offline(['bash', installer, archive, '--root', root, '--config', config]), { ...BARE_ENV, NODE: process.execPath });
    expect(installed.status, output(installed)).toBe(0);

    const bundle = JSON.parse(readFileSync(join(opt(), 'bundle.json'), 'utf8')) as { version: string; arch: string; node: { major: number } };
    expect(bundle).toMatchObject({ version: VERSION, arch: process.arch, node: { major: Number(process.versions.node.split('.')[0]) } });
    for (const [installedFile, source] of [
      ['etc/systemd/system/border-gateway.service', 'deploy/border-gateway.service'],
      ['etc/sysusers.d/border-gateway.conf', 'deploy/border-gateway.sysusers.conf'],
      ['etc/tmpfiles.d/border-gateway.conf', 'deploy/border-gateway.tmpfiles.conf'],
    ] as const) {
      expect(readFileSync(join(root, installedFile), 'utf8'), installedFile).toBe(readFileSync(join(REPO_ROOT, source), 'utf8'));
    }
    expect(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/border-gateway.service'))).toBe('/etc/systemd/system/border-gateway.service');
    // Not a link to cli.js (its #! runs the first node on the PATH): the node the unit runs.
    const command = join(root, 'usr/local/bin/border-gateway');
    expect(readFileSync(command, 'utf8')).toMatch(/^#!\/bin\/sh\n[^]*\nexec \/usr\/bin\/node \/opt\/border-gateway\/dist\/gateway\/cli\.js "\$@"\n$/);
    expect(statSync(command).mode & 0o777).toBe(0o755);
    expect(statSync(join(opt(), 'dist/gateway/cli.js')).mode & 0o111).not.toBe(0);
    const group = /^border-gateway:x:(\d+):$/m.exec(readFileSync(join(root, 'etc/group'), 'utf8'));
    expect(group).not.toBeNull();
    expect(readFileSync(join(root, 'etc/passwd'), 'utf8')).toMatch(/^border-gateway:x:\d+:\d+:[^:]*:\/var\/lib\/border-gateway:\/usr\/sbin\/nologin$/m);
    const etc = statSync(join(root, 'etc/border-gateway'));
    expect([etc.mode & 0o777, etc.uid, etc.gid]).toEqual([0o755, 0, 0]);
    const postYaml = statSync(join(root, 'etc/border-gateway/post.yaml'));
    expect([postYaml.mode & 0o777, postYaml.uid, postYaml.gid]).toEqual([0o640, 0, Number(group?.[1])]);
    expect(readFileSync(join(root, 'etc/border-gateway/post.yaml'), 'utf8')).toBe(readFileSync(config, 'utf8'));
  });

  it('holds only run-time dependencies, and native files for this CPU only', () => {
    expect(existsSync(join(opt(), 'node_modules', 'vitest'))).toBe(false);
    expect(existsSync(join(opt(), 'node_modules', 'typescript'))).toBe(false);
    expect(existsSync(join(opt(), 'node_modules', 'better-sqlite3', 'deps'))).toBe(false);
    const natives = run(['find', opt(), '-type', 'f', '(', '-name', '*.node', '-o', '-name', '*.so', '-o', '-name', '*.so.*', ')']).stdout.trim().split('\n');
    expect(natives.length).toBeGreaterThanOrEqual(4);
    for (const native of natives) expect(run(['file', '-b', native]).stdout, native).toContain(ELF_ARCH[process.arch]);
    // Of our own: compiled JS, the configuration's schema and examples; no TypeScript, tests or maps.
    const own = run(['find', opt(), '-path', join(opt(), 'node_modules'), '-prune', '-o', '-type', 'f', '(', '-name', '*.ts', '-o', '-name', '*.map', ')', '-print']).stdout.trim();
    expect(own).toBe('');
    expect(existsSync(join(opt(), 'config', 'post-config.schema.json'))).toBe(true);
    expect(existsSync(join(opt(), 'config', 'examples', 'demo-post.yaml'))).toBe(true);
  });

  it('is idempotent: the same bundle again changes nothing and keeps no "previous" copy of itself', () => {
    const again = run(offline(['bash', installer, archive, '--root', root]), { ...BARE_ENV, NODE: process.execPath });
    expect(again.status, output(again)).toBe(0);
    expect(again.stdout).toContain('already installed from this archive');
    expect(existsSync(join(root, 'opt', 'border-gateway.previous'))).toBe(false);
  });

  it('upgrades: backs up the data directory, keeps the installed version as .previous; --rollback puts it back', () => {
    // A data directory of the version installed before (0.1.0's own database, where the installed
    // four-lane-post.yaml's absolute outbox.path puts it, not at the default data/outbox.db), and
    // that version told apart from this bundle by its recorded digest.
    const database = join(root, 'var/lib/border-gateway/outbox.db');
    mkdirSync(dirname(database), { recursive: true });
    release010Database(database).close();
    writeFileSync(join(opt(), '.bundle-sha256'), 'the-version-before\n');
    const env = { ...BARE_ENV, NODE: process.execPath };

    const upgraded = run(offline(['bash', installer, archive, '--root', root]), env);
    expect(upgraded.status, output(upgraded)).toBe(0);
    expect(readFileSync(join(root, 'opt/border-gateway.previous/.bundle-sha256'), 'utf8')).toBe('the-version-before\n');
    const backups = readdirSync(join(root, 'var/backups/border-gateway'));
    expect(backups).toEqual([expect.stringMatching(new RegExp(`^before-upgrade-${VERSION}-to-${VERSION}-\\d{8}T\\d{6}Z\\.tar\\.gz$`))]);
    const manifest = JSON.parse(run(['tar', '-xzOf', join(root, 'var/backups/border-gateway', backups[0] as string), 'backup.json']).stdout) as { lastSeq: number; events: number };
    expect(manifest).toMatchObject({ lastSeq: 63, events: 63 });

    const rolledBack = run(offline(['bash', installer, '--rollback', '--root', root]), env);
    expect(rolledBack.status, output(rolledBack)).toBe(0);
    expect(readFileSync(join(opt(), '.bundle-sha256'), 'utf8')).toBe('the-version-before\n');
    // Forward again, for the tests below: this bundle at /opt/border-gateway.
    const again = run(offline(['bash', installer, archive, '--root', root, '--no-backup']), env);
    expect(again.status, output(again)).toBe(0);
    expect(readFileSync(join(opt(), '.bundle-sha256'), 'utf8')).not.toBe('the-version-before\n');
  });

  it('refuses an archive that does not match its .sha256', () => {
    const copyDir = tempDir('gw-bundle-bad-');
    const copy = join(copyDir, basename(archive));
    writeFileSync(copy, readFileSync(archive).subarray(0, 4096));
    writeFileSync(`${copy}.sha256`, readFileSync(`${archive}.sha256`));
    const refused = run(['bash', installer, copy, '--root', tempDir('gw-bundle-root-')], { ...BARE_ENV, NODE: process.execPath });
    expect(refused.status).not.toBe(0);
    expect(output(refused)).toContain('does not match its sha256');
  });

  it('runs from the installed tree with nothing outside it: --version, config check', () => {
    const cli = join(opt(), 'dist', 'gateway', 'cli.js');
    const version = run(offline([process.execPath, cli, '--version']));
    expect(version.status, output(version)).toBe(0);
    expect(version.stdout.trim()).toBe(`border-gateway ${VERSION}`);
    const check = run(offline([process.execPath, cli, 'config', 'check', join(root, 'etc/border-gateway/post.yaml')]));
    expect(check.status, output(check)).toBe(0);
    expect(check.stdout).toContain(': ok (post');
  });

  it('runs the gateway offline: its SQLite, onnxruntime and serial-port natives are the bundle\'s', async () => {
    // The demo post (its devices on loopback ports nobody listens on here), with a free HTTP port
    // and a broker address that refuses: the gateway must come up all the same.
    const config = parse(readFileSync(join(opt(), 'config', 'examples', 'demo-post.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
    const closedPort = await freePort();
    config.uplink = { ...config.uplink, brokers: [`mqtt://127.0.0.1:${closedPort}`] };
    config.http = { ...config.http, port: 0 };
    // The bundled models run in the gateway's own evaluator unless told otherwise: onnxruntime on
    // purpose here, so its natives are loaded and can be seen to be the bundle's.
    config.models = { ...config.models, engine: 'onnxruntime' };
    const work = tempDir('gw-bundle-run-');
    const configFile = join(work, 'post.yaml');
    writeFileSync(configFile, stringify(config));
    mkdirSync(join(work, 'data'));

    const [program, ...args] = offline([process.execPath, join(opt(), 'dist', 'gateway', 'cli.js'), 'run', '--config', configFile, '--data', join(work, 'data'), '--log-level', 'info']) as [string, ...string[]];
    // unshare and sh exec the next program in place: the child's pid is the gateway's.
    const gateway = spawn(program, args, { env: BARE_ENV, cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => gateway.once('exit', (code) => resolve(code)));
    const log: string[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: gateway.stderr }).on('line', (line) => {
          log.push(line);
          if (line.includes('"msg":"gateway running"')) resolve();
        });
        void exited.then((code) => reject(new Error(`the gateway exited (${String(code)}) before running:\n${log.join('\n')}`)));
      });
      const running = JSON.parse(log.find((line) => line.includes('"msg":"gateway running"')) ?? '{}') as { riskModel?: string };
      expect(running.riskModel, 'the risk model loaded in onnxruntime').toMatch(/^\d/);
      const mapped = [...new Set(readFileSync(`/proc/${gateway.pid}/maps`, 'utf8').split('\n').map((line) => line.split(/\s+/).slice(5).join(' ')).filter((path) => /\.node$|libonnxruntime/.test(path)))];
      expect(mapped.length).toBeGreaterThanOrEqual(3);
      for (const path of mapped) expect(path.startsWith(`${opt()}/`), path).toBe(true);
      expect(mapped.some((path) => path.endsWith('better_sqlite3.node'))).toBe(true);
      expect(mapped.some((path) => path.endsWith('onnxruntime_binding.node'))).toBe(true);
      expect(mapped.some((path) => path.includes('@serialport+bindings-cpp'))).toBe(true);
    } finally {
      gateway.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
