import { describe, expect, it } from 'vitest';
import { canonicalPlate } from '../../core/plates.js';
import { VisitHistory } from './visit-history.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 1);

describe('VisitHistory', () => {
  it('counts the arrivals of the last 30 days before a moment, OCR-tolerant', () => {
    const history = new VisitHistory();
    history.recordArrival('AB-123-CD', T0);
    history.recordArrival('AB-I23-CD', T0 + DAY);
    expect(history.visits('AB-123-CD', T0 + 2 * DAY)).toBe(2);
    expect(history.visits('AB-123-CD', T0 + DAY)).toBe(1);
    expect(history.visits('AB-123-CD', T0 + 30 * DAY + 1)).toBe(1);
    expect(history.visits(null, T0)).toBe(0);
  });

  it('forgets a plate once its last arrival has left the window, as a restarted gateway would', () => {
    const history = new VisitHistory();
    // A month of passing traffic, every plate seen once: the map must not keep them all.
    for (let i = 0; i < 1000; i += 1) history.recordArrival(`XX-${String(i).padStart(3, '0')}-YY`, T0 + i * (DAY / 10));
    const now = T0 + 999 * (DAY / 10);
    expect(history.size.plates).toBe(301); // the last 30 days: arrivals 699…999
    expect(history.size.arrivals).toBe(301);
    expect(history.visits('XX-698-YY', now)).toBe(0);
    expect(history.visits('XX-699-YY', now)).toBe(1);
  });

  it('keeps a plate that keeps coming back, with only its arrivals in the window', () => {
    const history = new VisitHistory();
    for (let day = 0; day < 90; day += 1) {
      history.recordArrival('AB-123-CD', T0 + day * DAY);
      history.recordArrival(`ONCE-${day}`, T0 + day * DAY);
    }
    const last = T0 + 89 * DAY;
    expect(history.visits('AB-123-CD', last + 1)).toBe(30);
    // Days 59…89: AB-123-CD's 31 arrivals and the 31 plates seen once on those days.
    expect(history.size.plates).toBe(32);
    expect(history.size.arrivals).toBe(62);
  });

  it('holds at most maxArrivals arrival times, dropping the plates seen longest ago', () => {
    const history = new VisitHistory({ maxArrivals: 10 });
    for (let i = 0; i < 25; i += 1) history.recordArrival(`P-${i}`, T0 + i * 1000);
    expect(history.size.arrivals).toBe(10);
    expect(history.visits('P-14', T0 + DAY)).toBe(0);
    expect(history.visits('P-15', T0 + DAY)).toBe(1);
    // A plate seen again moves to the back and outlives those seen once after its first arrival.
    history.recordArrival('P-15', T0 + 30_000);
    for (let i = 0; i < 8; i += 1) history.recordArrival(`Q-${i}`, T0 + 40_000 + i);
    expect(history.visits('P-15', T0 + DAY)).toBe(2);
    expect(history.visits('P-24', T0 + DAY)).toBe(0);
    expect(history.size.arrivals).toBe(10);
  });

  it('restores what the store kept, in order of last arrival, within the same bounds', () => {
    const history = new VisitHistory({ maxArrivals: 3 });
    history.restore(
      new Map([
        [canonicalPlate('LL-555-LL'), [T0 + 5000]],
        [canonicalPlate('EE-111-EE'), [T0 + 1000, T0 + 2000]],
        [canonicalPlate('MM-333-MM'), [T0 + 3000]],
      ]),
      new Map([[canonicalPlate('AB-123-CD'), 2]]),
    );
    // Four arrivals for three places: EE-111-EE (last seen first) goes.
    expect(history.visits('EE-111-EE', T0 + DAY)).toBe(0);
    expect(history.visits('MM-333-MM', T0 + DAY)).toBe(1);
    expect(history.visits('LL-555-LL', T0 + DAY)).toBe(1);
    expect(history.mismatchesOf('AB-123-CD')).toBe(2);
  });

  it('remembers mismatches for at most maxMismatchPlates plates, the longest unchanged forgotten first', () => {
    const history = new VisitHistory({ maxMismatchPlates: 2 });
    history.recordMismatch('AA-111-AA');
    history.recordMismatch('BB-222-BB');
    history.recordMismatch('AA-111-AA');
    history.recordMismatch('CC-333-CC');
    expect(history.mismatchesOf('AA-111-AA')).toBe(2);
    expect(history.mismatchesOf('BB-222-BB')).toBe(0);
    expect(history.mismatchesOf('CC-333-CC')).toBe(1);
    expect(history.size.mismatchPlates).toBe(2);
  });
});
