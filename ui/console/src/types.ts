/**
 * What the console reads from the gateway's operator API (gateway/workflow/lane-routes.ts,
 * gateway/http/session-routes.ts, the live stream and the TRS report). Fields the gateway may not
 * send yet are optional: the console shows what it gets.
 */
import type { PersonRole } from '../../../gateway/auth/roles.js';
import type { TrsReport } from '../../../contract/trs-report.js';

export type { TrsReport };

/** GET /api/trs: the report of one of the post's days, with the day and its time zone. */
export interface TrsDay extends TrsReport {
  date: string;
  timeZone?: string;
  intervalMin?: number;
}

export interface SessionView {
  account: string;
  role: PersonRole;
  csrfToken: string;
  signedInAt: string;
  idleTimeoutSec: number;
  maxAgeSec: number;
  mustChangePassword: boolean;
}

export type Step = 'queue' | 'registration' | 'weighbridge' | 'scanner' | 'inspection' | 'barrier' | 'exit';
export const STEPS: readonly Step[] = ['queue', 'registration', 'weighbridge', 'scanner', 'inspection', 'barrier', 'exit'];

export type ChannelName = 'green' | 'orange' | 'red';
export type Resolution = 'plate' | 'weight' | 'channel' | 'inspection' | 'release' | 'barrier';

export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
  density?: number;
}

export interface CrossingView {
  crossingId: string;
  laneId: string;
  state: string;
  step?: Step;
  arrivedAt?: string | null;
  stepSince?: string | null;
  plate: string | null;
  plateConfidence: number | null;
  snapshotUrl?: string | null;
  vehicleType?: string;
  direction?: string | null;
  declaredWeightKg: number | null;
  weightKg: number | null;
  channel: ChannelName | null;
  risk?: { channel?: ChannelName; score?: number; modelVersion?: string; reasons?: string[] } | null;
  scan?: {
    status?: string;
    result?: string;
    scannerId?: string;
    regions?: Region[];
    thumbnailUrl?: string | null;
    imageWidth?: number;
    imageHeight?: number;
    screening?: { score?: number; modelVersion?: string; regions?: Region[] } | null;
  } | null;
  milestones?: Record<string, string>;
}

export interface AlarmView {
  code: string;
  severity?: 'info' | 'warning' | 'critical';
  message: string;
  crossingId: string | null;
  at: string;
  resolvedBy: Resolution | null;
}

export interface DeviceView {
  id: string;
  driver: string;
  role?: string;
  health: { state: 'up' | 'degraded' | 'down'; lastError?: string | null; sinceMs?: number } | null;
}

export interface BarrierView {
  phase?: string;
  /** The last reading: open, closed, moving or fault (the lane API's), null before one. */
  position?: string | null;
  /** The loop (a vehicle on it), from the barrier's last reading. */
  vehiclePresent?: boolean | null;
  photocellBlocked?: boolean | null;
  /** The gateway's cycle: whether it saw the loop occupied (before any reading came). */
  loopActive?: boolean;
  waiting?: number;
}

export interface LaneView {
  laneId: string;
  name: string | null;
  directions?: string[];
  devices: DeviceView[];
  barrier: BarrierView | null;
  crossings: CrossingView[];
  alarms?: AlarmView[];
  /** The post clock's wall time when this view was made (the demo runs it fast). */
  viewAt?: string;
  /** Post-clock milliseconds per real millisecond (1 in production). */
  clockSpeed?: number;
}

export interface AuditEntry {
  seq: number;
  timeMs: number;
  actor: string;
  role: string;
  action: string;
  laneId: string | null;
  crossingId: string | null;
  before: string | null;
  after: string | null;
  reason: string | null;
  eventId: string | null;
  hash: string;
}

export interface AuditVerdict {
  ok: boolean;
  entries: number;
  lastSeq: number;
  problems: { seq: number; problem: string }[];
}
