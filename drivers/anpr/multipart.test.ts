/**
 * The multipart reader's bounds, and the ANPR push path on top of it: a push cut off anywhere is
 * refused whole (400, no reading), as are pushes with too many parts, oversized parts or headers,
 * and XML that is too big or carries a document type declaration.
 */
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { postConfigSchema, type AnprPushConfig } from '../../config/schema.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { AnprHttpPushDriver } from './http-push-driver.js';
import { DEFAULT_MULTIPART_LIMITS, parseMultipart, readMultipart } from './multipart.js';

const BOUNDARY = 'boundary-7';
const TYPE = `multipart/form-data; boundary=${BOUNDARY}`;
const ALERT = `<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema"><dateTime>2026-11-26T08:51:24+04:00</dateTime>
<eventType>ANPR</eventType><ANPR><country>Georgia</country><licensePlate>GE-123-AB</licensePlate><confidenceLevel>93</confidenceLevel><vehicleType>truck</vehicleType></ANPR></EventNotificationAlert>`;
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0xff, 0xd9]);

function part(headers: string, body: Buffer | string): Buffer {
  return Buffer.concat([Buffer.from(`--${BOUNDARY}\r\n${headers}\r\n\r\n`), Buffer.from(body), Buffer.from('\r\n')]);
}
const CLOSE = Buffer.from(`--${BOUNDARY}--\r\n`);
const XML_PART = part('Content-Disposition: form-data; name="anpr.xml"; filename="anpr.xml"\r\nContent-Type: text/xml', ALERT);
const JPEG_PART = part('Content-Disposition: form-data; name="plate.jpg"; filename="plate.jpg"\r\nContent-Type: image/jpeg', JPEG);
const PUSH = Buffer.concat([XML_PART, JPEG_PART, CLOSE]);

function pushDriver() {
  const config = postConfigSchema.parse({
    version: 1,
    post: { id: 'p' },
    lanes: [{ id: 'l', devices: [{ id: 'cam', driver: 'anpr-http-push', connection: { path: '/anpr/cam' } }] }],
    uplink: { brokers: ['mqtt://127.0.0.1:1'] },
  }).lanes[0]!.devices[0] as AnprPushConfig;
  const driver = new AnprHttpPushDriver(config, { clock: new ManualClock(), logger: pino({ level: 'silent' }) });
  const readings: unknown[] = [];
  driver.on('reading', (reading) => {
    readings.push(reading);
    reading.ack.resolve();
  });
  return { driver, readings };
}

