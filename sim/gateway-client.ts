/**
 * The simulator's side of the lane API: the post's registration system and its inspectors, as
 * HTTP calls to the gateway (`/api/lanes/...`), authenticated like the real ones: the registration
 * system with its client token (`Authorization: Bearer NAME.SECRET`), the inspectors and the
 * officer as one supervisor account that logs in (and in again when its session expires). The
 * simulator knows only the address from the post's configuration.
 *
 * A gateway that does not answer — not (yet) listening, restarting, timing out, answering 5xx —
 * is a DeskUnavailable, which the traffic retries (traffic.ts); whether the request may have
 * taken effect anyway is part of the error, so a registration whose answer was lost is looked up
 * (`openCrossings`) before it is sent again, never registered twice.
 */
import { readFileSync } from 'node:fs';

export interface CrossingView {
  crossingId: string;
  state: string;
  channel: string | null;
}

/** An open crossing as the lane's list shows it (`GET /api/lanes/:laneId`). */
export interface OpenCrossingView extends CrossingView {
  plate: string | null;
  direction: string | null;
  declaredWeightKg: number | null;
  /** When it registered (ISO), if it has: the order the lane weighs in. */
  registeredAt?: string | null;
}

/**
 * The lane API as the simulated registration system and inspectors use it. A call the gateway
 * could not answer rejects with a DeskUnavailable (or a network error `deskUnavailable` knows);
 * any other rejection is a refusal, not retried.
 */
export interface LaneDesk {
  register(laneId: string, request: Record<string, unknown>): Promise<CrossingView>;
  /** The crossing's current view, or null once it is closed (exited or abandoned). */
  crossing(laneId: string, crossingId: string): Promise<CrossingView | null>;
  inspection(laneId: string, crossingId: string, outcome: 'cleared' | 'irregularity'): Promise<void>;
  release(laneId: string, crossingId: string, reason: string): Promise<void>;
  /**
   * The lane's open crossings. Optional; with it, a registration whose answer was lost is found
   * instead of sent again (a second POST would register another vehicle, or make a second crossing).
   */
  openCrossings?(laneId: string): Promise<OpenCrossingView[]>;
}

/**
 * The lane API could not answer: nothing listening (ECONNREFUSED: the gateway restarting), the
 * connection broken or timed out, or an answer of 5xx or 429. Worth retrying.
 */
export class DeskUnavailable extends Error {
  constructor(
    message: string,
    /** The request may have taken effect: its answer, not the request itself, was lost. */
    readonly maybeApplied: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DeskUnavailable';
  }
}

/** Failures before the request left: it cannot have been applied. */
const NOT_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);
/** Failures after it may have been read: the answer was lost. */
const ANSWER_LOST = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * A desk call's failure as a DeskUnavailable when it is one: already one, or a network error
 * (Node's `code`, also as the `cause` of fetch's "fetch failed"), or a timeout. null otherwise.
 */
export function deskUnavailable(error: unknown): DeskUnavailable | null {
  if (error instanceof DeskUnavailable) return error;
  let cause: unknown = error;
  for (let depth = 0; depth < 4 && cause instanceof Error; depth += 1) {
    const code = (cause as { code?: unknown }).code;
    const message = `${(error as Error).message}${cause === error ? '' : `: ${cause.message}`}`;
    if (typeof code === 'string' && NOT_SENT.has(code)) return new DeskUnavailable(message, false, { cause: error });
    if ((typeof code === 'string' && ANSWER_LOST.has(code)) || cause.name === 'TimeoutError' || cause.name === 'AbortError') return new DeskUnavailable(message, true, { cause: error });
    cause = cause.cause;
  }
  return null;
}

/** What the simulated desk authenticates with (`sim --credentials FILE` reads it as JSON). */
export interface DeskCredentials {
  /** The registration system's client token, `NAME.SECRET` (`border-gateway client add`). */
  registrationToken: string;
  /** A supervisor account for the inspectors and the officer (`border-gateway user add`). */
  supervisor: { name: string; password: string };
}

export function readDeskCredentials(file: string): DeskCredentials {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<DeskCredentials>;
  if (typeof parsed.registrationToken !== 'string' || typeof parsed.supervisor?.name !== 'string' || typeof parsed.supervisor.password !== 'string') {
    throw new Error(`${file}: needs {"registrationToken": "NAME.SECRET", "supervisor": {"name": …, "password": …}}`);
  }
  return parsed as DeskCredentials;
}

/** Deadline of one lane API exchange. */
const REQUEST_TIMEOUT_MS = 5000;

