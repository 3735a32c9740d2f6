/** `border-gateway trs report` on a simulated day of the demo's synthetic traffic, as a child process. */
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { postConfigSchema } from '../config/schema.js';
import { SyntheticTraffic } from '../gateway/demo/synthetic-traffic.js';
import { createEventFactory } from '../contract/envelope.js';
import { trsReport, type CrossingRecord, type TrsReport } from '../contract/trs-report.js';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { EXIT_CODES } from '../core/errors.js';
import { SqliteOutbox } from '../gateway/outbox/sqlite-outbox.js';
import { MAX_EVENT_LINE_BYTES } from '../gateway/trs/event-sources.js';
import { GatewayProcess } from './helpers/gateway-process.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { ManualClock } from './helpers/manual-clock.js';
import { tempDir } from './helpers/test-config.js';

function simulatedDayFile(): string {
  const clock = new ManualClock();
  const factory = createEventFactory('demo-post', clock);
  const lines: string[] = [];
  let random = 7;
  const traffic = new SyntheticTraffic({
    postId: 'demo-post',
    lanes: postConfigSchema.parse({ version: 1, post: { id: 'demo-post' }, lanes: [{ id: 'l1' }, { id: 'l2' }, { id: 'l3' }, { id: 'l4' }], uplink: { brokers: ['mqtt://x:1'] } }).lanes,
    clock,
    clockQuality: () => ({ synchronised: true, offsetMs: 0.2 }),
    emit: (type, laneId, data, subject) => {
      // As mosquitto_sub -v prints them, with a duplicate now and then (at-least-once delivery).
      const line = `border/v1/demo-post/${laneId}/${type} ${JSON.stringify({ ...factory.create(type, laneId, data, subject), seq: lines.length + 1 })}`;
      lines.push(line);
      if (lines.length % 97 === 0) lines.push(line);
      return Promise.resolve();
    },
    vehiclesPerHourPerLane: 12,
    random: () => ((random = (random * 1103515245 + 12345) % 2 ** 31) / 2 ** 31),
  });
  traffic.start();
  clock.advance(24 * 3600 * 1000);
  traffic.stop();
  const file = join(tempDir('trs-'), 'events.jsonl');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

describe('border-gateway trs report', () => {
  it('reports a simulated day of a 4-lane post with every section, as JSON, CSV and a table', async () => {
    const file = simulatedDayFile();
    const json = new GatewayProcess(['trs', 'report', '--input', file, '--format', 'json']);
    expect((await json.exited).code).toBe(0);
    const report = JSON.parse(json.stdout.join('\n')) as TrsReport;
    expect(report.vehicles).toBeGreaterThan(900);
    expect(Object.keys(report.byDirection).sort()).toEqual(['domestic-transit', 'export', 'import', 'transit-entry', 'transit-exit']);
    expect(report.channels.green).toBeGreaterThan(0.7);
    expect(report.xrayShare).toBeGreaterThan(0.2);
    expect(report.xrayShare).toBeLessThan(0.35);
    expect(report.registration.avgMin).toBeGreaterThan(85);
    expect(report.crossing.avgMin).toBeGreaterThan(115);
    expect(report.crossing.avgMin).toBeLessThan(155);
    expect(report.intervals.at(-1)).toMatchObject({ cumulative: report.vehicles, cumulativePct: 100, avgCrossingMin: report.crossing.avgMin });
    expect(report.intervals.every((row, i) => row.upToMin === (i + 1) * 10)).toBe(true);

    const csv = new GatewayProcess(['trs', 'report', '--input', file, '--format', 'csv', '--interval', '30']);
    expect((await csv.exited).code).toBe(0);
    // The headline figures first (fixed rows), then, after an empty line, the interval table.
    expect(csv.stdout.slice(0, 10)).toEqual([
      'metric,value',
      `vehicles,${report.vehicles}`,
      ...Object.entries(report.byDirection).map(([direction, n]) => `direction.${direction},${n}`),
      ...['green', 'orange', 'red'].map((channel) => `channelShare.${channel},${report.channels[channel]}`),
    ]);
    expect(csv.stdout.slice(0, 7).map((line) => line.split(',')[0])).toEqual(['metric', 'vehicles', 'direction.import', 'direction.export', 'direction.transit-entry', 'direction.transit-exit', 'direction.domestic-transit']);
    expect(csv.stdout).toContain(`xrayShare,${report.xrayShare}`);
    expect(csv.stdout).toContain(`crossing.avgMin,${report.crossing.avgMin}`);
    expect(csv.stdout).toContain(`registration.p90Min,${report.registration.p90Min}`);
    const table = csv.stdout.indexOf('upToMin,vehicles,cumulative,cumulativePct,avgCrossingMin');
    expect(csv.stdout[table - 1]).toBe('');
    expect(csv.stdout[table + 1]).toMatch(/^30,\d+,\d+,[\d.]+,[\d.]+$/);

    const text = new GatewayProcess(['trs', 'report', '--input', file]);
    expect((await text.exited).code).toBe(0);
    expect(text.stdout.join('\n')).toMatch(/Border-crossing time \(min\): avg [\d.]+, median [\d.]+, p90 [\d.]+/);
  });

  it('keeps only the crossings of a recording that holds every evidence chunk too (96 MB read under a 64 MB heap)', async () => {
    const day = simulatedDayFile();
    const dayLines = readFileSync(day, 'utf8').trimEnd().split('\n');
    // As `mosquitto_sub -v -t 'border/#'` records a post with real cameras: 32 KiB evidence chunks
    // between the crossings (2,000 of them here, 48 KB each as JSON).
    const chunk = (n: number) =>
      `border/v1/demo-post/post/evidence.chunk ${JSON.stringify({ specversion: '1.0', id: `chunk-${n}`, type: 'evidence.chunk', source: '/border/demo-post/post', data: { digest: 'a'.repeat(64), index: n, base64: 'QUJD'.repeat(12_000) } })}`;
    const file = join(tempDir('trs-'), 'recorded.jsonl');
    const out = openSync(file, 'w');
    for (let n = 0; n < 2000; n += 1) writeSync(out, `${chunk(n)}\n${dayLines[n % dayLines.length] ?? ''}\n`);
    for (const line of dayLines.slice(2000)) writeSync(out, `${line}\n`);
    closeSync(out);
    const expected = new GatewayProcess(['trs', 'report', '--input', day, '--format', 'json']);
    expect((await expected.exited).code).toBe(0);
    const run = new GatewayProcess(['trs', 'report', '--input', file, '--format', 'json'], {}, { nodeArgs: ['--max-old-space-size=64'] });
    const exit = await run.exited;
    expect(exit.code, run.stderrText.join('\n').slice(-2000)).toBe(0);
    const report = JSON.parse(run.stdout.join('\n')) as TrsReport;
    expect(report.vehicles).toBeGreaterThan(100);
    expect(report).toEqual(JSON.parse(expected.stdout.join('\n')) as TrsReport);
  });

  it('folds the crossings as it reads them: 200,000 of them under a 40 MB heap, the figures of the report made in memory', async () => {
    // Reading every record before folding them ran out of this heap (from dist/ it needed 56 MB for these).
    const file = join(tempDir('trs-'), 'quarter.jsonl');
    const out = openSync(file, 'w');
    const records: CrossingRecord[] = [];
    let lines: string[] = [];
    for (let n = 0; n < 200_000; n += 1) {
      const record = { id: randomUUID(), direction: n % 3 === 0 ? 'export' : 'import', channel: n % 10 === 0 ? 'orange' : 'green', xray: n % 10 === 0, registrationMin: (600 + (n % 997)) / 60, crossingMin: (3600 + ((n * 7) % 5000)) / 60 };
      records.push(record);
      const data = { outcome: 'completed', direction: record.direction, channel: record.channel, xray: record.xray, durations: { registrationSec: record.registrationMin * 60, crossingSec: record.crossingMin * 60 } };
      lines.push(JSON.stringify({ specversion: '1.0', id: record.id, type: 'crossing.completed', source: '/border/p1/l1', data }));
      if (lines.length === 10_000) {
        writeSync(out, `${lines.join('\n')}\n`);
        lines = [];
      }
    }
    closeSync(out);
    const run = new GatewayProcess(['trs', 'report', '--input', file, '--format', 'json'], {}, { nodeArgs: ['--max-old-space-size=40'] });
    const exit = await run.exited;
    expect(exit.code, run.stderrText.join('\n').slice(-2000)).toBe(0);
    expect(JSON.parse(run.stdout.join('\n'))).toEqual(JSON.parse(JSON.stringify(trsReport(records))));
  });

  it('refuses a line longer than any event, naming it, without holding it', async () => {
    const file = join(tempDir('trs-'), 'endless.jsonl');
    writeFileSync(file, `{"type":"vehicle.arrived","id":"1","data":{}}\n{"type":"${'x'.repeat(17 * 1024 * 1024)}`);
    const run = new GatewayProcess(['trs', 'report', '--input', file]);
    expect((await run.exited).code).toBe(1);
    expect(run.stderrText.join('\n')).toContain(`GW_ERR_TRS_INPUT: ${file}:2: a line longer than`);
  });

  it('names the file and line of input that is not an event', async () => {
    const file = join(tempDir('trs-'), 'bad.jsonl');
    writeFileSync(file, '{"type":"vehicle.arrived","id":"1","data":{}}\nnot json at all\n');
    const run = new GatewayProcess(['trs', 'report', '--input', file]);
    expect((await run.exited).code).toBe(1);
    expect(run.stderrText.join('\n')).toContain(`GW_ERR_TRS_INPUT: ${file}:2: not a JSON event`);
  });
});

describe('border-gateway trs report --mqtt', () => {
  it('reports from a live subscription (retained crossings here, so nothing races the subscribe), bounded over MQTT 5', async () => {
    const broker = await Mosquitto.start();
    try {
      const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
      for (const [i, minutes] of [25, 35, 125].entries()) {
        const event = {
          specversion: '1.0',
          id: `c-${i}`,
          type: 'crossing.completed',
          source: '/border/p/lane-1',
          data: { direction: 'import', channel: i === 2 ? 'red' : 'green', xray: i === 2, outcome: 'completed', durations: { registrationSec: 600, crossingSec: minutes * 60 } },
        };
        await client.publishAsync(`border/v1/p/lane-1/crossing.completed/${i}`, JSON.stringify(event), { qos: 1, retain: true });
      }
      // A crossing larger than any event may be (its padding past MAX_EVENT_LINE_BYTES): over MQTT 5
      // the broker is told not to send it, over 3.1.1 it is read and counted.
      const oversized = {
        specversion: '1.0',
        id: 'c-oversized',
        type: 'crossing.completed',
        source: '/border/p/lane-1',
        data: { direction: 'import', channel: 'green', xray: false, outcome: 'completed', durations: { registrationSec: 600, crossingSec: 600 }, padding: 'x'.repeat(MAX_EVENT_LINE_BYTES) },
      };
      await client.publishAsync('border/v1/p/lane-1/crossing.completed/oversized', JSON.stringify(oversized), { qos: 1, retain: true });
      await client.endAsync();
      const report = async (...version: string[]): Promise<TrsReport> => {
        const run = new GatewayProcess(['trs', 'report', '--mqtt', broker.url, '--duration', '1', '--format', 'json', ...version]);
        expect((await run.exited).code).toBe(0);
        return JSON.parse(run.stdout.join('\n')) as TrsReport;
      };
      expect(await report()).toMatchObject({ vehicles: 3, channels: { green: 0.6667, red: 0.3333 }, crossing: { avgMin: 61.67, medianMin: 35, p90Min: 125 } });
      expect(await report('--protocol-version', '4')).toMatchObject({ vehicles: 4 });
      const refused = new GatewayProcess(['trs', 'report', '--mqtt', broker.url, '--protocol-version', '3']);
      expect((await refused.exited).code).toBe(EXIT_CODES.usage);
      expect(refused.stderrText.join('\n')).toContain('GW_ERR_CLI_USAGE: --protocol-version must be 5 or 4, got "3"');
    } finally {
      await broker.stop();
    }
  });
});

describe('border-gateway trs report --outbox', () => {
  it('reports the crossings still waiting in an outbox database', async () => {
    const path = join(tempDir('trs-'), 'outbox.db');
    const clock = new ManualClock();
    const outbox = SqliteOutbox.open({ path, maxBytes: 1024 * 1024, maxBatch: 100, clock, logger: pino({ level: 'silent' }) });
    const factory = createEventFactory('p', clock);
    for (const [i, minutes] of [12, 18].entries()) {
      await outbox.append(
        factory.create('crossing.completed', 'lane-1', {
          crossingId: `c${i}`, postId: 'p', laneId: 'lane-1', direction: 'export', plate: null, vehicleType: 'truck', channel: 'green', xray: false,
          milestones: {}, durations: { registrationSec: 60, crossingSec: minutes * 60 }, weightKg: null,
          risk: { score: 0.1, modelVersion: 'rules', reasons: [] }, xrayScreening: null, clock: { synchronised: false, offsetMs: null }, outcome: 'completed',
        }),
      );
    }
    outbox.close();
    const run = new GatewayProcess(['trs', 'report', '--outbox', path, '--format', 'json']);
    expect((await run.exited).code).toBe(0);
    expect(JSON.parse(run.stdout.join('\n'))).toMatchObject({ vehicles: 2, byDirection: { export: 2 }, intervals: [{ upToMin: 10, vehicles: 0 }, { upToMin: 20, vehicles: 2, cumulativePct: 100, avgCrossingMin: 15 }] });
  });

  it('says why an outbox whose events were delivered holds no crossings, instead of a bare "Vehicles: 0"', async () => {
    const path = join(tempDir('trs-'), 'outbox.db');
    const clock = new ManualClock();
    const outbox = SqliteOutbox.open({ path, maxBytes: 1024 * 1024, maxBatch: 100, clock, logger: pino({ level: 'silent' }) });
    const factory = createEventFactory('p', clock);
    for (let i = 0; i < 3; i += 1) {
      await outbox.append(factory.create('device.status', 'lane-1', { deviceId: 'cam', state: 'up', lastError: null }));
    }
    outbox.close();
    // What the uplink does once the broker acknowledged them: two of the three are gone.
    const db = new Database(path);
    db.prepare('DELETE FROM events WHERE seq <= 2').run();
    db.close();
    const table = new GatewayProcess(['trs', 'report', '--outbox', path]);
    expect((await table.exited).code).toBe(0);
    const said = table.stdout.join('\n');
    expect(said).not.toContain('Vehicles: 0');
    expect(said).toContain('the outbox holds no completed crossings');
    expect(said).toContain('3 events committed so far, 1 still waiting');
    expect(said).toMatch(/VMC.*\/api\/trs.*console's day page/);
    const json = new GatewayProcess(['trs', 'report', '--outbox', path, '--format', 'json']);
    expect((await json.exited).code).toBe(0);
    expect(JSON.parse(json.stdout.join('\n'))).toMatchObject({ vehicles: 0 });
    expect(json.stderrText.join('\n')).toContain('the outbox holds no completed crossings');
  });
});
