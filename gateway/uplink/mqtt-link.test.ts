/**
 * The uplink's MQTT link against peers nobody here wrote (Mosquitto, mosquitto_pub, MQTT.js as
 * the subscriber, aedes behind a WebSocket) and against brokers that misbehave on purpose (a
 * socket server of this test writing bytes by hand).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer, type Server, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import { systemClock } from '../../core/clock.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { makeTestPki } from '../../test/helpers/certificates.js';
import { Mosquitto } from '../../test/helpers/mosquitto.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { encodePublish } from './mqtt-frames.js';
import { LinkError, MqttLink, type LinkGrant, type MqttLinkOptions } from './mqtt-link.js';

const run = promisify(execFile);
const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function link(url: string, overrides: Partial<MqttLinkOptions> = {}): MqttLink {
  const made = new MqttLink({ url, protocolVersion: 5, clientId: `link-test-${process.pid}-${Math.random().toString(36).slice(2)}`, keepaliveSec: 30, connectTimeoutMs: 5000, maxIncomingBytes: 64 * 1024, clock: systemClock, ...overrides });
  made.on('error', () => undefined);
  cleanups.push(() => made.end(true));
  return made;
}

function connected(made: MqttLink): Promise<LinkGrant> {
  return new Promise((resolve, reject) => {
    made.once('connect', resolve);
    made.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

function closedWith(made: MqttLink): Promise<LinkError | null> {
  return closing(made).then(({ error }) => error);
}

/** The first error and whether the broker (not the link) ended the connection. */
function closing(made: MqttLink): Promise<{ error: LinkError | null; byBroker: boolean }> {
  let error: LinkError | null = null;
  made.on('error', (failure) => (error ??= failure));
  return new Promise((resolve) => made.once('close', (byBroker) => resolve({ error, byBroker })));
}

function publishOne(made: MqttLink, topic: string, payload: string, options: { retain?: boolean; contentType?: string } = {}): Promise<{ error: LinkError | undefined; reasonCode: number }> {
  return new Promise((resolve) => made.publish(topic, payload, options, (error, reasonCode) => resolve({ error, reasonCode })));
}

/** Resolves once `count` messages have come (listening from now on). */
function messagesFrom(made: MqttLink, count: number): Promise<Array<{ topic: string; payload: string; retained: boolean }>> {
  const messages: Array<{ topic: string; payload: string; retained: boolean }> = [];
  return new Promise((resolve) =>
    made.on('message', (topic, payload, retained) => {
      messages.push({ topic, payload: payload.toString(), retained });
      if (messages.length === count) resolve(messages);
    }),
  );
}

async function mosquitto(): Promise<Mosquitto> {
  const broker = await Mosquitto.start();
  cleanups.push(() => broker.stop());
  return broker;
}

