/**
 * Maps what the lane workflow reports to the event catalogue: milestone events, one
 * `crossing.completed` per vehicle with the whole record, `alarm.raised`, `operator.action`.
 * Every one goes to the lane it concerns (`{root}/{laneId}/{type}`): a crossing's events to its
 * lane, a lane's alarms and its operators' actions to that lane, never to the post pseudo-lane.
 * Pure: the caller emits the results through the gateway (outbox first).
 */
import type { Milestone } from '../../contract/catalogue.js';
import type { EventData, EventType } from '../../contract/catalogue.js';
import type { Crossing, WorkflowEvent } from './lane-workflow.js';

export interface CatalogueEvent<T extends EventType = EventType> {
  type: T;
  laneId: string;
  data: EventData<T>;
  subject?: string;
}

const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

function sinceArrival(crossing: Crossing, milestone: Milestone): number {
  const at = crossing.monoMs[milestone] ?? crossing.monoMs.arrived ?? 0;
  return Math.max(0, Math.round((at - (crossing.monoMs.arrived ?? at)) / 100) / 10);
}

type VehicleType = EventData<'vehicle.arrived'>['vehicleType'];
const VEHICLE_TYPES: readonly string[] = ['truck', 'tractor-trailer', 'van', 'bus', 'car', 'unknown'];
const vehicleType = (text: string): VehicleType => (VEHICLE_TYPES.includes(text.toLowerCase()) ? (text.toLowerCase() as VehicleType) : 'unknown');

/**
 * The catalogue events of one workflow event. `laneId` is the lane the event concerns (the lane
 * whose workflow, barrier or device raised it); milestones and completions go to their crossing's.
 */
export function toCatalogueEvents(postId: string, laneId: string, event: WorkflowEvent): CatalogueEvent[] {
  switch (event.kind) {
    case 'milestone':
      return milestoneEvent(event.crossing, event.milestone);
    case 'completed': {
      const { crossing } = event;
      const milestones = Object.fromEntries(Object.entries(crossing.wallMs).map(([m, ms]) => [m, iso(ms)])) as EventData<'crossing.completed'>['milestones'];
      return [
        {
          type: 'crossing.completed',
          laneId: crossing.laneId,
          subject: crossing.crossingId,
          data: {
            crossingId: crossing.crossingId,
            postId,
            laneId: crossing.laneId,
            direction: crossing.declaration?.direction ?? 'import',
            plate: crossing.plate,
            vehicleType: vehicleType(crossing.vehicleType),
            channel: crossing.risk?.channel ?? 'green',
            xray: crossing.monoMs.scanned !== undefined,
            milestones,
            durations: crossing.durationsAcrossRestart ? { ...event.durations, clock: 'wall-across-restart' } : event.durations,
            weightKg: crossing.weightKg,
            risk: crossing.risk ? { score: crossing.risk.score, modelVersion: crossing.risk.modelVersion, reasons: crossing.risk.reasons } : { score: 0, modelVersion: 'none', reasons: ['not assessed'] },
            xrayScreening: crossing.scan?.screening ?? null,
            clock: crossing.clock,
            outcome: event.outcome,
          },
        },
      ];
    }
    // `subject` is the crossing id wherever there is one (the envelope's contract).
    case 'alarm':
      return [{ type: 'alarm.raised', laneId, ...subjectOf(event.crossingId), data: { alarm: event.alarm, severity: event.severity ?? 'warning', message: event.message, details: { ...event.details, crossingId: event.crossingId } } }];
    case 'operator':
      return [{ type: 'operator.action', laneId, ...subjectOf(event.crossingId), data: { operatorId: event.actor.id, role: event.actor.role, action: event.action, before: event.before, after: event.after, reason: event.reason, crossingId: event.crossingId } }];
  }
}

const subjectOf = (crossingId: string | null): { subject?: string } => (crossingId === null ? {} : { subject: crossingId });

function milestoneEvent(crossing: Crossing, milestone: Milestone): CatalogueEvent[] {
  const base = { crossingId: crossing.crossingId, clock: crossing.clock, sinceArrivalSec: sinceArrival(crossing, milestone) };
  const at = { laneId: crossing.laneId, subject: crossing.crossingId };
  switch (milestone) {
    case 'arrived':
      return [{ ...at, type: 'vehicle.arrived', data: { ...base, plate: crossing.plate === null ? null : { text: crossing.plate }, vehicleType: vehicleType(crossing.vehicleType), detectedBy: crossing.detectedBy } }];
    case 'registered': {
      const d = crossing.declaration;
      if (!d) return [];
      return [{ ...at, type: 'vehicle.registered', data: { ...base, direction: d.direction, declaredWeightKg: d.declaredWeightKg, documents: d.documents, aeo: d.aeo } }];
    }
    case 'weighed':
      return [{ ...at, type: 'vehicle.weighed', data: { ...base, weightKg: crossing.weightKg ?? 0, deviceId: null } }];
    case 'riskAssessed': {
      const r = crossing.risk;
      if (!r) return [];
      return [
        {
          ...at,
          type: 'risk.assessed',
          data: { ...base, channel: r.channel, score: r.score, modelVersion: r.modelVersion, reasons: r.reasons, xrayRequested: r.xrayRequested, ...(r.features ? { features: r.features } : {}) },
        },
      ];
    }
    case 'scanned':
      return [{ ...at, type: 'xray.scanned', data: { ...base, scannerId: crossing.scan?.scannerId ?? 'unknown', result: crossing.scan?.result ?? 'clear', imageRef: crossing.scan?.imageRef ?? null, screening: crossing.scan?.screening ?? null } }];
    case 'inspected':
      return [{ ...at, type: 'inspection.completed', data: { ...base, outcome: crossing.inspectionOutcome ?? 'cleared' } }];
    case 'released':
      return [{ ...at, type: 'vehicle.released', data: { ...base } }];
    case 'exited':
      return [{ ...at, type: 'vehicle.exited', data: { ...base, plate: crossing.plate === null ? null : { text: crossing.plate } } }];
  }
}
