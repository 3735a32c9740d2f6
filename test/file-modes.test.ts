/**
 * What the gateway writes is its user's alone, whatever the umask it was started with: the data
 * directory 0700, the outbox database and its -wal and -shm 0600 (events name plates, the audit
 * and the accounts share the file), the private key of `model keygen` 0600. Files and folders
 * left wider by an older version are narrowed on start.
 */
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { modelCommand } from '../gateway/model-commands.js';
import { freePort } from './helpers/free-port.js';
import { startTestGateway, tempDir, testConfig, weighed } from './helpers/test-config.js';
import type { Gateway } from '../gateway/daemon.js';

const modeOf = (path: string): string => (statSync(path).mode & 0o777).toString(8).padStart(3, '0');

describe.each([0o022, 0o000])('file modes under umask %o', (umask) => {
  let gateway: Gateway | undefined;
  let previousUmask: number | undefined;
  afterEach(async () => {
    await gateway?.stop();
    gateway = undefined;
    if (previousUmask !== undefined) process.umask(previousUmask);
  });

  it('creates the data directory 0700 and the outbox files 0600', async () => {
    previousUmask = process.umask(umask);
    const dataDir = join(tempDir(), 'var', 'lib', 'gateway');
    // The default outbox path, data/outbox.db, is a folder below the data directory.
    gateway = await startTestGateway(testConfig([`mqtt://127.0.0.1:${await freePort()}`], { outbox: { path: 'data/outbox.db' } }), dataDir);
    await weighed(gateway, 'lane-1', 1);
    const db = join(dataDir, 'data', 'outbox.db');
    expect(existsSync(`${db}-wal`) && existsSync(`${db}-shm`)).toBe(true);
    expect({ dataDir: modeOf(dataDir), outboxDir: modeOf(join(dataDir, 'data')), db: modeOf(db), wal: modeOf(`${db}-wal`), shm: modeOf(`${db}-shm`) }).toEqual({
      dataDir: '700',
      outboxDir: '700',
      db: '600',
      wal: '600',
      shm: '600',
    });
  });

  it('narrows a data directory and outbox files that an older version left readable', async () => {
    previousUmask = process.umask(umask);
    const dataDir = join(tempDir(), 'data');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o755);
    const db = join(dataDir, 'outbox.db');
    const old = new Database(db);
    old.pragma('journal_mode = WAL');
    old.exec('CREATE TABLE leftover (x)');
    chmodSync(db, 0o644);
    // A second connection keeps the WAL and shared-memory files from being removed on close.
    const reader = new Database(db);
    reader.prepare('SELECT count(*) FROM leftover').get();
    chmodSync(`${db}-wal`, 0o644);
    chmodSync(`${db}-shm`, 0o644);
    old.close();
    gateway = await startTestGateway(testConfig([`mqtt://127.0.0.1:${await freePort()}`]), dataDir);
    reader.close();
    expect([modeOf(dataDir), modeOf(db), modeOf(`${db}-wal`), modeOf(`${db}-shm`)]).toEqual(['700', '600', '600', '600']);
  });

  it('writes the private key of model keygen 0600, also over an older readable file', async () => {
    previousUmask = process.umask(umask);
    const out = tempDir('keys-');
    const privatePath = join(out, 'model-signing.key.pem');
    writeFileSync(privatePath, 'an older key');
    chmodSync(privatePath, 0o644);
    const lines: string[] = [];
    await modelCommand(['keygen', '--out', out], (line) => lines.push(line));
    expect(modeOf(privatePath)).toBe('600');
    expect(statSync(privatePath).size).toBeGreaterThan(100); // replaced by the new PEM
    expect(lines.join('\n')).toContain(privatePath);
  });
});
