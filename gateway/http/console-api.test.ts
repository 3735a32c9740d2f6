/**
 * What the lane console reads, through the operators' fastify app (`inject`) on a clock the test
 * drives: the live stream (first view, a change pushes another, bursts coalesced, alarms as raised,
 * the stream ending with its session, the per-session cap), the extended lane view, pictures by
 * digest, and the TRS of a day after its events were delivered and deleted from the outbox.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodePgm } from '../../drivers/xray/pgm.js';
import type { EventData } from '../../contract/catalogue.js';
import { GatewayError } from '../../core/errors.js';
import type { EventDraft } from '../../contract/envelope.js';
import type { Account } from '../auth/account-store.js';
import type { Gateway } from '../daemon.js';
import type { PostRuntime } from '../post-runtime.js';
import { LaneConsole } from '../workflow/lane-console.js';
import { DeviceFeedStandIn } from '../../test/helpers/post-harness.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { startOneLanePost, type OneLanePost } from '../../test/helpers/one-lane-post.js';
import { tempDir } from '../../test/helpers/test-config.js';

let post: OneLanePost;
let gateway: Gateway;
let runtime: PostRuntime;
let clock: ManualClock;

beforeEach(async () => {
  stopped = null;
  // 06:00 UTC; the post keeps UTC+4, so its day is 10:00 local.
  clock = new ManualClock(Date.UTC(2026, 10, 26, 6, 0, 0));
  post = await startOneLanePost({ clock, extraYaml: 'workflow: { utcOffsetMin: 240, randomXrayShare: 0 }' });
  gateway = post.gateway;
  runtime = post.runtime as PostRuntime;
  for (const role of ['operator', 'supervisor'] as const) gateway.accounts.addAccount(`the-${role}`, role, 'scrypt$unused');
});

let stopped: Promise<void> | null;
/** Stops the post once (a test may stop it itself). */
const stop = (): Promise<void> => (stopped ??= post.stop());
afterEach(() => stop());

const app = () => {
  if (!gateway.operatorApp) throw new Error('no operator app');
  return gateway.operatorApp;
};

function bearer(role: 'operator' | 'supervisor'): { token: string; headers: Record<string, string> } {
  const { token } = gateway.sessions.create(gateway.accounts.account(`the-${role}`) as Account);
  return { token, headers: { authorization: `Bearer ${token}` } };
}

/**
 * Lets the event loop run (commits are flushed on setImmediate) and the commits' fsync return;
 * no time passes on any clock.
 */
