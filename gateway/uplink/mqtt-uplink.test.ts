/**
 * The uplink (state machine, window, backoff) against brokers that misbehave on purpose: a socket
 * server of this test speaking MQTT 5 by hand (mqtt-packet), a real outbox, the test's clock.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import mqttPacket from 'mqtt-packet';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createEventFactory } from '../../contract/envelope.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { SqliteOutbox } from '../outbox/sqlite-outbox.js';
import { MqttUplink, type UplinkSettings } from './mqtt-uplink.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface FakeBroker {
  url: string;
  /** Sockets accepted so far (one per connection attempt that reached the broker). */
  sockets: Socket[];
}

/** A TCP server that parses what the uplink sends and hands each connection to `onSocket`. */
async function fakeBroker(onSocket: (socket: Socket) => void): Promise<FakeBroker> {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    parser.on('packet', (packet: mqttPacket.Packet) => socket.emit('mqtt', packet));
    socket.on('data', (bytes) => parser.parse(bytes));
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { url: `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`, sockets };
}

function onConnect(socket: Socket, answer: () => void): void {
  const listener = (packet: mqttPacket.Packet): void => {
    if (packet.cmd !== 'connect') return;
    socket.off('mqtt', listener);
    answer();
  };
  socket.on('mqtt', listener);
}

const connack = (properties?: Record<string, unknown>): Buffer =>
  mqttPacket.generate({ cmd: 'connack', sessionPresent: false, reasonCode: 0, ...(properties ? { properties } : {}) }, { protocolVersion: 5 });

interface Harness {
  clock: ManualClock;
  outbox: SqliteOutbox;
  uplink: MqttUplink;
  logs: Array<Record<string, unknown>>;
}

function settings(url: string, overrides: Partial<UplinkSettings> = {}): UplinkSettings {
  return {
    brokers: [url],
    root: 'border/v1/test-post',
    clientId: `uplink-test-${process.pid}`,
    protocolVersion: 5,
    keepaliveSec: 30,
    inflightWindow: 256,
    publishTimeoutMs: 15_000,
    refusedRetryMs: 60_000,
    reconnect: { initialMs: 500, maxMs: 30_000 },
    maxIncomingBytes: 64 * 1024,
    ...overrides,
  };
}

