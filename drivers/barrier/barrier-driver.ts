/**
 * Barrier driver: a Modbus TCP (or RTU) I/O module with relay coils for OPEN and CLOSE and
 * discrete inputs for the open limit, closed limit, vehicle loop and safety photocell, at the
 * addresses the configuration gives. Inputs are polled; changes are emitted. `open()`/`close()`
 * pulse the coil and resolve only once the limit switch confirms the position; `close()` refuses
 * while a vehicle is on the loop or the photocell is blocked. Modbus exceptions are named.
 *
 * The module is an adversary until proven otherwise: a short or malformed reply is a counted
 * fault (health degraded) whose missing inputs count as occupied, so it never leads to a close
 * (discrete-inputs.ts); `maxConsecutiveTimeouts` unanswered requests in a row drop the connection
 * (health down) and the reconnect loop opens it again with backoff.
 */
import modbusSerial from 'modbus-serial';
import type { BarrierConfig } from '../../config/schema.js';
import type { TimerHandle } from '../../core/clock.js';
import { GatewayError, isGatewayError } from '../../core/errors.js';
import { toError, withTimeout } from '../../core/with-timeout.js';
import { DriverBase, type DriverContext } from '../driver.js';
import type { Connection, ReconnectLoop } from '../reconnect-loop.js';
import { barrierInputs, decodeDiscreteInputs, type BarrierInputs } from './discrete-inputs.js';
import { describeModbusException, isModbusTimeout, malformedReplyReason, modbusExceptionCode } from './modbus-exceptions.js';

export { armPosition, type ArmPosition, type BarrierInputs } from './discrete-inputs.js';

// modbus-serial is CommonJS: under NodeNext its default import is module.exports, whose
// `default` is the client class.
const ModbusClient = modbusSerial.default;
type ModbusClient = InstanceType<typeof ModbusClient>;

/**
 * How long a serial line stays quiet after a request timed out, in request timeouts: a reply up to
 * this many timeouts later than its deadline reaches the library while the timed-out request is
 * still its only one, and is dropped there. Later than that, it could be taken for the next
 * request's (docs/integrators.md: set `requestTimeoutMs` above the module's slowest answer).
 */
export const RTU_LATE_REPLY_HOLD = 2;

/** Thrown by a release's vet when an ON for its coil took it over before it was sent: not a failure. */
const RELEASE_TAKEN_OVER = new Error('release taken over by a new write');

/** Replies in a row a serial line needs since its last timeout before a close is decided on its readings. */
export const RTU_REPLIES_TO_TRUST = 3;

/**
 * Whether a failed coil write surely left the coil as it was: refused before it was sent (the
 * vet), not sent (offline), or refused by the module with a Modbus exception.
 */
function wasNotSent(error: unknown): boolean {
  return isGatewayError(error, 'GW_ERR_BARRIER_UNSAFE') || isGatewayError(error, 'GW_ERR_DEVICE_OFFLINE') || isGatewayError(error, 'GW_ERR_BARRIER_MODBUS_EXCEPTION');
}

export type BarrierReading = { type: 'inputs.changed'; deviceId: string; atMs: number } & BarrierInputs;

export class BarrierDriver extends DriverBase<BarrierReading> {
  readonly id: string;
  readonly kind = 'barrier' as const;
  private readonly config: BarrierConfig;
  private readonly loop: ReconnectLoop;
  private client: ModbusClient | null = null;
  private pollTimer: TimerHandle | null = null;
  private inputs: BarrierInputs | null = null;
  /** Modbus requests go one at a time: the client matches replies by order, not concurrency. */
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /** Ends the current connection's `closed` promise, so the reconnect loop takes over. */
  private markClosed: ((error: Error) => void) | null = null;
  /** Requests unanswered in a row on this connection. */
  private consecutiveTimeouts = 0;
  /**
   * On a serial line, the monotonic time before which no request is sent (0: none held; a step of
   * the wall clock must not stretch the hold). Modbus RTU has no transaction ids: a reply that
   * comes after its request timed out would be read as the answer to the next request (a module's
   * stale "lane clear" taken for a fresh one, and a barrier closed on a vehicle). The line is held
   * quiet after each timeout, so the library drops such a reply against the request that timed
   * out (RTU_LATE_REPLY_HOLD).
   */
  private lineHeldUntil = 0;
  /** Requests answered in time since the last one unanswered (any reply: a value, an exception, a malformed frame). */
  private repliesSinceTimeout = 0;
  /**
   * A serial line's inputs not yet read in step since its last timeout (or its opening): the first
   * read that is publishes them even unchanged, so a close refused meanwhile is tried again.
   */
  private awaitingStep = false;
  /**
   * Coils whose release is owed (a pulse, a release that failed, a write whose outcome is
   * unknown), each with the timer that writes it: two coils at most.
   */
  private readonly releasesOwed = new Map<number, TimerHandle>();
  /** Short or malformed replies seen (each also reported as health). */
  malformedReplies = 0;
  /** Requests unanswered within `requestTimeoutMs`. */
  timeouts = 0;