async function settle(turns = 10): Promise<void> {
  for (let turn = 0; turn < turns; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
  while (await gateway.outbox.whenDurable()) for (let turn = 0; turn < turns; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** The events of an SSE body, in order. */
function events(body: string): { event: string; data: unknown }[] {
  return body
    .split('\n\n')
    .filter((block) => block.startsWith('event: '))
    .map((block) => {
      const [head, ...rest] = block.split('\n');
      return { event: (head ?? '').slice('event: '.length), data: JSON.parse(rest.join('').replace(/^data: /, '')) as unknown };
    });
}

const register = (headers: Record<string, string>, plate: string) =>
  app().inject({ method: 'POST', url: '/api/lanes/lane-1/registrations', headers, payload: { plate, direction: 'import', declaredWeightKg: 12_000 } });

describe('GET /api/live', () => {
  it('sends the lanes at once, again after a change, at most one view per 250 ms, and ends with the session', async () => {
    const { token, headers } = bearer('operator');
    const stream = app().inject({ method: 'GET', url: '/api/live', headers });
    await settle();
    // A burst of three changes within one interval makes one view, not three.
    for (const plate of ['AB123CD', 'AB124CD', 'AB125CD']) expect((await register(headers, plate)).statusCode).toBe(201);
    await settle();
    clock.advance(250);
    await settle();
    expect((await register(headers, 'AB126CD')).statusCode).toBe(201);
    // Not before its time: 250 ms after the previous view.
    clock.advance(100);
    await settle();
    clock.advance(150);
    await settle();
    gateway.sessions.end(token);
    const response = await stream;
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-store');
    const received = events(response.body);
    expect(received.map((e) => e.event)).toEqual(['lanes', 'lanes', 'lanes', 'session-ended']);
    const plates = received.slice(0, 3).map((e) => (e.data as { crossings: { plate: string }[] }[])[0]?.crossings.map((c) => c.plate));
    expect(plates).toEqual([[], ['AB123CD', 'AB124CD', 'AB125CD'], ['AB123CD', 'AB124CD', 'AB125CD', 'AB126CD']]);
  });

  it('answers the same view as GET /api/lanes, with steps, waiting times and the standing alarms', async () => {
    const { headers } = bearer('operator');
    const workflow = runtime.post.lane('lane-1').workflow;
    const unread = workflow.arrive(null);
    clock.advance(60_000);
    workflow.arrive('AB777CD', 'truck', 0.93);
    await settle();
    const lanes = (await app().inject({ method: 'GET', url: '/api/lanes', headers })).json<Record<string, unknown>[]>();
    expect(lanes).toHaveLength(1);
    const lane = lanes[0] as { alarms: unknown[]; crossings: Record<string, unknown>[]; barrier: Record<string, unknown>; viewAt: string };
    expect(lane.alarms).toEqual([{ code: 'WF_PLATE_UNREAD', message: expect.stringContaining('plate unread') as string, crossingId: unread.crossingId, at: '2026-11-26T06:00:00.000Z', resolvedBy: 'plate', severity: 'warning' }]);
    expect(lane.crossings.map((c) => [c.step, c.arrivedAt, c.stepSince, c.snapshotUrl])).toEqual([
      ['registration', '2026-11-26T06:00:00.000Z', '2026-11-26T06:00:00.000Z', null],
      ['queue', '2026-11-26T06:01:00.000Z', '2026-11-26T06:01:00.000Z', null],
    ]);
    expect(lane.barrier).toMatchObject({ phase: 'idle', position: null, vehiclePresent: null, photocellBlocked: null });
    expect(lane.viewAt).toBe('2026-11-26T06:01:00.000Z');
    expect(lane).toMatchObject({ clockSpeed: 1 });
    // The plate entered at the booth resolves the alarm: it is gone from the view.
    const plate = await app().inject({ method: 'POST', url: `/api/lanes/lane-1/crossings/${unread.crossingId}/plate`, headers, payload: { plate: 'AB555CD', reason: 'read from the documents' } });
    expect(plate.statusCode).toBe(200);
    const after = (await app().inject({ method: 'GET', url: '/api/lanes', headers })).json<{ alarms: unknown[] }[]>();
    expect(after[0]?.alarms).toEqual([]);
  });

  it('pushes each lane alarm the moment it is raised', async () => {
    const { token, headers } = bearer('operator');
    const stream = app().inject({ method: 'GET', url: '/api/live', headers });
    await settle();
    const crossing = runtime.post.lane('lane-1').workflow.arrive(null);
    await settle();
    gateway.sessions.end(token);
    const received = events((await stream).body);
    expect(received[1]).toEqual({ event: 'alarm', data: { laneId: 'lane-1', code: 'WF_PLATE_UNREAD', message: expect.any(String) as string, crossingId: crossing.crossingId, at: '2026-11-26T06:00:00.000Z', resolvedBy: 'plate', severity: 'warning' } });
  });

  it('ends the stream when the session expires, without the stream keeping it alive', async () => {
    const { headers } = bearer('operator');
    const stream = app().inject({ method: 'GET', url: '/api/live', headers });
    await settle();
    // Idle 30 minutes: the pings every 15 s are no activity; the first ping after the expiry ends it.
    clock.advance(30 * 60_000 + 15_000);
    const response = await stream;
    const received = response.body.split('\n\n').filter(Boolean);
    expect(received.filter((block) => block === ': ping').length).toBeGreaterThanOrEqual(119);
    expect(received.at(-1)).toBe('event: session-ended\ndata: {}');
  });

  it('ends the stream when the account is disabled over the API', async () => {
    const { headers } = bearer('operator');
    const stream = app().inject({ method: 'GET', url: '/api/live', headers });
    await settle();
    gateway.sessions.endAllOf('the-operator');
    expect(events((await stream).body).at(-1)?.event).toBe('session-ended');
  });

  it('ends the stream at the next ping when the account was disabled from the command line', async () => {
    const { headers } = bearer('operator');
    const stream = app().inject({ method: 'GET', url: '/api/live', headers });
    await settle();
    // Another process changed the database: no SessionStore call, only the account's stamp moved.
    gateway.accounts.setAccountDisabled('the-operator', true);
    clock.advance(15_000);
    expect(events((await stream).body).at(-1)?.event).toBe('session-ended');
  });

  it('refuses a fourth stream of one session with 429, and counts each session apart', async () => {
    const operator = bearer('operator');
    const open = [0, 1, 2].map(() => app().inject({ method: 'GET', url: '/api/live', headers: operator.headers }));
    await settle();
    const fourth = await app().inject({ method: 'GET', url: '/api/live', headers: operator.headers });
    expect(fourth.statusCode).toBe(429);
    expect(fourth.json()).toMatchObject({ code: 'GW_ERR_HTTP_TOO_MANY_STREAMS' });
    const supervisor = bearer('supervisor');
    const other = app().inject({ method: 'GET', url: '/api/live', headers: supervisor.headers });
    await settle();
    gateway.sessions.end(operator.token);
    gateway.sessions.end(supervisor.token);
    for (const response of await Promise.all([...open, other])) expect(response.statusCode).toBe(200);
  });
});

describe('GET /api/images/:ref', () => {
  const ref = `sha256:${'ab'.repeat(32)}`;

  it('serves a held picture with its type and a private cache, 404 with a stable code otherwise', async () => {
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]);
    // The runtime's console, with a camera that holds one picture.
    const laneConsole = new LaneConsole({
      post: runtime.post,
      onEvent: (listener) => gateway.onEvent(listener),
      devices: new DeviceFeedStandIn(),
      deviceHealth: () => undefined,
      image: (wanted) => (wanted === ref ? { body: jpeg, contentType: 'image/jpeg' } : null),
      clock,
    });
    gateway.setLaneApi({ post: runtime.post, deviceHealth: () => undefined, console: laneConsole });
    const { headers } = bearer('operator');
    const found = await app().inject({ method: 'GET', url: `/api/images/${ref}`, headers });
    expect(found.statusCode).toBe(200);
    expect(found.headers['content-type']).toBe('image/jpeg');
    expect(found.headers['cache-control']).toMatch(/^private, max-age=\d+/);
    expect(found.rawPayload.equals(jpeg)).toBe(true);
    const unknown = await app().inject({ method: 'GET', url: `/api/images/sha256:${'cd'.repeat(32)}`, headers });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ code: 'GW_ERR_IMAGE_NOT_FOUND' });
    const notADigest = await app().inject({ method: 'GET', url: '/api/images/..%2F..%2Fetc%2Fpasswd', headers });
    expect(notADigest.statusCode).toBe(400);
    laneConsole.stop();
  });

  it('serves a picture no camera holds any more from the evidence store, and links a crossing to its stored entry picture', async () => {
    // The runtime's own console and evidence store; this post has no camera, so nothing is held in memory.
    const crossing = runtime.post.lane('lane-1').workflow.arrive('AB124CD', 'truck', 0.9);
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('a plate, some time ago')]);
    const stored = await runtime.evidence.store.put(jpeg, { kind: 'plate-snapshot', contentType: 'image/jpeg', crossing: { crossingId: crossing.crossingId, laneId: 'lane-1' }, deviceId: 'cam-1', forward: false });
    const { headers } = bearer('operator');
    const found = await app().inject({ method: 'GET', url: `/api/images/${stored?.digest}`, headers });
    expect(found.statusCode).toBe(200);
    expect(found.headers['content-type']).toBe('image/jpeg');
    expect(found.rawPayload.equals(jpeg)).toBe(true);
    const lane = runtime.laneConsole.lanes()[0] as { crossings: { crossingId: string; snapshotUrl: string | null }[] };
    expect(lane.crossings).toEqual([expect.objectContaining({ crossingId: crossing.crossingId, snapshotUrl: `/api/images/${stored?.digest}` })]);
  });

  it('answers 503 with Retry-After when the store is busy reading other pictures', async () => {
    const laneConsole = new LaneConsole({
      post: runtime.post,
      onEvent: (listener) => gateway.onEvent(listener),
      devices: new DeviceFeedStandIn(),
      deviceHealth: () => undefined,
      image: () => null,
      stored: { picture: () => Promise.reject(new GatewayError('GW_ERR_IMAGE_BUSY')), entrySnapshot: () => null },
      clock,
    });
    gateway.setLaneApi({ post: runtime.post, deviceHealth: () => undefined, console: laneConsole });
    const busy = await app().inject({ method: 'GET', url: `/api/images/${ref}`, headers: bearer('operator').headers });
    expect(busy.statusCode).toBe(503);
    expect(busy.headers['retry-after']).toBe('1');
    expect(busy.json()).toMatchObject({ code: 'GW_ERR_IMAGE_BUSY' });
    laneConsole.stop();
  });

  it('links a crossing to the entry picture it arrived with', () => {
    const laneConsole = new LaneConsole({ post: runtime.post, onEvent: (listener) => gateway.onEvent(listener), devices: new DeviceFeedStandIn(), deviceHealth: () => undefined, image: () => null, clock });
    const crossing = runtime.post.lane('lane-1').workflow.arrive('AB123CD', 'truck', 0.9, 'anpr', ref);
    const lane = laneConsole.lanes()[0] as { crossings: { crossingId: string; snapshotUrl: string | null }[] };
    expect(lane.crossings).toEqual([expect.objectContaining({ crossingId: crossing.crossingId, snapshotUrl: `/api/images/${ref}` })]);
    laneConsole.stop();
  });

  it('shows two crossings whose cameras sent the same bytes the one stored picture, with nothing in memory', async () => {
    // A camera's "no picture" frame is the same bytes every time: the store holds them once, under
    // the first crossing; the second finds them by the digest it arrived with.
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('night: no picture')]);
    const digest = `sha256:${createHash('sha256').update(jpeg).digest('hex')}`;
    const first = runtime.post.lane('lane-1').workflow.arrive('AB125CD', 'truck', 0.9, 'anpr', digest);
    const second = runtime.post.lane('lane-1').workflow.arrive('AB126CD', 'truck', 0.9, 'anpr', digest);
    const stored = await runtime.evidence.store.put(jpeg, { kind: 'plate-snapshot', contentType: 'image/jpeg', crossing: { crossingId: first.crossingId, laneId: 'lane-1' }, deviceId: 'cam-1', forward: false });
    expect(stored?.digest).toBe(digest);
    expect(await runtime.evidence.store.put(jpeg, { kind: 'plate-snapshot', contentType: 'image/jpeg', crossing: { crossingId: second.crossingId, laneId: 'lane-1' }, deviceId: 'cam-1', forward: false })).toMatchObject({ digest: stored?.digest });
    const lane = runtime.laneConsole.lanes()[0] as { crossings: { crossingId: string; snapshotUrl: string | null }[] };
    const urls = Object.fromEntries(lane.crossings.map((c) => [c.crossingId, c.snapshotUrl]));
    expect([urls[first.crossingId], urls[second.crossingId]]).toEqual([`/api/images/${digest}`, `/api/images/${digest}`]);
    const served = await app().inject({ method: 'GET', url: `/api/images/${digest}`, headers: bearer('operator').headers });
    expect(served.statusCode).toBe(200);
    expect(served.rawPayload.equals(jpeg)).toBe(true);
  });
});

