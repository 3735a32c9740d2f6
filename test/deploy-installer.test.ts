/**
 * deploy/install.sh as an integrator meets it, on bundles made here in a moment: bundle.json,
 * package.json, deploy/ and a dist/gateway/cli.js that runs this tree's CLI from source (tsx), so
 * no build is needed (test/deploy-bundle.test.ts installs a real bundle, --root only).
 *
 * On a live post (no --root) the installer runs in a mount namespace of its own where /etc, /opt,
 * /var and /usr/local are overlays on the machine's: the user it makes, the unit, the package and
 * the data land in this test's folder and the machine is left as it was. `systemctl` is a
 * stand-in that keeps the service's state in a file and logs every call; systemd-sysusers,
 * systemd-tmpfiles and runuser are the real ones. Needs root (namespaces, overlays, chown,
 * runuser): it fails without it, never skips.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { REPO_ROOT } from './helpers/gateway-process.js';
import { release010Database } from './helpers/release-database.js';
import { tempDir } from './helpers/test-config.js';

const INSTALLER = join(REPO_ROOT, 'deploy', 'install.sh');
const [NODE_MAJOR, NODE_MINOR] = process.versions.node.split('.').map(Number) as [number, number];
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const SECRET_FILE = '/etc/border-gateway/secrets/camera';

/** The CLI of a test bundle: this tree's, run from source, in place of a build. */
const CLI_FROM_SOURCE = `// A test bundle's CLI: the repository's, from source (tsx), in place of dist/.
import { register } from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'esm', 'api', 'index.mjs')).href)};
register();
const { main } = await import(${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'gateway', 'cli.ts')).href)});
process.exitCode = await main(process.argv.slice(2));
`;

interface TestBundle {
  archive: string;
  digest: string;
}

function run(command: string[], env: NodeJS.ProcessEnv = { PATH: SYSTEM_PATH }, input?: string): SpawnSyncReturns<string> {
  const [program, ...args] = command as [string, ...string[]];
  const result = spawnSync(program, args, { encoding: 'utf8', env: { LANG: 'C.UTF-8', NODE: process.execPath, ...env }, timeout: 120_000, ...(input === undefined ? {} : { input }) });
  if (result.error) throw new Error(`${program} could not run: ${result.error.message}`);
  return result;
}

const output = (result: SpawnSyncReturns<string>): string => `${result.stdout}${result.stderr}`;

/**
 * The CLI of a version that refuses what the installed one accepts (a bound it adds): its
 * `config check` fails as a refused file does (exit 78), its other commands are this tree's.
 */
const CLI_REFUSING_CONFIG = `// A test bundle's CLI that refuses every configuration.
if (process.argv[2] === 'config' && process.argv[3] === 'check' && !process.argv.includes('--help')) {
  process.stderr.write('/etc/border-gateway/post.yaml:41:3 uplink.tls: set, but no broker in uplink.brokers is mqtts:// or wss:// (a rule of this version)\\n');
  process.exit(78);
}
${CLI_FROM_SOURCE}`;

/** A bundle of `version` as `npm run bundle` lays one out, with its .sha256 beside it. */
function makeBundle(version: string, engines = '>=20.19', cli = CLI_FROM_SOURCE): TestBundle {
  const dir = tempDir('gw-installer-bundle-');
  const pkg = join(dir, 'stage', 'border-gateway');
  mkdirSync(join(pkg, 'dist', 'gateway'), { recursive: true });
  cpSync(join(REPO_ROOT, 'deploy'), join(pkg, 'deploy'), { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'border-gateway', version, type: 'module', engines: { node: engines } }));
  writeFileSync(join(pkg, 'bundle.json'), JSON.stringify({ version, arch: process.arch, node: { major: NODE_MAJOR } }));
  writeFileSync(join(pkg, 'dist', 'gateway', 'cli.js'), cli);
  const name = `border-gateway-${version}-linux-${process.arch}.tar.gz`;
  expect(run(['tar', '-czf', join(dir, name), '-C', join(dir, 'stage'), 'border-gateway']).status).toBe(0);
  const sums = spawnSync('sha256sum', [name], { cwd: dir, encoding: 'utf8' });
  writeFileSync(join(dir, `${name}.sha256`), sums.stdout);
  return { archive: join(dir, name), digest: sums.stdout.split(' ')[0] as string };
}