export class GatewayDeskClient implements LaneDesk {
  private sessionToken: string | null = null;
  /**
   * The login under way, shared by every call that needs a session meanwhile. Without it a busy
   * post's trucks each logged in at once: more sessions than the gateway keeps per account, each
   * evicting another's (401, log in again), each a 32 MiB scrypt check at the gateway, which
   * throttled them (503) — a storm that held the lanes up and the gateway's memory high.
   */
  private loggingIn: Promise<string> | null = null;

  constructor(
    private readonly baseUrl: string,
    private readonly credentials: DeskCredentials,
  ) {}

  /** One exchange; DeskUnavailable when the gateway could not answer. */
  private async send(method: 'GET' | 'POST', path: string, token: string | null, body?: unknown): Promise<{ status: number; json: unknown }> {
    const what = `${method} ${path}`;
    let text: string;
    let status: number;
    try {
      const response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      throw deskUnavailable(error) ?? error;
    }
    // 503: the gateway is up but its workflow is not (yet) running; 429: come back later. Neither
    // took effect. Any other 5xx may have come after the work was done.
    if (status >= 500 || status === 429) throw new DeskUnavailable(`${what}: ${status} ${text.slice(0, 200)}`, status !== 503 && status !== 429);
    let json: unknown = text;
    try {
      json = text === '' ? null : (JSON.parse(text) as unknown);
    } catch {
      // Not JSON (a proxy's error page): kept as text for the message.
    }
    return { status, json };
  }

  private async login(): Promise<string> {
    const answer = await this.send('POST', '/api/session', null, { ...this.credentials.supervisor, bearer: true });
    const token = (answer.json as { token?: unknown } | null)?.token;
    if (answer.status !== 201 || typeof token !== 'string') throw new Error(`login as ${this.credentials.supervisor.name}: ${answer.status} ${JSON.stringify(answer.json)}`);
    this.sessionToken = token;
    return token;
  }

  /**
   * A session for a call whose `refused` token (if any) the gateway no longer knows: the current
   * one when another call has already replaced that token, else one login for all who ask.
   */
  private session(refused: string | null): Promise<string> {
    if (this.sessionToken !== null && this.sessionToken !== refused) return Promise.resolve(this.sessionToken);
    this.loggingIn ??= this.login().finally(() => {
      this.loggingIn = null;
    });
    return this.loggingIn;
  }

  /** As the supervisor: logs in when there is no session, and once more when it has expired. */
  private async asSupervisor(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const token = await this.session(null);
    const answer = await this.send(method, path, token, body);
    return answer.status === 401 ? this.send(method, path, await this.session(token), body) : answer;
  }

  private static expect(answer: { status: number; json: unknown }, expected: number, what: string): unknown {
    if (answer.status !== expected) throw new Error(`${what}: ${answer.status} ${JSON.stringify(answer.json)}`);
    return answer.json;
  }

  async register(laneId: string, request: Record<string, unknown>): Promise<CrossingView> {
    const path = `/api/lanes/${laneId}/registrations`;
    return GatewayDeskClient.expect(await this.send('POST', path, this.credentials.registrationToken, request), 201, `POST ${path}`) as CrossingView;
  }

  async crossing(laneId: string, crossingId: string): Promise<CrossingView | null> {
    const answer = await this.asSupervisor('GET', `/api/lanes/${laneId}/crossings/${crossingId}`);
    if (answer.status === 409) return null;
    return GatewayDeskClient.expect(answer, 200, `GET crossing ${crossingId}`) as CrossingView;
  }

  async inspection(laneId: string, crossingId: string, outcome: 'cleared' | 'irregularity'): Promise<void> {
    const path = `/api/lanes/${laneId}/crossings/${crossingId}/inspection`;
    GatewayDeskClient.expect(await this.asSupervisor('POST', path, { outcome, reason: 'inspection bay outcome' }), 200, `POST ${path}`);
  }

  async release(laneId: string, crossingId: string, reason: string): Promise<void> {
    const path = `/api/lanes/${laneId}/crossings/${crossingId}/release`;
    GatewayDeskClient.expect(await this.asSupervisor('POST', path, { reason }), 200, `POST ${path}`);
  }

  async openCrossings(laneId: string): Promise<OpenCrossingView[]> {
    const list = GatewayDeskClient.expect(await this.asSupervisor('GET', `/api/lanes/${laneId}`), 200, `GET lane ${laneId}`);
    if (!Array.isArray(list)) throw new Error(`GET lane ${laneId}: not a list of crossings`);
    return (list as (Partial<OpenCrossingView> & { milestones?: Record<string, unknown> })[]).map((c) => ({
      crossingId: String(c.crossingId),
      state: String(c.state),
      channel: c.channel ?? null,
      plate: c.plate ?? null,
      direction: c.direction ?? null,
      declaredWeightKg: c.declaredWeightKg ?? null,
      registeredAt: typeof c.milestones?.registered === 'string' ? c.milestones.registered : null,
    }));
  }
}
