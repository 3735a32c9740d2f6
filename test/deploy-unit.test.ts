/**
 * The systemd unit an integrator installs (deploy/border-gateway.service) is one systemd accepts
 * without a warning, its ExecStart is a command line the real CLI parses, and the user it runs as
 * is the one deploy/border-gateway.sysusers.conf creates; deploy/border-gateway.tmpfiles.conf
 * deletes X-ray images by age; it is Type=notify with a watchdog the gateway pings (gateway/systemd/).
 * `systemd-analyze`, `systemd-sysusers`, `systemd-tmpfiles` and `systemd-notify` must be
 * installed (Debian's `systemd` package): this suite fails without them, it never skips.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { notifySettingsFromEnv } from '../gateway/systemd/notify-settings.js';
import { GatewayProcess, REPO_ROOT } from './helpers/gateway-process.js';
import { tempDir } from './helpers/test-config.js';

const UNIT_FILE = join(REPO_ROOT, 'deploy', 'border-gateway.service');
const SYSUSERS_FILE = join(REPO_ROOT, 'deploy', 'border-gateway.sysusers.conf');
const TMPFILES_FILE = join(REPO_ROOT, 'deploy', 'border-gateway.tmpfiles.conf');
const unitText = readFileSync(UNIT_FILE, 'utf8');

/** Every `Key=value` of one section, in order (a key may repeat). */
function section(name: string): [string, string][] {
  const entries: [string, string][] = [];
  let inside = false;
  for (const raw of unitText.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) inside = line === `[${name}]`;
    else if (inside && line !== '' && !line.startsWith('#')) {
      const at = line.indexOf('=');
      entries.push([line.slice(0, at), line.slice(at + 1)]);
    }
  }
  return entries;
}

const service = section('Service');
const value = (key: string): string | undefined => [...service].reverse().find(([k]) => k === key)?.[1];
const values = (key: string): string[] => service.filter(([k]) => k === key).map(([, v]) => v);
const execStart = (value('ExecStart') ?? '').split(/\s+/);
/** ExecStart is node, node's own flags, then the CLI script and its arguments. */
const scriptAt = execStart.findIndex((arg, at) => at > 0 && !arg.startsWith('-'));
const nodeFlags = execStart.slice(1, scriptAt);
const cliArgs = execStart.slice(scriptAt + 1);

function systemdAnalyze(args: string[]): { status: number | null; output: string } {
  const run = spawnSync('systemd-analyze', args, { encoding: 'utf8' });
  if (run.error) throw new Error(`systemd-analyze could not run (${run.error.message}): install Debian's systemd package`);
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() };
}