  /** Modbus RTU on a serial line, which has no transaction ids (else Modbus TCP). */
  private get onSerialLine(): boolean {
    return !('host' in this.config.connection);
  }

  constructor(config: BarrierConfig, context: DriverContext) {
    super(context);
    this.id = config.id;
    this.config = config;
    this.loop = this.reconnectLoop({
      connect: () => this.connect(),
      onUp: () => {
        context.logger.info({ connection: config.connection }, 'barrier connected');
        this.setHealth('up');
        this.schedulePoll(0);
      },
      onDown: (error) => {
        this.client = null;
        if (this.pollTimer) context.clock.clearTimeout(this.pollTimer);
        this.pollTimer = null;
        context.logger.warn({ err: error?.message }, 'barrier disconnected');
        this.setHealth('down', error?.message ?? 'disconnected');
      },
    });
  }

  start(): Promise<void> {
    this.stopped = false;
    this.loop.start();
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.loop.stop();
    if (this.pollTimer) this.context.clock.clearTimeout(this.pollTimer);
    this.pollTimer = null;
    for (const timer of this.releasesOwed.values()) this.context.clock.clearTimeout(timer);
    this.releasesOwed.clear();
    this.removeAllListeners();
    return Promise.resolve();
  }

  /** The last inputs read, or null before the first good reply and after a malformed one. */
  lastInputs(): BarrierInputs | null {
    return this.inputs ? { ...this.inputs } : null;
  }

  /** Opens the arm; resolves once the open limit switch confirms it. */
  async open(): Promise<void> {
    await this.command(this.config.registers.openCoil, 'open');
  }

  /**
   * Closes the arm; resolves once the closed limit confirms it. Refuses (GW_ERR_BARRIER_UNSAFE)
   * while the loop or the photocell is active: the inputs are read fresh for the decision, and the
   * CLOSE coil is written only if the last read before the write (a poll may come between) still
   * shows them clear. A malformed reply to that read refuses too (GW_ERR_BARRIER_MALFORMED_REPLY):
   * never close on doubt.
   */
  async close(): Promise<void> {
    await this.command(this.config.registers.closeCoil, 'closed', (inputs) => this.refuseUnsafeClose(inputs));
  }

  /**
   * Throws GW_ERR_BARRIER_UNSAFE unless `inputs` show the loop and the photocell clear, and, on a
   * serial line, RTU_REPLIES_TO_TRUST replies in a row have come since its last timeout (a reply
   * later than the line's hold could still be taken for a fresh one's).
   */
  private refuseUnsafeClose(inputs: BarrierInputs | null): void {
    // Why, and what the refusal waits for (the lane workflow's alarm names it): the loop (a
    // malformed reading counts as it), the photocell, or the serial line.
    const [why, input] = !inputs
      ? ['the last reading of its inputs was malformed', 'loop']
      : inputs.vehiclePresent
        ? ['a vehicle is on the loop', 'loop']
        : inputs.photocellBlocked
          ? ['the safety photocell is blocked', 'photocell']
          : this.onSerialLine && this.repliesSinceTimeout < RTU_REPLIES_TO_TRUST
            ? [`the serial line missed a reply lately (${this.repliesSinceTimeout} of ${RTU_REPLIES_TO_TRUST} replies in a row since), so a late reply may still be taken for a fresh one`, 'line']
            : [null, null];
    if (why === null) return;
    throw new GatewayError('GW_ERR_BARRIER_UNSAFE', `${this.id}: refusing to close: ${why}`, { details: { input } });
  }

