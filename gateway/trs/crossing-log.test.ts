/**
 * The gateway's own log of completed crossings: written only inside the event's transaction and
 * with whatever else that transaction writes, once per event, on the post's local day, bounded.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { EventDraft } from '../../contract/envelope.js';
import { CrossingLog, PRUNE_PER_CROSSING, isCalendarDay } from './crossing-log.js';

function completed(id: string, exited: string, outcome: 'completed' | 'abandoned' = 'completed', crossingSec = 600): EventDraft {
  return {
    specversion: '1.0',
    id,
    source: '/border/p1/lane-1',
    type: 'crossing.completed',
    time: exited,
    datacontenttype: 'application/json',
    data: { crossingId: `c-${id}`, laneId: 'lane-1', direction: 'export', channel: 'orange', xray: true, milestones: { arrived: exited, exited }, durations: { registrationSec: 60, crossingSec }, outcome },
  } as unknown as EventDraft;
}

describe('the crossing log', () => {
  it('records a completed crossing and hands the event on to the next hook, whose result stands', () => {
    const db = new Database(':memory:');
    const log = new CrossingLog(db, { utcOffsetMin: 0 });
    const event = completed('e1', '2026-11-26T10:00:00.000Z');
    const stamped = log.within((draft) => ({ ...draft, subject: 'from the next hook' }))(event, db);
    expect(stamped.subject).toBe('from the next hook');
    expect(log.day('2026-11-26')).toEqual([{ id: 'e1', direction: 'export', channel: 'orange', xray: true, registrationMin: 1, crossingMin: 10 }]);
  });

  it('counts an event once, and leaves abandoned crossings and other events out', () => {
    const db = new Database(':memory:');
    const log = new CrossingLog(db, { utcOffsetMin: 0 });
    const within = log.within();
    within(completed('e1', '2026-11-26T10:00:00.000Z'), db);
    within(completed('e1', '2026-11-26T10:00:00.000Z'), db);
    within(completed('e2', '2026-11-26T11:00:00.000Z', 'abandoned'), db);
    within({ ...completed('e3', '2026-11-26T12:00:00.000Z'), type: 'vehicle.exited' }, db);
    expect(log.day('2026-11-26').map((r) => r.id)).toEqual(['e1']);
    expect(log.size).toBe(1);
  });

  it('files a crossing under the post\'s local day', () => {
    const db = new Database(':memory:');
    const log = new CrossingLog(db, { utcOffsetMin: -300 });
    log.within()(completed('late', '2026-11-27T03:30:00.000Z'), db);
    expect(log.day('2026-11-26').map((r) => r.id)).toEqual(['late']);
    expect(log.dayOf(Date.parse('2026-11-27T05:00:00.000Z'))).toBe('2026-11-27');
  });

  it('keeps its retention days and its row bound, oldest going first', () => {
    const db = new Database(':memory:');
    const log = new CrossingLog(db, { utcOffsetMin: 0, retentionDays: 2, maxRows: 3 });
    const within = log.within();
    for (const [n, day] of ['2026-11-20', '2026-11-24', '2026-11-25', '2026-11-25', '2026-11-26'].entries()) within(completed(`e${n}`, `${day}T10:0${n}:00.000Z`), db);
    // 11-20 is older than two days before 11-26; of the rest, the oldest beyond three rows went.
    expect(log.size).toBe(3);
    expect([...log.day('2026-11-25'), ...log.day('2026-11-26')].map((r) => r.id)).toEqual(['e2', 'e3', 'e4']);
    // Counted again on open, not trusted from memory.
    expect(new CrossingLog(db, { utcOffsetMin: 0 }).size).toBe(3);
  });

  it('keeps the earlier days when one crossing is stamped a year ahead (a clock step)', () => {
    const db = new Database(':memory:');
    const log = new CrossingLog(db, { utcOffsetMin: 0 });
    const within = log.within();
    const days = ['2026-11-20', '2026-11-21', '2026-11-22', '2026-11-23', '2026-11-24', '2026-11-25'];
    for (const [n, day] of days.entries()) within(completed(`e${n}`, `${day}T10:00:00.000Z`), db);
    within(completed('ahead', '2027-11-26T10:00:00.000Z'), db);
    // …and the post's next crossings, on the right clock again.
    within(completed('next', '2026-11-26T10:00:00.000Z'), db);
    for (const [n, day] of days.entries()) expect(log.day(day).map((r) => r.id), day).toEqual([`e${n}`]);
    expect(log.day('2027-11-26').map((r) => r.id)).toEqual(['ahead']);
    expect(log.size).toBe(8);
    // After a restart too: the recent exit times are read back, not the one odd time alone.
    const reopened = new CrossingLog(db, { utcOffsetMin: 0 });
    reopened.within()(completed('after-restart', '2026-11-26T11:00:00.000Z'), db);
    expect(reopened.size).toBe(9);
  });

  it('goes over to a clock that really stepped a little at a time, never in one crossing', () => {
    const db = new Database(':memory:');
    const log = new CrossingLog(db, { utcOffsetMin: 0 });
    const within = log.within();
    // Two crossings a day through November.
    for (let n = 0; n < 40; n += 1) within(completed(`old${n}`, `2026-11-${String(Math.floor(n / 2) + 1).padStart(2, '0')}T1${n % 2}:00:00.000Z`), db);
    const sizes: number[] = [];
    for (let n = 0; n < 8; n += 1) {
      within(completed(`new${n}`, `2027-11-26T10:0${n}:00.000Z`), db);
      sizes.push(log.size);
    }
    // Nothing goes until most of the last nine crossings agree (the fifth), then at most
    // PRUNE_PER_CROSSING rows per crossing: one in, four out.
    expect(PRUNE_PER_CROSSING).toBe(4);
    expect(sizes).toEqual([41, 42, 43, 44, 41, 38, 35, 32]);
    expect(log.day('2026-11-20').map((r) => r.id)).toEqual(['old38', 'old39']);
  });

  it('knows a calendar day', () => {
    expect(['2026-11-26', '2028-02-29'].every(isCalendarDay)).toBe(true);
    expect(['2026-02-29', '2026-13-01', '2026-11-26T00:00', '26-11-2026'].some(isCalendarDay)).toBe(false);
  });
});
