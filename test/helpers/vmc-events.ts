/** Valid events of the contract for VMC tests, each with the seq its gateway would give it. */
import { createHash } from 'node:crypto';
import { createEventFactory, type CloudEvent } from '../../contract/envelope.js';
import { EVIDENCE_CHUNK_BYTES, type EventData, type EventType, type EvidenceKind } from '../../contract/catalogue.js';
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

  /** Any event of the catalogue, with this gateway's next seq. */
  event<T extends EventType>(type: T, laneId: string, data: EventData<T>, subject?: string): CloudEvent<T> {
    this.clock.advance(1000);
    return { ...this.factory.create(type, laneId, data, subject), seq: (this.seq += 1) };
  }

  xrayScanned(crossingId: string, screening: EventData<'xray.scanned'>['screening'], laneId = 'lane-1'): CloudEvent<'xray.scanned'> {
    this.clock.advance(1000);
    const data: EventData<'xray.scanned'> = {
      crossingId, clock: { synchronised: true, offsetMs: 0 }, sinceArrivalSec: 300, scannerId: 'xray-1', result: screening && screening.score >= 0.5 ? 'suspect' : 'clear', imageRef: null, screening,
    };
    return { ...this.factory.create('xray.scanned', laneId, data, crossingId), seq: (this.seq += 1) };
  }

  /** The `evidence.stored` of `bytes` (the digest computed from them). */
  evidenceStored(
    bytes: Buffer,
    kind: EvidenceKind,
    contentType: string,
    crossingId: string | null,
    extra: Partial<EventData<'evidence.stored'>> = {},
    laneId = 'lane-1',
  ): CloudEvent<'evidence.stored'> {
    this.clock.advance(1000);
    const data: EventData<'evidence.stored'> = { digest: digestOf(bytes), kind, contentType, bytes: bytes.length, crossingId, deviceId: 'cam-1', chunks: chunkCountOf(bytes.length), ...extra };
    return { ...this.factory.create('evidence.stored', laneId, data, crossingId ?? undefined), seq: (this.seq += 1) };
  }

  /**
   * The post's answer to a watchlist command `commandId` of `version`: `command.applied` (the post
   * now at that version), or `command.refused` with `refusedCode` (the post's list unchanged).
   */
  watchlistAnswer(commandId: string, version: number, refusedCode?: string): CloudEvent<'command.applied' | 'command.refused'> {
    this.clock.advance(1000);
    const answer = { commandId, kind: 'watchlist.update' as const, version };
    const event =
      refusedCode === undefined
        ? this.factory.create('command.applied', 'post', { ...answer, current: { watchlistVersion: version, watchlistPlates: 1, modelCommandVersion: null, models: { risk: null, xrayScreening: null } } })
        : this.factory.create('command.refused', 'post', {
            ...answer,
            current: { watchlistVersion: null, watchlistPlates: 0, modelCommandVersion: null, models: { risk: null, xrayScreening: null } },
            reason: { code: refusedCode, message: refusedCode },
          });
    return { ...event, seq: (this.seq += 1) };
  }

  /** The `evidence.chunk` events that carry `bytes`, in order (each a seq of its own). */
  evidenceChunks(bytes: Buffer, kind: EvidenceKind, contentType: string, extra: { requestId?: string; digest?: string } = {}, laneId = 'lane-1'): CloudEvent<'evidence.chunk'>[] {
    const count = chunkCountOf(bytes.length);
    return Array.from({ length: count }, (_, index) => {
      this.clock.advance(10);
      const data: EventData<'evidence.chunk'> = {
        digest: extra.digest ?? digestOf(bytes), kind, contentType, bytes: bytes.length, index, count,
        data: bytes.subarray(index * EVIDENCE_CHUNK_BYTES, (index + 1) * EVIDENCE_CHUNK_BYTES).toString('base64'),
        ...(extra.requestId !== undefined ? { requestId: extra.requestId } : {}),
      };
      return { ...this.factory.create('evidence.chunk', laneId, data), seq: (this.seq += 1) };
    });
  }
}

export const digestOf = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const chunkCountOf = (bytes: number): number => Math.max(1, Math.ceil(bytes / EVIDENCE_CHUNK_BYTES));

/**
 * A model manifest of the shape the posts load, naming `onnx` by its sha256: what the VMC checks
 * before it signs a rollout. Its signature is the posts' to verify (with their model keys), never
 * the VMC's: a stand-in here.
 */
export function rolloutManifest(onnx: Buffer, version: string): Record<string, unknown> {
  return {
    kind: 'risk',
    name: 'risk-gbt',
    version,
    file: 'risk.onnx',
    sha256: createHash('sha256').update(onnx).digest('hex'),
    createdAt: '2026-11-29T10:00:00Z',
    features: [],
    baseline: [],
    thresholds: { orange: 0.5, red: 0.8 },
    quality: {},
    signature: { algorithm: 'ed25519', keyId: 'test', value: 'dGVzdA==' },
  };
}
