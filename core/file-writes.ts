/**
 * Bytes this process has written to files, as counted by its writers (core/private-files.ts, the
 * evidence store's files). The outbox reuses a measurement of the disk's room for up to a second
 * (gateway/outbox/disk-room.ts) and takes off what was written since: its own commits and this
 * count, so a scan written from a push in that second is not room the outbox still counts on.
 * Counted before the write, so a write in progress is already taken off.
 */
let writtenBytes = 0;

export function noteFileBytesWritten(bytes: number): void {
  if (bytes > 0) writtenBytes += bytes;
}

/** Bytes counted so far (only differences between two readings mean anything). */
export function fileBytesWritten(): number {
  return writtenBytes;
}
