/**
 * The folder a restore unpacks its archive into: `.DIR.restore-XXXXXX` beside the data directory
 * (so the final step is a rename on one file system). A restore killed before its end (SIGKILL, a
 * power cut, an OOM kill) leaves it behind, a whole copy of the data directory. The next restore
 * of that directory, and the next gateway start on it, remove such leftovers, but never one that a
 * restore still running is using: each restore holds a lock inside its own staging folder
 * (`restore.lock`, SQLite's, like the data directory's: the kernel drops it with the process), and
 * a folder is removed only once its lock can be taken.
 */
import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { isGatewayError } from '../core/errors.js';
import { DataDirLock } from './data-dir-lock.js';

/** The lock inside a staging folder (DataDirLock adds `.lock`). */
const STAGING_LOCK = 'restore';

/** `.DIR.restore-`: what every staging folder of `dataDir` is named from. */
function stagingPrefix(dataDir: string): string {
  return `.${basename(dataDir)}.restore-`;
}

/** A new staging folder beside `dataDir`, locked as in use until `release`; its path. */
export function makeRestoreStaging(dataDir: string, now: () => number): { path: string; release: () => void } {
  const path = mkdtempSync(join(dirname(dataDir), stagingPrefix(dataDir)));
  try {
    const lock = DataDirLock.acquire(join(path, STAGING_LOCK), now);
    return { path, release: () => lock.release() };
  } catch (error) {
    rmSync(path, { recursive: true, force: true });
    throw error;
  }
}

export interface StaleStaging {
  /** Leftovers removed. */
  removed: string[];
  /** Folders a restore still running holds (left alone). */
  inUse: string[];
  /** Leftovers that could not be removed (permissions: a restore run as root left them), with why. */
  failed: Array<{ path: string; error: string }>;
}

/**
 * Removes the staging folders that killed restores of `dataDir` left beside it; leaves the ones a
 * running restore holds. Never throws for one folder: says what it did with each.
 */
export function removeStaleRestoreStaging(dataDir: string, now: () => number = Date.now): StaleStaging {
  const result: StaleStaging = { removed: [], inUse: [], failed: [] };
  const parent = dirname(dataDir);
  const prefix = stagingPrefix(dataDir);
  let names: string[];
  try {
    names = readdirSync(parent).filter((name) => name.startsWith(prefix));
  } catch {
    return result;
  }
  for (const name of names.sort()) {
    const path = join(parent, name);
    try {
      // A symbolic link or a file of that name is nobody's staging: not followed, not removed.
      if (!lstatSync(path).isDirectory()) continue;
      let lock: DataDirLock;
      try {
        lock = DataDirLock.acquire(join(path, STAGING_LOCK), now);
      } catch (error) {
        if (isGatewayError(error, 'GW_ERR_DATA_DIR_LOCKED')) {
          result.inUse.push(path);
          continue;
        }
        throw error;
      }
      // Nobody held it: its restore is dead. Released before the removal (SQLite closing a lock
      // whose folder is gone); no restore takes it up again meanwhile, each makes a folder of its own.
      lock.release();
      rmSync(path, { recursive: true, force: true });
      result.removed.push(path);
    } catch (error) {
      result.failed.push({ path, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return result;
}