  private async connect(): Promise<Connection> {
    const client = new ModbusClient();
    const connection = this.config.connection;
    if ('host' in connection) {
      await client.connectTCP(connection.host, { port: connection.port });
    } else {
      await client.connectRTUBuffered(connection.path, {
        baudRate: connection.baudRate,
        dataBits: connection.dataBits,
        parity: connection.parity,
        stopBits: connection.stopBits,
      });
    }
    client.setID(connection.unitId);
    client.setTimeout(this.config.requestTimeoutMs);
    this.client = client;
    this.consecutiveTimeouts = 0;
    // A new line is trusted with a close once it has answered in step (refuseUnsafeClose).
    this.repliesSinceTimeout = 0;
    this.awaitingStep = this.onSerialLine;
    const closed = new Promise<Error | null>((resolve) => {
      this.markClosed = resolve;
      client.on('close', () => resolve(new Error('connection closed by the barrier controller')));
      client.on('error', (error: unknown) => resolve(error instanceof Error ? error : new Error(String(error))));
    });
    return {
      closed,
      close: () => client.close(() => undefined),
    };
  }

  /**
   * Moves the arm to `target` with `coil`. `mayMove` vets the fresh read the decision is made on,
   * and again, in the write's own turn of the request queue, the last inputs read before the
   * write: a poll answered between the two is what the module says now.
   */
  private async command(coil: number, target: 'open' | 'closed', mayMove: (inputs: BarrierInputs | null) => void = () => undefined): Promise<void> {
    const inputs = await this.readInputs();
    // Idempotent: an arm already there is confirmed by the switch, no movement needed.
    if (inputs.position === target) return;
    mayMove(inputs);
    const { confirmed, cancel } = this.waitForPosition(target);
    confirmed.catch(() => undefined);
    try {
      // In its turn, and only once the write may go: an ON takes over a release still owed for
      // this coil (with coils held on, the release would switch the new command off; with pulses,
      // cut the new pulse short).
      await this.writeCoil(coil, true, () => {
        mayMove(this.inputs);
        this.forgetRelease(coil);
      });
    } catch (error) {
      cancel();
      // Refused before it was sent, or offline, or refused by the module (an exception reply):
      // the coil was not set. Unanswered, or answered with a wrong echo: the module may have set
      // it, so it is released as a pulse would be, and at once when coils are held on.
      if (!wasNotSent(error)) this.owe(coil, this.config.pulseMs);
      throw error;
    }
    if (this.config.pulseMs > 0) this.owe(coil, this.config.pulseMs);
    this.schedulePoll(0);
    await confirmed;
  }

  /**
   * Releases `coil` after `delayMs` (from now: a coil written on again starts its pulse again),
   * and again every requestTimeoutMs while the release fails (unanswered, offline, reconnecting),
   * so a CLOSE coil is never left on by a lost reply.
   */
  private owe(coil: number, delayMs: number, failures = 0): void {
    this.forgetRelease(coil);
    const timer = this.context.clock.setTimeout(() => {
      const owed = (): boolean => !this.stopped && this.releasesOwed.get(coil) === timer;
      if (!owed()) return;
      // Checked again in the write's turn: an ON queued before it may have taken the release over.
      this.writeCoil(coil, false, () => {
        if (!owed()) throw RELEASE_TAKEN_OVER;
      }).then(
        () => {
          if (owed()) this.releasesOwed.delete(coil);
        },
        (error: unknown) => {
          if (error === RELEASE_TAKEN_OVER || !owed()) return;
          // Once per coil, not at every retry while the module is away.
          this.context.logger[failures === 0 ? 'warn' : 'debug']({ err: String(error), coil, failures: failures + 1 }, 'coil release failed; trying again');
          this.owe(coil, this.config.requestTimeoutMs, failures + 1);
        },
      );
    }, delayMs);
    this.releasesOwed.set(coil, timer);
  }

  /** A release owed for `coil` is no longer (a new ON write has taken it over, or a new one replaces it). */
  private forgetRelease(coil: number): void {
    const pending = this.releasesOwed.get(coil);
    if (pending) this.context.clock.clearTimeout(pending);
    this.releasesOwed.delete(coil);
  }

