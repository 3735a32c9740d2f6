/**
 * The simulator's side of the lane API: the post's registration system and its inspectors, as
 * HTTP calls to the gateway (`/api/lanes/...`), authenticated like the real ones: the registration
 * system with its client token (`Authorization: Bearer NAME.SECRET`), the inspectors and the
 * officer as one supervisor account that logs in (and in again when its session expires). The
 * simulator knows only the address from the post's configuration; a gateway that is not (yet)
 * listening is an error the traffic retries.
 */
import { readFileSync } from 'node:fs';

export interface CrossingView {
  crossingId: string;
  state: string;
  channel: string | null;
}

export interface LaneDesk {
  register(laneId: string, request: Record<string, unknown>): Promise<CrossingView>;
  /** The crossing's current view, or null once it is closed (exited or abandoned). */
  crossing(laneId: string, crossingId: string): Promise<CrossingView | null>;
  inspection(laneId: string, crossingId: string, outcome: 'cleared' | 'irregularity'): Promise<void>;
  release(laneId: string, crossingId: string, reason: string): Promise<void>;
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

export class GatewayDeskClient implements LaneDesk {
  private sessionToken: string | null = null;

  constructor(
    private readonly baseUrl: string,
    private readonly credentials: DeskCredentials,
  ) {}

  private async call(method: 'GET' | 'POST', path: string, token: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(5000),
    });
    const text = await response.text();
    return { status: response.status, json: text === '' ? null : (JSON.parse(text) as unknown) };
  }

  private async login(): Promise<string> {
    const response = await fetch(`${this.baseUrl}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...this.credentials.supervisor, bearer: true }),
      signal: AbortSignal.timeout(5000),
    });
    const json = (await response.json()) as { token?: string };
    if (response.status !== 201 || !json.token) throw new Error(`login as ${this.credentials.supervisor.name}: ${response.status} ${JSON.stringify(json)}`);
    this.sessionToken = json.token;
    return json.token;
  }

  /** As the supervisor: logs in when there is no session, and once more when it has expired. */
  private async asSupervisor(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const answer = await this.call(method, path, this.sessionToken ?? (await this.login()), body);
    return answer.status === 401 ? this.call(method, path, await this.login(), body) : answer;
  }

  private static expect(answer: { status: number; json: unknown }, expected: number, what: string): unknown {
    if (answer.status !== expected) throw new Error(`${what}: ${answer.status} ${JSON.stringify(answer.json)}`);
    return answer.json;
  }

  async register(laneId: string, request: Record<string, unknown>): Promise<CrossingView> {
    const path = `/api/lanes/${laneId}/registrations`;
    return GatewayDeskClient.expect(await this.call('POST', path, this.credentials.registrationToken, request), 201, `POST ${path}`) as CrossingView;
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
}
