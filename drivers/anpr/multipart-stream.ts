/**
 * The multipart reader of multipart.ts, fed a push as it arrives instead of held whole: what a
 * scanner's image goes through, so that its bytes go to disk as they come and the push is never
 * in memory (up to the listener's 48 MiB). Same rules and bounds: at most `maxParts` parts, header
 * blocks of at most `maxHeaderBytes`, bodies of at most `maxPartBytes`, and a push must end with
 * its close delimiter (`finish` says so), or it is refused whole.
 *
 * What it holds between chunks is bounded too: the bytes that may still be the start of a
 * delimiter (its length less one), a delimiter line, or a header block being read.
 */
import { MAX_DELIMITER_LINE, partHeaders, type MultipartLimits, type Part } from './multipart.js';

export type MultipartEvent =
  /** A part begins: its headers. */
  | { kind: 'part'; part: Omit<Part, 'body'> }
  /** Bytes of the current part's body, in order (a view of what was fed; used before the next feed). */
  | { kind: 'data'; bytes: Buffer }
  /** The current part's body is complete. */
  | { kind: 'end' }
  /** The close delimiter: the push is complete (what follows it, the epilogue, is ignored). */
  | { kind: 'close' };

type State = 'preamble' | 'delimiter' | 'headers' | 'body' | 'closed';

export class MultipartStream {
  private readonly dashBoundary: Buffer;
  private readonly delimiter: Buffer;
  private state: State = 'preamble';
  /** Bytes fed but not decided yet. */
  private held: Buffer = Buffer.alloc(0);
  /** Nothing of the preamble was passed over yet: the body may still open with `--boundary`. */
  private atStart = true;
  private parts = 0;
  private partBytes = 0;
  private refusal: string | null = null;

  constructor(
    boundary: string,
    private readonly limits: MultipartLimits,
  ) {
    // RFC 2046: 1 to 70 characters.
    if (boundary.length < 1 || boundary.length > 70) this.refusal = 'the multipart boundary is not 1-70 characters';
    this.dashBoundary = Buffer.from(`--${boundary}`);
    this.delimiter = Buffer.from(`\r\n--${boundary}`);
  }

  /** What `chunk` completes, in order; or why the push is refused (and every later feed too). */
  feed(chunk: Buffer): MultipartEvent[] | string {
    if (this.refusal) return this.refusal;
    const events: MultipartEvent[] = [];
    let bytes = this.held.length > 0 ? this.join(chunk, events) : chunk;
    if (typeof bytes === 'string') return this.refuse(bytes);
    this.held = Buffer.alloc(0);
    for (;;) {
      const step = this.step(bytes, events);
      if (typeof step === 'string') return this.refuse(step);
      if (step === null) break;
      bytes = bytes.subarray(step);
    }
    return events;
  }

  private refuse(reason: string): string {
    this.refusal = reason;
    this.held = Buffer.alloc(0);
    return reason;
  }

  /**
   * What was held, joined to `chunk`. Within a body, what is held (less than a delimiter) is the
   * part's unless a delimiter starts in it: then it is handed on as the part's and the chunk read
   * by itself, rather than the chunk copied behind it (a 48 MiB image would be copied whole, a
   * chunk at a time, and left for the collector).
   */
  private join(chunk: Buffer, events: MultipartEvent[]): Buffer | string {
    // Decided only when the chunk could complete a delimiter that starts in what is held.
    if (this.state === 'body' && chunk.length >= this.delimiter.length - 1) {
      const joint = Buffer.concat([this.held, chunk.subarray(0, this.delimiter.length - 1)]);
      const at = joint.indexOf(this.delimiter);
      if (at < 0 || at >= this.held.length) {
        this.partBytes += this.held.length;
        if (this.partBytes > this.limits.maxPartBytes) return `part ${this.parts}: over ${this.limits.maxPartBytes} bytes`;
        events.push({ kind: 'data', bytes: this.held });
        return chunk;
      }
    }
    return Buffer.concat([this.held, chunk]);
  }

  /** Null when the push was complete; else why it is refused (cut off, or refused before). */
  finish(): string | null {
    if (this.refusal) return this.refusal;
    switch (this.state) {
      case 'closed':
        return null;
      case 'preamble':
        return 'no multipart boundary in the body';
      case 'delimiter':
      case 'headers':
        return 'the body is truncated (no close delimiter)';
      case 'body':
        return `the body is truncated in part ${this.parts} (no close delimiter)`;
    }
  }