  /**
   * Writes one coil; the reply must echo the address and value written (spec 6.5). `vet` runs in
   * the write's turn of the request queue, just before it is sent, and may refuse it by throwing.
   */
  private async writeCoil(coil: number, on: boolean, vet: () => void = () => undefined): Promise<void> {
    const what = `${on ? 'write' : 'release'} coil ${coil}`;
    const echo = await this.request(what, (client) => client.writeCoil(coil, on), vet);
    if (echo.address !== coil || echo.state !== on) throw this.malformed(what, `the reply echoes coil ${echo.address} ${echo.state ? 'on' : 'off'}`);
  }

  /** Resolves once a reading shows the arm at `target`, rejects after confirmTimeoutMs; `cancel` stops waiting. */
  private waitForPosition(target: 'open' | 'closed'): { confirmed: Promise<void>; cancel: () => void } {
    let cancel = (): void => undefined;
    const confirmed = new Promise<void>((resolve, reject) => {
      const timer = this.context.clock.setTimeout(() => {
        this.off('reading', listener);
        const seen = this.inputs?.position ?? 'unknown';
        reject(new GatewayError('GW_ERR_BARRIER_NOT_CONFIRMED', `${this.id}: not ${target} after ${this.config.confirmTimeoutMs} ms (arm ${seen})`));
      }, this.config.confirmTimeoutMs);
      const listener = (reading: BarrierReading): void => {
        if (reading.position !== target) return;
        cancel();
        resolve();
      };
      cancel = () => {
        this.context.clock.clearTimeout(timer);
        this.off('reading', listener);
      };
      this.on('reading', listener);
    });
    return { confirmed, cancel };
  }

  private schedulePoll(delayMs: number): void {
    if (this.pollTimer) this.context.clock.clearTimeout(this.pollTimer);
    this.pollTimer = this.context.clock.setTimeout(() => {
      this.pollTimer = null;
      this.readInputs()
        .catch(() => undefined)
        .finally(() => {
          if (!this.stopped && this.client) this.schedulePoll(this.config.pollMs);
        });
    }, delayMs);
  }

  private async readInputs(): Promise<BarrierInputs> {
    const { registers } = this.config;
    const first = Math.min(registers.openLimitInput, registers.closedLimitInput, registers.loopInput, registers.photocellInput);
    const last = Math.max(registers.openLimitInput, registers.closedLimitInput, registers.loopInput, registers.photocellInput);
    const quantity = last - first + 1;
    const what = `read inputs ${first}-${last}`;
    let result: Awaited<ReturnType<ModbusClient['readDiscreteInputs']>>;
    try {
      result = await this.request(what, (client) => client.readDiscreteInputs(first, quantity));
    } catch (error) {
      if (isGatewayError(error, 'GW_ERR_BARRIER_MALFORMED_REPLY')) this.inputs = null;
      throw error;
    }
    // The status bytes as the reply's byte count delimits them; `result.data` is padded to whole bytes.
    const reply = decodeDiscreteInputs(result.buffer, quantity);
    const inputs = barrierInputs(reply.bits, first, registers);
    if (reply.fault !== null) {
      // Not published: a doubtful reading must not look like a vehicle arriving or leaving.
      this.inputs = null;
      throw this.malformed(what, reply.fault, { inputs });
    }
    const previous = this.inputs;
    this.inputs = inputs;
    const backInStep = this.awaitingStep && this.repliesSinceTimeout >= RTU_REPLIES_TO_TRUST;
    if (backInStep) this.awaitingStep = false;
    if (backInStep || !previous || previous.position !== inputs.position || previous.vehiclePresent !== inputs.vehiclePresent || previous.photocellBlocked !== inputs.photocellBlocked) {
      this.emitReading({ type: 'inputs.changed', deviceId: this.id, atMs: this.context.clock.now(), ...inputs });
    }
    if (inputs.position === 'fault') this.setHealth('degraded', 'both limit switches active');
    else this.setHealth('up');
    return inputs;
  }

