import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { postConfigSchema } from '../config/schema.js';
import { isGatewayError } from '../core/errors.js';
import { ManualClock } from '../test/helpers/manual-clock.js';
import { release010Database } from '../test/helpers/release-database.js';
import { tempDir } from '../test/helpers/test-config.js';
import { DEFAULT_DATABASE_PATH, backupDataDir, restoreDataDir, type BackupManifest } from './backup-commands.js';
import { DataDirLock } from './data-dir-lock.js';

const clock = new ManualClock(Date.UTC(2026, 10, 28, 18, 45, 12, 345));

/** A data directory as a post has it: the 0.1.0 database, an X-ray image, a file of the operator's. */
function postDataDir(): { dataDir: string; database: string } {
  const dataDir = join(tempDir('gw-backup-'), 'border-gateway');
  const database = join(dataDir, DEFAULT_DATABASE_PATH);
  mkdirSync(join(dataDir, 'data'), { recursive: true, mode: 0o700 });
  release010Database(database).close();
  mkdirSync(join(dataDir, 'xray', 'lane-1-xray'), { recursive: true });
  writeFileSync(join(dataDir, 'xray', 'lane-1-xray', 'scan-1.pgm'), 'P5\n1 1\n65535\n\0\0', { mode: 0o600 });
  mkdirSync(join(dataDir, 'evidence', 'ab'), { recursive: true });
  writeFileSync(join(dataDir, 'evidence', 'ab', 'ab12'), 'a picture', { mode: 0o600 });
  writeFileSync(join(dataDir, 'notes.txt'), 'kept\n', { mode: 0o640 });
  return { dataDir, database };
}

function tarList(archive: string): string[] {
  const listed = spawnSync('tar', ['-tzf', archive], { encoding: 'utf8' });
  expect(listed.status).toBe(0);
  return listed.stdout.split('\n').filter((line) => line !== '' && !line.endsWith('/'));
}

const count = (database: string, sql: string): number => {
  const db = new Database(database, { readonly: true });
  try {
    return (db.prepare(sql).get() as { n: number }).n;
  } finally {
    db.close();
  }
};

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('backup', () => {
  it("uses the configuration schema's default database path when --config is not given", () => {
    const config = postConfigSchema.parse({ version: 1, post: { id: 'p' }, lanes: [{ id: 'lane-1' }], uplink: { brokers: ['mqtt://127.0.0.1:1883'] } });
    expect(config.outbox.path).toBe(DEFAULT_DATABASE_PATH);
  });

  it('writes backup.json, a self-contained copy of the database and the other files, 0600, without X-ray images, evidence or lock files', async () => {
    const { dataDir, database } = postDataDir();
    DataDirLock.acquire(database).release(); // leaves outbox.db.lock and .lock.holder, as a gateway does
    const out = join(tempDir('gw-backup-out-'), 'post.tar.gz');
    const manifest = await backupDataDir({ dataDir, databasePath: database, out, withXray: false, clock });

    expect(manifest).toMatchObject({ format: 'border-gateway-backup', formatVersion: 1, createdAt: '2026-11-28T18:45:12.345Z', database: 'data/outbox.db', schemaVersion: 0, lastSeq: 63, events: 63, files: ['notes.txt'], xray: false, evidence: false });
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(tarList(out).sort()).toEqual(['backup.json', 'data/data/outbox.db', 'data/notes.txt']);
    expect(readdirSync(join(out, '..'))).toEqual(['post.tar.gz']); // no staging or partial file left
  });

  it('includes the X-ray images with --with-xray', async () => {
    const { dataDir, database } = postDataDir();
    const out = join(tempDir('gw-backup-out-'), 'post.tar.gz');
    const manifest = await backupDataDir({ dataDir, databasePath: database, out, withXray: true, clock });
    expect(manifest.xray).toBe(true);
    expect(tarList(out)).toContain('data/xray/lane-1-xray/scan-1.pgm');
    expect(tarList(out)).not.toContain('data/evidence/ab/ab12');
  });

  it('includes the evidence store with --with-evidence', async () => {
    const { dataDir, database } = postDataDir();
    const out = join(tempDir('gw-backup-out-'), 'post.tar.gz');
    const manifest = await backupDataDir({ dataDir, databasePath: database, out, withXray: false, withEvidence: true, clock });
    expect(manifest.evidence).toBe(true);
    expect(tarList(out)).toContain('data/evidence/ab/ab12');
    expect(tarList(out)).not.toContain('data/xray/lane-1-xray/scan-1.pgm');
  });

  it('refuses an output inside the data directory, and a data directory without the database', async () => {
    const { dataDir, database } = postDataDir();
    const inside = await rejection(backupDataDir({ dataDir, databasePath: database, out: join(dataDir, 'b.tar.gz'), withXray: false, clock }));
    expect(isGatewayError(inside, 'GW_ERR_CLI_USAGE')).toBe(true);
    const missing = await rejection(backupDataDir({ dataDir, databasePath: join(dataDir, 'outbox.db'), out: join(tempDir(), 'b.tar.gz'), withXray: false, clock }));
    expect(isGatewayError(missing, 'GW_ERR_BACKUP_WRITE')).toBe(true);
    expect((missing as Error).message).toContain('give --config');
  });
});

