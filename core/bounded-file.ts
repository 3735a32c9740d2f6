/**
 * A file read whole, but never past a byte bound: at most one byte more than `maxBytes` is read,
 * whatever the path names (`/dev/zero` given by mistake, a pipe that never ends, a file grown
 * huge), so what is refused never sits in memory first.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** The file's bytes; throws what opening or reading it threw, or an Error `larger than N bytes: not WHAT` past the bound. */
export function readFileBounded(file: string, maxBytes: number, what: string): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (let read = -1; read !== 0 && length < buffer.length; length += read) read = readSync(fd, buffer, length, buffer.length - length, null);
    if (length > maxBytes) throw new Error(`larger than ${maxBytes} bytes: not ${what}`);
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}
