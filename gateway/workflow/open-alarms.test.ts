/**
 * Which console action resolves which alarm, and when an alarm stops standing: read from the lane
 * as it is, so it goes however it was resolved; news ages out; a lane holds a bounded number.
 */
import { describe, expect, it } from 'vitest';
import type { Crossing } from './lane-workflow.js';
import { OpenAlarms, type LaneFacts } from './open-alarms.js';

const T0 = Date.UTC(2026, 10, 26, 6, 0, 0);
const KINDS: Record<string, ReturnType<LaneFacts['deviceKind']>> = { cam: 'camera', scale: 'weighbridge', gate: 'barrier', xray: 'scanner' };

function facts(overrides: Partial<LaneFacts> = {}): LaneFacts {
  return { crossing: () => undefined, health: () => 'up', deviceKind: (id) => KINDS[id], cyclePhase: 'idle', barrierPosition: 'closed', ...overrides };
}

const raise = (alarms: OpenAlarms, code: string, details: Record<string, unknown> = {}, crossingId: string | null = null, atMs = T0) =>
  alarms.raise('lane-1', { code, message: code, crossingId, atMs, severity: 'warning', details }, facts());

describe('open alarms', () => {
  it('names the action that resolves each alarm', () => {
    const alarms = new OpenAlarms();
    expect(raise(alarms, 'WF_PLATE_UNREAD', {}, 'c1').resolvedBy).toBe('plate');
    expect(['cam', 'scale', 'gate', 'xray'].map((deviceId) => raise(alarms, 'WF_DEVICE_DOWN', { deviceId }).resolvedBy)).toEqual(['plate', 'weight', 'barrier', 'release']);
    expect(raise(alarms, 'GW_ERR_BARRIER_UNSAFE', { barrierId: 'gate', command: 'close', input: 'loop' }).resolvedBy).toBe('barrier');
    expect(raise(alarms, 'WF_BARRIER_CLOSED_AFTER_RETRY', { barrierId: 'gate', command: 'close' }).resolvedBy).toBeNull();
    expect(raise(alarms, 'WF_PLATE_MISMATCH', {}, 'c2').resolvedBy).toBeNull();
  });

  it('drops an alarm once the lane shows it resolved, by whatever path', () => {
    const alarms = new OpenAlarms();
    raise(alarms, 'WF_PLATE_UNREAD', {}, 'c1');
    raise(alarms, 'WF_DEVICE_DOWN', { deviceId: 'scale' });
    raise(alarms, 'GW_ERR_BARRIER_UNSAFE', { barrierId: 'gate', command: 'close' });
    const unread = { plate: null } as Crossing;
    const open = (f: Partial<LaneFacts>) => alarms.open('lane-1', facts(f), T0 + 1000).map((a) => a.code);
    expect(open({ crossing: () => unread, health: () => 'down', cyclePhase: 'close-refused' })).toEqual(['WF_PLATE_UNREAD', 'WF_DEVICE_DOWN', 'GW_ERR_BARRIER_UNSAFE']);
    // The registration system gave the plate; the weighbridge came back; the arm closed.
    expect(open({ crossing: () => ({ plate: 'AB123CD' }) as Crossing, health: () => 'down', cyclePhase: 'close-refused' })).toEqual(['WF_DEVICE_DOWN', 'GW_ERR_BARRIER_UNSAFE']);
    expect(open({ health: () => 'degraded', cyclePhase: 'close-refused' })).toEqual(['GW_ERR_BARRIER_UNSAFE']);
    expect(open({ cyclePhase: 'idle' })).toEqual([]);
  });

  it('drops the barrier alarms when a supervisor works the barrier by hand', () => {
    const alarms = new OpenAlarms();
    raise(alarms, 'GW_ERR_BARRIER_NOT_CONFIRMED', { barrierId: 'gate', command: 'open' });
    raise(alarms, 'WF_DEVICE_DOWN', { deviceId: 'gate' });
    alarms.barrierHandled('lane-1');
    expect(alarms.open('lane-1', facts({ health: () => 'down' }), T0).map((a) => a.code)).toEqual(['WF_DEVICE_DOWN']);
  });

  it('ages news out after 30 minutes and unresolved alarms after 12 hours, and keeps 20 a lane', () => {
    const alarms = new OpenAlarms();
    raise(alarms, 'WF_EXIT_UNKNOWN');
    raise(alarms, 'WF_PLATE_UNREAD', {}, 'c1');
    const stillUnread = facts({ crossing: () => ({ plate: null }) as Crossing });
    expect(alarms.open('lane-1', stillUnread, T0 + 30 * 60_000 + 1).map((a) => a.code)).toEqual(['WF_PLATE_UNREAD']);
    expect(alarms.open('lane-1', stillUnread, T0 + 12 * 3_600_000 + 1)).toEqual([]);
    for (let n = 0; n < 25; n += 1) raise(alarms, 'WF_TWO_VEHICLES_ONE_CYCLE', { n }, null, T0 + n);
    const kept = alarms.open('lane-1', facts(), T0 + 100);
    expect(kept).toHaveLength(20);
    expect(kept[0]?.at).toBe(new Date(T0 + 5).toISOString());
  });
});
