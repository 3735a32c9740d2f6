/**
 * A budget of bytes held in memory at once for answers that callers on the network start and can
 * drag out. A picture or a piece of evidence read for an answer is a copy in memory until the
 * socket has taken its last byte; a client that asks and never reads holds that copy until its
 * connection times out, and a few hundred such clients (each within the connection limits) held a
 * copy each. With a budget per kind of answer they hold its limit in all; past it a request is
 * refused (503 with Retry-After, a code of its own) and nothing is read.
 *
 * The bytes are reserved before the copy is made (its size is known from an index) and released
 * when the answer is done with them: sent, or its connection gone (releaseWhenSent).
 * One reservation is granted whenever nothing is held, however large: a piece over the limit is
 * still served, one at a time.
 */
import type { ServerResponse } from 'node:http';

export interface Reservation {
  readonly bytes: number;
  /** Gives the bytes back to the budget; a second call does nothing. */
  release(): void;
}

export class BytesInFlight {
  private heldBytes = 0;
  private heldCount = 0;

  /** @param limit bytes held at once, at most (but see the class comment: one reservation always may). */
  constructor(readonly limit: number) {}

  /** Bytes reserved and not yet released. */
  get held(): number {
    return this.heldBytes;
  }

  /** Reservations not yet released. */
  get reservations(): number {
    return this.heldCount;
  }

  /** Reserves `bytes`, or null when they would take what is held over the limit. */
  reserve(bytes: number): Reservation | null {
    if (this.heldCount > 0 && this.heldBytes + bytes > this.limit) return null;
    this.heldBytes += bytes;
    this.heldCount += 1;
    let released = false;
    return {
      bytes,
      release: () => {
        if (released) return;
        released = true;
        this.heldBytes -= bytes;
        this.heldCount -= 1;
      },
    };
  }
}

/**
 * Releases `reservation` once `response` is done with its bytes: every one handed to the OS, or
 * its connection closed first (a client that stopped reading, cut off by the server's connection
 * timeout). A response already closed releases it at once.
 */
export function releaseWhenSent(response: ServerResponse, reservation: Reservation): void {
  if (response.destroyed) reservation.release();
  else response.once('close', () => reservation.release());
}