describe('MqttLink against Mosquitto', () => {
  it('MQTT 5: takes the broker\'s Receive Maximum, publishes in order with the content type, and hears 0x10 when nobody subscribes', async () => {
    const broker = await mosquitto();
    const made = link(broker.url);
    const grant = await connected(made);
    expect(grant.receiveMaximum).toBe(20); // Mosquitto's default

    expect(await publishOne(made, 'border/v1/p/lane-1/x', '{}')).toEqual({ error: undefined, reasonCode: 0x10 });

    const subscriber = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: `sub-${process.pid}` });
    cleanups.push(() => subscriber.endAsync(true));
    await subscriber.subscribeAsync('border/#', { qos: 1 });
    const received: Array<{ n: number; contentType: string | undefined }> = [];
    const all = new Promise<void>((resolve) =>
      subscriber.on('message', (_topic, payload, packet) => {
        received.push({ n: (JSON.parse(payload.toString()) as { n: number }).n, contentType: packet.properties?.contentType });
        if (received.length === 500) resolve();
      }),
    );
    // 500 publishes, at most 19 unacknowledged (the broker's Receive Maximum less one).
    const codes: number[] = [];
    let next = 0;
    await new Promise<void>((resolve) => {
      const send = (): void => {
        const n = next;
        next += 1;
        made.publish('border/v1/p/lane-1/x', JSON.stringify({ n }), { contentType: 'application/cloudevents+json' }, (error, reasonCode) => {
          expect(error).toBeUndefined();
          codes.push(reasonCode);
          if (codes.length === 500) resolve();
          else if (next < 500) send();
        });
      };
      for (let i = 0; i < 19; i += 1) send();
    });
    await all;
    expect(codes.every((code) => code === 0)).toBe(true);
    expect(received.map((message) => message.n)).toEqual([...Array(500).keys()]);
    expect(new Set(received.map((message) => message.contentType))).toEqual(new Set(['application/cloudevents+json']));
  });

  it('builds no table of packet-id buffers in mqtt-packet (6 MB of heap) while it connects and subscribes', async () => {
    const numbers = createRequire(import.meta.url)('mqtt-packet/numbers.js') as { cache: Record<number, Buffer> };
    const broker = await mosquitto();
    const made = link(broker.url);
    await connected(made);
    await new Promise<void>((resolve, reject) => made.subscribe('border/#', (error) => (error ? reject(error) : resolve())));
    expect(mqttPacket.writeToStream.cacheNumbers).toBe(false);
    expect(Object.keys(numbers.cache)).toHaveLength(0);
  });

  it('MQTT 3.1.1: subscribes, hears a retained message from mosquitto_pub, and skips (and acknowledges) 25 over its bound without losing the next', async () => {
    const broker = await mosquitto();
    await run('mosquitto_pub', ['-p', String(broker.port), '-q', '1', '-r', '-t', 'border/v1/p/commands/watchlist', '-m', 'retained-command']);
    const made = link(broker.url, { protocolVersion: 4, maxIncomingBytes: 16 * 1024 });
    await connected(made);
    const messages = messagesFrom(made, 2);
    const oversize: number[] = [];
    made.on('oversize', (skipped) => oversize.push(skipped.bytes));
    const granted = await new Promise<number[]>((resolve) => made.subscribe('border/v1/p/commands/#', (_error, codes) => resolve(codes)));
    expect(granted).toEqual([1]);
    // 25 of them: more than Mosquitto keeps in flight to one client (20), so the next gets through
    // only if each skipped one was acknowledged.
    for (let i = 0; i < 25; i += 1) await run('mosquitto_pub', ['-p', String(broker.port), '-q', '1', '-t', 'border/v1/p/commands/model', '-m', 'z'.repeat(100_000)]);
    await run('mosquitto_pub', ['-p', String(broker.port), '-q', '1', '-t', 'border/v1/p/commands/evidence', '-m', 'after-the-big-one']);
    expect(await messages).toEqual([
      { topic: 'border/v1/p/commands/watchlist', payload: 'retained-command', retained: true },
      { topic: 'border/v1/p/commands/evidence', payload: 'after-the-big-one', retained: false },
    ]);
    expect(oversize).toHaveLength(25);
    expect(oversize.every((bytes) => bytes > 100_000)).toBe(true);
    // The link is still up after skipping it.
    expect(await publishOne(made, 'border/v1/p/lane-1/x', '{}')).toEqual({ error: undefined, reasonCode: 0 });
  });

  it('MQTT 5: announces its Maximum Packet Size, so Mosquitto itself holds back what is too large', async () => {
    const broker = await mosquitto();
    const made = link(broker.url, { maxIncomingBytes: 16 * 1024 });
    await connected(made);
    const first = messagesFrom(made, 1);
    let oversize = 0;
    made.on('oversize', () => (oversize += 1));
    await new Promise((resolve) => made.subscribe('c/#', resolve));
    await run('mosquitto_pub', ['-V', 'mqttv5', '-p', String(broker.port), '-q', '1', '-t', 'c/big', '-m', 'z'.repeat(100_000)]);
    await run('mosquitto_pub', ['-V', 'mqttv5', '-p', String(broker.port), '-q', '1', '-t', 'c/small', '-m', 'small']);
    expect((await first).map((message) => message.payload)).toEqual(['small']);
    expect(oversize).toBe(0);
  });

  it('leaves its last will only when the connection is lost, not on a clean end', async () => {
    const broker = await mosquitto();
    const watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: `will-${process.pid}` });
    cleanups.push(() => watcher.endAsync(true));
    await watcher.subscribeAsync('status/#', { qos: 1 });
    const wills: string[] = [];
    const firstWill = new Promise<void>((resolve) =>
      watcher.on('message', (topic) => {
        wills.push(topic);
        resolve();
      }),
    );
    const will = (topic: string): MqttLinkOptions['will'] => ({ topic, payload: Buffer.from('offline'), retain: false });

    const clean = link(broker.url, { will: will('status/clean') });
    await connected(clean);
    await clean.end();
    const lost = link(broker.url, { will: will('status/lost') });
    await connected(lost);
    await lost.end(true);
    await firstWill;
    // A will of the clean end would have come first: the broker handled that connection first.
    expect(wills).toEqual(['status/lost']);
  });
});

