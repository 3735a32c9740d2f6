/**
 * `backup` and `restore` put their files on disk before the renames that name them, watched with
 * strace on the real command: ext4 may commit a rename before the data, so without the fsyncs a
 * power cut soon after leaves an empty archive called a backup, or a restored outbox.db of zero
 * bytes, which the next start takes for a new database (its seq starting again from 1).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, REPO_ROOT } from './helpers/gateway-process.js';
import { release010Database } from './helpers/release-database.js';
import { tempDir } from './helpers/test-config.js';

interface Call {
  name: string;
  /** The path strace -y shows for fsync's descriptor, or a rename's source and target. */
  paths: string[];
}

/** Runs the command line under strace; the fsyncs and renames it made, in order. */
function traced(args: string[]): Call[] {
  const log = join(tempDir('gw-strace-'), 'trace.log');
  const run = spawnSync('strace', ['-f', '-y', '-qq', '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2', '-o', log, process.execPath, ...CLI, ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  const calls: Call[] = [];
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    const call = /^\d+\s+(fsync|fdatasync|rename|renameat2?)\((.*)\)\s+=\s+0/.exec(line);
    if (!call) continue;
    const paths = call[1]!.startsWith('rename') ? [...call[2]!.matchAll(/"([^"]*)"/g)].map((m) => m[1]!) : [/<([^>]*)>/.exec(call[2]!)?.[1] ?? ''];
    calls.push({ name: call[1]!, paths });
  }
  return calls;
}

const synced = (calls: Call[], path: string): number => calls.findIndex((c) => c.name.startsWith('f') && c.paths[0] === path);
const renamedTo = (calls: Call[], path: string): number => calls.findIndex((c) => c.name.startsWith('rename') && c.paths.at(-1) === path);

describe('backup and restore on disk before their renames (strace on the command line)', () => {
  it('syncs the archive before naming it, and every restored file and folder before the swap', () => {
    const work = tempDir('gw-durable-');
    const dataDir = join(work, 'border-gateway');
    mkdirSync(join(dataDir, 'data'), { recursive: true, mode: 0o700 });
    release010Database(join(dataDir, 'data', 'outbox.db')).close();
    const archive = join(work, 'backup.tar.gz');

    const backup = traced(['backup', '--data', dataDir, '--out', archive]);
    const named = renamedTo(backup, archive);
    expect(named, 'the archive renamed to its name').toBeGreaterThanOrEqual(0);
    const partial = backup[named]!.paths[0]!;
    expect(synced(backup, partial), 'the archive synced before its rename').toBeGreaterThanOrEqual(0);
    expect(synced(backup, partial)).toBeLessThan(named);
    expect(synced(backup.slice(named), dirname(archive)), 'its folder synced after the rename').toBeGreaterThan(0);

    const restored = join(work, 'restored');
    const restore = traced(['restore', '--data', restored, '--from', archive]);
    const swap = renamedTo(restore, restored);
    expect(swap, 'the restored directory renamed into place').toBeGreaterThanOrEqual(0);
    const unpacked = restore[swap]!.paths[0]!;
    for (const path of [join(unpacked, 'data', 'outbox.db'), join(unpacked, 'data'), unpacked]) {
      const at = synced(restore, path);
      expect(at, `${path} synced`).toBeGreaterThanOrEqual(0);
      expect(at, `${path} synced before the swap`).toBeLessThan(swap);
    }
    expect(synced(restore.slice(swap), work), 'the parent synced after the swap').toBeGreaterThan(0);
  });
});
