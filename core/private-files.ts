/**
 * Files and folders only the gateway's own user may read: the data directory (0700), the outbox
 * database with its -wal and -shm (0600), the keys the gateway writes (0600). The modes are set
 * explicitly whatever the process umask: a mode given to mkdir/open is masked by the umask and
 * applies only to what is created, so a folder or file that already existed is chmod-ed as well.
 */
import { chmodSync, closeSync, fchmodSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileWriteStarted } from './file-writes.js';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Creates `dir` and any missing parent, each 0700. With `force`, an existing `dir` is set to 0700
 * too (the gateway's own data directory); without, an existing folder is left as it is (the outbox
 * may be placed in a shared folder such as /var/lib).
 */
export function makePrivateDir(dir: string, force: boolean): void {
  const target = resolve(dir);
  const first = mkdirSync(target, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (first === undefined) {
    if (force) chmodSync(target, PRIVATE_DIR_MODE);
    return;
  }
  // Every folder from the first one created down to `dir`.
  for (let path = target; ; path = dirname(path)) {
    chmodSync(path, PRIVATE_DIR_MODE);
    if (path === resolve(first) || path === dirname(path)) break;
  }
}

/**
 * Creates `file` empty if it does not exist, never with a wider mode than 0600 (not even for an
 * instant: the mode is given to open), and sets 0600 on it. Existing content is kept.
 */
export function touchPrivateFile(file: string): void {
  const fd = openSync(file, 'a', PRIVATE_FILE_MODE);
  try {
    fchmodSync(fd, PRIVATE_FILE_MODE);
  } finally {
    closeSync(fd);
  }
}

/** Writes `content` to `file` (replacing it), 0600: truncated and chmod-ed before a byte is written. */
export function writePrivateFile(file: string, content: string | NodeJS.ArrayBufferView): void {
  const over = fileWriteStarted(typeof content === 'string' ? Buffer.byteLength(content) : content.byteLength);
  try {
    const fd = openSync(file, 'w', PRIVATE_FILE_MODE);
    try {
      fchmodSync(fd, PRIVATE_FILE_MODE);
      writeFileSync(fd, content);
    } finally {
      closeSync(fd);
    }
  } finally {
    over();
  }
}

/** Sets 0600 on each of `files` that exists. */
export function restrictFiles(files: string[]): void {
  for (const file of files) {
    try {
      chmodSync(file, PRIVATE_FILE_MODE);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}