  /**
   * Reads what it can of `bytes` in the current state: how many bytes it used (the caller goes on
   * after them), null when it needs more (what is left is held), or why the push is refused.
   */
  private step(bytes: Buffer, events: MultipartEvent[]): number | null | string {
    switch (this.state) {
      case 'preamble':
        return this.preamble(bytes);
      case 'delimiter':
        return this.delimiterLine(bytes, events);
      case 'headers':
        return this.headerBlock(bytes, events);
      case 'body':
        return this.body(bytes, events);
      case 'closed':
        this.held = Buffer.alloc(0);
        return null;
    }
  }

  private preamble(bytes: Buffer): number | null {
    // The first delimiter may open the body; any other follows a CRLF (after a preamble).
    if (this.atStart) {
      const compared = Math.min(bytes.length, this.dashBoundary.length);
      if (bytes.subarray(0, compared).equals(this.dashBoundary.subarray(0, compared))) {
        if (compared < this.dashBoundary.length) return this.hold(bytes);
        this.state = 'delimiter';
        return this.dashBoundary.length;
      }
    }
    const at = bytes.indexOf(this.delimiter);
    if (at >= 0) {
      this.state = 'delimiter';
      return at + this.delimiter.length;
    }
    // The preamble is passed over; its last bytes may begin the delimiter.
    this.atStart = false;
    return this.hold(bytes.subarray(Math.max(0, bytes.length - (this.delimiter.length - 1))));
  }

  private delimiterLine(bytes: Buffer, events: MultipartEvent[]): number | null | string {
    if (bytes.length < 2) return this.hold(bytes);
    if (bytes[0] === 0x2d && bytes[1] === 0x2d) {
      this.state = 'closed';
      events.push({ kind: 'close' });
      return 2;
    }
    // After a delimiter: optional transport padding (spaces, tabs), then CRLF.
    const lineEnd = bytes.subarray(0, MAX_DELIMITER_LINE + 2).indexOf('\r\n');
    if (lineEnd < 0) return bytes.length >= MAX_DELIMITER_LINE + 2 ? 'malformed multipart delimiter line' : this.hold(bytes);
    if (!/^[ \t]*$/.test(bytes.subarray(0, lineEnd).toString('latin1'))) return 'malformed multipart delimiter line';
    if (this.parts === this.limits.maxParts) return `more than ${this.limits.maxParts} parts`;
    this.parts += 1;
    this.state = 'headers';
    return lineEnd + 2;
  }

  private headerBlock(bytes: Buffer, events: MultipartEvent[]): number | null | string {
    if (bytes.length < 2) return this.hold(bytes);
    // A part with no headers starts with the blank line itself.
    const blank = bytes[0] === 0x0d && bytes[1] === 0x0a;
    const window = bytes.subarray(0, this.limits.maxHeaderBytes + 4);
    const headerEnd = blank ? -2 : window.indexOf('\r\n\r\n');
    if (headerEnd === -1) {
      // The part ended (its delimiter came) before its headers did.
      if (window.indexOf(this.delimiter) >= 0) return `part ${this.parts}: no end of headers`;
      return bytes.length > this.limits.maxHeaderBytes + 4 ? `part ${this.parts}: headers over ${this.limits.maxHeaderBytes} bytes` : this.hold(bytes);
    }
    // The part ends at the first delimiter: one that starts before its body would (even within
    // the blank line) leaves the headers unended, as in multipart.ts. Decided once the bytes that
    // could hold such a delimiter are here.
    const bodyStart = headerEnd + 4;
    const decisive = bodyStart - 1 + this.delimiter.length;
    const early = bytes.subarray(0, decisive).indexOf(this.delimiter);
    if (early >= 0) return `part ${this.parts}: no end of headers`;
    if (bytes.length < decisive) return this.hold(bytes);
    events.push({ kind: 'part', part: partHeaders(bytes.subarray(0, Math.max(0, headerEnd))) });
    this.state = 'body';
    this.partBytes = 0;
    return bodyStart;
  }

  private body(bytes: Buffer, events: MultipartEvent[]): number | null | string {
    const at = bytes.indexOf(this.delimiter);
    // Without a delimiter, all but what could be its beginning is the part's.
    const end = at >= 0 ? at : Math.max(0, bytes.length - (this.delimiter.length - 1));
    this.partBytes += end;
    if (this.partBytes > this.limits.maxPartBytes) return `part ${this.parts}: over ${this.limits.maxPartBytes} bytes`;
    if (end > 0) events.push({ kind: 'data', bytes: bytes.subarray(0, end) });
    if (at < 0) return this.hold(bytes.subarray(end));
    events.push({ kind: 'end' });
    this.state = 'delimiter';
    return at + this.delimiter.length;
  }

  /** Keeps `bytes` for the next feed (a copy: the chunk they are part of is not kept). */
  private hold(bytes: Buffer): null {
    this.held = Buffer.from(bytes);
    return null;
  }
}