/** A post's machine: /etc, /opt, /var and /usr/local as overlays kept between runs, and systemctl stood in. */
class Post {
  readonly dir = tempDir('gw-installer-post-');
  private static readonly LAYERS = { etc: '/etc', opt: '/opt', var: '/var', 'usr-local': '/usr/local' };

  constructor() {
    for (const layer of Object.keys(Post.LAYERS)) mkdirSync(join(this.dir, 'upper', layer), { recursive: true });
    for (const layer of Object.keys(Post.LAYERS)) mkdirSync(join(this.dir, 'work', layer), { recursive: true });
    mkdirSync(join(this.dir, 'bin'));
    // The state of border-gateway.service is a file; a stop also notes how many backups exist
    // then, which tells whether the installer backed up before or after stopping the service.
    writeFileSync(
      join(this.dir, 'bin', 'systemctl'),
      `#!/bin/sh
state='${this.dir}/service-active'
echo "$*" >>'${this.dir}/systemctl.log'
case "$1" in
  is-active) [ -f "$state" ] ;;
  stop) echo "  backups when stopped: $(ls /var/backups/border-gateway 2>/dev/null | grep -c tar.gz)" >>'${this.dir}/systemctl.log'; rm -f "$state" ;;
  start|restart) touch "$state" ;;
  daemon-reload|enable) ;;
  *) echo "systemctl stand-in: $*" >&2; exit 1 ;;
esac
`,
      { mode: 0o755 },
    );
  }

  /** Where the post's `path` is seen from outside once something on the post wrote it (its upper layer). */
  path(path: string): string {
    const [layer, target] = Object.entries(Post.LAYERS).find(([, mount]) => path.startsWith(`${mount}/`)) as [string, string];
    return join(this.dir, 'upper', layer, path.slice(target.length));
  }

  /** Writes `text` to the post's `path` (root's, `mode`), as an operator would before running the installer. */
  write(path: string, text: string | Buffer, mode: number): void {
    mkdirSync(dirname(this.path(path)), { recursive: true });
    writeFileSync(this.path(path), text, { mode });
    chmodSync(this.path(path), mode);
  }

  /**
   * The installer with `args`, live; `backupsBytes` puts a tmpfs that small on
   * /var/backups/border-gateway, `ro` a read-only one; `booted: false` is a machine not booted with
   * systemd (no /run/systemd/system).
   */
  install(args: string[], backupsBytes?: number | 'ro', booted = true): SpawnSyncReturns<string> {
    rmSync(join(this.dir, 'systemctl.log'), { force: true });
    const backups =
      backupsBytes === undefined
        ? 'true'
        : `mkdir -p /var/backups/border-gateway && mount -t tmpfs -o ${backupsBytes === 'ro' ? 'ro,size=65536,mode=0755' : `size=${backupsBytes},mode=0700`} tmpfs /var/backups/border-gateway`;
    return this.exec(['bash', INSTALLER, ...args], `${backups} && ${booted ? 'mkdir -p /run/systemd/system' : 'true'}`);
  }

  /**
   * `command` on the post: in a mount namespace with its overlays, and /run a tmpfs of its own
   * (where the installer looks for systemd), after `setup` (shell) has run there.
   */
  exec(command: string[], setup = 'true', input?: string): SpawnSyncReturns<string> {
    const mounts = Object.entries(Post.LAYERS)
      .map(([layer, target]) => `mount -t overlay overlay -o lowerdir=${target},upperdir=${this.dir}/upper/${layer},workdir=${this.dir}/work/${layer} ${target}`)
      .join(' && ');
    return run(['unshare', '--mount', '--', 'sh', '-c', `mount --make-rprivate / && ${mounts} && mount -t tmpfs -o mode=0755 tmpfs /run && ${setup} && exec "$@"`, 'post', ...command], { PATH: `${this.dir}/bin:${SYSTEM_PATH}` }, input);
  }

  /** The systemctl calls of the last run. */
  get calls(): string[] {
    return existsSync(join(this.dir, 'systemctl.log')) ? readFileSync(join(this.dir, 'systemctl.log'), 'utf8').trim().split('\n') : [];
  }

  get active(): boolean {
    return existsSync(join(this.dir, 'service-active'));
  }

  /** The gid of a group of the post, once systemd-sysusers made it. */
  gid(group: string): number {
    const line = readFileSync(this.path('/etc/group'), 'utf8').split('\n').find((entry) => entry.startsWith(`${group}:`));
    return Number(line?.split(':')[2]);
  }
}

