/**
 * `border-gateway backup` while a gateway process commits hundreds of events a second, then
 * `restore` of that archive: the restored database holds exactly one committed state of the live
 * one (seq 1…N without a hole, meta's last seq N, integrity_check ok, N between what had been
 * committed before the backup started and after it ended), and the current gateway opens it.
 * A restore over the live directory is refused while the gateway holds it. A restore onto a new
 * disk gives the directory to --owner, so the service's user can open it (docs/deployment.md).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../core/clock.js';
import { isGatewayError } from '../core/errors.js';
import { AccountStore } from '../gateway/auth/account-store.js';
import { backupDataDir, restoreDataDir } from '../gateway/backup-commands.js';
import { CLI, GatewayProcess, REPO_ROOT } from './helpers/gateway-process.js';
import { release010Database } from './helpers/release-database.js';
import { systemRig } from './helpers/rig.js';
import { tempDir } from './helpers/test-config.js';

const DEMO_CONFIG = join(REPO_ROOT, 'config', 'examples', 'demo-post.yaml');

describe('backup and restore of a running post', () => {
  const rig = systemRig<{ stop(): Promise<void> }>();

  it('backs up a consistent snapshot while the gateway writes, refuses to restore under it, restores elsewhere intact', async () => {
    const dataDir = join(tempDir('gw-backup-live-'), 'data');
    // No broker: every event stays in the outbox, so the snapshot must hold seq 1…N exactly.
    const gateway = new GatewayProcess(['demo', '--traffic', 'synthetic', '--mqtt', 'mqtt://127.0.0.1:9', '--speed', '4000', '--rate', '60', '--data', dataDir, '--http-port', '0', '--log-level', 'debug']);
    rig.processes.push(gateway);
    let lastCommitted = 0;
    gateway.on('log', (line) => {
      if (line.msg === 'committed') lastCommitted = Math.max(lastCommitted, Number(line.lastSeq));
    });
    await gateway.waitForLog((line) => line.msg === 'committed' && Number(line.lastSeq) >= 300, 60_000, '300 events committed');

    const archive = join(tempDir('gw-backup-archive-'), 'post.tar.gz');
    const committedBefore = lastCommitted;
    const backup = new GatewayProcess(['backup', '--config', DEMO_CONFIG, '--data', dataDir, '--out', archive]);
    const backedUp = await backup.exited;
    const committedAfter = lastCommitted;
    expect(backedUp.code, backup.stderrText.join('\n')).toBe(0);
    // The gateway went on committing while the copy was taken.
    await gateway.waitForLog((line) => line.msg === 'committed' && Number(line.lastSeq) > committedAfter, 60_000, 'commits after the backup');
    const manifest = JSON.parse(spawnSync('tar', ['-xzOf', archive, 'backup.json'], { encoding: 'utf8' }).stdout) as { lastSeq: number; events: number; database: string; files: string[] };
    expect(manifest.database).toBe('outbox.db');
    expect(backup.stdout.join('\n')).toContain(`last seq ${manifest.lastSeq}, ${manifest.events} events not yet delivered`);
    expect(backup.stdout.join('\n')).toContain(manifest.files.length === 1 ? '  1 other file;' : `  ${manifest.files.length} other files;`);

    // Restore in this process (the command is a thin wrapper, backup-commands.test.ts): one child fewer.
    const refused = await restoreDataDir({ dataDir, from: archive, clock: systemClock }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(isGatewayError(refused, 'GW_ERR_DATA_DIR_LOCKED')).toBe(true);
    expect(readdirSync(join(dataDir, '..'))).toEqual(['data']);

    const restoredDir = join(tempDir('gw-backup-restored-'), 'data');
    await restoreDataDir({ dataDir: restoredDir, from: archive, databasePath: join(restoredDir, 'outbox.db'), clock: systemClock });
    expect(existsSync(join(restoredDir, 'outbox.db.lock'))).toBe(false);

    const restored = new Database(join(restoredDir, 'outbox.db'), { readonly: true });
    expect(restored.pragma('integrity_check', { simple: true })).toBe('ok');
    const seqs = restored.prepare<[], { seq: number }>('SELECT seq FROM events ORDER BY seq').all().map((row) => row.seq);
    const lastSeq = (restored.prepare("SELECT value FROM meta WHERE key = 'last_seq'").get() as { value: number }).value;
    restored.close();
    expect(lastSeq).toBe(manifest.lastSeq);
    expect(seqs).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
    expect(manifest.events).toBe(lastSeq);
    // What was committed when the snapshot was taken: no earlier than the backup's start, no later than its end.
    expect(lastSeq).toBeGreaterThanOrEqual(committedBefore);
    expect(lastSeq).toBeLessThanOrEqual(committedAfter);

    // The restored database is one the current code opens, accounts and all.
    const reopened = new Database(join(restoredDir, 'outbox.db'));
    expect(new AccountStore(reopened).accounts().map((account) => account.name)).toContain('demo-admin');
    reopened.close();
  }, 180_000); // two processes start one after the other, each several seconds on a loaded machine

  it("restores onto a new disk for the service's user with --owner: its commands open the database", async () => {
    expect(process.getuid?.(), 'giving files to another user (chown) and runuser need root').toBe(0);
    const work = tempDir('gw-restore-owner-');
    chmodSync(work, 0o755); // the service's user reaches the data directory through it, as through /var/lib
    const source = join(work, 'source');
    mkdirSync(source, { mode: 0o700 });
    release010Database(join(source, 'outbox.db')).close();
    const archive = join(work, 'post.tar.gz');
    await backupDataDir({ dataDir: source, databasePath: join(source, 'outbox.db'), out: archive, withXray: false, clock: systemClock });

    // nobody stands in for border-gateway, which a test machine does not have.
    const id = (flag: string): number => Number(spawnSync('id', [flag, 'nobody'], { encoding: 'utf8' }).stdout.trim());
    const newDisk = join(work, 'new-disk');
    const restore = new GatewayProcess(['restore', '--config', DEMO_CONFIG, '--data', newDisk, '--from', archive, '--owner', 'nobody']);
    expect((await restore.exited).code, restore.stderrText.join('\n')).toBe(0);
    expect(restore.stdout).toContain('  owned by nobody');
    for (const path of [newDisk, join(newDisk, 'outbox.db')]) expect(statSync(path), path).toMatchObject({ uid: id('-u'), gid: id('-g') });
    expect(statSync(newDisk).mode & 0o777).toBe(0o700);

    // The step after a restore in docs/deployment.md, as the service's user.
    const list = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, ...CLI, 'user', 'list', '--config', DEMO_CONFIG, '--data', newDisk], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^ana\b/m);

    // Without --owner nothing names the service's user: root's restore says so and how to give it the files.
    const otherDisk = join(work, 'other-disk');
    const asRoot = new GatewayProcess(['restore', '--data', otherDisk, '--from', archive]);
    expect((await asRoot.exited).code, asRoot.stderrText.join('\n')).toBe(0);
    expect(asRoot.stdout).toContain(`  owned by root, which the service's user cannot open: chown -R border-gateway:border-gateway ${otherDisk} (or restore with --owner border-gateway)`);
  }, 60_000);
});
