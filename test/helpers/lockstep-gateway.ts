/**
 * A gateway child process (lockstep-gateway-child.ts) kept in step with the test's clock: before
 * each of the test's timers runs, the child's clock is moved to the same moment, once every
 * reading and lane API call sent so far has been answered. So a day on the manual clock runs the
 * same in a child process as in process, and the child can be killed with SIGKILL at any of those
 * moments and started again on the same data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { DeviceReading } from '../../gateway/devices/device-manager.js';
import { DeskUnavailable, type CrossingView, type LaneDesk, type OpenCrossingView } from '../../sim/gateway-client.js';
import { REPO_ROOT } from './gateway-process.js';
import type { LockstepReply, LockstepRequest } from './lockstep-gateway-child.js';

type Request = LockstepRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

interface Pending {
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
}

export class LockstepGateway implements LaneDesk {
  private child: ChildProcess | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private inFlight = new Set<Promise<unknown>>();
  private readonly stderr: string[] = [];
  /** Open crossings the child found in its database at each start. */
  readonly restoredAtStart: number[] = [];
  /** Kills that landed before the child had answered the step it was working on. */
  killsMidStep = 0;
  /** Kills so far, of either kind. */
  kills = 0;
  /** Device readings sent while no gateway ran (none should be: they would be lost). */
  readingsLost = 0;
  /** The next lane API POST kills the child this long after it was sent. */
  private armedKillDelayMs: number | null = null;
  /** The child ended on its own (a crash, not our SIGKILL): why, with its last words. */
  unexpectedExit: Error | null = null;

  constructor(private readonly dataDir: string) {}

  /** Starts the child with its clock at `wallMs`; resolves once it has restored its lanes. */
  async start(wallMs: number): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/lockstep-gateway-child.ts', this.dataDir, String(wallMs)], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    this.child = child;
    child.stderr?.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString()));
    const ready = new Promise<void>((resolve, reject) => {
      child.on('message', (reply: LockstepReply) => {
        if ('op' in reply) {
          this.restoredAtStart.push(reply.restored);
          resolve();
          return;
        }
        const waiting = this.pending.get(reply.id);
        this.pending.delete(reply.id);
        if (reply.ok) waiting?.resolve(reply.result);
        else waiting?.reject(new Error(reply.error));
      });
      child.once('exit', (code, signal) => {
        const gone = new Error(`the gateway child exited (${signal ?? code}): ${this.stderr.join('').slice(-2000)}`);
        if (this.child === child) this.child = null;
        if (signal !== 'SIGKILL') this.unexpectedExit ??= gone;
        reject(gone);
        for (const waiting of this.pending.values()) waiting.reject(gone);
        this.pending.clear();
      });
    });
    await ready;
  }

  /** SIGKILL once `step` has been sent (and, after `delayMs`, whether or not it was answered). */
  async killDuring(step: Request, delayMs: number): Promise<void> {
    if (!this.child) throw this.unexpectedExit ?? new Error('no gateway child');
    await this.kill(delayMs, this.request(step));
  }

  /**
   * The next lane API POST (a registration, an inspection outcome, a release) is cut short: the
   * child is killed `delayMs` after it was sent, with the registration system or inspector
   * waiting for the answer. Until `start` again, every call finds no gateway.
   */
  killDuringNextPost(delayMs: number): void {
    this.armedKillDelayMs = delayMs;
  }

  /** No child runs (killed and not started again). */
  get down(): boolean {
    return this.child === null;
  }

  /** Everything sent so far has been answered. */
  async idle(): Promise<void> {
    do {
      await Promise.allSettled([...this.inFlight]);
      // What the answers set off (a truck's next call) is sent within these turns.
      for (let turn = 0; turn < 3; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
    } while (this.inFlight.size > 0);
  }

  /**
   * For the test clock's `settleWith`: waits until everything sent has been answered; true when
   * something had to be waited for. Without it the test clock would pick its next timer while a
   * truck's answer is still on its way, and the truck's own next timer (set once the answer is in)
   * would find the child moved past it.
   */
  async settled(): Promise<boolean> {
    if (this.inFlight.size === 0) return false;
    await this.idle();
    return true;
  }

  advance(toWallMs: number): Promise<unknown> {
    return this.request({ op: 'advance', toWallMs });
  }

  /** A reading from a device, answered once the child's workflow has taken it. */
  read(laneId: string, role: 'entry' | 'exit' | 'lane', reading: DeviceReading): void {
    if (this.down) this.readingsLost += 1;
    void this.request({ op: 'read', laneId, role, reading }).catch(() => undefined);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.disconnect();
    await exited;
    this.child = null;
  }

  private request(request: Request): Promise<unknown> {
    const child = this.child;
    if (!child?.connected) return Promise.reject(this.unexpectedExit ?? new Error('no gateway child'));
    const id = (this.nextId += 1);
    const answer = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    child.send({ ...request, id });
    this.track(answer);
    return answer;
  }

  /** `idle` waits for it. */
  private track(work: Promise<unknown>): void {
    this.inFlight.add(work);
    void work.catch(() => undefined).finally(() => this.inFlight.delete(work));
  }

  /**
   * A lane API call; when no gateway runs, or it dies before answering, a DeskUnavailable (the
   * traffic retries those as it would a refused or broken connection).
   */
  private async desk(method: 'GET' | 'POST', url: string, body?: unknown, as: 'registration' | 'supervisor' = 'supervisor'): Promise<{ status: number; body: unknown }> {
    if (this.down) throw new DeskUnavailable(`${method} ${url}: no gateway running`, false);
    const answer = this.request({ op: 'desk', method, url, body, as });
    const killDelay = method === 'POST' ? this.armedKillDelayMs : null;
    if (killDelay !== null) {
      this.armedKillDelayMs = null;
      // Whether or not the child answered first, the caller never reads it: the connection died.
      const killing = this.kill(killDelay, answer);
      this.track(killing);
      await killing;
      throw new DeskUnavailable(`${method} ${url}: the gateway was killed before its answer arrived`, true);
    }
    try {
      return (await answer) as { status: number; body: unknown };
    } catch (error) {
      throw new DeskUnavailable(`${method} ${url}: the gateway died before answering`, true, { cause: error });
    }
  }

  private async kill(delayMs: number, during: Promise<unknown>): Promise<void> {
    const child = this.child;
    if (!child) return;
    let answered = false;
    during.then(
      () => (answered = true),
      () => undefined,
    );
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve) => setTimeout(resolve, delayMs));
    if (!answered) this.killsMidStep += 1;
    this.kills += 1;
    child.kill('SIGKILL');
    await exited;
  }

  async register(laneId: string, request: Record<string, unknown>): Promise<CrossingView> {
    const answer = await this.desk('POST', `/api/lanes/${laneId}/registrations`, request, 'registration');
    if (answer.status !== 201) throw new Error(JSON.stringify(answer.body));
    return answer.body as CrossingView;
  }
  async crossing(laneId: string, crossingId: string): Promise<CrossingView | null> {
    const answer = await this.desk('GET', `/api/lanes/${laneId}/crossings/${crossingId}`);
    return answer.status === 200 ? (answer.body as CrossingView) : null;
  }
  async inspection(laneId: string, crossingId: string, outcome: 'cleared' | 'irregularity'): Promise<void> {
    const answer = await this.desk('POST', `/api/lanes/${laneId}/crossings/${crossingId}/inspection`, { outcome });
    if (answer.status !== 200) throw new Error(JSON.stringify(answer.body));
  }
  async release(laneId: string, crossingId: string, reason: string): Promise<void> {
    await this.desk('POST', `/api/lanes/${laneId}/crossings/${crossingId}/release`, { reason });
  }
  async openCrossings(laneId: string): Promise<OpenCrossingView[]> {
    const answer = await this.desk('GET', `/api/lanes/${laneId}`);
    return answer.status === 200 ? (answer.body as OpenCrossingView[]) : [];
  }
}
