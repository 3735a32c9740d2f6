/**
 * The weighbridge's queue-shift run across a SIGKILL, all real processes: `border-gateway run`
 * reading a weighbridge indicator through a serial device server's TCP port (played here by a
 * socket that writes the indicator's lines), a real Mosquitto and a VMC-like subscriber. Four
 * trucks register; the first leaves the queue unseen, so the platform's first weight (the second
 * truck's) goes to the first. The gateway is killed once that weighing is out. After the restart
 * the next weight (the third truck's) goes to the second: the second weighing in a row matching
 * the next vehicle's declaration, so WF_WEIGHT_QUEUE_SHIFT is raised on it, naming the one before
 * the kill — as it is without a restart.
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector, type Received } from './helpers/collector.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { systemRig } from './helpers/rig.js';
import { startRunPost, writeRunPost } from './helpers/run-post.js';
import { tempDir } from './helpers/test-config.js';

/** The indicator behind a serial device server: each connection the gateway makes, in turn. */
class Indicator {
  private readonly server: Server;
  private readonly connections: Socket[] = [];

  private constructor(server: Server) {
    this.server = server;
    server.on('connection', (socket) => {
      socket.on('error', () => undefined); // the gateway killed mid-line
      this.connections.push(socket);
    });
  }

  static async start(): Promise<Indicator> {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return new Indicator(server);
  }

  get port(): number {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('the indicator is not listening');
    return address.port;
  }

  /** The gateway's `nth` connection (1-based), once it is made. */
  async connection(nth: number): Promise<Socket> {
    while (this.connections.length < nth) await once(this.server, 'connection');
    return this.connections[nth - 1] as Socket;
  }

  close(): void {
    for (const socket of this.connections) socket.destroy();
    this.server.close();
  }
}

describe("the weighbridge's queue-shift run across a restart", () => {
  const rig = systemRig<Mosquitto>();
  let indicator: Indicator | null = null;
  afterEach(() => {
    indicator?.close();
    indicator = null;
  });

  it('raises WF_WEIGHT_QUEUE_SHIFT on the first weighing after a SIGKILL when the one before it matched the next declaration', async () => {
    const dir = tempDir('queue-shift-');
    const scales = (indicator = await Indicator.start());
    const broker = (rig.broker = await Mosquitto.start());
    const collector = (rig.collector = await Collector.connect(broker.url, 'border/#'));
    // stableMs 0: one line is a stable weight; a line at zero empties the platform between trucks.
    const runPost = await writeRunPost(dir, {
      postId: 'queue-shift-post',
      brokerUrl: broker.url,
      devices: `      - id: scale-1
        driver: pattern
        pattern: '^(?<weight>\\d+) kg\\r?$'
        stableMs: 0
        connection: { host: 127.0.0.1, port: ${scales.port} }`,
    });
    const weighedOf = (crossingId: string) => (received: Received[]): Received[] => received.filter((m) => m.type === 'vehicle.weighed' && m.event.data.crossingId === crossingId);
    const shifts = (): Received[] => collector.received.filter((m) => m.type === 'alarm.raised' && m.event.data.alarm === 'WF_WEIGHT_QUEUE_SHIFT');

    // 1. Four trucks register, declaring 12, 24, 36 and 48 t; the first leaves the queue unseen.
    let post = await startRunPost(rig, runPost);
    const crossings: string[] = [];
    for (const [i, declaredWeightKg] of [12_000, 24_000, 36_000, 48_000].entries()) {
      const registered = await post.call('POST', '/api/lanes/lane-1/registrations', { plate: `GE30${i}QS`, direction: 'import', declaredWeightKg, documents: ['SAD-1'] });
      crossings.push(String(registered.crossingId));
    }
    const [first, second] = crossings as [string, string];

    // 2. The second truck on the platform, 5% over its declaration: the weight goes to the first.
    (await scales.connection(1)).write('25200 kg\r\n');
    await collector.waitFor((r) => weighedOf(first)(r).length > 0, 60_000, 'the first weighing');
    expect(weighedOf(first)(collector.received)[0]?.event.data).toMatchObject({ weightKg: 25_200 });
    expect((await post.gateway.kill('SIGKILL')).signal).toBe('SIGKILL');

    // 3. Back up, the platform empties and the third truck drives on, 5% over its declaration.
    post = await startRunPost(rig, runPost);
    const scale = await scales.connection(2);
    scale.write('0 kg\r\n37800 kg\r\n');
    await collector.waitFor((r) => weighedOf(second)(r).length > 0, 60_000, 'the second weighing');
    await collector.waitFor(() => shifts().length > 0, 60_000, 'the queue-shift alarm');
    const [alarm] = shifts();
    expect(alarm?.event.subject).toBe(second);
    expect(alarm?.event.data.details).toMatchObject({
      run: 2,
      weighing: { crossingId: second, weightKg: 37_800, declaredWeightKg: 24_000, nextCrossingId: crossings[2], nextDeclaredWeightKg: 36_000 },
      previous: { crossingId: first, weightKg: 25_200, declaredWeightKg: 12_000, nextCrossingId: second, nextDeclaredWeightKg: 24_000 },
    });
    // Raised once, on the lane's topic, by the gateway that came back: a lane's events arrive in
    // order, and the weighing's risk decision comes after its alarm.
    await collector.waitFor((r) => r.some((m) => m.type === 'risk.assessed' && m.event.data.crossingId === second), 60_000, 'the second risk decision');
    expect(shifts().map((m) => m.topic)).toEqual(['border/v1/queue-shift-post/lane-1/alarm.raised']);
  }, 240_000);
});