/**
 * aedes behind a WebSocket server on `server` (HTTP or HTTPS), listening on a free port; `onSocket`
 * sees each WebSocket and its upgrade request. Returns the port.
 */
async function aedesOverWebSocket(server: HttpServer | HttpsServer, onSocket: (socket: WebSocket, request: IncomingMessage) => void): Promise<number> {
  const aedes = await Aedes.createBroker();
  const sockets = new WebSocketServer({ server });
  sockets.on('connection', (socket, request) => {
    onSocket(socket, request);
    aedes.handle(createWebSocketStream(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    sockets.close();
    await new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as { port: number }).port;
}

describe('MqttLink over a WebSocket, to aedes', () => {
  it('connects with the mqtt subprotocol, subscribes and publishes (MQTT 3.1.1)', async () => {
    const protocols: string[] = [];
    const port = await aedesOverWebSocket(createHttpServer(), (socket) => protocols.push(socket.protocol));
    const made = link(`ws://127.0.0.1:${port}/mqtt`, { protocolVersion: 4 });
    await connected(made);
    expect(protocols).toEqual(['mqtt']);
    const messages = messagesFrom(made, 1);
    await new Promise((resolve) => made.subscribe('echo/#', resolve));
    expect(await publishOne(made, 'echo/1', 'over a websocket')).toEqual({ error: undefined, reasonCode: 0 });
    expect((await messages).map((message) => message.payload)).toEqual(['over a websocket']);
  });

  it('over TLS (wss://): verifies the broker by the given CA and name, shows its client certificate, and refuses a broker it cannot verify', async () => {
    const pki = makeTestPki(tempDir());
    const clientNames: string[] = [];
    const https = createHttpsServer({ cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey), ca: readFileSync(pki.ca), requestCert: true, rejectUnauthorized: true });
    const port = await aedesOverWebSocket(https, (_socket, request) => clientNames.push(String((request.socket as TLSSocket).getPeerCertificate().subject.CN)));
    const url = `wss://localhost:${port}/mqtt`;
    const tls = { ca: readFileSync(pki.ca), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey), rejectUnauthorized: true };
    const made = link(url, { protocolVersion: 4, tls });
    await connected(made);
    expect(clientNames).toEqual(['gateway-test-post']);
    expect(await publishOne(made, 'echo/1', 'over TLS')).toEqual({ error: undefined, reasonCode: 0 });

    // Without the CA the broker's certificate cannot be verified: no connection.
    const unverified = link(url, { protocolVersion: 4, tls: { cert: tls.cert, key: tls.key, rejectUnauthorized: true } });
    expect((await closing(unverified)).error?.message).toMatch(/certificate/);
  });
});

describe('MqttLink over a WebSocket that misbehaves', () => {
  /** A WebSocket server that answers the CONNECT with a CONNACK and then does `then` to the socket. */
  async function wsBroker(then: (socket: WebSocket) => void): Promise<string> {
    const http = createHttpServer();
    const sockets = new WebSocketServer({ server: http });
    sockets.on('connection', (socket) => {
      socket.once('message', () => {
        socket.send(mqttPacket.generate({ cmd: 'connack', sessionPresent: false, returnCode: 0 }));
        setImmediate(() => then(socket));
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      sockets.close();
      await new Promise((resolve) => http.close(resolve));
    });
    return `ws://127.0.0.1:${(http.address() as { port: number }).port}/`;
  }

  it('closes when the connection is reset (no close frame, no FIN), and says the broker side ended it', async () => {
    const made = link(await wsBroker((socket) => socket.terminate()), { protocolVersion: 4 });
    const closed = closing(made);
    await connected(made);
    expect((await closed).byBroker).toBe(true);
    expect(made.isConnected).toBe(false);
  });

  it('closes on a message over its bound (ws reads messages whole), as its own doing', async () => {
    const big = encodePublish({ topic: 'c/model', payload: Buffer.alloc(200_000, 1), messageId: 3, retain: false, protocolVersion: 4 });
    const made = link(await wsBroker((socket) => socket.send(big)), { protocolVersion: 4, maxIncomingBytes: 64 * 1024 });
    const closed = closing(made);
    await connected(made);
    expect(await closed).toMatchObject({ error: { message: expect.stringMatching(/WebSocket message over 65,?54\d bytes/) as unknown }, byBroker: false });
  });
});

/** A broker of this test: hands each accepted socket and the bytes the link sent to `onSocket`. */
async function fakeBroker(onSocket: (socket: Socket, packets: mqttPacket.Packet[]) => void, protocolVersion: 4 | 5 = 5): Promise<{ url: string; server: Server }> {
  const server = createServer((socket) => {
    const packets: mqttPacket.Packet[] = [];
    const parser = mqttPacket.parser({ protocolVersion });
    parser.on('packet', (packet: mqttPacket.Packet) => {
      packets.push(packet);
      socket.emit('mqtt', packet);
    });
    socket.on('data', (bytes) => parser.parse(bytes));
    socket.on('error', () => undefined);
    onSocket(socket, packets);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { url: `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

const connack = (reasonCode = 0, properties?: Record<string, unknown>): Buffer => mqttPacket.generate({ cmd: 'connack', sessionPresent: false, reasonCode, ...(properties ? { properties } : {}) }, { protocolVersion: 5 });

/** Resolves with the next packet of `cmd` the link sends to the fake broker. */
function nextPacket(socket: Socket, cmd: string): Promise<mqttPacket.Packet> {
  return new Promise((resolve) => {
    const listener = (packet: mqttPacket.Packet): void => {
      if (packet.cmd !== cmd) return;
      socket.off('mqtt', listener);
      resolve(packet);
    };
    socket.on('mqtt', listener);
  });
}

function onConnect(answer: (socket: Socket) => void): (socket: Socket) => void {
  return (socket) => void nextPacket(socket, 'connect').then(() => answer(socket));
}

describe('MqttLink against a broker that misbehaves', () => {
  it('gives up on a broker that never answers CONNECT, on its own clock', async () => {
    const clock = new ManualClock();
    let connectSeen!: () => void;
    // (closing() below: a timeout of ours, not the broker's doing)
    const seen = new Promise<void>((resolve) => (connectSeen = resolve));
    const broker = await fakeBroker(onConnect(() => connectSeen()));
    const made = link(broker.url, { clock, connectTimeoutMs: 10_000 });
    const closed = closing(made);
    await seen;
    clock.advance(9_999);
    expect(made.isConnected).toBe(false);
    clock.advance(1);
    expect(await closed).toMatchObject({ error: { message: 'no CONNACK within 10000 ms' }, byBroker: false });
  });

  it('closes when a PINGREQ goes unanswered for a keepalive period, and not while PINGRESPs come', async () => {
    const clock = new ManualClock();
    let answerPings = true;
    let socket!: Socket;
    const broker = await fakeBroker(
      onConnect((accepted) => {
        socket = accepted;
        accepted.on('mqtt', (packet: mqttPacket.Packet) => {
          if (packet.cmd !== 'pingreq' || !answerPings) return;
          // A message after the PINGRESP: once the link has it, it has read the PINGRESP too.
          accepted.write(mqttPacket.generate({ cmd: 'pingresp' }));
          accepted.write(mqttPacket.generate({ cmd: 'publish', qos: 0, topic: 'pong', payload: '', dup: false, retain: false }, { protocolVersion: 5 }));
        });
        accepted.write(connack());
      }),
    );
    const made = link(broker.url, { clock, keepaliveSec: 10 });
    const closed = closing(made);
    await connected(made);
    for (let period = 0; period < 3; period += 1) {
      const pong = messagesFrom(made, 1);
      clock.advance(10_000);
      await pong;
    }
    expect(made.isConnected).toBe(true);
    answerPings = false;
    const unanswered = nextPacket(socket, 'pingreq');
    clock.advance(10_000);
    await unanswered;
    expect(made.isConnected).toBe(true);
    clock.advance(10_000);
    // The link gave up, not the broker: the uplink blames no event in flight for it.
    expect(await closed).toMatchObject({ error: { message: 'no PINGRESP within 10000 ms' }, byBroker: false });
  });

  it('reports a refused CONNECT with the broker\'s code (0x84: the uplink falls back to 3.1.1 on it)', async () => {
    const broker = await fakeBroker(onConnect((socket) => socket.write(connack(0x84))));
    const error = await closedWith(link(broker.url));
    expect(error?.code).toBe(0x84);
    expect(error?.message).toMatch(/protocol version/);
  });

  it('takes the broker\'s DISCONNECT as the end, tells the close listener before failing the publishes in flight', async () => {
    const broker = await fakeBroker(
      onConnect((socket) => {
        socket.write(connack());
        void nextPacket(socket, 'publish').then(() => socket.write(mqttPacket.generate({ cmd: 'disconnect', reasonCode: 0x99 }, { protocolVersion: 5 })));
      }),
    );
    const made = link(broker.url);
    const closed = closing(made);
    await connected(made);
    const order: string[] = [];
    made.once('close', () => order.push('close'));
    const publish = publishOne(made, 't', 'x').then((result) => {
      order.push('publish settled');
      return result;
    });
    expect(await closed).toMatchObject({ error: { code: 0x99 }, byBroker: true });
    expect((await publish).error?.message).toMatch(/0x99/);
    expect(order).toEqual(['close', 'publish settled']);
  });

  it('refuses a CONNACK without a return code, and one claiming a session for a clean start', async () => {
    for (const [bytes, expected] of [
      [Buffer.from([0x20, 0x00]), /malformed CONNACK/],
      [mqttPacket.generate({ cmd: 'connack', sessionPresent: true, reasonCode: 0 }, { protocolVersion: 5 }), /claims a session/],
    ] as const) {
      const broker = await fakeBroker(onConnect((socket) => socket.write(bytes)));
      const made = link(broker.url);
      let connects = 0;
      made.on('connect', () => (connects += 1));
      expect((await closedWith(made))?.message).toMatch(expected);
      expect(connects).toBe(0);
    }
  });

  it('throws at construction on a CONNECT it cannot send, never later in a socket callback', () => {
    // mqtt-packet refuses a password without a user name on 3.1.1; the URL's password is not valid percent-encoding.
    expect(() => new MqttLink({ url: 'mqtt://127.0.0.1:1', protocolVersion: 4, clientId: 'x', keepaliveSec: 30, connectTimeoutMs: 1000, maxIncomingBytes: 1024, clock: systemClock, password: 'secret' })).toThrow(/password/i);
    expect(() => new MqttLink({ url: 'mqtt://u:100%@127.0.0.1:1', protocolVersion: 5, clientId: 'x', keepaliveSec: 30, connectTimeoutMs: 1000, maxIncomingBytes: 1024, clock: systemClock })).toThrow(/percent-encoding/);
    expect(() => new MqttLink({ url: 'mqtt://127.0.0.1:1', protocolVersion: 5, clientId: 'x', keepaliveSec: 70_000, connectTimeoutMs: 1000, maxIncomingBytes: 1024, clock: systemClock })).toThrow(/keepalive/i);
  });

  it('ignores a PUBACK for nothing it sent and settles the right publish by its id', async () => {
    let socket!: Socket;
    const broker = await fakeBroker(
      onConnect((accepted) => {
        socket = accepted;
        accepted.write(connack());
      }),
    );
    const made = link(broker.url);
    await connected(made);
    const first = nextPacket(socket, 'publish');
    const result = publishOne(made, 't', 'x');
    const { messageId } = (await first) as { messageId: number };
    socket.write(mqttPacket.generate({ cmd: 'puback', messageId: messageId + 100, reasonCode: 0 }, { protocolVersion: 5 }));
    socket.write(mqttPacket.generate({ cmd: 'puback', messageId, reasonCode: 0x87, properties: { reasonString: 'not authorised here' } }, { protocolVersion: 5 }));
    expect(await result).toMatchObject({ reasonCode: 0x87, error: { code: 0x87, message: 'publish refused: not authorised here' } });
    expect(made.isConnected).toBe(true);
  });

  for (const [name, bytes, expected] of [
    ['a Remaining Length of five bytes', Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), /malformed Remaining Length/],
    ['a SUBACK announcing 10 MB', Buffer.from([0x90, 0x80, 0x80, 0x80, 0x05]), /type 9 .* over the bound/],
    ['a QoS 2 message', mqttPacket.generate({ cmd: 'publish', qos: 2, messageId: 1, topic: 't', payload: 'x', dup: false, retain: false }, { protocolVersion: 5 }), /QoS 2/],
    ['a CONNECT', mqttPacket.generate({ cmd: 'connect', clientId: 'x', protocolVersion: 5 }, { protocolVersion: 5 }), /unexpected connect/],
    ['a PUBACK whose properties mqtt-packet cannot read', Buffer.from([0x40, 0x04, 0x00, 0x01, 0x00, 0x05]), /malformed packet from the broker: Cannot parse property/],
    ['a packet of the reserved type 0', Buffer.from([0x00, 0x00]), /malformed packet from the broker: Not supported/],
  ] as const) {
    it(`closes on ${name}, with the reason, and nothing thrown`, async () => {
      const broker = await fakeBroker(
        onConnect((socket) => {
          socket.write(connack());
          socket.write(bytes);
        }),
      );
      const made = link(broker.url);
      const closed = closing(made);
      expect((await closed).error?.message).toMatch(expected);
      // The broker's bytes broke the stream; no event in flight is to blame.
      expect((await closed).byBroker).toBe(false);
    });
  }

  it('reads nothing after a fatal packet: a CONNACK in the same chunk does not connect', async () => {
    const broker = await fakeBroker(onConnect((socket) => socket.write(Buffer.concat([Buffer.from([0x00, 0x00]), connack()]))));
    const made = link(broker.url);
    let connects = 0;
    made.on('connect', () => (connects += 1));
    expect((await closedWith(made))?.message).toMatch(/Not supported/);
    expect(connects).toBe(0);
  });

  it('skips a 20 MB PUBLISH it is sent in pieces, and reads the message after it', async () => {
    const big = encodePublish({ topic: 'c/model', payload: Buffer.alloc(20 * 1024 * 1024, 1), messageId: 9, retain: false, protocolVersion: 5 });
    const small = mqttPacket.generate({ cmd: 'publish', qos: 0, topic: 'c/small', payload: 'small', dup: false, retain: false }, { protocolVersion: 5 });
    const broker = await fakeBroker(
      onConnect((socket) => {
        socket.write(connack());
        for (let at = 0; at < big.length; at += 1024 * 1024) socket.write(big.subarray(at, at + 1024 * 1024));
        socket.write(small);
      }),
    );
    const made = link(broker.url, { maxIncomingBytes: 64 * 1024 });
    const skipped: number[] = [];
    const messages = messagesFrom(made, 1);
    made.on('oversize', (frame) => skipped.push(frame.bytes));
    await connected(made);
    expect((await messages).map((message) => message.topic)).toEqual(['c/small']);
    expect(skipped).toEqual([big.length]);
    expect(made.isConnected).toBe(true);
  });

  it('stops reading while the broker does not read its answers: a flood of QoS 1 messages to a broker that reads nothing holds no more than a bound, and all are read once it reads again', async () => {
    // Each message is answered with a PUBACK; a broker that sends and never reads made the link
    // buffer every answer (≈ 230 bytes of heap each: 700 MB for 3 million 9-byte messages).
    const count = 500_000;
    const one = mqttPacket.generate({ cmd: 'publish', qos: 1, messageId: 7, topic: 'c', payload: 'x', dup: false, retain: false }, { protocolVersion: 5 });
    const flood = Buffer.concat(Array.from({ length: 10_000 }, () => one));
    let socket!: Socket;
    const broker = await fakeBroker(
      onConnect((accepted) => {
        socket = accepted;
        accepted.pause(); // reads nothing more
        accepted.write(connack());
        for (let sent = 0; sent < count; sent += 10_000) accepted.write(flood);
      }),
    );
    const made = link(broker.url);
    let received = 0;
    let largestBacklog = 0;
    const all = new Promise<void>((resolve) =>
      made.on('message', () => {
        received += 1;
        largestBacklog = Math.max(largestBacklog, made.writeBacklogBytes);
        if (received === count) resolve();
      }),
    );
    const throttled = new Promise<void>((resolve) => made.once('throttled', () => resolve()));
    await connected(made);
    await Promise.race([throttled, all]);
    expect(received).toBeLessThan(count);
    expect(largestBacklog).toBeLessThan(256 * 1024);
    // The broker reads again: every message is read and answered, on the same connection.
    socket.resume();
    await all;
    expect(made.isConnected).toBe(true);
  });
});