describe('deploy/border-gateway.service', () => {
  it('passes systemd-analyze verify with no warning at all', () => {
    // verify checks that ExecStart's program exists: where node is not /usr/bin/node (a
    // developer's nvm), the copy points at this node instead. Nothing else is changed.
    expect(execStart[0]).toBe('/usr/bin/node');
    const dir = tempDir('gw-unit-');
    const copy = join(dir, 'border-gateway.service');
    writeFileSync(copy, existsSync('/usr/bin/node') ? unitText : unitText.replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `));
    const verify = systemdAnalyze(['verify', copy]);
    // Unknown keys and unparsable values are only warnings to systemd (exit 0): any output fails.
    expect(verify.output).toBe('');
    expect(verify.status).toBe(0);
  });

  it('runs the production gateway on the documented config and data paths, as its own user', () => {
    expect(execStart[scriptAt]).toBe('/opt/border-gateway/dist/gateway/cli.js');
    expect(cliArgs).toEqual(['run', '--config', '/etc/border-gateway/post.yaml', '--data', '/var/lib/border-gateway']);
    // V8's baseline compiler off (docs/benchmarks.md, "Footprint"): a flag NODE_OPTIONS refuses.
    expect(nodeFlags).toEqual(['--no-sparkplug']);
    expect(value('User')).toBe('border-gateway');
    expect(value('StateDirectory')).toBe('border-gateway');
    expect(value('WorkingDirectory')).toBe('/var/lib/border-gateway');
    expect(values('ReadWritePaths')).toContain('/var/lib/border-gateway');
    expect(value('ProtectSystem')).toBe('strict');
    expect(value('NoNewPrivileges')).toBe('yes');
    expect(value('CapabilityBoundingSet')).toBe('');
    // Exit 78 (configuration) and 64 (usage) are not retried: a restart cannot fix them.
    expect(value('RestartPreventExitStatus')?.split(/\s+/).sort()).toEqual(['64', '78']);
  });

  it('reloads with SIGHUP, which `run` handles (model reload) instead of dying of it', () => {
    expect(value('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(readFileSync(join(REPO_ROOT, 'gateway', 'commands', 'run-command.ts'), 'utf8')).toMatch(/process\.on\('SIGHUP'/);
  });

  it('is Type=notify with a watchdog that `run` pings, through systemd-notify (NotifyAccess=all)', () => {
    expect(value('Type')).toBe('notify');
    // The messages come from the systemd-notify helper's pid, not the main process's.
    expect(value('NotifyAccess')).toBe('all');
    expect(value('TimeoutAbortSec')).toBe('30s');
    // What systemd hands the gateway as WATCHDOG_USEC for this WatchdogSec=, and the pings it makes of it.
    const timespan = systemdAnalyze(['timespan', value('WatchdogSec') ?? '']);
    const usec = /μs: (\d+)/.exec(timespan.output)?.[1];
    expect(usec).toBe('30000000');
    expect(notifySettingsFromEnv({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: usec, WATCHDOG_PID: '4242' }, 4242)?.pingIntervalMs).toBe(15_000);
    const run = readFileSync(join(REPO_ROOT, 'gateway', 'commands', 'run-command.ts'), 'utf8');
    expect(run).toMatch(/SystemdNotifier\.fromEnvironment\(/);
    expect(run).toMatch(/notifier\?\.ready\(\)/);
    expect(run).toMatch(/notifier\?\.stopping\(\)/);
    // The helper the gateway sends through is the one Debian's systemd package installs.
    const helper = spawnSync('systemd-notify', ['--version'], { encoding: 'utf8' });
    if (helper.error) throw new Error(`systemd-notify could not run (${helper.error.message}): install Debian's systemd package`);
    expect(helper.status).toBe(0);
  });

  it("gives ExecStart's options to node and to the real CLI, which parse them (exit 78 for the missing file, not 64 or 9)", async () => {
    // The same argv with the config pointed at a file that does not exist: node refuses a flag it
    // does not know (exit 9), the options are parsed strictly (an unknown one exits 64,
    // GW_ERR_CLI_USAGE), then the file is read.
    const missing = join(tempDir('gw-unit-'), 'post.yaml');
    const args = cliArgs.map((arg) => (arg === '/etc/border-gateway/post.yaml' ? missing : arg === '/var/lib/border-gateway' ? join(tempDir('gw-unit-'), 'data') : arg));
    const run = new GatewayProcess(args, {}, { nodeArgs: nodeFlags });
    const { code } = await run.exited;
    const stderr = run.stderrText.join('\n');
    expect(stderr).not.toContain('GW_ERR_CLI_USAGE');
    expect(stderr).toContain(`GW_ERR_CONFIG_READ: ${missing}`);
    expect(code).toBe(78);
  });

  it('runs as the user deploy/border-gateway.sysusers.conf creates', () => {
    const root = tempDir('gw-sysusers-');
    mkdirSync(join(root, 'etc', 'sysusers.d'), { recursive: true });
    copyFileSync(SYSUSERS_FILE, join(root, 'etc', 'sysusers.d', 'border-gateway.conf'));
    const run = spawnSync('systemd-sysusers', [`--root=${root}`], { encoding: 'utf8' });
    if (run.error) throw new Error(`systemd-sysusers could not run (${run.error.message}): install Debian's systemd package`);
    expect(run.status).toBe(0);
    const passwd = readFileSync(join(root, 'etc', 'passwd'), 'utf8');
    expect(passwd).toMatch(/^border-gateway:x:\d+:\d+:[^:]*:\/var\/lib\/border-gateway:\/usr\/sbin\/nologin$/m);
    expect(readFileSync(join(root, 'etc', 'group'), 'utf8')).toMatch(/^border-gateway:x:\d+:$/m);
  });

  it('deletes received X-ray images older than 30 days (deploy/border-gateway.tmpfiles.conf) and keeps the rest', () => {
    const root = tempDir('gw-tmpfiles-');
    mkdirSync(join(root, 'etc', 'tmpfiles.d'), { recursive: true });
    copyFileSync(TMPFILES_FILE, join(root, 'etc', 'tmpfiles.d', 'border-gateway.conf'));
    const images = join(root, 'var', 'lib', 'border-gateway', 'xray', 'lane-1-xray');
    mkdirSync(images, { recursive: true });
    const dayMs = 86_400_000;
    for (const [name, ageDays] of [['old.pgm', 31], ['recent.pgm', 29]] as const) {
      writeFileSync(join(images, name), 'P5\n1 1\n65535\n\0\0');
      const at = new Date(Date.now() - ageDays * dayMs);
      utimesSync(join(images, name), at, at);
    }
    const run = spawnSync('systemd-tmpfiles', [`--root=${root}`, '--clean'], { encoding: 'utf8' });
    if (run.error) throw new Error(`systemd-tmpfiles could not run (${run.error.message}): install Debian's systemd package`);
    expect(`${run.stdout}${run.stderr}`.trim()).toBe('');
    expect(run.status).toBe(0);
    expect(existsSync(join(images, 'old.pgm'))).toBe(false);
    expect(existsSync(join(images, 'recent.pgm'))).toBe(true);
  });
});