function startUplink(uplinkSettings: UplinkSettings, given: { clock?: ManualClock; outbox?: SqliteOutbox } = {}): Harness {
  const clock = given.clock ?? new ManualClock();
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const outbox = given.outbox ?? SqliteOutbox.open({ path: join(tempDir('uplink-'), 'outbox.db'), maxBytes: 64 * 1024 * 1024, maxBatch: 1000, clock, logger });
  const uplink = new MqttUplink({ settings: uplinkSettings, postId: 'test-post', gatewayVersion: 'test', outbox, clock, logger, random: () => 0.5 });
  cleanups.push(async () => {
    // stop() waits for the offline status's PUBACK and the broker's close, each at most a second of this clock.
    let stopped = false;
    const stopping = uplink.stop(0).then(() => (stopped = true));
    while (!stopped) {
      clock.advance(1000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await stopping;
    outbox.close();
  });
  uplink.start();
  return { clock, outbox, uplink, logs };
}

function nextState(uplink: MqttUplink, wanted: string): Promise<void> {
  return new Promise((resolve) => {
    const listener = (state: string): void => {
      if (state !== wanted) return;
      uplink.off('state', listener);
      resolve();
    };
    uplink.on('state', listener);
  });
}

const factory = createEventFactory('test-post', new ManualClock());

function weighedEvent(n: number): ReturnType<typeof factory.create> {
  return factory.create(
    'vehicle.weighed',
    'lane-1',
    { crossingId: `c-${n}`, clock: { synchronised: true, offsetMs: 0.3 }, sinceArrivalSec: 60, weightKg: 20_000 + n, deviceId: 'lane-1-weighbridge' },
    `c-${n}`,
  );
}

describe('MqttUplink against a broker that misbehaves', () => {
  it('backs off further and further from a broker that accepts each connection and closes it at once (no reconnect storm)', async () => {
    // CONNACK, then the broker closes its side: what a broker does that kicks a client it has just
    // accepted (a session taken over by a second gateway with the same client id, a policy that
    // disconnects on the status topic, a broker restarting in a loop).
    let kick = true;
    const broker = await fakeBroker((socket) => onConnect(socket, () => (kick ? socket.end(connack()) : socket.write(connack()))));
    const { clock, uplink, logs } = startUplink(settings(broker.url));
    let connections = 0;
    uplink.on('state', (state) => {
      if (state === 'connected') connections += 1;
    });
    const lastDelay = (): number => logs.filter((line) => line.msg === 'uplink reconnect scheduled').at(-1)?.delayMs as number;

    const delays: number[] = [];
    let backoff = nextState(uplink, 'backoff');
    for (let attempt = 0; attempt < 8; attempt += 1) {
      await backoff;
      delays.push(lastDelay());
      if (attempt === 7) break;
      backoff = nextState(uplink, 'backoff');
      clock.advance(lastDelay());
    }
    expect(connections).toBe(8);
    // Full jitter at random() = 0.5: three quarters of 500 ms doubled per attempt, capped at 30 s.
    expect(delays).toEqual([375, 750, 1500, 3000, 6000, 12_000, 22_500, 22_500]);

    // A connection that stays up (longer than the longest backoff) is healthy: its loss is retried at once.
    kick = false;
    const connected = nextState(uplink, 'connected');
    clock.advance(lastDelay());
    await connected;
    backoff = nextState(uplink, 'backoff');
    clock.advance(30_000);
    broker.sockets.at(-1)?.end();
    await backoff;
    expect(lastDelay()).toBe(375);
  });

  it('keeps within a Receive Maximum of 1: the status publish and an event are never unacknowledged together', async () => {
    // A broker enforcing its quota as MQTT 5.0 section 3.3.4 says: a QoS 1 PUBLISH over its
    // Receive Maximum is a protocol error, answered with DISCONNECT 0x93.
    const unacknowledged = new Map<Socket, number>();
    const topics: string[] = [];
    let violations = 0;
    const broker = await fakeBroker((socket) => {
      unacknowledged.set(socket, 0);
      onConnect(socket, () => socket.write(connack({ receiveMaximum: 1 })));
      socket.on('mqtt', (packet: mqttPacket.Packet) => {
        if (packet.cmd !== 'publish') return;
        const held = (unacknowledged.get(socket) ?? 0) + 1;
        unacknowledged.set(socket, held);
        if (held > 1) {
          violations += 1;
          socket.end(mqttPacket.generate({ cmd: 'disconnect', reasonCode: 0x93 }, { protocolVersion: 5 }));
          return;
        }
        topics.push(packet.topic);
        // Acknowledged a turn later: whatever else the client wrote with it has arrived by then.
        setImmediate(() => {
          unacknowledged.set(socket, (unacknowledged.get(socket) ?? 1) - 1);
          socket.write(mqttPacket.generate({ cmd: 'puback', messageId: packet.messageId as number, reasonCode: 0 }, { protocolVersion: 5 }));
        });
      });
    });
    const clock = new ManualClock();
    const outbox = SqliteOutbox.open({ path: join(tempDir('uplink-'), 'outbox.db'), maxBytes: 64 * 1024 * 1024, maxBatch: 1000, clock, logger: pino({ level: 'silent' }) });
    await Promise.all([1, 2, 3].map((n) => outbox.append(weighedEvent(n))));
    const harness = startUplink(settings(broker.url, { keepUnrouted: false }), { clock, outbox });
    let delivered = 0;
    const all = new Promise<void>((resolve) =>
      harness.uplink.on('delivered', () => {
        delivered += 1;
        if (delivered === 3) resolve();
      }),
    );
    const dropped = nextState(harness.uplink, 'backoff').then(() => {
      throw new Error(`the broker dropped the connection: ${violations} publish(es) over its Receive Maximum`);
    });
    await Promise.race([all, dropped]);
    expect(violations).toBe(0);
    expect(topics).toEqual(['border/v1/test-post/status', ...Array.from({ length: 3 }, () => 'border/v1/test-post/lane-1/vehicle.weighed')]);
    expect(broker.sockets).toHaveLength(1);
  });

  it('blames no event for a DISCONNECT whose reason names another cause (server shutting down, session taken over, use another server)', async () => {
    const reasons = [0x8b, 0x8e, 0x9c];
    let connection = 0;
    const broker = await fakeBroker((socket) => {
      const reason = reasons[connection] ?? 0x8b;
      connection += 1;
      onConnect(socket, () => socket.write(connack()));
      socket.on('mqtt', (packet: mqttPacket.Packet) => {
        // The event, unacknowledged, when the broker goes: what a broker's restart or a takeover looks like.
        if (packet.cmd === 'publish' && packet.topic.endsWith('vehicle.weighed')) socket.end(mqttPacket.generate({ cmd: 'disconnect', reasonCode: reason }, { protocolVersion: 5 }));
        else if (packet.cmd === 'publish') socket.write(mqttPacket.generate({ cmd: 'puback', messageId: packet.messageId as number, reasonCode: 0 }, { protocolVersion: 5 }));
      });
    });
    const clock = new ManualClock();
    const outbox = SqliteOutbox.open({ path: join(tempDir('uplink-'), 'outbox.db'), maxBytes: 64 * 1024 * 1024, maxBatch: 1000, clock, logger: pino({ level: 'silent' }) });
    await outbox.append(weighedEvent(1));
    const { uplink, logs } = startUplink(settings(broker.url, { poisonAfterDrops: 3 }), { clock, outbox });
    const parked: number[] = [];
    uplink.on('parked', (event) => parked.push(event.seq));
    for (let drop = 0; drop < reasons.length; drop += 1) {
      await nextState(uplink, 'backoff');
      if (drop < reasons.length - 1) clock.advance(logs.filter((line) => line.msg === 'uplink reconnect scheduled').at(-1)?.delayMs as number);
    }
    expect(connection).toBe(3);
    expect(parked).toEqual([]);
    expect(uplink.parkedCount).toBe(0);
  });
});
