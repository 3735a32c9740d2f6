/**
 * The lane alarms an operator still has to see, each with the console action that resolves it.
 * An alarm is an event (`alarm.raised`); whether it still stands is read from the lane as it is
 * now — the crossing has its plate, the device is up again, the barrier cycle is over — so nothing
 * has to remember to clear it, and an alarm resolved by any path (the console, the registration
 * system, the device itself) goes. Alarms no action resolves (information: a plate mismatch at
 * the exit, a weight nobody registered) age out; so do unresolved ones, after a shift. Bounded per
 * lane, oldest dropped first. Held in memory: after a restart the console starts it with the
 * alarms the restored lanes still show standing (PostWorkflow.restoredAlarms: an unread plate, the
 * barrier alarm kept with an unfinished cycle), without their events being sent again.
 */
import type { Crossing } from './lane-workflow.js';

/** The console action (lane API step) that resolves an alarm; null when none does. */
export type ResolvedBy = 'plate' | 'weight' | 'channel' | 'inspection' | 'release' | 'barrier' | null;

export interface AlarmView {
  code: string;
  message: string;
  crossingId: string | null;
  /** ISO time it was raised (the post's clock). */
  at: string;
  resolvedBy: ResolvedBy;
  severity: 'info' | 'warning' | 'critical';
}

interface OpenAlarm extends AlarmView {
  atMs: number;
  details: Record<string, unknown>;
}

/** What the alarms of a lane are judged against. */
export interface LaneFacts {
  /** The open crossing with this id, if it is still open. */
  crossing(crossingId: string): Crossing | undefined;
  /** Health state of a device (`up`, `degraded`, `down`), if known. */
  health(deviceId: string): string | undefined;
  /** Kind of a device of the lane, by its driver. */
  deviceKind(deviceId: string): 'camera' | 'barrier' | 'weighbridge' | 'scanner' | undefined;
  /** The gateway's barrier cycle phase (`idle`, `open`, `closing`, `close-refused`, `close-failed`). */
  cyclePhase: string;
  /** The arm's last known position, if read. */
  barrierPosition: string | null;
}

export interface OpenAlarmsOptions {
  /** Alarms kept per lane. Default 20: more than a booth screen shows. */
  maxPerLane?: number;
  /** How long an alarm no action resolves stays. Default 30 minutes. */
  infoTtlMs?: number;
  /** How long an unresolved actionable alarm stays at most. Default 12 hours. */
  actionTtlMs?: number;
}

/** Which device kind's outage which action stands in for: the operator enters what it would have read. */
const BY_DEVICE: Record<string, ResolvedBy> = { camera: 'plate', weighbridge: 'weight', scanner: 'release', barrier: 'barrier' };

export class OpenAlarms {
  private readonly byLane = new Map<string, OpenAlarm[]>();
  private readonly maxPerLane: number;
  private readonly infoTtlMs: number;
  private readonly actionTtlMs: number;

  constructor(options: OpenAlarmsOptions = {}) {
    this.maxPerLane = options.maxPerLane ?? 20;
    this.infoTtlMs = options.infoTtlMs ?? 30 * 60_000;
    this.actionTtlMs = options.actionTtlMs ?? 12 * 3_600_000;
  }

  /** Records an alarm of `laneId` as raised; answers it as the console shows it. */
  raise(laneId: string, raised: { code: string; message: string; crossingId: string | null; atMs: number; severity: AlarmView['severity']; details: Record<string, unknown> }, facts: Pick<LaneFacts, 'deviceKind'>): AlarmView {
    const alarm: OpenAlarm = { ...raised, at: new Date(raised.atMs).toISOString(), resolvedBy: resolvedByOf(raised.code, raised.details, facts) };
    const list = this.byLane.get(laneId) ?? [];
    list.push(alarm);
    if (list.length > this.maxPerLane) list.splice(0, list.length - this.maxPerLane);
    this.byLane.set(laneId, list);
    return view(alarm);
  }

  /** A supervisor worked the barrier by hand: whatever the barrier alarms asked for is done. */
  barrierHandled(laneId: string): void {
    const list = this.byLane.get(laneId);
    if (list) this.byLane.set(laneId, list.filter((alarm) => alarm.resolvedBy !== 'barrier' || alarm.details.barrierId === undefined));
  }

  /** The alarms of a lane still standing at `nowMs`, oldest first; the others are forgotten. */
  open(laneId: string, facts: LaneFacts, nowMs: number): AlarmView[] {
    const list = (this.byLane.get(laneId) ?? []).filter((alarm) => !this.gone(alarm, facts, nowMs));
    this.byLane.set(laneId, list);
    return list.map(view);
  }

  private gone(alarm: OpenAlarm, facts: LaneFacts, nowMs: number): boolean {
    if (nowMs - alarm.atMs > (alarm.resolvedBy === null ? this.infoTtlMs : this.actionTtlMs)) return true;
    if (alarm.resolvedBy === null) return false;
    const { details } = alarm;
    if (alarm.code === 'WF_PLATE_UNREAD') {
      const crossing = alarm.crossingId === null ? undefined : facts.crossing(alarm.crossingId);
      return crossing === undefined || crossing.plate !== null;
    }
    if (alarm.code === 'WF_DEVICE_DOWN') return typeof details.deviceId !== 'string' || facts.health(details.deviceId) !== 'down';
    if (details.barrierId !== undefined) {
      // A close refused or failed stands until the cycle is over; a failed open until the arm is up.
      if (details.command === 'open') return facts.cyclePhase !== 'idle' || facts.barrierPosition === 'open';
      return facts.cyclePhase === 'idle' || facts.cyclePhase === 'open';
    }
    return alarm.crossingId !== null && facts.crossing(alarm.crossingId) === undefined;
  }
}

function resolvedByOf(code: string, details: Record<string, unknown>, facts: Pick<LaneFacts, 'deviceKind'>): ResolvedBy {
  if (code === 'WF_PLATE_UNREAD') return 'plate';
  if (code === 'WF_DEVICE_DOWN') {
    const kind = typeof details.deviceId === 'string' ? facts.deviceKind(details.deviceId) : undefined;
    return kind ? (BY_DEVICE[kind] ?? null) : null;
  }
  // Barrier outcomes carry the barrier's id; the one that reports a close made after all is news only.
  if (details.barrierId !== undefined && code !== 'WF_BARRIER_CLOSED_AFTER_RETRY') return 'barrier';
  return null;
}

function view(alarm: OpenAlarm): AlarmView {
  return { code: alarm.code, message: alarm.message, crossingId: alarm.crossingId, at: alarm.at, resolvedBy: alarm.resolvedBy, severity: alarm.severity };
}