describe('GET /api/trs', () => {
  /** One truck through the lane API and the exit camera, `minutes` long. */
  async function crossing(plate: string, minutes: number): Promise<void> {
    const supervisor = bearer('supervisor').headers;
    const workflow = runtime.post.lane('lane-1').workflow;
    const { crossingId } = workflow.arrive(plate, 'truck', 0.95);
    clock.advance(60_000);
    expect((await register(supervisor, plate)).statusCode).toBe(201);
    const release = await app().inject({ method: 'POST', url: `/api/lanes/lane-1/crossings/${crossingId}/release`, headers: supervisor, payload: { reason: 'test' } });
    expect(release.statusCode).toBe(200);
    clock.advance((minutes - 1) * 60_000);
    workflow.exit(plate);
    await settle();
  }

  it('reports the crossings of a day of the post after their events were delivered and deleted', async () => {
    await crossing('AB100CD', 7);
    await crossing('AB101CD', 25);
    // Delivered: the uplink deletes what the broker acknowledged.
    for (const row of gateway.outbox.readFrom(0, 10_000)) gateway.outbox.remove(row.seq);
    gateway.outbox.flushRemovals();
    expect(gateway.outbox.stats().depth).toBe(0);
    const { headers } = bearer('operator');
    const today = await app().inject({ method: 'GET', url: '/api/trs', headers });
    expect(today.statusCode).toBe(200);
    expect(today.json()).toMatchObject({
      date: '2026-11-26',
      timeZone: 'UTC+04:00',
      intervalMin: 10,
      vehicles: 2,
      byDirection: { import: 2 },
      intervals: [
        { upToMin: 10, vehicles: 1, cumulative: 1 },
        { upToMin: 20, vehicles: 0, cumulative: 1 },
        { upToMin: 30, vehicles: 1, cumulative: 2, cumulativePct: 100 },
      ],
    });
    const wide = await app().inject({ method: 'GET', url: '/api/trs?date=2026-11-26&interval=30', headers });
    expect(wide.json()).toMatchObject({ intervals: [{ upToMin: 30, vehicles: 2 }] });
    const other = await app().inject({ method: 'GET', url: '/api/trs?date=2026-11-25', headers });
    expect(other.json()).toMatchObject({ vehicles: 0, intervals: [] });
  });

  it('records a crossing in its event\'s transaction, beside the lane store\'s own writes, or not at all', async () => {
    const made: EventDraft[] = [];
    const unlisten = gateway.onEvent((event) => void (event.type === 'crossing.completed' && made.push(event)));
    await crossing('AB150CD', 12);
    unlisten();
    // The lane store's hook ran in the same commit: the crossing is no longer stored as open.
    expect(gateway.outbox.database.prepare('SELECT COUNT(*) AS n FROM open_crossings').get()).toEqual({ n: 0 });
    // A commit that fails (here: a hook after ours throws) leaves no crossing behind either.
    const data = made[0]?.data as EventData<'crossing.completed'>;
    const failed = gateway.emit('crossing.completed', 'lane-1', { ...data, crossingId: 'failed-one' }, 'failed-one', () => {
      throw new Error('disk gone');
    });
    // The injected failure itself, not any other (a schema refusal, a closed outbox) by chance.
    await expect(failed).rejects.toThrow(/not committed: Error: disk gone$/);
    await expect(failed).rejects.toMatchObject({ code: 'GW_ERR_OUTBOX_WRITE', cause: new Error('disk gone') });
    const { headers } = bearer('operator');
    expect((await app().inject({ method: 'GET', url: '/api/trs', headers })).json()).toMatchObject({ vehicles: 1 });
  });

  it('cuts days at the post\'s midnight, not UTC\'s', async () => {
    // 19:50 UTC is 23:50 at the post: a 20-minute crossing exits on the post's next day.
    clock.advance(13 * 3_600_000 + 50 * 60_000);
    await crossing('AB200CD', 20);
    const { headers } = bearer('operator');
    expect((await app().inject({ method: 'GET', url: '/api/trs?date=2026-11-26', headers })).json()).toMatchObject({ vehicles: 0 });
    expect((await app().inject({ method: 'GET', url: '/api/trs?date=2026-11-27', headers })).json()).toMatchObject({ vehicles: 1 });
  });

  it('validates the query', async () => {
    const { headers } = bearer('operator');
    for (const query of ['date=2026-02-30', 'date=26-11-2026', 'interval=0', 'interval=ten', 'date=2026-11-26&x=1']) {
      const response = await app().inject({ method: 'GET', url: `/api/trs?${query}`, headers });
      expect(response.statusCode, query).toBe(400);
      expect(response.json()).toMatchObject({ code: 'GW_ERR_HTTP_BAD_REQUEST' });
    }
  });
});

