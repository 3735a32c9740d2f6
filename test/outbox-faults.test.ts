/**
 * Outbox faults at the gateway level: the byte bound reached during a long outage (drops are
 * counted, alarmed and everything else delivered), and a real full disk, the outbox on a small
 * tmpfs this test mounts (producers told, /healthz 503 with a true depth, acknowledged rows
 * deleted once the broker returns, also after a restart, and commits again).
 */
import { EventEmitter, once } from 'node:events';
import { closeSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { PostConfig } from '../config/schema.js';
import { systemClock } from '../core/clock.js';
import { isGatewayError } from '../core/errors.js';
import { Gateway } from '../gateway/daemon.js';
import { createLogger } from '../gateway/logger.js';
import { resolveUplinkSettings } from '../gateway/uplink/resolve-settings.js';
import { systemRig, type Rig } from './helpers/rig.js';
import { Collector, type Received } from './helpers/collector.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { emitBurst, startTestGateway, testConfig, weighed } from './helpers/test-config.js';
import { mountTmpfs, unmount } from './helpers/small-disk.js';

describe('outbox faults', () => {
  const rig = systemRig<Mosquitto>();
  const smallDisks: string[] = [];
  // After the rig's afterEach has stopped the gateways that have their files there.
  afterAll(() => {
    for (const mount of smallDisks.splice(0)) unmount(mount);
  });

  it('during an outage, drops telemetry first, counts and alarms it, and delivers the rest', async () => {
    const broker = rig.broker = await Mosquitto.start();
    const collector = rig.collector = await Collector.connect(broker.url);
    await broker.stop();
    const gateway = rig.gateway = await startTestGateway(testConfig([broker.url], { outbox: { maxBytes: 128 * 1024 } }));

    const telemetry = 300;
    const statusCommits = Array.from({ length: telemetry }, (_, i) =>
      gateway.emit('device.status', 'post', { deviceId: `cam-${i}`, state: 'down', lastError: 'connection refused' }),
    );
    await Promise.all(statusCommits);
    await emitBurst(gateway, ['lane-1', 'lane-2'], 400);
    const stats = gateway.outbox.stats();
    expect(stats.bytes).toBeLessThanOrEqual(128 * 1024);
    expect(stats.dropped.telemetry).toBeGreaterThan(0);
    expect(stats.dropped.critical).toBe(0);
    const metrics = await gateway.metrics.registry.getSingleMetricAsString('gateway_outbox_dropped_total');
    expect(metrics).toContain(`gateway_outbox_dropped_total{class="telemetry"} ${stats.dropped.telemetry}`);
    // The alarm is raised from the commit that dropped events, so it lands in the next commit.
    const hasDropAlarm = (): boolean => gateway.outbox.readFrom(0, 100_000).some((row) => row.type === 'alarm.raised' && row.payload.includes('GW_ERR_OUTBOX_FULL'));
    if (!hasDropAlarm()) await once(gateway.outbox, 'committed');
    expect(hasDropAlarm()).toBe(true);
    const stored = gateway.outbox.readFrom(0, 100_000);

    await broker.run();
    const expected = stored.length;
    await collector.waitFor((r) => new Set(r.map((m) => m.id)).size >= expected, 45_000, `${expected} stored events`);
    const received = collector.uniqueIds().size;
    const finalDrops = gateway.outbox.stats().dropped;
    expect(finalDrops.critical).toBe(0);
    const dropped = finalDrops.telemetry + finalDrops.operational;
    console.log(`outbox bound: emitted ${telemetry + 400} + alarms, dropped ${dropped} (counted), delivered ${received}`);
    // Every event emitted is either delivered or counted as dropped: none vanishes silently.
    const emittedWeighed = collector.received.filter((m) => m.type === 'vehicle.weighed').length;
    const emittedStatus = new Set(collector.received.filter((m) => m.type === 'device.status').map((m) => m.id)).size;
    expect(new Set(collector.received.filter((m) => m.type === 'vehicle.weighed').map((m) => m.id)).size + finalDrops.operational).toBe(400);
    expect(emittedStatus + finalDrops.telemetry).toBe(telemetry);
    expect(emittedWeighed).toBeGreaterThan(0);
  });

  it('on a real full disk (a small tmpfs), refuses before SQLite runs out, keeps /healthz true, recovers after a restart and delivers every committed event', async () => {
    const post = await fullDiskPost(rig, (mount) => smallDisks.push(mount));
    const { collector, committed, log, stored } = post;
    await post.fillUntilRefused();
    const filledTo = statfsSync(post.mount);
    console.log(`full disk: ${committed.size} events committed on a ${SMALL_DISK} tmpfs, ${filledTo.bavail * filledTo.bsize} bytes left free`);

    // A restart on the full disk: it opens, counts what is stored, and refuses again at the reserve.
    await post.restart();
    expect(post.gateway.outbox.depth).toBe(committed.size);
    expect(stored()).toBe(committed.size);
    await post.fillUntilRefused();

    // The broker returns: every committed event is delivered and its row deleted; the depth
    // /healthz reports (gateway.health() is what it serves) stays the number of rows throughout.
    const depthChecks = post.watchDepth();
    await post.broker.run();
    await post.allDelivered();
    // Deleted when the removals run: at an acknowledgement, or at a retry once there is room.
    await until(() => post.gateway.outbox.depth === 0, post.gateway.outbox, 'removed', () => `every row deleted (depth ${post.gateway.outbox.depth}, rows ${stored()})`);
    expect(stored()).toBe(0);
    expect(depthChecks.length).toBeGreaterThan(0);
    expect(depthChecks.filter(([depth, rows]) => depth !== rows)).toEqual([]);

    // It commits again (the pages the deleted rows left are reused), and the VMC hears of the refusals.
    await post.commitsAgain();
    await collector.waitFor((r) => r.some((m) => m.type === 'alarm.raised' && m.event.data.alarm === 'GW_ERR_OUTBOX_DISK_FULL'), 30_000, 'the disk-full alarm');

    // The log: a few lines about refusals (counted, without stack traces), never a failed removal.
    const refusalLines = log.lines.filter((line) => line.module === 'outbox' && String(line.msg).startsWith('outbox refused'));
    expect(refusalLines.length).toBeGreaterThan(0);
    expect(refusalLines.length).toBeLessThanOrEqual(4);
    expect(log.lines.filter((line) => JSON.stringify(line).includes('"stack"'))).toEqual([]);
    expect(log.lines.filter((line) => /cannot delete|SQLITE_FULL/.test(JSON.stringify(line)))).toEqual([]);
    const refusedEvents = refusalLines.reduce((sum, line) => sum + Number(line.events), 0);
    console.log(`full disk: ${refusedEvents} appends refused in ${refusalLines.length} log lines; all ${committed.size} committed events delivered; commits again`);
  });

  it('when another program takes the last byte, keeps acknowledged rows and true counters, and deletes them once there is room', async () => {
    const post = await fullDiskPost(rig, (mount) => smallDisks.push(mount));
    const { committed, log, stored } = post;
    await post.fillUntilRefused();
    const filler = join(post.mount, 'filler');
    fillDisk(filler);
    expect(statfsSync(post.mount).bavail).toBe(0);

    // Delivered, but no room to delete them: the rows and the depth stay, and agree.
    const depthChecks = post.watchDepth();
    await post.broker.run();
    await post.allDelivered();
    await log.waitFor((line) => String(line.msg).startsWith('outbox cannot delete'), 'a failed removal');
    expect(post.gateway.outbox.depth).toBe(stored());
    expect(stored()).toBeGreaterThan(0);
    expect(depthChecks.filter(([depth, rows]) => depth !== rows)).toEqual([]);

    // Room again: the removals kept are retried, in bounded transactions after a checkpoint.
    rmSync(filler);
    await log.waitFor((line) => line.msg === 'outbox removals succeed again', 'the removals to succeed');
    // Acknowledgements still on their way when the retry ran are removed as they come.
    await until(() => post.gateway.outbox.depth === 0, post.gateway.outbox, 'removed', () => `every row deleted (depth ${post.gateway.outbox.depth}, rows ${stored()})`);
    expect(stored()).toBe(0);
    await post.commitsAgain();
    expect(log.lines.filter((line) => String(line.msg).startsWith('outbox cannot delete'))).toHaveLength(1);
    console.log(`disk taken by another program: ${committed.size} events delivered, their rows deleted once it gave the room back`);
  });
});

/** A gateway with its data on a small tmpfs of its own, and a broker that is down at first. */
async function fullDiskPost(rig: Rig<Mosquitto>, mounted: (mount: string) => void) {
  // Without TCP_NODELAY, Nagle holds each batch of PUBACKs for the gateway's delayed ACK (40 ms):
  // a 15,000-event backlog would take half a minute to drain instead of a few seconds.
  const broker = (rig.broker = await Mosquitto.start({ extraConfig: ['set_tcp_nodelay true'] }));
  const collector = (rig.collector = await Collector.connect(broker.url));
  await broker.stop();
  const mount = mountTmpfs(SMALL_DISK);
  mounted(mount);
  const dataDir = join(mount, 'gateway');
  const log = recordingLogger();
  const config = testConfig([broker.url]);
  let gateway = (rig.gateway = await startOn(config, dataDir, log.logger));
  const stored = (): number => Number(gateway.outbox.database.prepare('SELECT COUNT(*) FROM events').pluck().get());
  /**
   * /healthz over HTTP, its depth checked against the rows really stored (while nothing is
   * delivered: the uplink would delete rows between the answer and the count).
   */
  const healthz = async (checkDepth = true): Promise<{ status: number; body: HealthBody }> => {
    const answer = await fetch(`http://127.0.0.1:${gateway.httpAddress?.port}/healthz`);
    const body = (await answer.json()) as HealthBody;
    if (checkDepth) expect(body.outbox.depth).toBe(stored());
    return { status: answer.status, body };
  };
  const committed = new Map<string, number>();
  let emitted = 0;
  return {
    broker,
    collector,
    mount,
    log,
    committed,
    stored,
    get gateway(): Gateway {
      return gateway;
    },

    /** Bursts of events until five in a row are refused, /healthz checked after each. */
    async fillUntilRefused(): Promise<void> {
      for (let refusedBursts = 0; refusedBursts < 5; ) {
        expect(emitted).toBeLessThan(250_000); // the small disk holds far fewer
        const results = await Promise.allSettled(Array.from({ length: 250 }, () => weighed(gateway, 'lane-1', (emitted += 1))));
        for (const result of results) {
          if (result.status === 'fulfilled') {
            const { id, seq } = result.value as { id: string; seq: number };
            committed.set(id, seq);
          } else {
            expect(isGatewayError(result.reason, 'GW_ERR_OUTBOX_DISK_FULL')).toBe(true);
            expect((result.reason as Error).cause).toBeUndefined(); // refused by the reserve, not by a failing SQLite
          }
        }
        if (results.some((result) => result.status === 'rejected')) refusedBursts += 1;
        await healthz();
      }
      const full = await healthz();
      expect(full.status).toBe(503);
      expect(full.body).toMatchObject({ status: 'failing', outbox: { depth: committed.size, lastError: { code: 'GW_ERR_OUTBOX_DISK_FULL' } } });
      // What gateway_outbox_disk_headroom_bytes shows: less than a burst of 250 needs.
      expect(gateway.outbox.diskHeadroom()).toBeLessThan(250 * 2 * 1024);
    },

    async restart(): Promise<void> {
      await gateway.stop();
      gateway = rig.gateway = await startOn(config, dataDir, log.logger);
    },

    /** Pairs of (depth the gateway reports, rows stored) taken every 500 deliveries. */
    watchDepth(): Array<[number, number]> {
      const checks: Array<[number, number]> = [];
      let deliveries = 0;
      gateway.uplink.on('delivered', () => {
        deliveries += 1;
        if (deliveries % 500 === 0) setImmediate(() => checks.push([(gateway.health() as unknown as HealthBody).outbox.depth, stored()]));
      });
      return checks;
    },

    /** Resolves once the collector has every committed event. */
    async allDelivered(): Promise<void> {
      // Counted as they come: a predicate over everything received, run per message, is quadratic.
      const delivered = new Set<string>();
      let counted = 0;
      const all = (received: Received[]): boolean => {
        for (const message of received.slice(counted)) if (committed.has(message.id)) delivered.add(message.id);
        counted = received.length;
        return delivered.size === committed.size;
      };
      await collector.waitFor(all, 40_000, `${committed.size} committed events`);
    },

    /** New events commit and are delivered; the WAL checkpoints whole; the database is sound. */
    async commitsAgain(): Promise<void> {
      await emitBurst(gateway, ['lane-3'], 100);
      expect((await healthz(false)).status).toBe(200);
      await collector.waitFor((r) => r.filter((m) => m.laneId === 'lane-3').length >= 100, 30_000, 'the events committed after recovery');
      expect(await gateway.outbox.checkpointWhole()).toEqual({ busy: 0, log: 0, checkpointed: 0 });
      expect(gateway.outbox.integrityCheck()).toBe('ok');
    },
  };
}

const SMALL_DISK = '16m';

interface HealthBody {
  status: string;
  outbox: { depth: number; lastError: { code: string } | null };
}

type LogLine = Record<string, unknown>;

/** A logger whose lines are kept, parsed, and can be waited for. */
function recordingLogger(): { logger: Logger; lines: LogLine[]; waitFor(match: (line: LogLine) => boolean, what?: string): Promise<LogLine> } {
  const lines: LogLine[] = [];
  const written = new EventEmitter<{ line: [LogLine] }>();
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString().split('\n')) {
        if (!text) continue;
        const line = JSON.parse(text) as LogLine;
        lines.push(line);
        written.emit('line', line);
      }
      callback();
    },
  });
  return {
    logger: createLogger('info', destination),
    lines,
    waitFor(match, what = 'a log line') {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const onLine = (line: LogLine): void => {
          if (!match(line)) return;
          clearTimeout(timer);
          written.off('line', onLine);
          resolve(line);
        };
        const timer = setTimeout(() => {
          written.off('line', onLine);
          reject(new Error(`timed out waiting for ${what}; last lines: ${JSON.stringify(lines.slice(-3))}`));
        }, 20_000);
        written.on('line', onLine);
      });
    },
  };
}

/** Fills the filesystem of `path` to its last byte with one file. */
function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  try {
    for (const size of [1024 * 1024, 4096, 1]) {
      const block = Buffer.alloc(size);
      for (;;) {
        try {
          writeSync(fd, block);
        } catch (error) {
          if ((error as { code?: unknown }).code !== 'ENOSPC') throw error;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

function startOn(config: PostConfig, dataDir: string, logger: Logger): Promise<Gateway> {
  return Gateway.start({ config, uplink: resolveUplinkSettings(config), logger, clock: systemClock, dataDir, http: true });
}

/**
 * Resolves once `predicate` holds, checked now and after each `event` (once its turn is over);
 * rejects after `timeoutMs`, sooner than the test's own timeout, saying `what`.
 */
function until(predicate: () => boolean, emitter: EventEmitter, event: string, what: () => string, timeoutMs = 20_000): Promise<void> {
  if (predicate()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const check = (): void => {
      setImmediate(() => {
        if (!predicate()) return;
        clearTimeout(timer);
        emitter.off(event, check);
        resolve();
      });
    };
    const timer = setTimeout(() => {
      emitter.off(event, check);
      reject(new Error(`timed out waiting for ${what()}`));
    }, timeoutMs);
    emitter.on(event, check);
  });
}
