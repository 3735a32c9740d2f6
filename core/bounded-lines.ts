/**
 * The lines of a file, each at most `maxBytes`: read in chunks, so a file with one endless line
 * never holds more than one line's bound (and a chunk) in memory, which `readline` would not
 * promise. A line over the bound comes out as `text: null` (its bytes skipped up to its newline),
 * so the caller can name the line it refuses.
 */
import { createReadStream } from 'node:fs';

export interface NumberedLine {
  /** 1-based line number. */
  number: number;
  /** The line without its `\n` (and a `\r` before it); null when it was longer than the bound. */
  text: string | null;
}

export async function* boundedLines(path: string, maxBytes: number): AsyncGenerator<NumberedLine> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let overflow = false;
  let number = 0;
  const take = (): NumberedLine => {
    number += 1;
    let text: string | null = null;
    if (!overflow) {
      text = Buffer.concat(pending, pendingBytes).toString('utf8');
      if (text.endsWith('\r')) text = text.slice(0, -1);
    }
    pending = [];
    pendingBytes = 0;
    overflow = false;
    return { number, text };
  };
  const keep = (part: Buffer): void => {
    if (overflow) return;
    if (pendingBytes + part.length > maxBytes) {
      overflow = true;
      pending = [];
      pendingBytes = 0;
      return;
    }
    pending.push(part);
    pendingBytes += part.length;
  };
  for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 })) {
    const bytes = chunk as Buffer;
    let start = 0;
    for (let newline = bytes.indexOf(0x0a, start); newline !== -1; newline = bytes.indexOf(0x0a, start)) {
      keep(bytes.subarray(start, newline));
      yield take();
      start = newline + 1;
    }
    keep(bytes.subarray(start));
  }
  if (pendingBytes > 0 || overflow) yield take();
}
