/**
 * Files written outside SQLite that must survive a power cut once a rename has put them in place:
 * their bytes and the directories naming them reach the disk first. Without it, ext4 and most
 * flash file systems may commit the rename before the data, and a power cut soon after leaves
 * the new name on an empty file (a restored outbox.db of zero bytes is taken for a new database,
 * its seq starting again from 1).
 */
import { closeSync, fsyncSync, lstatSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** fsync of one file or directory (a directory is opened read-only, as fsync(2) allows). */
export function syncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Every regular file under `dir`, then every directory, deepest first, then `dir` itself. Links are not followed. */
export function syncTree(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) syncTree(path);
    else if (entry.isFile() && lstatSync(path).isFile()) syncPath(path);
  }
  syncPath(dir);
}
