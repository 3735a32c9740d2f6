/**
 * The outbox's fsyncs, watched with strace on a real process: with its loop budget off, the event
 * loop's thread never waits for the disk while events flow (it keeps publishing and reading
 * acknowledgements); with the default budget, sparse commits sync on the loop (wal-sync.ts); and
 * either way no producer hears "committed" before an fdatasync of the WAL that started after its
 * commit's writes has returned.
 *
 * And the checkpoints (wal-checkpointer.ts), which copy WAL frames into the database file on the
 * loop with SQLite's own fsyncs off: every page written to the database is a frame whose last
 * write to the WAL an fdatasync had covered before it was read, the database is synced in the pool,
 * and the WAL is rewound (its header written again at offset 0) only after a sync of the database
 * that began after the last page was copied has returned. So a power cut at any moment finds every
 * page the database may lack in the WAL.
 *
 * strace records every thread's system calls in the order they happen. The child marks, with
 * write(2) to stdout, when its producers heard of each group; SQLite writes WAL frames with
 * pwrite64 and reads them with pread64. An fdatasync that runs in libuv's pool shows as another
 * thread's call.
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
  /** pread64's and pwrite64's file offset. */
  offset?: number;
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
      const offset = offsetOf(line) ?? started?.offset;
      calls.push({ index, tid, name: resumed[2] as string, file: started?.file ?? '', entered: false, returned: true, ...(offset === undefined ? {} : { offset }) });
      continue;
    }
    const call = /^(\d+) +(\w+)\((\d+)<([^>]*)>(.*)$/.exec(line);
    if (!call) continue;
    const unfinished = line.endsWith('<unfinished ...>');
    const marker = /"(OPENED|CLOSING|RESOLVED \d+)\\n"/.exec(call[5] as string)?.[1];
    const offset = offsetOf(line);
    const parsed: Call = {
      index,
      tid: Number(call[1]),
      name: call[2] as string,
      file: call[4] as string,
      entered: true,
      returned: !unfinished,
      ...(marker ? { marker } : {}),
      ...(offset === undefined ? {} : { offset }),
    };
    if (unfinished) open.set(parsed.tid, parsed);
    calls.push(parsed);
  }
  return calls;
}

/** The last argument of a pread64 or pwrite64 line: its offset (a resumed pread64 carries it). */
function offsetOf(line: string): number | undefined {
  const match = /^\d+ +(?:pread64|pwrite64|<\.\.\. pread64 resumed>).*, (\d+)(?:\) += -?\d+| <unfinished \.\.\.>)$/.exec(line);
  return match ? Number(match[1]) : undefined;
}

const isSync = (call: Call): boolean => call.name === 'fsync' || call.name === 'fdatasync';
const GROUPS = 60;