describe('multipart bounds', () => {
  it('reads a complete body, with a preamble and without headers in a part', () => {
    expect(readMultipart(PUSH, BOUNDARY)).toMatchObject({ ok: true, parts: [{ filename: 'anpr.xml', contentType: 'text/xml' }, { name: 'plate.jpg', body: JPEG }] });
    const bare = Buffer.from(`preamble\r\n--${BOUNDARY}\r\n\r\nhello\r\n--${BOUNDARY}--`);
    expect(readMultipart(bare, BOUNDARY)).toEqual({ ok: true, parts: [{ headers: {}, name: null, filename: null, contentType: null, body: Buffer.from('hello') }] });
  });

  it('refuses a body cut off anywhere before its close delimiter', () => {
    const complete = PUSH.indexOf(`--${BOUNDARY}--`) + `--${BOUNDARY}--`.length;
    for (let cut = 0; cut < complete; cut += 1) {
      const result = readMultipart(PUSH.subarray(0, cut), BOUNDARY);
      expect(result.ok, `cut at ${cut}`).toBe(false);
    }
    expect(readMultipart(PUSH.subarray(0, complete), BOUNDARY).ok).toBe(true);
    expect(parseMultipart(PUSH.subarray(0, PUSH.length / 2), BOUNDARY)).toEqual([]);
  });

  it('refuses too many parts, an oversized part or header block, and a boundary RFC 2046 does not allow', () => {
    const limits = { ...DEFAULT_MULTIPART_LIMITS, maxParts: 2, maxPartBytes: 1024, maxHeaderBytes: 256 };
    expect(readMultipart(Buffer.concat([XML_PART, JPEG_PART, JPEG_PART, CLOSE]), BOUNDARY, limits)).toEqual({ ok: false, error: 'more than 2 parts' });
    expect(readMultipart(Buffer.concat([part('Content-Type: image/jpeg', Buffer.alloc(1025)), CLOSE]), BOUNDARY, limits)).toEqual({ ok: false, error: 'part 1: over 1024 bytes' });
    expect(readMultipart(Buffer.concat([part(`X-Pad: ${'a'.repeat(300)}`, 'x'), CLOSE]), BOUNDARY, limits)).toEqual({ ok: false, error: 'part 1: headers over 256 bytes' });
    expect(readMultipart(Buffer.from(`--${'b'.repeat(71)}\r\n\r\nx\r\n--${'b'.repeat(71)}--`), 'b'.repeat(71))).toMatchObject({ ok: false });
  });

  it('never throws, and never returns more parts or bytes than allowed, on arbitrary bodies', () => {
    const limits = { maxParts: 3, maxPartBytes: 64, maxHeaderBytes: 32 };
    const chunk = fc.oneof(fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b)), fc.constantFrom(`\r\n--${BOUNDARY}\r\n`, `\r\n--${BOUNDARY}--`, '\r\n\r\n', 'Content-Type: image/jpeg\r\n', `--${BOUNDARY}`).map((s) => Buffer.from(s)));
    fc.assert(
      fc.property(fc.array(chunk, { maxLength: 12 }), (chunks) => {
        const result = readMultipart(Buffer.concat(chunks), BOUNDARY, limits);
        return !result.ok || (result.parts.length <= 3 && result.parts.every((p) => p.body.length <= 64));
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('ANPR push bounds', () => {
  it('stores a complete push, and refuses the same push cut in half with 400 and no reading', async () => {
    const { driver, readings } = pushDriver();
    await driver.start();
    expect(await driver.handle(TYPE, PUSH.subarray(0, Math.floor(PUSH.length / 2)))).toEqual({ status: 400, body: 'malformed multipart: the body is truncated in part 1 (no close delimiter)' });
    expect(await driver.handle(TYPE, PUSH.subarray(0, PUSH.length - CLOSE.length))).toMatchObject({ status: 400 });
    expect(readings).toEqual([]);
    expect(await driver.handle(TYPE, PUSH)).toEqual({ status: 200, body: 'stored' });
    expect(readings).toMatchObject([{ plate: { text: 'GE123AB' } }]);
  });

  it('refuses an oversized XML alert, a DTD and markup too dense to parse quickly', async () => {
    const { driver, readings } = pushDriver();
    await driver.start();
    const withXml = (xml: string) => Buffer.concat([part('Content-Type: text/xml', xml), CLOSE]);
    expect(await driver.handle(TYPE, withXml(ALERT.replace('<ANPR>', `<ANPR><pad>${'x'.repeat(64 * 1024)}</pad>`)))).toEqual({ status: 400, body: 'the XML part is over 65536 bytes' });
    expect((await driver.handle(TYPE, withXml(`<!DOCTYPE a [<!ENTITY x "y">]>${ALERT}`))).body).toMatch(/^unacceptable XML: the XML has a document type declaration/);
    expect((await driver.handle(TYPE, withXml(ALERT.replace('<ANPR>', `<ANPR>${'<a/>'.repeat(9000)}`)))).body).toMatch(/^unacceptable XML: the XML has more than 6000 tags/);
    expect(await driver.handle('text/xml', Buffer.from(`${ALERT}${' '.repeat(64 * 1024)}`))).toMatchObject({ status: 400 });
    expect(readings).toEqual([]);
    expect(driver.health()).toMatchObject({ state: 'degraded' });
  });
});