describe('the barrier in the lane view', () => {
  it("stamps the barrier's last reading on the post clock when heard, as the view's other times", () => {
    const devices = new DeviceFeedStandIn();
    const laneConsole = new LaneConsole({ post: runtime.post, onEvent: (listener) => gateway.onEvent(listener), devices, deviceHealth: () => undefined, image: () => null, clock });
    // The device's own clock is hours behind the post clock (the demo runs the post clock fast).
    devices.read('lane-1', 'lane', { type: 'inputs.changed', deviceId: 'bar-1', position: 'closed', vehiclePresent: false, photocellBlocked: false, atMs: clock.now() - 3 * 3_600_000 } as never);
    const lane = laneConsole.lanes()[0] as { viewAt: string; barrier: { position: string; inputsAt: string } };
    expect(lane.barrier).toMatchObject({ position: 'closed', inputsAt: new Date(clock.now()).toISOString() });
    expect(lane.barrier.inputsAt).toBe(lane.viewAt);
    laneConsole.stop();
  });
});

describe('the scan in the lane view', () => {
  it('shows a thumbnail the gateway made of the scan image, with the image size its regions are in', async () => {
    // 640 × 480, a dense block at (320, 240): the kind of image the simulated scanner writes.
    const pixels = new Uint16Array(640 * 480).map((_, i) => ((i % 640) >= 320 && (i % 640) < 384 && Math.floor(i / 640) >= 240 && Math.floor(i / 640) < 304 ? 60_000 : 8_000));
    // Where a drop folder keeps its scans: a path on the gateway's disk, never shown over HTTP.
    const folder = join(tempDir(), 'xray-drop', 'processed');
    mkdirSync(folder, { recursive: true });
    const path = join(folder, 'scan-1.pgm');
    writeFileSync(path, encodePgm({ width: 640, height: 480, maxval: 65535, pixels }));
    const { token, headers } = bearer('supervisor');
    const stream = app().inject({ method: 'GET', url: '/api/live', headers });
    const workflow = runtime.post.lane('lane-1').workflow;
    const { crossingId } = workflow.arrive('AB300CD', 'truck', 0.9);
    expect((await register(headers, 'AB300CD')).statusCode).toBe(201);
    // 30 % over the declared weight: the rules send it to the scanner.
    const weighed = await app().inject({ method: 'POST', url: `/api/lanes/lane-1/crossings/${crossingId}/weight`, headers, payload: { weightKg: 15_600, reason: 'weighbridge down' } });
    expect(weighed.json()).toMatchObject({ state: 'scanning', channel: 'orange' });
    const regions = [{ x: 320, y: 240, width: 64, height: 64, density: 0.9 }];
    workflow.scanCompleted(crossingId, 'suspect', 'xray-1', path, { score: 0.97, modelVersion: 'xray-test', regions });
    // Made once someone looks: the first view has none yet, the next one has it.
    const first = (await app().inject({ method: 'GET', url: '/api/lanes', headers })).json<{ crossings: { scan: Record<string, unknown> }[] }[]>();
    expect(first[0]?.crossings[0]?.scan).toMatchObject({ thumbnailUrl: null, imageWidth: null });
    await runtime.laneConsole.thumbnailsMade();
    const lanes = (await app().inject({ method: 'GET', url: '/api/lanes', headers })).json<{ crossings: { step: string; scan: Record<string, unknown> }[] }[]>();
    const view = lanes[0]?.crossings[0];
    expect(view?.step).toBe('inspection');
    expect(view?.scan).toMatchObject({ result: 'suspect', regions, imageWidth: 640, imageHeight: 480, thumbnailUrl: expect.stringMatching(/^\/api\/images\/sha256:[0-9a-f]{64}$/) as string });
    const png = await app().inject({ method: 'GET', url: view?.scan.thumbnailUrl as string, headers });
    expect(png.statusCode).toBe(200);
    expect(png.headers['content-type']).toBe('image/png');
    // PNG signature, then IHDR: 320 × 240, 8-bit greyscale.
    expect(png.rawPayload.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect([png.rawPayload.readUInt32BE(16), png.rawPayload.readUInt32BE(20), png.rawPayload[24], png.rawPayload[25]]).toEqual([320, 240, 8, 0]);
    // No field of any view names the scan's folder: not GET /api/lanes (before and after the
    // thumbnail), not the live stream's views, not the lane API's crossing.
    expect(Object.keys(view?.scan ?? {})).not.toContain('imageRef');
    const one = await app().inject({ method: 'GET', url: `/api/lanes/lane-1/crossings/${crossingId}`, headers });
    expect(one.json()).toMatchObject({ scan: { result: 'suspect', scannerId: 'xray-1' } });
    clock.advance(250);
    await settle();
    gateway.sessions.end(token);
    const live = events((await stream).body).filter((e) => e.event === 'lanes');
    // The stream's last view shows the scan (and its thumbnail); none of its views names the file.
    expect(live.at(-1)?.data).toMatchObject([{ crossings: [{ scan: { result: 'suspect', thumbnailUrl: view?.scan.thumbnailUrl } }] }]);
    for (const body of [JSON.stringify(first), JSON.stringify(lanes), one.body, ...live.map((e) => JSON.stringify(e.data))]) {
      expect(body).not.toContain(folder);
      expect(body).not.toContain('scan-1.pgm');
    }
  });
});

describe('the live stream over a real socket', () => {
  it('streams through the listener, and ends when the gateway stops', async () => {
    const { headers } = bearer('operator');
    await app().listen({ host: '127.0.0.1', port: 0 });
    const address = app().server.address() as AddressInfo;
    const response = await new Promise<IncomingMessage>((resolve, reject) => get({ host: '127.0.0.1', port: address.port, path: '/api/live', headers }, resolve).on('error', reject));
    expect(response.statusCode).toBe(200);
    response.setEncoding('utf8');
    const chunks: string[] = [];
    const ended = new Promise<void>((resolve) => response.on('end', resolve));
    const first = new Promise<void>((resolve) => response.once('data', () => resolve()));
    response.on('data', (chunk: string) => chunks.push(chunk));
    await first;
    expect(chunks.join('')).toMatch(/^retry: 3000\n\nevent: lanes\ndata: \[\{"laneId":"lane-1"/);
    await stop();
    await ended;
  });
});
