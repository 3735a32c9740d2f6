/**
 * `border-gateway restore` killed with SIGKILL half-way leaves its staging folder (a copy of the
 * data directory) beside the data directory; the next restore, or the next gateway start, removes
 * it. The kill comes at a fixed point: `tar` is, for the restore's child process only, a shim
 * (earlier on its PATH) that runs the real tar, then says so in a file and waits to be killed: the
 * archive is unpacked into the staging folder, nothing renamed yet. No hook in the gateway's code.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../core/clock.js';
import { backupDataDir, DEFAULT_DATABASE_PATH, restoreDataDir } from '../gateway/backup-commands.js';
import { Gateway } from '../gateway/daemon.js';
import { createLogger } from '../gateway/logger.js';
import { resolveUplinkSettings } from '../gateway/uplink/resolve-settings.js';
import { GatewayProcess } from './helpers/gateway-process.js';
import { release010Database } from './helpers/release-database.js';
import { tempDir, testConfig } from './helpers/test-config.js';

/** Resolves once `path` exists (watching its folder: no polling), rejects after `timeoutMs`. */
function fileAppears(path: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const watcher = watch(dirname(path), () => {
      if (existsSync(path)) done(null);
    });
    const timer = setTimeout(() => done(new Error(`${path} did not appear within ${timeoutMs} ms`)), timeoutMs);
    function done(error: Error | null): void {
      clearTimeout(timer);
      watcher.close();
      if (error) reject(error);
      else resolve();
    }
    if (existsSync(path)) done(null);
  });
}

/** A data directory with the 0.1.0 database in it, and its backup. */
async function postWithBackup(): Promise<{ dataDir: string; archive: string }> {
  const dataDir = join(tempDir('gw-restore-killed-'), 'border-gateway');
  mkdirSync(join(dataDir, 'data'), { recursive: true, mode: 0o700 });
  release010Database(join(dataDir, DEFAULT_DATABASE_PATH)).close();
  const archive = join(tempDir('gw-restore-killed-archive-'), 'post.tar.gz');
  await backupDataDir({ dataDir, databasePath: join(dataDir, DEFAULT_DATABASE_PATH), out: archive, withXray: false, clock: systemClock });
  return { dataDir, archive };
}

const stagingIn = (dataDir: string): string[] => readdirSync(dirname(dataDir)).filter((name) => name.startsWith(`.${basename(dataDir)}.restore-`));

/** Pids this test started (the restore's child and the paused shim) still to be killed at the end. */
const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
});

/** Runs `restore` in a child and kills it with SIGKILL once tar has unpacked the archive. */
async function killedRestore(dataDir: string, archive: string): Promise<void> {
  const shim = tempDir('gw-tar-shim-');
  const paused = join(tempDir('gw-tar-paused-'), 'paused');
  const realTar = spawnSync('sh', ['-c', 'command -v tar'], { encoding: 'utf8' }).stdout.trim();
  // Test-only: the real tar, then its pid in a file (written whole, then renamed), then a wait.
  writeFileSync(join(shim, 'tar'), `#!/bin/sh\n"${realTar}" "$@" || exit $?\necho $$ > "${paused}.tmp" && mv "${paused}.tmp" "${paused}"\nexec sleep 600\n`);
  chmodSync(join(shim, 'tar'), 0o755);
  const restore = new GatewayProcess(['restore', '--data', dataDir, '--from', archive], { PATH: `${shim}:${process.env.PATH ?? ''}` });
  if (restore.child.pid !== undefined) started.push(restore.child.pid);
  await fileAppears(paused, 60_000);
  const tarPid = Number(readFileSync(paused, 'utf8').trim());
  started.push(tarPid);
  restore.child.kill('SIGKILL');
  expect((await restore.exited).signal).toBe('SIGKILL');
  process.kill(tarPid, 'SIGKILL');
}

describe('a restore killed half-way', () => {
  it('leaves its unpacked staging folder, which the next restore removes before its own', async () => {
    const { dataDir, archive } = await postWithBackup();
    const before = readdirSync(dataDir).sort();
    await killedRestore(dataDir, archive);
    const left = stagingIn(dataDir);
    expect(left).toHaveLength(1);
    const staging = join(dirname(dataDir), left[0] as string);
    // Killed after the unpack, before the swap: the whole archive is there, the directory untouched.
    expect(existsSync(join(staging, 'backup.json'))).toBe(true);
    expect(existsSync(join(staging, 'data', DEFAULT_DATABASE_PATH))).toBe(true);
    expect(readdirSync(dataDir).sort()).toEqual(before);

    const result = await restoreDataDir({ dataDir, from: archive, clock: systemClock });
    expect(result.staleStaging).toEqual({ removed: [staging], inUse: [], failed: [] });
    expect(stagingIn(dataDir)).toEqual([]);
    expect(existsSync(join(dataDir, DEFAULT_DATABASE_PATH))).toBe(true);
  }, 120_000);

  it('leaves its staging folder, which the next gateway start on the directory removes', async () => {
    const { dataDir, archive } = await postWithBackup();
    await killedRestore(dataDir, archive);
    expect(stagingIn(dataDir)).toHaveLength(1);
    const config = testConfig(['mqtt://127.0.0.1:9'], { outbox: { path: DEFAULT_DATABASE_PATH } });
    const gateway = await Gateway.start({ config, uplink: resolveUplinkSettings(config), logger: createLogger('silent'), clock: systemClock, dataDir, http: false });
    try {
      expect(stagingIn(dataDir)).toEqual([]);
    } finally {
      await gateway.stop();
    }
  }, 120_000);
});
