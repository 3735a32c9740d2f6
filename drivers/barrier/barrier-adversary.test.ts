/**
 * The barrier driver against a Modbus TCP peer that lies: a raw TCP server (written here, with
 * no Modbus library) answers with crafted frames, each derived below from the specification.
 * A short or malformed reply never closes the barrier; a peer that stops answering is dropped
 * and reconnected with backoff (fake timers).
 */
import { EventEmitter, once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { postConfigSchema, type BarrierConfig } from '../../config/schema.js';
import { systemClock } from '../../core/clock.js';
import { freePort } from '../../test/helpers/free-port.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import type { DriverHealth } from '../driver.js';
import { BarrierDriver, type BarrierReading } from './barrier-driver.js';

// Modbus Messaging on TCP/IP Implementation Guide V1.0b, 3.1.3: every frame starts with the MBAP
// header: transaction id (2 bytes, the request's, patched in by `reply`), protocol id 0x0000,
// length (2 bytes: the unit id and PDU that follow), unit id.
// Modbus Application Protocol V1.1b3, 6.2 (0x02 Read Discrete Inputs): the response PDU is 0x02,
// a byte count N = quantity / 8 rounded up, and N bytes of input status, the first input asked
// for in the least significant bit of the first byte.
// With the default register map the driver asks for inputs 0-3 (open limit, closed limit, loop,
// photocell): quantity 4, N = 1.

/** Arm open (input 0 on), loop and photocell off: PDU 02 01 01. */
const ARM_OPEN_LANE_CLEAR = [0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x01, 0x02, 0x01, 0x01];
/** Arm open (input 0) and a vehicle on the loop (input 2): PDU 02 01 05. */
const ARM_OPEN_VEHICLE_ON_LOOP = [0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x01, 0x02, 0x01, 0x05];
/** Byte count 0 then one stray byte: as long as a good reply (modbus-serial's frame-length check passes) but carrying no input status. */
const BYTE_COUNT_ZERO_PADDED = [0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x01, 0x02, 0x00, 0x00];
/** Byte count 0 and nothing after it: fewer bytes than asked. */
const BYTE_COUNT_ZERO = [0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x01, 0x02, 0x00];
/** Byte count 5 with one status byte: the frame length is right, the count overstated. */
const BYTE_COUNT_OVERSTATED = [0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x01, 0x02, 0x05, 0x01];
/** Byte count 2 and two status bytes for 4 inputs: one byte too many. */
const BYTE_COUNT_TOO_LONG = [0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x01, 0x02, 0x02, 0x01, 0x00];
/** Unit id 7 answering a request to unit 1. */
const WRONG_UNIT = [0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x07, 0x02, 0x01, 0x01];
/** Function 0x01 (Read Coils) answering 0x02. */
const WRONG_FUNCTION = [0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x01, 0x01, 0x01, 0x01];
// With the photocell on input 11 the driver asks for inputs 0-11: quantity 12, N = 2.
const PHOTOCELL_11 = { openCoil: 0, closeCoil: 1, openLimitInput: 0, closedLimitInput: 1, loopInput: 2, photocellInput: 11 };
/** 12 inputs: arm open, all else off: PDU 02 02 01 00. */
const TWELVE_ARM_OPEN_LANE_CLEAR = [0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x01, 0x02, 0x02, 0x01, 0x00];
/** 12 inputs, byte count 1 then a stray byte: right frame length, inputs 8-11 (the photocell) missing. modbus-serial still returns 8 padded booleans. */
const TWELVE_BYTE_COUNT_ONE = [0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x01, 0x02, 0x01, 0x01, 0x00];

interface Request {
  transactionId: number;
  unitId: number;
  functionCode: number;
  frame: Buffer;
}

/** The frame with the request's transaction id. */
function reply(frame: readonly number[], request: Request): Buffer {
  const bytes = Buffer.from(frame);
  bytes.writeUInt16BE(request.transactionId, 0);
  return bytes;
}

/** A Modbus TCP peer that answers each request with what `answer` says, now or later (null: silence). */
class CraftedPeer extends EventEmitter<{ request: [Request]; connection: [] }> {
  readonly requests: Request[] = [];
  connections = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    public answer: (request: Request) => Buffer | null | Promise<Buffer | null>,
  ) {
    super();
    server.on('connection', (socket) => {
      this.connections += 1;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
      let pending = Buffer.alloc(0);
      socket.on('data', (data) => {
        pending = Buffer.concat([pending, data]);
        while (pending.length >= 7 && pending.length >= 6 + pending.readUInt16BE(4)) {
          const frame = pending.subarray(0, 6 + pending.readUInt16BE(4));
          pending = pending.subarray(frame.length);
          const request = { transactionId: frame.readUInt16BE(0), unitId: frame[6]!, functionCode: frame[7]!, frame: Buffer.from(frame) };
          this.requests.push(request);
          this.emit('request', request);
          const answer = this.answer(request);
          if (answer instanceof Promise) void answer.then((later) => later && !socket.destroyed && socket.write(later));
          else if (answer) socket.write(answer);
        }
      });
      this.emit('connection');
    });
  }

  static async start(answer: (request: Request) => Buffer | null | Promise<Buffer | null>): Promise<CraftedPeer> {
    const server = createServer();
    const port = await freePort();
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    return new CraftedPeer(server, port, answer);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Modbus Application Protocol V1.1b3, 6.5: the normal Write Single Coil response echoes the request. */
const echo = (request: Request): Buffer => request.frame;

function barrierConfig(port: number, overrides: Record<string, unknown> = {}): BarrierConfig {
  return postConfigSchema.parse({
    version: 1,
    post: { id: 'p' },
    lanes: [{ id: 'lane-1', devices: [{ id: 'bar-1', driver: 'modbus-tcp', connection: { host: '127.0.0.1', port, unitId: 1 }, pollMs: 20, pulseMs: 0, confirmTimeoutMs: 500, requestTimeoutMs: 300, ...overrides }] }],
    uplink: { brokers: ['mqtt://127.0.0.1:1'] },
  }).lanes[0]!.devices[0] as BarrierConfig;
}

function nextHealth(driver: BarrierDriver, match: (h: DriverHealth) => boolean): Promise<DriverHealth> {
  if (match(driver.health())) return Promise.resolve(driver.health());
  return new Promise((resolve) => {
    const listener = (h: DriverHealth): void => {
      if (!match(h)) return;
      driver.off('health', listener);
      resolve(h);
    };
    driver.on('health', listener);
  });
}

function nextReading(driver: BarrierDriver, match: (r: BarrierReading) => boolean = () => true): Promise<BarrierReading> {
  return new Promise((resolve) => {
    const listener = (r: BarrierReading): void => {
      if (!match(r)) return;
      driver.off('reading', listener);
      resolve(r);
    };
    driver.on('reading', listener);
  });
}

describe('barrier driver against a lying Modbus peer', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    vi.useRealTimers();
  });

  const CASES: [string, readonly number[], readonly number[], typeof PHOTOCELL_11 | undefined][] = [
    ['byte count 0, frame padded to a good length', ARM_OPEN_LANE_CLEAR, BYTE_COUNT_ZERO_PADDED, undefined],
    ['byte count 0, short frame', ARM_OPEN_LANE_CLEAR, BYTE_COUNT_ZERO, undefined],
    ['byte count overstated', ARM_OPEN_LANE_CLEAR, BYTE_COUNT_OVERSTATED, undefined],
    ['byte count too long', ARM_OPEN_LANE_CLEAR, BYTE_COUNT_TOO_LONG, undefined],
    ['wrong unit id', ARM_OPEN_LANE_CLEAR, WRONG_UNIT, undefined],
    ['wrong function code', ARM_OPEN_LANE_CLEAR, WRONG_FUNCTION, undefined],
    ['12 inputs, byte count 1 (photocell bit missing)', TWELVE_ARM_OPEN_LANE_CLEAR, TWELVE_BYTE_COUNT_ONE, PHOTOCELL_11],
  ];

  it.each(CASES)('%s: a counted fault, health degraded, and the barrier is not closed', async (_name, good, bad, registers) => {
    let lying = false;
    const peer = await CraftedPeer.start((request) => (request.functionCode === 0x02 ? reply(lying ? bad : good, request) : echo(request)));
    cleanups.push(() => peer.close());
    const driver = new BarrierDriver(barrierConfig(peer.port, registers ? { registers } : {}), { clock: systemClock, logger: pino({ level: 'silent' }) });
    cleanups.push(() => driver.stop());
    const first = nextReading(driver);
    await driver.start();
    expect(await first).toMatchObject({ position: 'open', vehiclePresent: false, photocellBlocked: false });

    lying = true;
    await expect(driver.close()).rejects.toMatchObject({ code: 'GW_ERR_BARRIER_MALFORMED_REPLY', message: expect.stringContaining('malformed reply') as unknown });
    expect(peer.requests.filter((r) => r.functionCode === 0x05)).toEqual([]);
    expect(driver.malformedReplies).toBeGreaterThan(0);
    expect(driver.health()).toMatchObject({ state: 'degraded', lastError: expect.stringContaining('malformed reply') as unknown });
    expect(driver.lastInputs()).toBeNull();

    // A good reply again: trusted again, and published again.
    const again = nextReading(driver);
    lying = false;
    expect(await again).toMatchObject({ position: 'open', vehiclePresent: false });
    await nextHealth(driver, (h) => h.state === 'up');
  });

  it.each([
    ['a vehicle on the loop', ARM_OPEN_VEHICLE_ON_LOOP, 'a vehicle is on the loop'],
    ['a malformed reply', BYTE_COUNT_ZERO_PADDED, 'the last reading of its inputs was malformed'],
  ])('does not close when the poll answered after the decision shows %s, and waits for no movement', async (_what, pollAnswer, why) => {
    // The read `close()` decides on is held by the peer until the poll (on the test's clock) has
    // queued behind it; it is answered "clear", the poll `pollAnswer`, and then comes the write.
    const clock = new ManualClock();
    let phase: 'clear' | 'hold' | 'after' = 'clear';
    let release = (): void => undefined;
    const peer = await CraftedPeer.start((request) => {
      if (request.functionCode !== 0x02) return echo(request);
      if (phase === 'hold') {
        phase = 'after';
        return new Promise((resolve) => (release = () => resolve(reply(ARM_OPEN_LANE_CLEAR, request))));
      }
      return reply(phase === 'clear' ? ARM_OPEN_LANE_CLEAR : pollAnswer, request);
    });
    cleanups.push(() => peer.close());
    const pollMs = 20;
    const driver = new BarrierDriver(barrierConfig(peer.port, { pollMs }), { clock, logger: pino({ level: 'silent' }) });
    cleanups.push(() => driver.stop());
    const first = nextReading(driver);
    await driver.start();
    await nextHealth(driver, (h) => h.state === 'up');
    clock.advance(0); // the first poll
    expect(await first).toMatchObject({ position: 'open', vehiclePresent: false });
    const listening = driver.listenerCount('reading');

    phase = 'hold';
    const decisionAsked = once(peer, 'request');
    const closing = driver.close();
    await decisionAsked;
    clock.advance(pollMs); // the poll, queued behind the decision's read
    release();
    await expect(closing).rejects.toMatchObject({ code: 'GW_ERR_BARRIER_UNSAFE', message: `bar-1: refusing to close: ${why}` });
    expect(peer.requests.filter((r) => r.functionCode === 0x02)).toHaveLength(3); // the first poll, the decision's read, the poll after it
    expect(peer.requests.filter((r) => r.functionCode === 0x05)).toEqual([]);
    expect(driver.listenerCount('reading')).toBe(listening);
  });

  // Modbus Application Protocol V1.1b3, 6.5: Write Single Coil's output value is 0xFF00 for ON,
  // 0x0000 for OFF (bytes 10-11 of the TCP frame, after the address in bytes 8-9).
  const coilWrites = (peer: CraftedPeer) => peer.requests.filter((r) => r.functionCode === 0x05).map((r) => `${r.frame.readUInt16BE(8)} ${r.frame.readUInt16BE(10) === 0xff00 ? 'on' : 'off'}`);

  it.each([
    ['unanswered', 50, 'Timed out'],
    ['answered with a wrong echo', 500, 'malformed reply'],
    ['unanswered, coils held on (pulseMs 0)', 0, 'Timed out'],
  ])('releases a coil whose write was %s (the module may have set it), and tries again while the release fails', async (what, pulseMs, error) => {
    // The ON write goes unanswered or echoed wrong; the first release goes unanswered too; the next is echoed.
    let releases = 0;
    const peer = await CraftedPeer.start((request) => {
      if (request.functionCode === 0x02) return reply(ARM_OPEN_LANE_CLEAR.map((b, i) => (i === 9 ? 0x02 : b)), request); // arm closed
      if (request.frame.readUInt16BE(10) === 0xff00) {
        if (what.startsWith('unanswered')) return null;
        const wrong = Buffer.from(request.frame);
        wrong.writeUInt16BE(7, 8);
        return wrong;
      }
      releases += 1;
      return releases === 1 ? null : echo(request);
    });
    cleanups.push(() => peer.close());
    const driver = new BarrierDriver(barrierConfig(peer.port, { pulseMs, requestTimeoutMs: 200 }), { clock: systemClock, logger: pino({ level: 'silent' }) });
    cleanups.push(() => driver.stop());
    const first = nextReading(driver);
    await driver.start();
    await first;
    await expect(driver.open()).rejects.toThrow(error);
    // The ON, the release left unanswered, and the release tried again (a loaded machine may add
    // a release more, never another ON).
    await vi.waitFor(() => expect(coilWrites(peer).length).toBeGreaterThanOrEqual(3), { timeout: 5000 });
    expect(coilWrites(peer)).toEqual(['0 on', ...coilWrites(peer).slice(1).map(() => '0 off')]);
  });

  it('lets a new ON take over a release still owed for its coil: a held coil stays on', async () => {
    // Coils held on (pulseMs 0). The first open's ON is carried out but its reply lost; its
    // release is refused (exception 06, busy) and tried again every requestTimeoutMs. The second
    // open's ON is echoed: the release owed from the first must not switch it off.
    let coilOn = false;
    let ons = 0;
    const peer = await CraftedPeer.start((request) => {
      if (request.functionCode === 0x02) return reply(ARM_OPEN_LANE_CLEAR.map((b, i) => (i === 9 ? (coilOn ? 0x01 : 0x02) : b)), request);
      if (request.frame.readUInt16BE(10) === 0xff00) {
        ons += 1;
        if (ons === 1) return null;
        coilOn = true;
        return echo(request);
      }
      return reply([0, 0, 0, 0, 0, 3, 1, 0x85, 0x06], request);
    });
    cleanups.push(() => peer.close());
    const requestTimeoutMs = 200;
    const driver = new BarrierDriver(barrierConfig(peer.port, { pulseMs: 0, requestTimeoutMs, confirmTimeoutMs: 2000 }), { clock: systemClock, logger: pino({ level: 'silent' }) });
    cleanups.push(() => driver.stop());
    const first = nextReading(driver);
    await driver.start();
    await first;
    await expect(driver.open()).rejects.toThrow('Timed out');
    await vi.waitFor(() => expect(coilWrites(peer)).toContain('0 off'), { timeout: 5000 });
    await driver.open();
    // Reads go on for a few request timeouts: time enough for any release still owed.
    const readsSoFar = peer.requests.length;
    await vi.waitFor(() => expect(peer.requests.length).toBeGreaterThan(readsSoFar + (3 * requestTimeoutMs) / 20), { timeout: 10_000 });
    const writes = coilWrites(peer);
    expect(writes.slice(writes.lastIndexOf('0 on'))).toEqual(['0 on']);
  });

  it('lets a new pulse run its length when the last one’s release falls due while the new ON is on its way', async () => {
    // The test's clock: the first pulse's release falls due while the second ON's reply is held.
    const clock = new ManualClock();
    let holdNextOn = false;
    let releaseOn = (): void => undefined;
    const peer = await CraftedPeer.start((request) => {
      if (request.functionCode === 0x02) return reply(ARM_OPEN_LANE_CLEAR.map((b, i) => (i === 9 ? 0x02 : b)), request); // closed: no open is ever confirmed
      if (request.frame.readUInt16BE(10) === 0xff00 && holdNextOn) {
        holdNextOn = false;
        return new Promise((resolve) => (releaseOn = () => resolve(echo(request))));
      }
      return echo(request);
    });
    cleanups.push(() => peer.close());
    const pulseMs = 500;
    const driver = new BarrierDriver(barrierConfig(peer.port, { pulseMs, pollMs: 1_000_000, confirmTimeoutMs: 1_000_000 }), { clock, logger: pino({ level: 'silent' }) });
    cleanups.push(() => driver.stop());
    await driver.start();
    await nextHealth(driver, (h) => h.state === 'up');
    void driver.open().catch(() => undefined);
    await vi.waitFor(() => expect(coilWrites(peer)).toEqual(['0 on']));
    clock.advance(pulseMs - 5);
    holdNextOn = true;
    const secondOn = once(peer, 'request');
    void driver.open().catch(() => undefined);
    await vi.waitFor(async () => {
      await secondOn;
      expect(coilWrites(peer)).toEqual(['0 on', '0 on']);
    });
    clock.advance(5); // the first pulse's release falls due, the second ON still unanswered
    releaseOn();
    // The poll the ON schedules at once (on the test's clock, due without time passing) goes
    // behind anything queued before it: once it arrives, a release queued then has been sent.
    const reads = peer.requests.filter((r) => r.functionCode === 0x02).length;
    await vi.waitFor(() => {
      clock.advance(0);
      expect(peer.requests.filter((r) => r.functionCode === 0x02).length).toBeGreaterThan(reads);
    });
    expect(coilWrites(peer)).toEqual(['0 on', '0 on']);
    clock.advance(pulseMs);
    await vi.waitFor(() => expect(coilWrites(peer)).toEqual(['0 on', '0 on', '0 off']));
  });

  it('does not release a coil the module refused with an exception (it was not set)', async () => {
    // Modbus Application Protocol V1.1b3, 7: an exception response is the function code + 0x80 and
    // an exception code (0x04, server device failure): the write was not carried out.
    const peer = await CraftedPeer.start((request) => {
      if (request.functionCode === 0x02) return reply(ARM_OPEN_LANE_CLEAR.map((b, i) => (i === 9 ? 0x02 : b)), request);
      const refusal = Buffer.from([0, 0, 0, 0, 0, 3, 1, 0x85, 0x04]);
      return reply([...refusal], request);
    });
    cleanups.push(() => peer.close());
    const driver = new BarrierDriver(barrierConfig(peer.port, { pulseMs: 0, requestTimeoutMs: 200 }), { clock: systemClock, logger: pino({ level: 'silent' }) });
    cleanups.push(() => driver.stop());
    const first = nextReading(driver);
    await driver.start();
    await first;
    await expect(driver.open()).rejects.toMatchObject({ code: 'GW_ERR_BARRIER_MODBUS_EXCEPTION' });
    // Polls go on; a release would have been written at once (pulseMs 0) before the next few.
    const polled = peer.requests.length;
    await vi.waitFor(() => expect(peer.requests.length).toBeGreaterThan(polled + 5));
    expect(coilWrites(peer)).toEqual(['0 on']);
  });

  it('treats a coil write not echoed as a malformed reply', async () => {
    const peer = await CraftedPeer.start((request) => {
      if (request.functionCode === 0x02) return reply(ARM_OPEN_LANE_CLEAR.map((b, i) => (i === 9 ? 0x02 : b)), request); // arm closed
      // Echo the request with coil 7 instead of the one written (bytes 8-9: output address).
      const wrong = Buffer.from(request.frame);
      wrong.writeUInt16BE(7, 8);
      return wrong;
    });
    cleanups.push(() => peer.close());
    const driver = new BarrierDriver(barrierConfig(peer.port), { clock: systemClock, logger: pino({ level: 'silent' }) });
    cleanups.push(() => driver.stop());
    const first = nextReading(driver);
    await driver.start();
    await first;
    await expect(driver.open()).rejects.toMatchObject({ code: 'GW_ERR_BARRIER_MALFORMED_REPLY', message: 'bar-1 write coil 0: malformed reply: the reply echoes coil 7 on' });
    expect(driver.malformedReplies).toBe(1);
  });

  it('drops the connection after 3 unanswered requests in a row, reports it down, and reconnects with backoff', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    let silent = false;
    const peer = await CraftedPeer.start((request) => (silent ? null : reply(ARM_OPEN_LANE_CLEAR, request)));
    cleanups.push(() => peer.close());
    const pollMs = 100;
    const requestTimeoutMs = 500;
    const driver = new BarrierDriver(barrierConfig(peer.port, { pollMs, requestTimeoutMs }), {
      clock: systemClock,
      logger: pino({ level: 'silent' }),
      backoff: { initialMs: 2000, maxMs: 2000 },
      random: () => 1,
    });
    cleanups.push(() => driver.stop());
    const healths: DriverHealth[] = [];
    driver.on('health', (h) => healths.push(h));

    const first = nextReading(driver);
    await driver.start();
    await nextHealth(driver, (h) => h.state === 'up');
    await vi.advanceTimersByTimeAsync(0); // the first poll
    await first;

    silent = true;
    for (let timeout = 1; timeout <= 3; timeout += 1) {
      const asked = once(peer, 'request');
      await vi.advanceTimersByTimeAsync(pollMs);
      await asked;
      const counted = nextHealth(driver, (h) => (timeout < 3 ? h.state === 'degraded' && driver.timeouts === timeout : h.state === 'down'));
      await vi.advanceTimersByTimeAsync(requestTimeoutMs);
      await counted;
    }
    expect(driver.health()).toMatchObject({ state: 'down', lastError: 'bar-1: 3 requests in a row unanswered (last: read inputs 0-3); connection dropped' });
    expect(healths.filter((h) => h.state === 'down')).toHaveLength(1);
    expect(peer.connections).toBe(1);

    // Backoff (2 s, the jitter pinned at its top): nothing before it, a new connection at it.
    silent = false;
    await vi.advanceTimersByTimeAsync(1999);
    expect(peer.connections).toBe(1);
    const reconnected = once(peer, 'connection');
    await vi.advanceTimersByTimeAsync(1);
    await reconnected;
    await nextHealth(driver, (h) => h.state === 'up');
    // The first poll is due at once (or 1 ms later when scheduled while fake time was ticking).
    const polled = once(peer, 'request');
    await vi.advanceTimersByTimeAsync(pollMs);
    await polled;
    expect(driver.timeouts).toBe(3);
  });

  it('counts only timeouts in a row: an answer in between starts the count again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const silentFor = new Set([1, 2, 4, 5]); // the 3rd and 6th read are answered
    let reads = 0;
    const peer = await CraftedPeer.start((request) => (silentFor.has(reads++) ? null : reply(ARM_OPEN_LANE_CLEAR, request)));
    cleanups.push(() => peer.close());
    const driver = new BarrierDriver(barrierConfig(peer.port, { pollMs: 100, requestTimeoutMs: 500 }), { clock: systemClock, logger: pino({ level: 'silent' }) });
    cleanups.push(() => driver.stop());
    const first = nextReading(driver);
    await driver.start();
    await nextHealth(driver, (h) => h.state === 'up');
    await vi.advanceTimersByTimeAsync(0);
    await first;
    for (let read = 1; read <= 6; read += 1) {
      const asked = once(peer, 'request');
      await vi.advanceTimersByTimeAsync(100);
      await asked;
      if (silentFor.has(read)) {
        const counted = driver.timeouts + 1;
        const degraded = nextHealth(driver, () => driver.timeouts === counted);
        await vi.advanceTimersByTimeAsync(500);
        await degraded;
      } else {
        await nextHealth(driver, (h) => h.state === 'up');
      }
    }
    expect(driver.timeouts).toBe(4);
    expect(driver.health().state).toBe('up');
    expect(peer.connections).toBe(1);
  });
});
