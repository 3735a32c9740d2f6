/**
 * An X-ray push goes to disk as it arrives, never whole into memory: over a real socket to the
 * gateway's device listener, the image file grows while the push is still being sent; a push cut
 * off, refused by its image header part-way, or over the listener's limit leaves no file and no
 * reading; a full disk answers 503 (the scanner keeps the scan and sends it again) and leaves
 * nothing; what a kill left half-written is removed at the next start.
 */
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, watch, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { basename, join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { postConfigSchema, type XrayHttpConfig } from '../config/schema.js';
import { systemClock } from '../core/clock.js';
import type { Gateway } from '../gateway/daemon.js';
import { encodePgm, imageStats, parsePgm } from '../drivers/xray/pgm.js';
import { INCOMING_DIR } from '../drivers/xray/incoming-scan-image.js';
import { XrayHttpDriver } from '../drivers/xray/xray-http-driver.js';
import { WriteRoom } from '../drivers/write-room.js';
import { SimulatedScanner } from '../sim/xray/simulated-scanner.js';
import { SCAN_BOUNDARY, scanPush, xrayPost, type XrayPost } from './helpers/scan-push.js';
import { mountTmpfs, unmount } from './helpers/small-disk.js';
import { tempDir } from './helpers/test-config.js';

const TYPE = `multipart/form-data; boundary=${SCAN_BOUNDARY}`;
const time = new Date().toISOString();
const completed = (scanId: string) => ({ scanId, scannerId: 'scanner-A', status: 'completed', plate: 'GE123AB', time });

/** A push written by hand on a socket, a piece at a time, and the answer it gets. */
class RawPush {
  /** The final answer (interim 1xx answers are noted in `interim`). */
  readonly answer: Promise<{ status: number; body: string }>;
  /** Resolves with the first interim answer's status (100 Continue), if one comes before the final one. */
  readonly interim: Promise<number | null>;
  private readonly socket: Socket;

  constructor(port: number, authorization: string | null, length: number | 'chunked', extraHeaders = '') {
    this.socket = connect(port, '127.0.0.1');
    const framing = length === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${length}`;
    const credentials = authorization === null ? '' : `Authorization: ${authorization}\r\n`;
    this.socket.write(`POST /xray/lane-1 HTTP/1.1\r\nHost: gateway\r\n${credentials}Content-Type: ${TYPE}\r\n${framing}\r\n${extraHeaders}\r\n`);
    let received = '';
    let interim: (status: number | null) => void = () => undefined;
    this.interim = new Promise((resolve) => (interim = resolve));
    this.answer = new Promise((resolve, reject) => {
      this.socket.on('data', (data: Buffer) => {
        received += data.toString('latin1');
        for (;;) {
          const end = received.indexOf('\r\n\r\n');
          if (end < 0) return;
          const status = Number(received.slice(9, 12));
          if (status >= 200) break;
          interim(status);
          received = received.slice(end + 4);
        }
        const end = received.indexOf('\r\n\r\n');
        const bodyLength = Number(/content-length: (\d+)/i.exec(received.slice(0, end))?.[1] ?? 0);
        if (received.length - end - 4 < bodyLength) return;
        interim(null);
        resolve({ status: Number(received.slice(9, 12)), body: received.slice(end + 4, end + 4 + bodyLength) });
      });
      this.socket.on('error', reject);
      this.socket.on('close', () => reject(new Error(`closed before an answer: ${JSON.stringify(received)}`)));
    });
    // Settled by the tests that expect an answer; a cut-off push gets none.
    this.answer.catch(() => undefined);
  }

  /** Writes `bytes` and resolves once the kernel has taken them. */
  send(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(bytes, (error) => (error ? reject(error) : resolve())));
  }

  sendChunk(bytes: Uint8Array): Promise<void> {
    return this.send(Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]));
  }

  cut(): void {
    this.socket.destroy();
  }

  close(): void {
    this.socket.end();
  }
}

/** The images being received under `imageDir` (incoming-scan-image.ts), with their sizes. */
function incoming(imageDir: string): { name: string; size: number }[] {
  const dir = join(imageDir, INCOMING_DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    try {
      return [{ name, size: statSync(join(dir, name)).size }];
    } catch {
      return []; // removed between the listing and the stat
    }
  });
}

/** The images kept under `imageDir`: what readings name. */
const kept = (imageDir: string): string[] => readdirSync(imageDir).filter((name) => name !== INCOMING_DIR);

/** Resolves once `holds` is true of the images being received under `imageDir`, checked at every change there. */
async function until(imageDir: string, holds: (files: { name: string; size: number }[]) => boolean): Promise<void> {
  if (holds(incoming(imageDir))) return;
  const watcher = watch(join(imageDir, INCOMING_DIR));
  try {
    for (;;) {
      await once(watcher, 'change');
      if (holds(incoming(imageDir))) return;
    }
  } finally {
    watcher.close();
  }
}

/** The xray-http driver by itself, keeping its images in `imageDir`, asking `writeRoom` for room on their disk. */
function scanner(imageDir: string, { writeRoom, maxImageBytes }: { writeRoom?: WriteRoom; maxImageBytes?: number } = {}): XrayHttpDriver {
  const config = postConfigSchema.parse({
    version: 1,
    post: { id: 'p' },
    lanes: [{ id: 'l', devices: [{ id: 'xray-1', driver: 'xray-http', connection: { path: '/x' }, ...(maxImageBytes === undefined ? {} : { maxImageBytes }) }] }],
    uplink: { brokers: ['mqtt://127.0.0.1:1'] },
  }).lanes[0]!.devices[0] as XrayHttpConfig;
  return new XrayHttpDriver(config, imageDir, { clock: systemClock, logger: pino({ level: 'silent' }), ...(writeRoom ? { writeRoom } : {}) });
}

/** Once the push's file is gone: no image kept or being received, and no reading stored. */
async function leftNothing({ gateway, imageDir }: XrayPost): Promise<void> {
  await until(imageDir, (files) => files.length === 0);
  expect([...kept(imageDir), ...incoming(imageDir).map((file) => file.name)]).toEqual([]);
  expect(scans(gateway)).toHaveLength(0);
}

const scans = (gateway: Gateway) => gateway.outbox.readFrom(0, 1000).filter((row) => row.type === 'xray.scan');

describe('X-ray push as it arrives', () => {
  let post: XrayPost | undefined;
  const disks: string[] = [];
  afterEach(async () => {
    await post?.devices.stop();
    await post?.gateway.stop();
    post = undefined;
    for (const disk of disks.splice(0)) unmount(disk);
  });

  it('writes the image to disk while the push is still arriving, and keeps it under its scan once complete', async () => {
    post = await xrayPost();
    const { gateway, imageDir } = post;
    // A full-size scan, 2048 × 2100 16-bit: 8.2 MiB.
    const image = encodePgm(new SimulatedScanner(tempDir(), 's').image(2048, 2100));
    const body = Buffer.from(scanPush(completed('scan-20'), image));
    const imageStart = body.indexOf(image.subarray(0, 32));
    const half = imageStart + image.length / 2;
    const push = new RawPush(post.port, post.authorization, body.length);
    await push.send(body.subarray(0, half));
    // Half the image is on disk (all but what could begin the closing delimiter) before the rest is sent.
    await until(imageDir, (files) => files.length === 1 && (files[0]?.size ?? 0) >= image.length / 2 - 64);
    expect(scans(gateway)).toHaveLength(0);
    expect(kept(imageDir)).toEqual([]);
    await push.send(body.subarray(half));
    expect(await push.answer).toEqual({ status: 200, body: 'stored' });
    push.close();
    expect(incoming(imageDir)).toEqual([]);
    const [row] = scans(gateway);
    const data = (JSON.parse(row?.payload ?? '{}') as { data: { image: unknown; imageRef: string } }).data;
    expect(kept(imageDir)).toEqual([basename(data.imageRef)]);
    expect(data.imageRef).toMatch(new RegExp(`^${imageDir}/scan-20\\.[0-9a-f]{12}\\.pgm$`));
    expect(readFileSync(data.imageRef).equals(image)).toBe(true);
    // The figures counted on the way are those of the whole image decoded at once.
    const decoded = parsePgm(image);
    if (!decoded.ok) throw new Error(decoded.error);
    expect(data.image).toEqual({ width: 2048, height: 2100, ...imageStats(decoded.image) });
  });

  it('leaves no file and no reading for a push cut off mid-image, and stores the next', async () => {
    post = await xrayPost();
    const { gateway, imageDir } = post;
    const image = encodePgm(new SimulatedScanner(tempDir(), 's').image(1024, 1024));
    const body = Buffer.from(scanPush(completed('scan-21'), image));
    const push = new RawPush(post.port, post.authorization, body.length);
    await push.send(body.subarray(0, body.length / 2));
    await until(imageDir, (files) => files.length === 1 && (files[0]?.size ?? 0) > 0);
    push.cut();
    await until(imageDir, (files) => files.length === 0);
    expect(scans(gateway)).toHaveLength(0);
    expect([...kept(imageDir), ...incoming(imageDir).map((file) => file.name)]).toEqual([]);
    const again = new RawPush(post.port, post.authorization, body.length);
    await again.send(body);
    expect((await again.answer).status).toBe(200);
    again.close();
    expect(scans(gateway)).toHaveLength(1);
    expect(kept(imageDir)).toEqual([expect.stringMatching(/^scan-21\.[0-9a-f]{12}\.pgm$/)]);
  });

  it('refuses an 8-bit image as soon as its header is in, before the rest is sent, and keeps nothing', async () => {
    post = await xrayPost();
    const eightBit = Buffer.concat([Buffer.from('P5\n2048 2100\n255\n'), Buffer.alloc(2048 * 2100, 7)]);
    const body = Buffer.from(scanPush(completed('scan-22'), eightBit));
    const push = new RawPush(post.port, post.authorization, body.length);
    // 64 KiB of a 4.1 MiB push: the answer comes without the rest.
    await push.send(body.subarray(0, 64 * 1024));
    expect(await push.answer).toEqual({ status: 400, body: 'image: 8-bit image, a 16-bit greyscale image is required' });
    push.cut();
    await leftNothing(post);
  });

  it('refuses a push over the listener limit: at once when declared, when reached when chunked, keeping nothing', async () => {
    post = await xrayPost();
    const declared = new RawPush(post.port, post.authorization, 48 * 1024 * 1024 + 1);
    expect((await declared.answer).status).toBe(413);
    declared.cut();
    // A 49 MiB image, within the driver's own 256 MiB: the listener's 48 MiB stops it part-way.
    const chunked = new RawPush(post.port, post.authorization, 'chunked');
    await chunked.sendChunk(Buffer.from(`--${SCAN_BOUNDARY}\r\nContent-Disposition: form-data; name="image"\r\nContent-Type: image/x-portable-graymap\r\n\r\nP5\n4096 6272\n65535\n`));
    const mebibyte = Buffer.alloc(1024 * 1024, 0x11);
    let answered = false;
    void chunked.answer.then(() => (answered = true));
    for (let sent = 0; sent < 49 && !answered; sent += 1) await chunked.sendChunk(mebibyte);
    expect((await chunked.answer).status).toBe(413);
    chunked.cut();
    await leftNothing(post);
  });

  it('answers 503 to a push still arriving when its driver stops, keeps nothing, and lets the gateway stop', async () => {
    post = await xrayPost();
    const { gateway, imageDir } = post;
    const body = Buffer.from(scanPush(completed('scan-24'), encodePgm(new SimulatedScanner(tempDir(), 's').image(1024, 1024))));
    const push = new RawPush(post.port, post.authorization, body.length);
    await push.send(body.subarray(0, body.length / 2));
    await until(imageDir, (files) => files.length === 1 && (files[0]?.size ?? 0) > 0);
    await post.devices.stop();
    await push.send(body.subarray(body.length / 2));
    expect(await push.answer).toEqual({ status: 503, body: 'not stored: device input stopped' });
    push.close();
    expect([...kept(imageDir), ...incoming(imageDir).map((file) => file.name)]).toEqual([]);
    expect(scans(gateway)).toHaveLength(0);
    // afterEach stops the gateway: it would wait for ever on a push left unanswered.
  });

  it('looks at an image only for a completed scan, and gives each reading its own file when pushes of one scan race', async () => {
    post = await xrayPost();
    const { gateway, imageDir } = post;
    const url = `http://127.0.0.1:${post.port}/xray/lane-1`;
    const send = (body: Uint8Array<ArrayBuffer>) => fetch(url, { method: 'POST', headers: { authorization: post?.authorization ?? '', 'content-type': TYPE }, body });
    // An 8-bit image (over the 1 KiB a header is read from) beside a scan that only started: stored, image ignored, as before.
    const eightBit = Buffer.concat([Buffer.from('P5\n64 64\n255\n'), Buffer.alloc(64 * 64, 7)]);
    expect((await send(scanPush({ ...completed('scan-25'), status: 'started' }, eightBit))).status).toBe(200);
    expect(kept(imageDir)).toEqual([]);
    // Two pushes of one scan with different images, at once: each reading names its own bytes.
    const scanner = new SimulatedScanner(tempDir(), 's');
    const answers = await Promise.all([send(scanPush(completed('scan-26'), encodePgm(scanner.image(640, 320)))), send(scanPush(completed('scan-26'), encodePgm(scanner.image(320, 640))))]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    const stored = scans(gateway).map((row) => (JSON.parse(row.payload) as { data: { scanId: string; imageRef: string | null; image: { width: number; height: number } | null } }).data);
    expect(stored.map((data) => data.imageRef)).toEqual([null, expect.any(String), expect.any(String)]);
    for (const data of stored.slice(1)) {
      const decoded = parsePgm(readFileSync(data.imageRef as string));
      if (!decoded.ok) throw new Error(decoded.error);
      expect(data.image).toEqual({ width: decoded.image.width, height: decoded.image.height, ...imageStats(decoded.image) });
    }
    expect(new Set(stored.slice(1).map((data) => data.image?.width))).toEqual(new Set([640, 320]));
  });

  it('removes the kept image of a reading that was not stored, and keeps one whatever its scan is called', async () => {
    const imageDir = tempDir();
    const driver = scanner(imageDir);
    let storing = false;
    driver.on('reading', (reading) => (storing ? reading.ack.resolve() : reading.ack.reject(new Error('outbox full'))));
    await driver.start();
    const push = (scanId: string) => driver.handle(TYPE, Buffer.from(scanPush(completed(scanId), encodePgm(new SimulatedScanner(tempDir(), 's').image(64, 32)))));
    expect(await push('scan-27')).toEqual({ status: 503, body: 'not stored: outbox full' });
    expect(kept(imageDir)).toEqual([]);
    storing = true;
    // A scan named like the folder of images being received is kept beside it, not in it.
    expect(await push('.incoming')).toEqual({ status: 200, body: 'stored' });
    await driver.stop();
    await driver.start();
    expect(kept(imageDir)).toEqual([expect.stringMatching(/^\.incoming\.[0-9a-f]{12}\.pgm$/)]);
    await driver.stop();
  });

  it('answers Expect: 100-continue only once the scanner is authenticated and its push within the limit', async () => {
    post = await xrayPost();
    const body = Buffer.from(scanPush(completed('scan-28'), encodePgm(new SimulatedScanner(tempDir(), 's').image(64, 32))));
    // No credentials: the refusal comes instead of a 100, and no byte of the body was sent.
    const stranger = new RawPush(post.port, null, 48 * 1024 * 1024, 'Expect: 100-continue\r\n');
    expect(await stranger.interim).toBeNull();
    expect((await stranger.answer).status).toBe(401);
    stranger.cut();
    // The scanner's own, over the listener's limit: the 413 comes instead of a 100.
    const tooLarge = new RawPush(post.port, post.authorization, 48 * 1024 * 1024 + 1, 'Expect: 100-continue\r\n');
    expect(await tooLarge.interim).toBeNull();
    expect((await tooLarge.answer).status).toBe(413);
    tooLarge.cut();
    // The scanner's own, within it, the expectation written as Node also takes it (case, a list): 100, then the answer.
    for (const expectation of ['100-continue', '100-Continue, x-other']) {
      const scanner = new RawPush(post.port, post.authorization, body.length, `Expect: ${expectation}\r\n`);
      expect(await scanner.interim).toBe(100);
      await scanner.send(body);
      expect(await scanner.answer).toEqual({ status: 200, body: 'stored' });
      scanner.close();
    }
  });

  it('answers 503 when the disk is full, leaves nothing, and stores the scan once there is room', async () => {
    const disk = mountTmpfs('1m');
    disks.push(disk);
    const imageDir = join(disk, 'xray-1');
    const driver = scanner(imageDir);
    const readings: unknown[] = [];
    driver.on('reading', (reading) => {
      readings.push(reading);
      reading.ack.resolve();
    });
    await driver.start();
    // 2 MiB of image on a 1 MiB disk, handed on in 64 KiB pieces as the listener does.
    const large = Buffer.from(scanPush(completed('scan-23'), encodePgm(new SimulatedScanner(tempDir(), 's').image(1024, 1024))));
    async function* pieces(bytes: Buffer): AsyncGenerator<Buffer> {
      for (let at = 0; at < bytes.length; at += 64 * 1024) {
        // Each a turn of the event loop after the last, as from a socket.
        await new Promise((resolve) => setImmediate(resolve));
        yield bytes.subarray(at, at + 64 * 1024);
      }
    }
    const full = await driver.handle(TYPE, pieces(large));
    expect(full.status).toBe(503);
    expect(full.body).toMatch(/^not stored: scan image could not be written: ENOSPC/);
    expect([...kept(imageDir), ...incoming(imageDir).map((file) => file.name)]).toEqual([]);
    expect(readings).toHaveLength(0);
    const small = Buffer.from(scanPush(completed('scan-23'), encodePgm(new SimulatedScanner(tempDir(), 's').image(256, 256))));
    expect(await driver.handle(TYPE, pieces(small))).toEqual({ status: 200, body: 'stored' });
    expect(kept(imageDir)).toEqual([expect.stringMatching(/^scan-23\.[0-9a-f]{12}\.pgm$/)]);
    expect(readings).toHaveLength(1);
    await driver.stop();
  });

  it("refuses an image that could leave the disk with less than the outbox's room (503), writing nothing, and stores it once there is room", async () => {
    const disk = mountTmpfs('16m');
    disks.push(disk);
    const imageDir = join(disk, 'xray-1');
    const MiB = 1024 * 1024;
    const driver = scanner(imageDir, { maxImageBytes: 4 * MiB, writeRoom: new WriteRoom(8 * MiB) });
    driver.on('reading', (reading) => reading.ack.resolve());
    await driver.start();
    const push = (scanId: string) => Buffer.from(scanPush(completed(scanId), encodePgm(new SimulatedScanner(tempDir(), 's').image(256, 256))));
    // 16 MiB free: the largest image allowed (4 MiB) leaves 12, more than the 8 to keep.
    expect(await driver.handle(TYPE, push('scan-24'))).toEqual({ status: 200, body: 'stored' });
    // Another 6 MiB on the disk: ≈ 10 MiB free, less than 4 + 8.
    writeFileSync(join(disk, 'filler'), Buffer.alloc(6 * MiB));
    const refused = await driver.handle(TYPE, push('scan-25'));
    expect(refused.status).toBe(503);
    expect(refused.body).toMatch(new RegExp(`^not stored: disk: \\d+ bytes free, 0 of them promised to writes under way, and ${4 * MiB} more must leave ${8 * MiB} for the outbox$`));
    expect(incoming(imageDir)).toEqual([]);
    expect(kept(imageDir)).toEqual([expect.stringMatching(/^scan-24\./)]);
    rmSync(join(disk, 'filler'));
    expect(await driver.handle(TYPE, push('scan-25'))).toEqual({ status: 200, body: 'stored' });
    await driver.stop();
  });

  it('counts the images still being received: of six pushes at once, the two the disk has room for are stored', async () => {
    const disk = mountTmpfs('16m');
    disks.push(disk);
    const imageDir = join(disk, 'xray-1');
    const MiB = 1024 * 1024;
    // (16 MiB free − 8 to keep) / 4 MiB per image: room for two at a time.
    const room = new WriteRoom(8 * MiB);
    const driver = scanner(imageDir, { maxImageBytes: 4 * MiB, writeRoom: room });
    driver.on('reading', (reading) => reading.ack.resolve());
    await driver.start();
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    async function* heldAfterTheImageBegins(body: Buffer, image: Buffer): AsyncGenerator<Buffer> {
      const cut = body.indexOf(image.subarray(0, 32)) + 1024;
      yield body.subarray(0, cut);
      await gate;
      yield body.subarray(cut);
    }
    const answers = Array.from({ length: 6 }, (_, i) => {
      const image = encodePgm(new SimulatedScanner(tempDir(), `s${i}`).image(1024, 1024));
      return driver.handle(TYPE, heldAfterTheImageBegins(Buffer.from(scanPush(completed(`scan-3${i}`), image)), image));
    });
    let settled = 0;
    const fourRefused = new Promise<void>((resolve) => answers.forEach((answer) => void answer.then(() => ++settled === 4 && resolve())));
    await fourRefused;
    expect(room.promisedBytes).toBe(8 * MiB);
    open();
    const statuses = (await Promise.all(answers)).map((answer) => answer.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(2);
    expect(statuses.filter((status) => status === 503)).toHaveLength(4);
    expect(kept(imageDir)).toHaveLength(2);
    expect(room.promisedBytes).toBe(0);
    await driver.stop();
  });

  it("keeps the outbox's room on a post's data disk: a scanner's image that could take it is refused (503)", async () => {
    // 64 MiB of disk: less than an image of the default maxImageBytes (256 MiB) and the outbox's 8.
    const disk = mountTmpfs('64m');
    disks.push(disk);
    post = await xrayPost(disk);
    const image = encodePgm(new SimulatedScanner(tempDir(), 's').image(256, 256));
    const body = Buffer.from(scanPush(completed('scan-40'), image));
    const push = new RawPush(post.port, post.authorization, body.length);
    await push.send(body);
    const answer = await push.answer;
    push.close();
    expect(answer.status).toBe(503);
    expect(answer.body).toMatch(new RegExp(`^not stored: disk: \\d+ bytes free, 0 of them promised to writes under way, and ${256 * 1024 * 1024} more must leave ${8 * 1024 * 1024} for the outbox$`));
    await leftNothing(post);
  });

  it('removes at start what a push interrupted by a kill left half-written', async () => {
    const imageDir = tempDir();
    mkdirSync(join(imageDir, INCOMING_DIR));
    writeFileSync(join(imageDir, INCOMING_DIR, '5b1e0c2e.pgm'), 'P5\n64 32\n65535\n');
    writeFileSync(join(imageDir, 'scan-1.pgm'), 'kept');
    const driver = scanner(imageDir);
    await driver.start();
    expect(kept(imageDir)).toEqual(['scan-1.pgm']);
    expect(incoming(imageDir)).toEqual([]);
    await driver.stop();
  });
});
