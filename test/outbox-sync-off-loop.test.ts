/**
 * The outbox's fsyncs, watched with strace on a real process: with its loop budget off, the event
 * loop's thread never waits for the disk while events flow (it keeps publishing and reading
 * acknowledgements); with the default budget, sparse commits sync on the loop (wal-sync.ts); and
 * either way no producer hears "committed" before an fdatasync of the WAL that started after its
 * commit's writes has returned.
 *
 * strace records every thread's system calls in the order they happen. The child marks, with
 * write(2) to stdout, when its producers heard of each group; SQLite writes WAL frames with
 * pwrite64. An fdatasync that runs in libuv's pool shows as another thread's call.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers/test-config.js';

interface Call {
  index: number;
  tid: number;
  name: string;
  file: string;
  /** The call has entered (and for a one-line call also returned) at this line. */
  entered: boolean;
  returned: boolean;
  marker?: string;
}

/**
 * strace -f -y lines → calls; a call split into "<unfinished ...>" and "<... resumed>" gives two.
 * strace pads the thread id to five columns, so a 4-digit id (a freshly booted machine) is
 * followed by two spaces.
 */
function parseTrace(text: string): Call[] {
  const calls: Call[] = [];
  const open = new Map<number, Call>();
  for (const [index, line] of text.split('\n').entries()) {
    const resumed = /^(\d+) +<\.\.\. (\w+) resumed>/.exec(line);
    if (resumed) {
      const tid = Number(resumed[1]);
      const started = open.get(tid);
      open.delete(tid);
      calls.push({ index, tid, name: resumed[2] as string, file: started?.file ?? '', entered: false, returned: true });
      continue;
    }
    const call = /^(\d+) +(\w+)\((\d+)<([^>]*)>(.*)$/.exec(line);
    if (!call) continue;
    const unfinished = line.endsWith('<unfinished ...>');
    const marker = /"(OPENED|CLOSING|RESOLVED \d+)\\n"/.exec(call[5] as string)?.[1];
    const parsed: Call = { index, tid: Number(call[1]), name: call[2] as string, file: call[4] as string, entered: true, returned: !unfinished, ...(marker ? { marker } : {}) };
    if (unfinished) open.set(parsed.tid, parsed);
    calls.push(parsed);
  }
  return calls;
}

const isSync = (call: Call): boolean => call.name === 'fsync' || call.name === 'fdatasync';
const GROUPS = 60;

describe('outbox fsync off the event loop (strace on a real process)', () => {
  /** Runs the child under strace; its calls, the loop's thread and the WAL's path. */
  function traced(syncMode: 'pool' | 'default'): { steady: Call[]; loop: number; db: string; wal: string; syncs: { onLoop: number; inPool: number } } {
    const dir = tempDir('sync-off-loop-');
    const db = join(dir, 'outbox.db');
    const tracePath = join(dir, 'trace.txt');
    const run = spawnSync(
      'strace',
      ['-f', '-y', '-e', 'trace=fsync,fdatasync,pwrite64,write', '-e', 'signal=none', '-o', tracePath, process.execPath, '--import', 'tsx', 'test/helpers/outbox-sync-child.ts', db, String(GROUPS), '100', syncMode],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    const calls = parseTrace(readFileSync(tracePath, 'utf8'));
    const opened = calls.find((call) => call.marker === 'OPENED') as Call;
    const closing = calls.find((call) => call.marker === 'CLOSING') as Call;
    const syncs = JSON.parse(/^SYNCS (.*)$/m.exec(run.stdout)?.[1] ?? 'null') as { onLoop: number; inPool: number };
    return { steady: calls.filter((call) => call.index > opened.index && call.index < closing.index), loop: opened.tid, db, wal: `${db}-wal`, syncs };
  }

  /**
   * Each "committed": after the loop's last WAL write before it, an fdatasync of the WAL entered
   * and returned (on whichever thread), before the producers heard.
   */
  function expectEveryAckAfterASync(steady: Call[], loop: number, wal: string): number {
    const resolved = steady.filter((call) => call.marker?.startsWith('RESOLVED'));
    expect(resolved.length).toBeGreaterThanOrEqual(GROUPS);
    for (const marker of resolved) {
      const lastWrite = steady.filter((call) => call.index < marker.index && call.tid === loop && call.name === 'pwrite64' && call.file === wal).pop() as Call;
      expect(lastWrite, marker.marker).toBeDefined();
      const syncsBetween = steady.filter((call) => call.index > lastWrite.index && call.index < marker.index && call.file === wal && isSync(call));
      const enteredAfterWrite = new Set(syncsBetween.filter((call) => call.entered).map((call) => call.tid));
      const returnedBefore = syncsBetween.some((call) => call.returned && enteredAfterWrite.has(call.tid));
      expect(returnedBefore, `${marker.marker}: no WAL sync between its last write (line ${lastWrite.index}) and the acknowledgement (line ${marker.index})`).toBe(true);
    }
    return resolved.length;
  }

  it('with every sync in the pool: never syncs on the loop while events flow, and never acknowledges a commit before its WAL sync returned', () => {
    const { steady, loop, db, wal, syncs } = traced('pool');

    // Checkpoints (pages copied from the WAL into the database file) run on another thread: the
    // loop's thread never writes or syncs the database file while events flow.
    expect(steady.filter((call) => call.tid === loop && call.file === db && (call.name === 'pwrite64' || isSync(call)))).toEqual([]);
    const checkpointWrites = steady.filter((call) => call.tid !== loop && call.file === db && call.name === 'pwrite64');
    expect(checkpointWrites.length).toBeGreaterThan(0);
    // The loop syncs the WAL only when SQLite rewinds it, which follows a checkpoint that copied
    // every frame and synced the database (its header must be on disk before frames follow it).
    const loopSyncs = steady.filter((call) => call.tid === loop && isSync(call) && call.entered);
    const completeCheckpoints = steady.filter((call) => call.tid !== loop && isSync(call) && call.entered && call.file === db);
    expect(loopSyncs.filter((call) => call.file !== wal)).toEqual([]);
    expect(loopSyncs.length).toBeLessThanOrEqual(completeCheckpoints.length);
    const poolSyncs = steady.filter((call) => call.tid !== loop && call.name === 'fdatasync' && call.file === wal && call.entered);
    expect(poolSyncs.length).toBeGreaterThan(0);
    expect(syncs.onLoop).toBe(0);
    const commits = expectEveryAckAfterASync(steady, loop, wal);
    console.log(`${commits} commits: ${poolSyncs.length} WAL fdatasyncs off the loop, ${checkpointWrites.length} page writes by the checkpoint worker (${completeCheckpoints.length} complete checkpoints), ${loopSyncs.length} syncs on the loop (WAL rewinds)`);
  }, 150_000);

  it("with the loop's budget (the default): sparse commits sync on the loop, each acknowledged only after its sync returned; checkpoints stay off it", () => {
    const { steady, loop, db, wal, syncs } = traced('default');
    expect(steady.filter((call) => call.tid === loop && call.file === db && (call.name === 'pwrite64' || isSync(call)))).toEqual([]);
    const walSyncsOnLoop = steady.filter((call) => call.tid === loop && call.name === 'fdatasync' && call.file === wal && call.entered);
    // The outbox's own count agrees with what strace saw on the loop's thread (plus SQLite's
    // syncs at a WAL rewind, which the outbox does not count).
    expect(syncs.onLoop).toBeGreaterThan(0);
    expect(walSyncsOnLoop.length).toBeGreaterThanOrEqual(syncs.onLoop);
    const commits = expectEveryAckAfterASync(steady, loop, wal);
    console.log(`${commits} commits: ${syncs.onLoop} WAL syncs on the loop, ${syncs.inPool} in the pool`);
  }, 150_000);
});
