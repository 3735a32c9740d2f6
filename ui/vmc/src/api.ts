/** The VMC API with the session cookie; a refusal keeps the API's `{code, message}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T>(path: string, body?: unknown): Promise<T> {
  const reply = await fetch(path, {
    method: body === undefined ? 'GET' : 'POST',
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await reply.json().catch(() => ({}))) as { code?: string; message?: string };
  if (!reply.ok) throw new ApiError(reply.status, json.code ?? 'UNKNOWN', json.message ?? reply.statusText);
  return json as T;
}

/** The answer of `GET /api/trs`: the contract's TRS report, the same the gateway computes. */
export type { Summary, TrsReport } from '../../../contract/trs-report.js';

export interface Post {
  postId: string;
  lastSeen: string;
  lastSeq: number;
  status: { state: string; reason: string | null; time: string } | null;
  lanes: { laneId: string; lastSeen: string }[];
  devices: { deviceId: string; laneId: string; state: string; lastError: string | null; reported: string }[];
  openGaps: number;
  /** The latest restart of the gateway's seq (a new outbox), null if none seen. */
  lastSeqRestart: { at: string; firstSeq: number; previousSeq: number } | null;
}

export interface Gap {
  id: number;
  postId: string;
  kind: 'missing' | 'restart';
  firstSeq: number;
  lastSeq: number;
  missing: number;
  openedAt: string;
  closedAt: string | null;
}

export interface Alarm {
  eventId: string;
  postId: string;
  laneId: string;
  alarm: string;
  severity: string;
  message: string;
  time: string;
}

export interface PeriodVolume {
  period: string;
  vehicles: number;
  byDirection: Record<string, number>;
  byChannel: Record<string, number>;
  xrayShare: number;
  avgRegistrationMin: number | null;
  avgCrossingMin: number;
  changeVsPreviousYear: number | null;
}