describe('outbox fsync off the event loop (strace on a real process)', () => {
  /** Runs the child under strace; its calls, the loop's thread and the WAL's path. */
  function traced(syncMode: 'pool' | 'default'): { steady: Call[]; all: Call[]; loop: number; db: string; wal: string; syncs: { onLoop: number; inPool: number } } {
    const dir = tempDir('sync-off-loop-');
    const db = join(dir, 'outbox.db');
    const tracePath = join(dir, 'trace.txt');
    const run = spawnSync(
      'strace',
      ['-f', '-y', '-e', 'trace=fsync,fdatasync,pwrite64,pread64,write', '-e', 'signal=none', '-o', tracePath, process.execPath, '--import', 'tsx', 'test/helpers/outbox-sync-child.ts', db, String(GROUPS), '100', syncMode],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    const calls = parseTrace(readFileSync(tracePath, 'utf8'));
    const opened = calls.find((call) => call.marker === 'OPENED') as Call;
    const closing = calls.find((call) => call.marker === 'CLOSING') as Call;
    const syncs = JSON.parse(/^SYNCS (.*)$/m.exec(run.stdout)?.[1] ?? 'null') as { onLoop: number; inPool: number };
    return { steady: calls.filter((call) => call.index > opened.index && call.index < closing.index), all: calls, loop: opened.tid, db, wal: `${db}-wal`, syncs };
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

  /**
   * Each page the loop writes into the database file is the frame it read from the WAL just
   * before: the last write of that frame to the WAL was followed by an fdatasync of the WAL that
   * returned before the read. Each rewind of the WAL (its header written at offset 0) follows a
   * sync of the database that began after the last page written to it and has returned. `all` is
   * the whole trace (the migrations wrote the first frames before the steady part begins).
   */
  function expectCheckpointsCopySyncedFrames(all: Call[], steady: Call[], loop: number, db: string, wal: string): { pages: number; databaseSyncs: number; rewinds: number } {
    const first = (steady[0] as Call).index;
    const last = (steady[steady.length - 1] as Call).index;
    let pages = 0;
    let lastWalRead: Call | undefined;
    let lastDatabaseWrite: Call | undefined;
    const walWrites = new Map<number, Call>();
    /** Per thread, the sync of each file it has entered and not yet returned from. */
    const syncing = new Map<number, Call>();
    /** Highest trace line of a WAL write that a returned fdatasync of the WAL had covered. */
    let walSyncedUpTo = -1;
    let databaseSyncedAfter = -1;
    let databaseSyncs = 0;
    let rewinds = 0;
    for (const call of all) {
      if (call.index > last) break;
      const checked = call.index >= first;
      if (isSync(call)) {
        if (call.entered) syncing.set(call.tid, call);
        if (call.returned) {
          const began = syncing.get(call.tid) as Call;
          syncing.delete(call.tid);
          if (began.file === wal) walSyncedUpTo = Math.max(walSyncedUpTo, began.index);
          if (began.file === db) {
            databaseSyncedAfter = Math.max(databaseSyncedAfter, began.index);
            if (checked) databaseSyncs += 1;
          }
        }
        continue;
      }
      if (call.tid !== loop || call.offset === undefined) continue;
      // A call that strace split in two (another thread's call between its entry and its return)
      // is two Calls: each write is counted once, at its entry (`entered`).
      if (call.name === 'pwrite64' && call.file === wal) {
        if (call.offset === 0 && checked && call.entered) {
          rewinds += 1;
          if (lastDatabaseWrite) expect(databaseSyncedAfter, `WAL rewound at line ${call.index} before the database was synced after its write at line ${lastDatabaseWrite.index}`).toBeGreaterThan(lastDatabaseWrite.index);
        }
        walWrites.set(call.offset, call);
      } else if (call.name === 'pread64' && call.file === wal) {
        lastWalRead = call;
      } else if (call.name === 'pwrite64' && call.file === db && checked) {
        // The database syncs are checked against the write's return (later than its entry when split).
        if (call.returned) lastDatabaseWrite = call;
        if (!call.entered) continue;
        pages += 1;
        expect(lastWalRead, `database page written at line ${call.index} with no WAL frame read before it`).toBeDefined();
        const read = lastWalRead as Call;
        const written = walWrites.get(read.offset as number);
        expect(written, `frame at WAL offset ${read.offset} copied at line ${call.index}: never written`).toBeDefined();
        expect(walSyncedUpTo, `frame written at line ${written?.index} copied at line ${call.index} before a WAL sync covered it`).toBeGreaterThan((written as Call).index);
        lastWalRead = undefined;
      }
    }
    expect(pages).toBeGreaterThan(0);
    expect(databaseSyncs).toBeGreaterThan(0);
    expect(rewinds).toBeGreaterThan(0);
    return { pages, databaseSyncs, rewinds };
  }

  it('with every sync in the pool: never syncs on the loop while events flow, and never acknowledges a commit before its WAL sync returned', () => {
    const { steady, all, loop, db, wal, syncs } = traced('pool');

    // The database file is synced only in the pool; the loop syncs the WAL only when SQLite
    // rewinds it (its new header must be on disk before frames follow it).
    expect(steady.filter((call) => call.tid === loop && isSync(call) && call.file !== wal)).toEqual([]);
    const checkpoints = expectCheckpointsCopySyncedFrames(all, steady, loop, db, wal);
    const poolSyncs = steady.filter((call) => call.tid !== loop && call.name === 'fdatasync' && call.file === wal && call.entered);
    expect(poolSyncs.length).toBeGreaterThan(0);
    expect(syncs.onLoop).toBe(0);
    const commits = expectEveryAckAfterASync(steady, loop, wal);
    console.log(`${commits} commits: ${poolSyncs.length} WAL fdatasyncs off the loop; ${checkpoints.pages} pages copied into the database, ${checkpoints.databaseSyncs} database fdatasyncs off the loop, ${checkpoints.rewinds} WAL rewinds`);
  }, 150_000);

  it("with the loop's budget (the default): sparse commits sync on the loop, each acknowledged only after its sync returned; the database is synced off it", () => {
    const { steady, all, loop, db, wal, syncs } = traced('default');
    expect(steady.filter((call) => call.tid === loop && isSync(call) && call.file === db)).toEqual([]);
    expectCheckpointsCopySyncedFrames(all, steady, loop, db, wal);
    const walSyncsOnLoop = steady.filter((call) => call.tid === loop && call.name === 'fdatasync' && call.file === wal && call.entered);
    // The outbox's own count agrees with what strace saw on the loop's thread (plus SQLite's
    // syncs at a WAL rewind, which the outbox does not count).
    expect(syncs.onLoop).toBeGreaterThan(0);
    expect(walSyncsOnLoop.length).toBeGreaterThanOrEqual(syncs.onLoop);
    const commits = expectEveryAckAfterASync(steady, loop, wal);
    console.log(`${commits} commits: ${syncs.onLoop} WAL syncs on the loop, ${syncs.inPool} in the pool`);
  }, 150_000);
  it('a process that ends without closing its outbox leaves no WAL deleted before the database was synced', () => {
    // better-sqlite3 closes what is open as the process ends; the connection closed last
    // checkpoints with its own setting and deletes the WAL. The copier runs synchronous=OFF only
    // while it copies: kept OFF, it deleted the WAL unsynced whenever it was the one closed last
    // (better-sqlite3 closes in the order of the connections' addresses: one run in three here).
    const dir = tempDir('sync-no-close-');
    const db = join(dir, 'outbox.db');
    const tracePath = join(dir, 'trace.txt');
    const run = spawnSync(
      'strace',
      ['-f', '-y', '-e', 'trace=fsync,fdatasync,pwrite64,unlink', '-e', 'signal=none', '-o', tracePath, process.execPath, '--import', 'tsx', 'test/helpers/outbox-sync-child.ts', db, '20', '100', 'no-close'],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    const lines = readFileSync(tracePath, 'utf8').split('\n');
    const unlinked = lines.findIndex((line) => line.includes(`unlink("${db}-wal")`));
    expect(unlinked, 'the WAL was deleted at exit').toBeGreaterThan(0);
    const pageWrites = lines.flatMap((line, index) => (index < unlinked && line.includes('pwrite64(') && line.includes(`<${db}>`) ? [index] : []));
    const lastPageWrite = pageWrites[pageWrites.length - 1] ?? -1;
    expect(lastPageWrite).toBeGreaterThan(0);
    const databaseSync = lines.findIndex((line, index) => index > lastPageWrite && index < unlinked && /^\d+ +f(data)?sync\(/.test(line) && line.includes(`<${db}>`));
    expect(databaseSync, `no sync of the database between its last write (line ${lastPageWrite}) and the WAL's deletion (line ${unlinked})`).toBeGreaterThan(0);
  }, 150_000);
});
