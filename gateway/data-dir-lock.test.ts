import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isGatewayError } from '../core/errors.js';
import { mountTmpfs, unmount } from '../test/helpers/small-disk.js';
import { DataDirLock } from './data-dir-lock.js';

describe('DataDirLock', () => {
  const mounts: string[] = [];
  afterEach(() => {
    for (const mount of mounts.splice(0)) unmount(mount);
  });

  it('refuses a data directory on a read-only mount with GW_ERR_OUTBOX_OPEN, also when a lock file is there from before', () => {
    const disk = mountTmpfs('1m');
    mounts.push(disk);
    const dataDir = join(disk, 'data');
    mkdirSync(dataDir);
    DataDirLock.acquire(join(dataDir, 'outbox.db')).release(); // the lock file and its holder, as a gateway leaves them
    // As ext4 (errors=remount-ro) leaves a disk after an I/O error.
    execFileSync('mount', ['-o', 'remount,ro', disk]);
    let refused: unknown = null;
    try {
      DataDirLock.acquire(join(dataDir, 'outbox.db')).release();
    } catch (error) {
      refused = error;
    }
    expect(isGatewayError(refused, 'GW_ERR_OUTBOX_OPEN')).toBe(true);
    expect((refused as Error).message).toContain('EROFS');
  });
});