/** The backup.json of an archive. */
function manifestOf(archive: string): { database: string; lastSeq: number } {
  return JSON.parse(run(['tar', '-xzOf', archive, 'backup.json']).stdout) as { database: string; lastSeq: number };
}

/** The demo post with a camera password in a file and the uplink's in gateway.env, as a real post has them. */
function postWithSecrets(): string {
  const config = parse(readFileSync(join(REPO_ROOT, 'config', 'examples', 'demo-post.yaml'), 'utf8')) as {
    lanes: { devices: { connection?: { password?: unknown } }[] }[];
    uplink: Record<string, unknown>;
  };
  const camera = config.lanes[0]?.devices[0]?.connection;
  if (camera === undefined) throw new Error('the demo post has no camera first');
  camera.password = { file: SECRET_FILE };
  config.uplink = { ...config.uplink, username: 'post', password: { env: 'MQTT_PASSWORD' } };
  const file = join(tempDir('gw-installer-config-'), 'post.yaml');
  writeFileSync(file, stringify(config));
  return file;
}

describe('install.sh --help', () => {
  it('prints its header, the comment lines after #!, and nothing of the script after it', () => {
    const header = readFileSync(INSTALLER, 'utf8').split('\n').slice(1);
    const expected = header.slice(0, header.findIndex((line) => !line.startsWith('#'))).map((line) => line.replace(/^# ?/, ''));
    const help = run(['bash', INSTALLER, '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toBe(`${expected.join('\n')}\n`);
    expect(help.stdout).not.toContain('set -euo pipefail');
    expect(expected.at(-1)).toMatch(/gateway\.env/);
  });
});

describe('install.sh on a live post', () => {
  let post: Post;
  let first: TestBundle;
  let second: TestBundle;

  beforeAll(() => {
    expect(process.getuid?.(), 'this suite needs root: mount namespaces, overlays, runuser').toBe(0);
    post = new Post();
    first = makeBundle('0.9.0');
    second = makeBundle('0.9.1');
  });

  it("starts the service only once `config check --secrets` passes as the service's user, with gateway.env's variables", () => {
    const config = postWithSecrets();
    post.write('/etc/border-gateway/gateway.env', 'MQTT_PASSWORD="from gateway.env"\n', 0o600);

    const missing = post.install([first.archive, '--config', config]);
    expect(missing.status, output(missing)).toBe(0);
    expect(output(missing)).toContain(`GW_ERR_CONFIG_SECRET: lanes[0].devices[0].connection.password: cannot read secret file ${SECRET_FILE} (ENOENT)`);
    expect(missing.stdout).toContain('install: not started: fix /etc/border-gateway/post.yaml or what it names');
    expect(post.calls.filter((call) => /^(start|restart)/.test(call))).toEqual([]);

    // Root can read it; the service's user cannot: still not started.
    post.write(SECRET_FILE, 'camera-password\n', 0o600);
    const unreadable = post.install([first.archive]);
    expect(unreadable.status, output(unreadable)).toBe(0);
    expect(output(unreadable)).toContain(`cannot read secret file ${SECRET_FILE} (EACCES)`);
    expect(post.active).toBe(false);

    // root:border-gateway 0640, as docs/deployment.md says: started.
    chownSync(post.path(SECRET_FILE), 0, post.gid('border-gateway'));
    chmodSync(post.path(SECRET_FILE), 0o640);
    const readable = post.install([first.archive]);
    expect(readable.status, output(readable)).toBe(0);
    expect(readable.stdout).toContain('ok (post demo-post, 2 lanes, 9 devices; 5 secrets and TLS files read)');
    expect(readable.stdout).toContain('install: started border-gateway.service');
    expect(post.calls).toContain('restart border-gateway.service');
    expect(post.active).toBe(true);
  });

  it('leaves the running service alone when run again with the same archive', () => {
    const again = post.install([first.archive]);
    expect(again.status, output(again)).toBe(0);
    expect(again.stdout).toContain('already installed from this archive');
    expect(again.stdout).toContain('border-gateway.service is running and nothing changed: left running');
    expect(post.calls.filter((call) => /^(start|stop|restart)/.test(call))).toEqual([]);
    expect(post.active).toBe(true);
  });

  it('starts the service again and leaves the installed version in place when the backup before an upgrade fails', () => {
    expect(post.active).toBe(true);
    // The database where the configuration's outbox.path (outbox.db) puts it, as the service left it.
    mkdirSync(post.path('/var/lib/border-gateway'), { recursive: true });
    release010Database(join(post.path('/var/lib/border-gateway'), 'outbox.db')).close();
    const full = post.install([second.archive], 8192);
    expect(full.status).not.toBe(0);
    expect(output(full)).toContain('GW_ERR_BACKUP_WRITE');
    expect(full.stderr).toContain('the backup before the upgrade failed: nothing was changed');
    expect(full.stderr).toContain('border-gateway.service started again');
    expect(post.calls.filter((call) => /^(start|stop|restart)/.test(call))).toEqual(['stop border-gateway.service', 'start border-gateway.service']);
    expect(post.active).toBe(true);
    expect(readFileSync(post.path('/opt/border-gateway/.bundle-sha256'), 'utf8').trim()).toBe(first.digest);
    expect(existsSync(post.path('/opt/border-gateway.previous'))).toBe(false);
  });

  it('leaves the service alone when the backups folder cannot be made (a read-only /var/backups)', () => {
    expect(post.active).toBe(true);
    const readOnly = post.install([second.archive], 'ro');
    expect(readOnly.status).not.toBe(0);
    expect(readOnly.stderr).toContain('cannot make /var/backups/border-gateway for the backup before the upgrade: nothing was changed');
    expect(post.calls.filter((call) => /^(start|stop|restart)/.test(call))).toEqual([]);
    expect(post.active).toBe(true);
    expect(readFileSync(post.path('/opt/border-gateway/.bundle-sha256'), 'utf8').trim()).toBe(first.digest);
  });

  it('refuses an upgrade whose new version refuses post.yaml before it stops anything, the service left running', () => {
    expect(post.active).toBe(true);
    const refusing = makeBundle('0.9.2', '>=20.19', CLI_REFUSING_CONFIG);
    const refused = post.install([refusing.archive]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('uplink.tls: set, but no broker');
    expect(refused.stderr).toContain('install: 0.9.2 refuses /etc/border-gateway/post.yaml (above): nothing was changed, border-gateway.service runs on');
    expect(post.calls.filter((call) => /^(start|stop|restart)/.test(call))).toEqual([]);
    expect(post.active).toBe(true);
    expect(readFileSync(post.path('/opt/border-gateway/.bundle-sha256'), 'utf8').trim()).toBe(first.digest);
    expect(existsSync(post.path('/opt/border-gateway.previous'))).toBe(false);
  });

  it("upgrades: stops the service, backs up with the configuration's outbox.path, swaps and restarts it", () => {
    const upgraded = post.install([second.archive]);
    expect(upgraded.status, output(upgraded)).toBe(0);
    // No backup yet when it stopped: the copy is taken of the stopped service's database.
    expect(post.calls.filter((call) => !/^(is-active|daemon-reload|enable)/.test(call))).toEqual(['stop border-gateway.service', '  backups when stopped: 0', 'restart border-gateway.service']);
    expect(upgraded.stdout).toContain('install: restarted border-gateway.service');
    const backups = readdirSync(post.path('/var/backups/border-gateway'));
    expect(backups).toEqual([expect.stringMatching(/^before-upgrade-0\.9\.0-to-0\.9\.1-\d{8}T\d{6}Z\.tar\.gz$/)]);
    expect(manifestOf(join(post.path('/var/backups/border-gateway'), backups[0] as string))).toMatchObject({ database: 'outbox.db', lastSeq: 63 });
    expect(readFileSync(post.path('/opt/border-gateway/.bundle-sha256'), 'utf8').trim()).toBe(second.digest);
    expect(readFileSync(post.path('/opt/border-gateway.previous/.bundle-sha256'), 'utf8').trim()).toBe(first.digest);
  });
});

describe('install.sh on a post not yet started', () => {
  let bundle: TestBundle;

  beforeAll(() => {
    expect(process.getuid?.(), 'this suite needs root: mount namespaces, overlays, runuser').toBe(0);
    bundle = makeBundle('0.9.0');
  });

  it('refuses before it installs anything on a machine not booted with systemd', () => {
    const post = new Post();
    const refused = post.install([bundle.archive, '--config', join(REPO_ROOT, 'config', 'examples', 'demo-post.yaml')], undefined, false);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('install: this machine was not booted with systemd (no /run/systemd/system): nothing was installed');
    expect(refused.stdout).toBe('');
    expect(existsSync(post.path('/opt/border-gateway'))).toBe(false);
    expect(existsSync(post.path('/etc/border-gateway'))).toBe(false);
    expect(existsSync(post.path('/etc/group'))).toBe(false);
    expect(post.calls).toEqual([]);
  });

  it("makes the data directory, so the documented `user add` works as the service's user before the first start", () => {
    const post = new Post();
    // An older installer's symbolic link to cli.js: replaced, not written through.
    mkdirSync(post.path('/usr/local/bin'), { recursive: true });
    symlinkSync('/opt/border-gateway/dist/gateway/cli.js', post.path('/usr/local/bin/border-gateway'));
    const installed = post.install([bundle.archive, '--config', join(REPO_ROOT, 'config', 'examples', 'demo-post.yaml'), '--no-start']);
    expect(installed.status, output(installed)).toBe(0);
    expect(installed.stdout).toContain('install: enabled border-gateway.service (not started: --no-start)');
    const data = statSync(post.path('/var/lib/border-gateway'));
    expect([data.mode & 0o777, data.gid]).toEqual([0o700, post.gid('border-gateway')]);
    // As docs/deployment.md has it: the command on the PATH, as the service's user, with the
    // node the unit runs whichever node comes first on the PATH.
    expect(lstatSync(post.path('/usr/local/bin/border-gateway')).isSymbolicLink()).toBe(false);
    expect(readFileSync(post.path('/usr/local/bin/border-gateway'), 'utf8')).toContain('exec /usr/bin/node /opt/border-gateway/dist/gateway/cli.js "$@"');
    expect(readFileSync(post.path('/opt/border-gateway/dist/gateway/cli.js'), 'utf8')).toBe(CLI_FROM_SOURCE);
    const added = post.exec(
      ['runuser', '-u', 'border-gateway', '--', 'border-gateway', 'user', 'add', 'ana', '--role', 'admin', '--config', '/etc/border-gateway/post.yaml', '--data', '/var/lib/border-gateway'],
      'true',
      'a-long-enough-password-1\n',
    );
    expect(added.status, output(added)).toBe(0);
    expect(existsSync(post.path('/var/lib/border-gateway/outbox.db'))).toBe(true);
    expect(statSync(post.path('/var/lib/border-gateway/outbox.db')).gid).toBe(post.gid('border-gateway'));
    expect(post.calls.filter((call) => /^(start|restart)/.test(call))).toEqual([]);
  });
});

describe('install.sh --root', () => {
  let first: TestBundle;
  let second: TestBundle;

  beforeAll(() => {
    first = makeBundle('0.9.0');
    second = makeBundle('0.9.1');
  });

  // demo-post.yaml: outbox.db (relative to the data directory); four-lane-post.yaml: an absolute path.
  it.each(['demo-post.yaml', 'four-lane-post.yaml'])("backs up before an upgrade where %s's outbox.path puts the database", (example) => {
    const root = tempDir('gw-installer-root-');
    const installed = run(['bash', INSTALLER, first.archive, '--root', root, '--config', join(REPO_ROOT, 'config', 'examples', example)]);
    expect(installed.status, output(installed)).toBe(0);
    // Both examples put it at /var/lib/border-gateway/outbox.db, not at the default data/outbox.db.
    mkdirSync(join(root, 'var/lib/border-gateway'), { recursive: true });
    release010Database(join(root, 'var/lib/border-gateway/outbox.db')).close();

    const upgraded = run(['bash', INSTALLER, second.archive, '--root', root]);
    expect(upgraded.status, output(upgraded)).toBe(0);
    const backups = join(root, 'var/backups/border-gateway');
    expect(readdirSync(backups)).toHaveLength(1);
    expect(manifestOf(join(backups, readdirSync(backups)[0] as string))).toMatchObject({ database: 'outbox.db', lastSeq: 63 });
  });

  it("refuses a node older than the package's engines, not only another major", () => {
    const tooNew = makeBundle('0.9.2', `>=${NODE_MAJOR}.${NODE_MINOR + 1}`);
    const root = tempDir('gw-installer-root-');
    const refused = run(['bash', INSTALLER, tooNew.archive, '--root', root]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain(`needs Node ${NODE_MAJOR}.${NODE_MINOR + 1} or later (package.json engines); ${process.execPath} is v${process.versions.node}`);
    expect(existsSync(join(root, 'opt', 'border-gateway'))).toBe(false);
  });
});
