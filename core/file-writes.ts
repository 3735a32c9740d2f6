/**
 * Bytes this process writes to files, as counted by its writers (core/private-files.ts, the
 * evidence store's files, model roll-outs). The outbox reuses a measurement of the disk's room for
 * up to a second (gateway/outbox/disk-room.ts) and takes off what was written since: its own
 * commits and these bytes, so a scan written from a push in that second is not room the outbox
 * still counts on.
 *
 * Two running counts, because a write can span a measurement (the evidence store copies a scan a
 * megabyte per turn): `started` grows before a write, `finished` once it is over (done or failed).
 * A measurement notes `finished` (what statfs may already see, at most); the room is then lowered
 * by `started` less that, so a write in progress is taken off whole, never missed.
 */
let started = 0;
let finished = 0;

/** Counts a write of `bytes` as started; call the function returned once it is over, whatever happened. */
export function fileWriteStarted(bytes: number): () => void {
  const counted = Math.max(0, bytes);
  started += counted;
  let over = false;
  return () => {
    if (over) return;
    over = true;
    finished += counted;
  };
}

/** Running counts of bytes (only differences between two readings mean anything). */
export function fileWriteCounts(): { started: number; finished: number } {
  return { started, finished };
}