  /**
   * Runs one Modbus request in turn, with the request timeout; names Modbus exceptions. `vet`
   * runs in its turn, before anything is sent, and may refuse the request by throwing.
   */
  private request<T>(what: string, run: (client: ModbusClient) => Promise<T>, vet: () => void = () => undefined): Promise<T> {
    const next = this.queue.then(async () => {
      await this.lineQuiet();
      const client = this.client;
      if (!client) throw new GatewayError('GW_ERR_DEVICE_OFFLINE', `${this.id}: not connected`);
      vet();
      try {
        const reply = await withTimeout(run(client), this.config.requestTimeoutMs + 100, this.context.clock, `${this.id} ${what}`);
        this.consecutiveTimeouts = 0;
        this.repliesSinceTimeout += 1;
        return reply;
      } catch (error) {
        if (isModbusTimeout(error)) {
          this.repliesSinceTimeout = 0;
          if (this.onSerialLine) {
            this.lineHeldUntil = this.context.clock.monotonic() + RTU_LATE_REPLY_HOLD * this.config.requestTimeoutMs;
            this.awaitingStep = true;
          }
          throw this.unanswered(client, what, error);
        }
        // Any other outcome is an answer of some kind.
        this.consecutiveTimeouts = 0;
        this.repliesSinceTimeout += 1;
        const malformed = malformedReplyReason(error);
        if (malformed !== null) throw this.malformed(what, malformed, undefined, error);
        const code = modbusExceptionCode(error);
        if (code === null) {
          const message = `${this.id} ${what}: ${toError(error).message}`;
          // modbus-serial does not always emit 'close' when the peer drops the socket (seen after
          // a timed-out transaction): a closed port is a lost connection, whatever it says.
          if (!client.isOpen) this.markClosed?.(new Error(message));
          this.setHealth('degraded', message);
          throw new Error(message, { cause: error });
        }
        const message = `${this.id} ${what}: ${describeModbusException(code)}`;
        this.setHealth('degraded', message);
        throw new GatewayError('GW_ERR_BARRIER_MODBUS_EXCEPTION', message, { cause: error, details: { modbusCode: code } });
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Resolves once the serial line's hold after a timeout is over (at once when none is). */
  private async lineQuiet(): Promise<void> {
    const waitMs = this.lineHeldUntil - this.context.clock.monotonic();
    if (waitMs <= 0) return;
    await new Promise<void>((resolve) => this.context.clock.setTimeout(resolve, waitMs));
  }

  /** Counts a short or malformed reply: health degraded, and the error the caller throws. */
  private malformed(what: string, reason: string, details?: Record<string, unknown>, cause?: unknown): GatewayError {
    this.malformedReplies += 1;
    const message = `${this.id} ${what}: malformed reply: ${reason}`;
    // Once per run of the same fault, not once per poll: the count says how many since.
    const level = this.health().lastError === message ? 'debug' : 'warn';
    this.context.logger[level]({ code: 'GW_ERR_BARRIER_MALFORMED_REPLY', request: what, reason, malformedReplies: this.malformedReplies }, 'malformed Modbus reply');
    this.setHealth('degraded', message);
    return new GatewayError('GW_ERR_BARRIER_MALFORMED_REPLY', message, { ...(cause === undefined ? {} : { cause }), ...(details ? { details } : {}) });
  }

  /**
   * Counts an unanswered request; after `maxConsecutiveTimeouts` in a row the connection is
   * dropped, so the reconnect loop reports the device down and opens a new one with backoff.
   */
  private unanswered(client: ModbusClient, what: string, error: unknown): Error {
    this.timeouts += 1;
    this.consecutiveTimeouts += 1;
    const message = `${this.id} ${what}: ${toError(error).message} (${this.consecutiveTimeouts} of ${this.config.maxConsecutiveTimeouts} in a row)`;
    if (this.consecutiveTimeouts < this.config.maxConsecutiveTimeouts || client !== this.client) {
      this.setHealth('degraded', message);
      return new Error(message, { cause: error });
    }
    const reason = `${this.id}: ${this.consecutiveTimeouts} requests in a row unanswered (last: ${what}); connection dropped`;
    this.consecutiveTimeouts = 0;
    this.context.logger.warn({ code: 'GW_ERR_BARRIER_NO_ANSWER', request: what, timeouts: this.timeouts }, 'barrier not answering; reconnecting');
    const dropped = new GatewayError('GW_ERR_BARRIER_NO_ANSWER', reason, { cause: error });
    this.markClosed?.(dropped);
    // A peer that stopped answering may never finish a graceful close: destroy the TCP socket.
    if (!this.onSerialLine) client.destroy(() => undefined);
    else client.close(() => undefined);
    return dropped;
  }
}
