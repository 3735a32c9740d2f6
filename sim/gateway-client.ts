/**
 * The simulator's side of the lane API: the post's registration system and its inspectors, as
 * HTTP calls to the gateway (`/api/lanes/...`). The simulator knows only the address from the
 * post's configuration; a gateway that is not (yet) listening is an error the traffic retries.
 */

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

export class GatewayDeskClient implements LaneDesk {
  constructor(private readonly baseUrl: string) {}

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      signal: AbortSignal.timeout(5000),
    });
    return { status: response.status, json: await response.json() };
  }

  private async post(path: string, body: unknown, expected: number): Promise<unknown> {
    const { status, json } = await this.call('POST', path, body);
    if (status !== expected) throw new Error(`POST ${path}: ${status} ${JSON.stringify(json)}`);
    return json;
  }

  async register(laneId: string, request: Record<string, unknown>): Promise<CrossingView> {
    return (await this.post(`/api/lanes/${laneId}/registrations`, request, 201)) as CrossingView;
  }

  async crossing(laneId: string, crossingId: string): Promise<CrossingView | null> {
    const { status, json } = await this.call('GET', `/api/lanes/${laneId}/crossings/${crossingId}`);
    if (status === 409) return null;
    if (status !== 200) throw new Error(`GET crossing ${crossingId}: ${status} ${JSON.stringify(json)}`);
    return json as CrossingView;
  }

  async inspection(laneId: string, crossingId: string, outcome: 'cleared' | 'irregularity'): Promise<void> {
    await this.post(`/api/lanes/${laneId}/crossings/${crossingId}/inspection`, { operatorId: 'sim-inspector', outcome }, 200);
  }

  async release(laneId: string, crossingId: string, reason: string): Promise<void> {
    await this.post(`/api/lanes/${laneId}/crossings/${crossingId}/release`, { operatorId: 'sim-officer', reason }, 200);
  }
}
