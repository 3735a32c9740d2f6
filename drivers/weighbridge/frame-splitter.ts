/**
 * Cuts a byte stream into frames, resynchronising after garbage or a partial frame: bytes before
 * a start byte are dropped (and counted), and a candidate whose end byte is not where it must be
 * is abandoned at its start byte, so the next start byte is tried. Memory is bounded by one frame.
 */

export interface FixedFraming {
  kind: 'fixed';
  /** The byte every frame starts with. */
  start: number;
  /** Total frame length in bytes. */
  length: number;
  /** The byte that must stand at `endIndex`. */
  end: number;
  endIndex: number;
}

export interface LineFraming {
  kind: 'line';
  /** Lines end with this byte (LF or CR); a CR before an LF is trimmed. */
  terminator: number;
  maxLength: number;
}

export type Framing = FixedFraming | LineFraming;

export interface SplitResult {
  frames: Buffer[];
  /** Bytes thrown away while resynchronising. */
  discarded: number;
}

export class FrameSplitter {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly framing: Framing) {}

  /** Bytes held waiting for the rest of a frame (never more than one frame). */
  get pendingBytes(): number {
    return this.pending.length;
  }

  push(chunk: Buffer): SplitResult {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    return this.framing.kind === 'fixed' ? this.splitFixed(this.framing) : this.splitLines(this.framing);
  }

  private splitFixed(framing: FixedFraming): SplitResult {
    const frames: Buffer[] = [];
    let discarded = 0;
    let buffer = this.pending;
    for (;;) {
      const start = buffer.indexOf(framing.start);
      if (start < 0) {
        discarded += buffer.length;
        buffer = Buffer.alloc(0);
        break;
      }
      discarded += start;
      buffer = buffer.subarray(start);
      if (buffer.length < framing.length) {
        // A start byte inside the partial frame means the partial one was cut short: resync there.
        const restart = buffer.indexOf(framing.start, 1);
        if (restart > 0 && restart < framing.endIndex) {
          discarded += restart;
          buffer = buffer.subarray(restart);
          continue;
        }
        break;
      }
      if (buffer[framing.endIndex] === framing.end) {
        frames.push(Buffer.from(buffer.subarray(0, framing.length)));
        buffer = buffer.subarray(framing.length);
      } else {
        discarded += 1;
        buffer = buffer.subarray(1);
      }
    }
    this.pending = Buffer.from(buffer);
    return { frames, discarded };
  }

  private splitLines(framing: LineFraming): SplitResult {
    const frames: Buffer[] = [];
    let discarded = 0;
    let buffer = this.pending;
    for (;;) {
      const end = buffer.indexOf(framing.terminator);
      if (end < 0) {
        if (buffer.length > framing.maxLength) {
          discarded += buffer.length;
          buffer = Buffer.alloc(0);
        }
        break;
      }
      let line = buffer.subarray(0, end);
      if (line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
      if (line.length > framing.maxLength) discarded += line.length;
      else if (line.length > 0) frames.push(Buffer.from(line));
      buffer = buffer.subarray(end + 1);
    }
    this.pending = Buffer.from(buffer);
    return { frames, discarded };
  }
}
