import { describe, expect, it } from 'vitest';
import { actionFits, targetNow, type ActionTarget } from './actions.js';
import type { CrossingView, LaneView } from './types.js';

function crossing(crossingId: string, state: string): CrossingView {
  return { crossingId, laneId: 'lane-1', state, plate: 'AB123CD', plateConfidence: 0.9, declaredWeightKg: 40_000, weightKg: null, channel: null };
}

function lanes(...crossings: CrossingView[]): LaneView[] {
  return [
    { laneId: 'lane-1', name: null, devices: [], barrier: null, crossings },
    { laneId: 'lane-2', name: null, devices: [], barrier: null, crossings: [] },
  ];
}

describe('an action dialog against the live lanes', () => {
  const registered = crossing('c-1', 'registered');
  const weigh: ActionTarget = { kind: 'weight', laneId: 'lane-1', crossing: registered };

  it('still applies while its vehicle is where the action needs it, with the vehicle as it is now', () => {
    const now = crossing('c-1', 'registered');
    now.plate = 'AB124CD';
    expect(targetNow(weigh, lanes(crossing('c-0', 'arrived'), now))).toEqual({ applies: true, crossing: now });
  });

  it('no longer applies once the vehicle moved past that state (weighed by the weighbridge, released)', () => {
    const weighed = crossing('c-1', 'weighed');
    expect(targetNow(weigh, lanes(weighed))).toEqual({ applies: false, why: 'moved', crossing: weighed });
    const released = crossing('c-1', 'released');
    expect(targetNow({ kind: 'release', laneId: 'lane-1', crossing: crossing('c-1', 'scanning') }, lanes(released))).toEqual({ applies: false, why: 'moved', crossing: released });
    expect(targetNow({ kind: 'inspection', laneId: 'lane-1', crossing: crossing('c-1', 'inspecting') }, lanes(released))).toMatchObject({ applies: false, why: 'moved' });
  });

  it('no longer applies once the vehicle left the lane (its crossing closed), whatever the action', () => {
    for (const kind of ['plate', 'weight', 'channel', 'inspection', 'release'] as const) {
      expect(targetNow({ kind, laneId: 'lane-1', crossing: crossing('c-1', 'risk-assessed') }, lanes(crossing('c-2', 'arrived')))).toEqual({ applies: false, why: 'gone' });
    }
    // The same crossing id on another lane is not this vehicle.
    expect(targetNow({ ...weigh, laneId: 'lane-2' }, lanes(registered))).toEqual({ applies: false, why: 'gone' });
  });

  it('always applies to the lane\'s barrier', () => {
    expect(targetNow({ kind: 'barrier', laneId: 'lane-1', crossing: null }, lanes())).toEqual({ applies: true, crossing: null });
  });

  it('fits each action to the states the workflow takes it in', () => {
    expect(actionFits('weight', registered)).toBe(true);
    expect(actionFits('weight', crossing('c-1', 'weighed'))).toBe(false);
    expect(actionFits('plate', crossing('c-1', 'released'))).toBe(true);
    expect(actionFits('plate', crossing('c-1', 'exited'))).toBe(false);
    expect(actionFits('barrier', null)).toBe(true);
    expect(actionFits('release', null)).toBe(false);
  });
});
