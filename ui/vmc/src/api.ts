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
  return (await apiPage<T>(path, body)).body;
}

/**
 * As `api`, with the URL of the next page when the answer has one (`Link: <URL>; rel="next"`, as
 * GET /api/crossings and /api/gaps send) and the number of rows over all pages when it says
 * (`X-Total-Count`, as /api/gaps sends).
 */
export async function apiPage<T>(path: string, body?: unknown): Promise<{ body: T; next: string | null; total: number | null }> {
  const reply = await fetch(path, {
    method: body === undefined ? 'GET' : 'POST',
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await reply.json().catch(() => ({}))) as { code?: string; message?: string };
  if (!reply.ok) throw new ApiError(reply.status, json.code ?? 'UNKNOWN', json.message ?? reply.statusText);
  const next = /<([^>]*)>;\s*rel="next"/.exec(reply.headers.get('link') ?? '')?.[1] ?? null;
  const total = Number.parseInt(reply.headers.get('x-total-count') ?? '', 10);
  return { body: json as T, next, total: Number.isSafeInteger(total) && total >= 0 ? total : null };
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

/** `GET /api/me` and the login's answer: who is logged in. */
export interface Me {
  name: string;
  role: 'analyst' | 'admin';
}

/** A row of `GET /api/crossings`. */
export interface CrossingRow {
  eventId: string;
  crossingId: string;
  postId: string;
  laneId: string;
  direction: string;
  channel: string;
  xray: boolean;
  vehicleType: string;
  plate: string | null;
  outcome: string;
  completedAt: string;
  registrationMin: number | null;
  crossingMin: number | null;
}

export interface ScreeningRegion {
  x: number;
  y: number;
  width: number;
  height: number;
  density: number;
}

/** One piece of a crossing's evidence (`GET /api/crossings/{id}/evidence?post=`; vmc/evidence/evidence-records.ts). */
export interface EvidencePiece {
  digest: string;
  kind: 'plate-snapshot' | 'xray-thumbnail' | 'xray-image';
  contentType: string;
  bytes: number;
  deviceId: string | null;
  /** Chunks announced; 0: kept at the post until asked for; null: not announced. */
  chunks: number | null;
  count: number;
  received: number;
  complete: boolean;
  storedAt: string | null;
  of: string | null;
  imageWidth: number | null;
  imageHeight: number | null;
  problem: string | null;
  evictedAtPost: string | null;
  request: { commandId: string; requestedBy: string; requestedAt: string; answer: 'waiting' | 'applied' | 'refused'; reason: { code: string | null; message: string | null } | null } | null;
}

export interface CrossingEvidence {
  postId: string;
  crossingId: string;
  screening: { score: number; modelVersion: string; result: string | null; regions: ScreeningRegion[] } | null;
  pieces: EvidencePiece[];
}

/** Each post's versions as its latest answer to a watchlist or model command states them. */
export interface PostVersions {
  postId: string;
  watchlistVersion: number | null;
  watchlistPlates: number | null;
  modelCommandVersion: number | null;
  riskModel: string | null;
  xrayModel: string | null;
  updatedAt: string;
}

export interface CommandProgress {
  commandId: string;
  kind: 'watchlist.update' | 'model.rollout' | 'evidence.request';
  version: number;
  postIds: string[];
  summary: string;
  issuedBy: string;
  issuedAt: string;
  applied: string[];
  refused: { postId: string; code: string | null; message: string | null }[];
  waiting: string[];
}

/** `GET /api/commands`. */
export interface CommandsView {
  canSend: boolean;
  posts: PostVersions[];
  commands: CommandProgress[];
}

/** `GET /api/evidence/requests`. */
export interface EvidenceRequestsView {
  canSend: boolean;
  requests: CommandProgress[];
}
