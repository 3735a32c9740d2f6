/** Small disks of their own for fault tests: a tmpfs mounted on a new directory, and unmounted. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Mounts a tmpfs of `size` on a new directory. Throws when it cannot, so the test fails rather
 * than skips: it needs root (CAP_SYS_ADMIN), as the CI has.
 */
export function mountTmpfs(size: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'small-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    rmdirSync(dir);
    const stderr = String((error as { stderr?: Buffer }).stderr ?? error).trim();
    throw new Error(`cannot mount a ${size} tmpfs on ${dir}; this test needs root, as CI has (${stderr})`, { cause: error });
  }
  return dir;
}

export function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' });
  } catch {
    execFileSync('umount', ['--lazy', dir], { stdio: 'pipe' }); // still busy: detach it now
  }
  rmdirSync(dir);
}