describe('restore', () => {
  async function backedUp(): Promise<{ dataDir: string; database: string; archive: string; manifest: BackupManifest }> {
    const post = postDataDir();
    const archive = join(tempDir('gw-backup-out-'), 'post.tar.gz');
    const manifest = await backupDataDir({ dataDir: post.dataDir, databasePath: post.database, out: archive, withXray: false, clock });
    return { ...post, archive, manifest };
  }

  it('replaces the directory, keeps the old one as DIR.before-restore-<UTC time>, and carries the X-ray images and evidence over', async () => {
    const { dataDir, database, archive } = await backedUp();
    const later = new Database(database);
    later.prepare("INSERT INTO visits (plate_key, wall_ms) VALUES ('AFTER-BACKUP', 1)").run();
    later.close();

    const result = await restoreDataDir({ dataDir, from: archive, databasePath: database, clock });
    expect(result.keptAs).toBe(`${dataDir}.before-restore-20261128T184512Z`);
    expect(result.xrayCarriedOver).toBe(true);
    expect(result.evidenceCarriedOver).toBe(true);
    expect(readFileSync(join(dataDir, 'evidence', 'ab', 'ab12'), 'utf8')).toBe('a picture');
    expect(count(database, "SELECT COUNT(*) AS n FROM visits WHERE plate_key = 'AFTER-BACKUP'")).toBe(0);
    expect(count(database, 'SELECT COUNT(*) AS n FROM events')).toBe(63);
    expect(count(join(result.keptAs as string, DEFAULT_DATABASE_PATH), "SELECT COUNT(*) AS n FROM visits WHERE plate_key = 'AFTER-BACKUP'")).toBe(1);
    expect(readFileSync(join(dataDir, 'xray', 'lane-1-xray', 'scan-1.pgm'), 'utf8')).toContain('P5');
    expect(readFileSync(join(dataDir, 'notes.txt'), 'utf8')).toBe('kept\n');
    expect(statSync(join(dataDir, 'notes.txt')).mode & 0o777).toBe(0o640);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);

    // A second restore in the same second keeps that one too, under its own name.
    const again = await restoreDataDir({ dataDir, from: archive, clock });
    expect(again.keptAs).toBe(`${dataDir}.before-restore-20261128T184512Z-2`);
  });

  it('restores into a directory that does not exist yet', async () => {
    const { archive } = await backedUp();
    const fresh = join(tempDir('gw-restore-'), 'new-data');
    const result = await restoreDataDir({ dataDir: fresh, from: archive, clock });
    expect(result.keptAs).toBeNull();
    expect(count(join(fresh, DEFAULT_DATABASE_PATH), 'SELECT COUNT(*) AS n FROM events')).toBe(63);
    expect(statSync(fresh).mode & 0o777).toBe(0o700);
  });

  it('refuses while a gateway holds the data directory (GW_ERR_DATA_DIR_LOCKED), changing nothing', async () => {
    const { dataDir, database, archive } = await backedUp();
    const gateway = DataDirLock.acquire(database);
    try {
      const refused = await rejection(restoreDataDir({ dataDir, from: archive, clock }));
      expect(isGatewayError(refused, 'GW_ERR_DATA_DIR_LOCKED')).toBe(true);
    } finally {
      gateway.release();
    }
    expect(readdirSync(join(dataDir, '..')).sort()).toEqual(['border-gateway']);
  });

  it("refuses while a gateway holds the directory under another outbox.path than the archive's, before it unpacks anything", async () => {
    const { archive, manifest } = await backedUp();
    expect(manifest.database).toBe('data/outbox.db');
    // A post whose configuration puts the database at the directory's top (outbox.path: outbox.db).
    const dataDir = join(tempDir('gw-restore-live-'), 'border-gateway');
    mkdirSync(dataDir, { mode: 0o700 });
    release010Database(join(dataDir, 'outbox.db')).close();
    const gateway = DataDirLock.acquire(join(dataDir, 'outbox.db'));
    try {
      // No --config: the archive's own path would be used, and its lock is not the gateway's.
      const refused = await rejection(restoreDataDir({ dataDir, from: archive, clock }));
      expect(isGatewayError(refused, 'GW_ERR_DATA_DIR_LOCKED')).toBe(true);
      // Found before the archive is read: not even unpacked onto the running gateway's disk.
      const notAnArchive = join(tempDir('gw-restore-junk-'), 'junk.tar.gz');
      writeFileSync(notAnArchive, 'not a tar file');
      const refusedFirst = await rejection(restoreDataDir({ dataDir, from: notAnArchive, clock }));
      expect(isGatewayError(refusedFirst, 'GW_ERR_DATA_DIR_LOCKED')).toBe(true);
    } finally {
      gateway.release();
    }
    expect(readdirSync(join(dataDir, '..')).sort()).toEqual(['border-gateway']);
    expect(readdirSync(dataDir).sort()).toEqual(['outbox.db', 'outbox.db.lock', 'outbox.db.lock.holder']);
  });

  it("refuses another post's archive when the configuration names this post (GW_ERR_BACKUP_INVALID), changing nothing", async () => {
    const { dataDir, database, archive } = await backedUp();
    const refused = await rejection(restoreDataDir({ dataDir, from: archive, databasePath: database, postId: 'post-b', clock }));
    expect(isGatewayError(refused, 'GW_ERR_BACKUP_INVALID')).toBe(true);
    expect((refused as Error).message).toContain(`its database is post "demo-post"'s`);
    expect(readdirSync(join(dataDir, '..')).sort()).toEqual(['border-gateway']);
    // Its own post's configuration restores it.
    const restored = await restoreDataDir({ dataDir, from: archive, databasePath: database, postId: 'demo-post', clock });
    expect(restored.manifest.events).toBe(63);
  });

  it("refuses an archive whose database is not where this configuration's outbox.path expects it", async () => {
    const { dataDir, archive } = await backedUp();
    const refused = await rejection(restoreDataDir({ dataDir, from: archive, databasePath: join(dataDir, 'outbox.db'), clock }));
    expect(isGatewayError(refused, 'GW_ERR_BACKUP_INVALID')).toBe(true);
    expect(readdirSync(join(dataDir, '..')).sort()).toEqual(['border-gateway']);
  });

  /** Unpacks `archive`, lets `change` alter the tree, packs it again. */
  function tampered(archive: string, change: (root: string) => void): string {
    const root = tempDir('gw-tamper-');
    expect(spawnSync('tar', ['-xzf', archive, '-C', root]).status).toBe(0);
    change(root);
    const out = join(tempDir('gw-tamper-out-'), 'tampered.tar.gz');
    expect(spawnSync('tar', ['-czf', out, '-C', root, '.']).status).toBe(0);
    return out;
  }

  it.each([
    ['not a backup (no backup.json)', (root: string) => spawnSync('rm', [join(root, 'backup.json')])],
    ['a symbolic link in it', (root: string) => symlinkSync('/etc/passwd', join(root, 'data', 'passwd'))],
    ['a damaged database', (root: string) => {
      const path = join(root, 'data', 'data', 'outbox.db');
      const bytes = readFileSync(path);
      bytes.fill(0xff, 4096, 8192); // the second page
      writeFileSync(path, bytes);
    }],
    ['a database from a newer gateway', (root: string) => {
      const db = new Database(join(root, 'data', 'data', 'outbox.db'));
      db.pragma('user_version = 99');
      db.close();
    }],
    ['a database path that leaves the data directory', (root: string) => {
      const manifest = JSON.parse(readFileSync(join(root, 'backup.json'), 'utf8')) as BackupManifest;
      writeFileSync(join(root, 'backup.json'), JSON.stringify({ ...manifest, database: '../../etc/outbox.db' }));
    }],
  ])('refuses an archive with %s (GW_ERR_BACKUP_INVALID), changing nothing', async (_what, change) => {
    const { dataDir, archive } = await backedUp();
    const before = readdirSync(dataDir).sort();
    const refused = await rejection(restoreDataDir({ dataDir, from: tampered(archive, change), clock }));
    expect(isGatewayError(refused, 'GW_ERR_BACKUP_INVALID')).toBe(true);
    expect(readdirSync(join(dataDir, '..')).sort()).toEqual(['border-gateway']);
    expect(readdirSync(dataDir).sort()).toEqual(before);
    expect(existsSync(join(dataDir, 'xray', 'lane-1-xray', 'scan-1.pgm'))).toBe(true);
  });

  it('refuses an archive that unpacks to more than its bound before unpacking a byte (GW_ERR_BACKUP_TOO_LARGE), changing nothing', async () => {
    const { dataDir, archive } = await backedUp();
    const before = readdirSync(dataDir).sort();
    // 64 MiB of zeros: a few dozen kilobytes of gzip.
    const bomb = tampered(archive, (root) => writeFileSync(join(root, 'data', 'zeros.bin'), Buffer.alloc(64 * 1024 * 1024)));
    expect(statSync(bomb).size).toBeLessThan(1024 * 1024);
    const refused = await rejection(restoreDataDir({ dataDir, from: bomb, maxUnpackedBytes: 16 * 1024 * 1024, clock }));
    expect(isGatewayError(refused, 'GW_ERR_BACKUP_TOO_LARGE')).toBe(true);
    expect((refused as Error).message).toMatch(/unpacks to more than 16777216 bytes .*nothing was unpacked$/);
    // No staging folder, no renamed directory: nothing was unpacked.
    expect(readdirSync(join(dataDir, '..')).sort()).toEqual(['border-gateway']);
    expect(readdirSync(dataDir).sort()).toEqual(before);
    // Under its bound the same archive restores.
    const restored = await restoreDataDir({ dataDir, from: bomb, maxUnpackedBytes: 80 * 1024 * 1024, clock });
    expect(statSync(join(dataDir, 'zeros.bin')).size).toBe(64 * 1024 * 1024);
    expect(restored.keptAs).not.toBeNull();
  });

  it('refuses a sparse file, which unpacks to more than the archive holds (GW_ERR_BACKUP_INVALID), before unpacking it', async () => {
    const { dataDir, archive } = await backedUp();
    const root = tempDir('gw-sparse-');
    expect(spawnSync('tar', ['-xzf', archive, '-C', root]).status).toBe(0);
    // 1 GiB of hole: a GNU sparse entry of a few blocks.
    expect(spawnSync('truncate', ['-s', '1G', join(root, 'data', 'hole.bin')]).status).toBe(0);
    const sparse = join(tempDir('gw-sparse-out-'), 'sparse.tar.gz');
    expect(spawnSync('tar', ['--sparse', '-czf', sparse, '-C', root, '.']).status).toBe(0);
    const refused = await rejection(restoreDataDir({ dataDir, from: sparse, maxUnpackedBytes: 16 * 1024 * 1024, clock }));
    expect(isGatewayError(refused, 'GW_ERR_BACKUP_INVALID')).toBe(true);
    expect((refused as Error).message).toMatch(/sparse/);
    expect(readdirSync(join(dataDir, '..')).sort()).toEqual(['border-gateway']);
  });

  it("removes what a killed restore left beside the directory, but not a staging folder a running restore holds", async () => {
    const { dataDir, archive } = await backedUp();
    const parent = join(dataDir, '..');
    // A restore killed mid-way (test/restore-killed.test.ts kills a real one): its folder, no lock held.
    const stale = join(parent, '.border-gateway.restore-dead01');
    mkdirSync(join(stale, 'data'), { recursive: true });
    writeFileSync(join(stale, 'data', 'half.db'), 'half an archive');
    // A restore running now (onto this directory's parent, another one's): it holds its folder's lock.
    const running = join(parent, '.border-gateway.restore-live01');
    mkdirSync(running);
    const held = DataDirLock.acquire(join(running, 'restore'));
    // Not ours: another directory's staging, and a file that only looks like one.
    mkdirSync(join(parent, '.other.restore-abc'));
    writeFileSync(join(parent, '.border-gateway.restore-file'), 'not a folder');
    try {
      const result = await restoreDataDir({ dataDir, from: archive, clock });
      expect(result.staleStaging).toEqual({ removed: [stale], inUse: [running], failed: [] });
    } finally {
      held.release();
    }
    expect(readdirSync(parent).sort()).toEqual(['.border-gateway.restore-file', '.border-gateway.restore-live01', '.other.restore-abc', 'border-gateway', 'border-gateway.before-restore-20261128T184512Z']);
  });
});
