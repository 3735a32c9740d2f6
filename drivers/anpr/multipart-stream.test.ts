/**
 * The multipart reader fed as a push arrives: on any body, cut into any chunks, it accepts exactly
 * what the whole-body reader (multipart.ts) accepts, with the same parts and bytes, and refuses
 * what it refuses; it holds no more than a header block and a delimiter between chunks.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MULTIPART_LIMITS, readMultipart, type MultipartLimits, type Part } from './multipart.js';
import { MultipartStream } from './multipart-stream.js';

const BOUNDARY = 'scan-7';
const LIMITS: MultipartLimits = { maxParts: 4, maxHeaderBytes: 128, maxPartBytes: 200 };

type Read = { ok: true; parts: Part[] } | { ok: false; error: string };

/** Feeds `body` cut at `cuts` (offsets) and gathers the parts as readMultipart returns them. */
function readStreamed(body: Buffer, cuts: number[], boundary = BOUNDARY, limits = LIMITS): Read {
  const stream = new MultipartStream(boundary, limits);
  const parts: Part[] = [];
  let current: { part: Omit<Part, 'body'>; bytes: Buffer[] } | null = null;
  const offsets = [...new Set(cuts.map((cut) => cut % (body.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const to of [...offsets, body.length]) {
    const events = stream.feed(body.subarray(from, to));
    from = to;
    if (typeof events === 'string') return { ok: false, error: events };
    for (const event of events) {
      if (event.kind === 'part') current = { part: event.part, bytes: [] };
      // Copied: a data view is only valid until the next feed.
      else if (event.kind === 'data') current?.bytes.push(Buffer.from(event.bytes));
      else if (event.kind === 'end' && current) {
        parts.push({ ...current.part, body: Buffer.concat(current.bytes) });
        current = null;
      }
    }
  }
  const refused = stream.finish();
  return refused ? { ok: false, error: refused } : { ok: true, parts };
}

function part(headers: string, body: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from(`--${BOUNDARY}\r\n${headers}\r\n\r\n`), Buffer.from(body), Buffer.from('\r\n')]);
}
const CLOSE = Buffer.from(`--${BOUNDARY}--\r\n`);
const METADATA = part('Content-Disposition: form-data; name="metadata"\r\nContent-Type: application/json', '{"scanId":"s-1"}');
const IMAGE = part('Content-Disposition: form-data; name="image"; filename="scan.pgm"\r\nContent-Type: image/x-portable-graymap', Buffer.from('P5\n2 2\n65535\n\r\n--scan-\r\n-x'));

describe('multipart read as it arrives', () => {
  it('gives the parts of a complete body, one byte at a time as whole', () => {
    const body = Buffer.concat([Buffer.from('preamble\r\n'), METADATA, Buffer.from(`--${BOUNDARY}\r\n\r\nno headers\r\n`), IMAGE, CLOSE, Buffer.from('epilogue')]);
    const whole = readMultipart(body, BOUNDARY, LIMITS);
    expect(whole.ok).toBe(true);
    const oneByOne = readStreamed(body, Array.from({ length: body.length }, (_, i) => i));
    expect(oneByOne).toEqual(whole);
    expect(readStreamed(body, [])).toEqual(whole);
    if (!oneByOne.ok) return;
    expect(oneByOne.parts.map((p) => p.name)).toEqual(['metadata', null, 'image']);
    // The image's bytes hold a line that starts like the delimiter; it is still the image's.
    expect(oneByOne.parts[2]?.body.toString('latin1')).toBe('P5\n2 2\n65535\n\r\n--scan-\r\n-x');
  });

  it('refuses a body cut off anywhere before its close delimiter, and says where', () => {
    const body = Buffer.concat([METADATA, IMAGE, CLOSE]);
    for (let end = 0; end < body.length - CLOSE.length + 2; end += 1) {
      const read = readStreamed(body.subarray(0, end), [Math.floor(end / 2)]);
      expect(read.ok, `cut at ${end}`).toBe(false);
    }
    expect(readStreamed(body.subarray(0, METADATA.length + IMAGE.length - 8), [])).toEqual({ ok: false, error: 'the body is truncated in part 2 (no close delimiter)' });
  });

  it('refuses too many parts, an oversized part or header block, and a boundary RFC 2046 does not allow', () => {
    const many = Buffer.concat([...Array.from({ length: 5 }, () => part('X: y', 'z')), CLOSE]);
    expect(readStreamed(many, [3, 50])).toEqual({ ok: false, error: 'more than 4 parts' });
    const big = Buffer.concat([part('X: y', Buffer.alloc(201, 0x61)), CLOSE]);
    expect(readStreamed(big, [100])).toEqual({ ok: false, error: 'part 1: over 200 bytes' });
    const longHeaders = Buffer.concat([part(`X: ${'y'.repeat(140)}`, 'z'), CLOSE]);
    expect(readStreamed(longHeaders, [10])).toEqual({ ok: false, error: 'part 1: headers over 128 bytes' });
    expect(readStreamed(Buffer.from('--\r\n\r\n--'), [], '')).toEqual({ ok: false, error: 'the multipart boundary is not 1-70 characters' });
  });

  it('takes at most 256 bytes of transport padding after a delimiter, as the whole-body reader does', () => {
    const padded = (spaces: number) => Buffer.concat([Buffer.from(`--${BOUNDARY}${' '.repeat(spaces)}\r\nX: y\r\n\r\nz\r\n`), CLOSE]);
    for (const spaces of [0, 255, 256, 257, 400]) {
      const whole = readMultipart(padded(spaces), BOUNDARY, LIMITS);
      expect(whole.ok, `${spaces} spaces`).toBe(spaces <= 256);
      // Cut just before the CR, between CR and LF, and one byte at a time.
      for (const cuts of [[BOUNDARY.length + 2 + spaces], [BOUNDARY.length + 3 + spaces], Array.from({ length: spaces + 20 }, (_, i) => i)]) {
        expect(readStreamed(padded(spaces), cuts), `${spaces} spaces cut at ${cuts.length > 1 ? 'every byte' : String(cuts[0])}`).toEqual(whole);
      }
    }
  });

  it('holds no more than a header block and a delimiter between chunks, whatever the part size', () => {
    const stream = new MultipartStream(BOUNDARY, { ...DEFAULT_MULTIPART_LIMITS, maxPartBytes: 64 * 1024 * 1024 });
    const header = Buffer.from(`--${BOUNDARY}\r\nContent-Type: image/x-portable-graymap\r\n\r\n`);
    expect(stream.feed(header)).toEqual([]);
    let passed = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    for (let i = 0; i < 256; i += 1) {
      const events = stream.feed(chunk);
      if (typeof events === 'string') throw new Error(events);
      for (const event of events) if (event.kind === 'data') passed += event.bytes.length;
      // All but what could begin a delimiter has been handed on.
      expect((i + 1) * chunk.length - passed).toBeLessThan(`\r\n--${BOUNDARY}`.length);
    }
    const last = stream.feed(Buffer.from(`\r\n--${BOUNDARY}--`));
    expect(typeof last === 'string' ? last : last.map((event) => event.kind)).toEqual(['data', 'end', 'close']);
    expect(stream.finish()).toBeNull();
  });

  it('accepts and refuses exactly what the whole-body reader does, on arbitrary bodies cut anywhere', () => {
    const piece = fc.oneof(
      fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b)),
      fc.constantFrom(`\r\n--${BOUNDARY}\r\n`, `\r\n--${BOUNDARY}--`, `--${BOUNDARY}\r\n`, `--${BOUNDARY}`, '\r\n\r\n', '\r\n', '--', ' \t', ' '.repeat(250), '\t'.repeat(7), `\r\n--${BOUNDARY} \r\n`, 'Content-Type: image/x-portable-graymap\r\n', 'Content-Disposition: form-data; name="image"').map((s) => Buffer.from(s)),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 14 }), fc.array(fc.nat(), { maxLength: 6 }), (pieces, cuts) => {
        const body = Buffer.concat(pieces);
        const whole = readMultipart(body, BOUNDARY, LIMITS);
        const streamed = readStreamed(body, cuts);
        expect(streamed.ok).toBe(whole.ok);
        if (whole.ok && streamed.ok) expect(streamed.parts).toEqual(whole.parts);
      }),
      { numRuns: 3000 },
    );
  });
});
