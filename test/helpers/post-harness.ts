/**
 * A post without device transports, for runs on the manual clock (the 4-lane day test and the
 * workflow benchmark): stand-in cameras, platforms and a scanner hand the lane workflow the
 * readings its drivers would (the scanner writes a real 16-bit PGM for the screening model), and
 * the simulator's registration desk calls the lane API handler in process.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import { encodePgm } from '../../drivers/xray/pgm.js';
import type { DeviceReading, HealthListener, ReadingListener } from '../../gateway/devices/device-manager.js';
import type { Gateway } from '../../gateway/daemon.js';
import { hashPassword } from '../../core/passwords.js';
import type { CrossingView, LaneDesk } from '../../sim/gateway-client.js';
import type { SimulatedLane } from '../../sim/traffic.js';
import { seededRandom } from '../../sim/truck-profiles.js';
import { SimulatedScanner } from '../../sim/xray/simulated-scanner.js';

/** The workflow's device listeners, fed by the stand-ins below instead of drivers. */
export class DeviceFeedStandIn {
  readonly health = new Map();
  private readonly readings: ReadingListener[] = [];
  onReadings(listener: ReadingListener): void {
    this.readings.push(listener);
  }
  onHealthChanges(_listener: HealthListener): void {}
  driver(): undefined {
    return undefined;
  }
  read(laneId: string, role: 'entry' | 'exit' | 'lane', reading: DeviceReading): void {
    for (const listener of this.readings) listener(laneId, role, reading);
  }
  /** The gateway that listened is gone (a restart): its workflow hears nothing more. */
  forgetListeners(): void {
    this.readings.length = 0;
  }
}

/**
 * The registration system and the inspectors, calling the lane API in process through the
 * gateway's own fastify app (`inject`), authenticated as they would be over HTTP: the registration
 * system with its client token, the inspector and officer as a supervisor's session.
 */
export class InProcessDesk implements LaneDesk {
  /** Calls not answered yet. */
  private readonly calls = new Set<Promise<unknown>>();

  private constructor(
    private readonly app: FastifyInstance,
    private readonly registrationToken: string,
    private readonly supervisorToken: string,
  ) {}

  /** On a gateway restarted on the same data, the desk's client and account exist already: reused. */
  static async create(gateway: Gateway): Promise<InProcessDesk> {
    if (!gateway.operatorApp) throw new Error('the gateway has no operator app');
    const secret = gateway.accounts.clients().some((c) => c.name === 'registration-desk') ? gateway.accounts.rotateClient('registration-desk') : gateway.accounts.addClient('registration-desk', 'registration');
    const supervisor = gateway.accounts.account('desk-supervisor') ?? gateway.accounts.addAccount('desk-supervisor', 'supervisor', await hashPassword(randomBytes(18).toString('base64url')));
    const { token } = gateway.sessions.create(supervisor);
    return new InProcessDesk(gateway.operatorApp, `registration-desk.${secret}`, token);
  }

  /** The whole answer, for tests that look at refusals too. */
  async call(method: 'GET' | 'POST', url: string, body?: unknown, as: 'registration' | 'supervisor' = 'supervisor'): Promise<{ status: number; body: unknown }> {
    const token = as === 'registration' ? this.registrationToken : this.supervisorToken;
    const answer = this.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(body === undefined ? {} : { payload: body as Record<string, unknown> }) });
    this.calls.add(answer);
    const response = await answer.finally(() => this.calls.delete(answer));
    return { status: response.statusCode, body: response.body === '' ? null : (JSON.parse(response.body) as unknown) };
  }

  /**
   * For a clock that steps time (its `settleWith`): waits for the calls under way; true when there
   * were any. A call takes more turns of the event loop than the clock gives before its next timer
   * (routing, authentication, the handler, its commit), and an answer a timer late moves the whole
   * simulated day after it.
   */
  async settled(): Promise<boolean> {
    if (this.calls.size === 0) return false;
    await Promise.allSettled([...this.calls]);
    return true;
  }

  async register(laneId: string, request: Record<string, unknown>): Promise<CrossingView> {
    const answer = await this.call('POST', `/api/lanes/${laneId}/registrations`, request, 'registration');
    if (answer.status !== 201) throw new Error(JSON.stringify(answer.body));
    return answer.body as CrossingView;
  }
  async crossing(laneId: string, crossingId: string): Promise<CrossingView | null> {
    const answer = await this.call('GET', `/api/lanes/${laneId}/crossings/${crossingId}`);
    return answer.status === 200 ? (answer.body as CrossingView) : null;
  }
  async inspection(laneId: string, crossingId: string, outcome: 'cleared' | 'irregularity'): Promise<void> {
    const answer = await this.call('POST', `/api/lanes/${laneId}/crossings/${crossingId}/inspection`, { outcome });
    if (answer.status !== 200) throw new Error(JSON.stringify(answer.body));
  }
  async release(laneId: string, crossingId: string, reason: string): Promise<void> {
    await this.call('POST', `/api/lanes/${laneId}/crossings/${crossingId}/release`, { reason });
  }
}

/** Lanes 1–2 inbound, the others outbound; one scanner for the post, on the first lane. */
export function standInLanes(feed: Pick<DeviceFeedStandIn, 'read'>, laneIds: string[], clock: Clock, scanFolder: string): SimulatedLane[] {
  mkdirSync(scanFolder, { recursive: true });
  const imager = new SimulatedScanner(scanFolder, 'xray-1', () => clock.now(), seededRandom(7));
  return laneIds.map((id, i) => ({
      id,
      directions: i < 2 ? ['import', 'transit-entry'] : ['export', 'transit-exit', 'domestic-transit'],
      camera: {
        showPlate: (e) =>
          feed.read(id, 'entry', { type: 'plate.read', deviceId: `${id}-entry`, plate: e.plate ? { text: e.plate, raw: e.plate, confidence: e.likelihood, country: e.country, formatValid: true } : null, plateType: null, vehicleType: e.vehicleType ?? null, imageRef: null, cameraTime: null, atMs: clock.now() }),
      },
      exitCamera: {
        showPlate: (e) => feed.read(id, 'exit', { type: 'plate.read', deviceId: `${id}-exit`, plate: { text: e.plate, raw: e.plate, confidence: e.likelihood, country: e.country, formatValid: true }, plateType: null, vehicleType: null, imageRef: null, cameraTime: null, atMs: clock.now() }),
      },
      indicator: {
        setLoad: (kg, motion = false) => {
          if (kg > 0 && !motion) feed.read(id, 'lane', { type: 'weight.stable', deviceId: `${id}-scale`, weightKg: kg, axles: null, atMs: clock.now() });
        },
      },
      // One scanner for the post, on lane 1: the image is a real 16-bit PGM the screening model reads.
      ...(i === 0
        ? {
            scanner: {
              started: () => undefined,
              completed: (scanId: string, plate: string | null, options: { concealed?: boolean } = {}) => {
                const file = join(scanFolder, `${scanId}.pgm`);
                writeFileSync(file, encodePgm(imager.image(256, 128, { concealed: options.concealed ?? false })));
                feed.read(id, 'lane', { type: 'scan', deviceId: 'xray-1', status: 'completed', scanId, scannerId: 'xray-1', plate, container: null, scannerTime: new Date(clock.now()).toISOString(), imageRef: file, image: null, metadataRef: null, decision: null, atMs: clock.now() });
              },
            },
          }
        : {}),
    }));
}
