/** Valid events of the contract for VMC tests, each with the seq its gateway would give it. */
import { createEventFactory, type CloudEvent } from '../../contract/envelope.js';
import type { EventData } from '../../contract/catalogue.js';
import { ManualClock } from './manual-clock.js';

export function crossingData(postId: string, crossingId: string, minutes: number, extra: Partial<EventData<'crossing.completed'>> = {}): EventData<'crossing.completed'> {
  return {
    crossingId,
    postId,
    laneId: 'lane-1',
    direction: 'import',
    plate: 'AB123CD',
    vehicleType: 'truck',
    channel: 'green',
    xray: false,
    milestones: { arrived: '2026-11-26T06:00:00.000Z' },
    durations: { registrationSec: minutes * 30, crossingSec: minutes * 60 },
    weightKg: 20_000,
    risk: { score: 0.1, modelVersion: 'rules', reasons: [] },
    xrayScreening: null,
    clock: { synchronised: true, offsetMs: 0.5 },
    outcome: 'completed',
    ...extra,
  };
}

/** Makes the events of one gateway: seq counts up from 1 like its outbox's. */
export class EventMaker {
  readonly clock: ManualClock;
  private seq = 0;
  private readonly factory;

  constructor(readonly postId: string, clock = new ManualClock()) {
    this.clock = clock;
    this.factory = createEventFactory(postId, clock);
  }

  crossing(crossingId: string, minutes: number, extra: Partial<EventData<'crossing.completed'>> = {}): CloudEvent<'crossing.completed'> {
    this.clock.advance(1000);
    return { ...this.factory.create('crossing.completed', extra.laneId ?? 'lane-1', crossingData(this.postId, crossingId, minutes, extra), crossingId), seq: (this.seq += 1) };
  }

  deviceStatus(deviceId: string, state: 'up' | 'degraded' | 'down', laneId = 'lane-1'): CloudEvent<'device.status'> {
    this.clock.advance(1000);
    return { ...this.factory.create('device.status', laneId, { deviceId, state, lastError: state === 'up' ? null : 'timeout' }), seq: (this.seq += 1) };
  }

  alarm(code: string): CloudEvent<'alarm.raised'> {
    this.clock.advance(1000);
    return { ...this.factory.create('alarm.raised', 'post', { alarm: code, severity: 'warning', message: code, details: { n: 1 } }), seq: (this.seq += 1) };
  }

  released(crossingId: string): CloudEvent<'vehicle.released'> {
    this.clock.advance(1000);
    return { ...this.factory.create('vehicle.released', 'lane-1', { crossingId, clock: { synchronised: true, offsetMs: 0 }, sinceArrivalSec: 10 }, crossingId), seq: (this.seq += 1) };
  }
}
