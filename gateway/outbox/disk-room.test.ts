import { describe, expect, it } from 'vitest';
import { ROOM_REUSE_MARGIN_BYTES, ROOM_REUSE_MS, RecentDiskRoom, type DiskRoom } from './disk-room.js';

const MiB = 1024 * 1024;
const RESERVE = 4 * MiB;

/** A gauge whose free space the test sets, counting how often it is measured. */
function gauge(initialFree: number): { free: number; measured: number; monotonic: number; room: RecentDiskRoom } {
  const state = { free: initialFree, measured: 0, monotonic: 0, room: null as unknown as RecentDiskRoom };
  const measure = (): DiskRoom => {
    state.measured += 1;
    return { availableBytes: state.free, freeBytes: state.free, freePagesBytes: 0, checkpointBytes: 0, walGrowthBytes: 0 };
  };
  state.room = new RecentDiskRoom(measure, () => state.monotonic, () => ({ started: 0, finished: 0 }));
  return state;
}

describe('RecentDiskRoom', () => {
  it('reuses a measurement far from the reserve for up to a second, less what was written since', () => {
    const disk = gauge(1024 * MiB);
    expect(disk.room.roomFor(10_000, RESERVE).availableBytes).toBe(1024 * MiB);
    disk.room.spent(100 * MiB);
    disk.free = 10; // another writer filled the disk: not seen until the next measurement
    disk.monotonic = ROOM_REUSE_MS - 1;
    expect(disk.room.roomFor(10_000, RESERVE).availableBytes).toBe(924 * MiB);
    expect(disk.measured).toBe(1);
    disk.monotonic = ROOM_REUSE_MS;
    expect(disk.room.roomFor(10_000, RESERVE).availableBytes).toBe(10);
    expect(disk.measured).toBe(2);
  });

  it('measures before every commit once the reserve and the margin are near', () => {
    const nearby = RESERVE + ROOM_REUSE_MARGIN_BYTES + 50_000;
    const disk = gauge(nearby);
    disk.room.roomFor(10_000, RESERVE);
    // Still beyond the margin after this batch: reused.
    expect(disk.room.roomFor(10_000, RESERVE).availableBytes).toBe(nearby);
    expect(disk.measured).toBe(1);
    // What was written since brings the next batch within the margin: measured afresh.
    disk.room.spent(45_000);
    disk.free = RESERVE + 1000;
    expect(disk.room.roomFor(10_000, RESERVE).availableBytes).toBe(RESERVE + 1000);
    expect(disk.measured).toBe(2);
    // And every time while it stays there.
    expect(disk.room.roomFor(10, RESERVE).availableBytes).toBe(RESERVE + 1000);
    expect(disk.measured).toBe(3);
  });

  it('counts a batch larger than the margin against the measurement it would reuse', () => {
    const disk = gauge(RESERVE + ROOM_REUSE_MARGIN_BYTES + MiB);
    disk.room.roomFor(0, RESERVE);
    disk.room.roomFor(2 * MiB, RESERVE);
    expect(disk.measured).toBe(2);
  });

  it('takes off what this process wrote to files since, a write in progress whole, and measures once that nears the margin', () => {
    const writes = { started: 0, finished: 0 };
    let measured = 0;
    const room = new RecentDiskRoom(
      () => {
        measured += 1;
        return { availableBytes: 1024 * MiB, freeBytes: 1024 * MiB, freePagesBytes: 0, checkpointBytes: 0, walGrowthBytes: 0 };
      },
      () => 0,
      () => ({ ...writes }),
    );
    writes.started = 5 * MiB; // a write in progress when it is measured: statfs saw part of it at most
    writes.finished = 0;
    room.roomFor(0, RESERVE);
    expect(room.roomFor(0, RESERVE).availableBytes).toBe(1019 * MiB);
    writes.finished = 5 * MiB;
    writes.started += 190 * MiB; // a scan pushed and written in the second that follows
    expect(room.roomFor(0, RESERVE).availableBytes).toBe(829 * MiB);
    expect(measured).toBe(1);
    writes.started += 800 * MiB; // and its copy into the evidence store: within the margin now
    expect(room.roomFor(0, RESERVE).availableBytes).toBe(1024 * MiB);
    expect(measured).toBe(2);
  });

  it('measures again after a measurement that threw', () => {
    let fail = true;
    let measured = 0;
    const room = new RecentDiskRoom(() => {
      measured += 1;
      if (fail) throw new Error('ENOSYS');
      return { availableBytes: 1024 * MiB, freeBytes: 1024 * MiB, freePagesBytes: 0, checkpointBytes: 0, walGrowthBytes: 0 };
    }, () => 0, () => ({ started: 0, finished: 0 }));
    expect(() => room.roomFor(0, RESERVE)).toThrow('ENOSYS');
    fail = false;
    expect(room.roomFor(0, RESERVE).availableBytes).toBe(1024 * MiB);
    expect(measured).toBe(2);
  });
});
