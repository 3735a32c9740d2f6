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
 *
 * A budget may also be shared out per holder (an account): one account's clients that never read
 * hold its share at most (or one piece, however large, when it holds nothing else), so a session
 * in hostile hands cannot take the whole budget from the other operators. (A piece larger than
 * the share still takes what it takes: one account's unread full scan at the VMC, 48 MiB, leaves
 * the others 16 MiB of its 64.)
 */
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';

export interface Reservation {
  readonly bytes: number;
  /** Gives the bytes back to the budget; a second call does nothing. */
  release(): void;
}

/** What takes reservations: the whole budget, or one holder's share of it (BytesInFlight.holder). */
export interface ByteBudget {
  /** Reserves `bytes`, or null when they do not fit. */
  reserve(bytes: number): Reservation | null;
}

interface Held {
  holder: string;
  bytes: number;
  count: number;
}

/**
 * Emits `change` after every reservation, release and refusal: what a watcher (a test waiting for
 * a client's bytes to come back) listens for instead of asking again and again.
 */
export class BytesInFlight extends EventEmitter<{ change: [] }> implements ByteBudget {
  private heldBytes = 0;
  private heldCount = 0;
  /** Per holder with a reservation not yet released (an entry goes with its last one). */
  private readonly byHolder = new Map<string, Held>();
  /**
   * Reservations refused since start: over the limit of all (`budget`), or over a holder's share
   * (`share`): many of the latter is one account's clients asking and not reading.
   */
  readonly refusals = { budget: 0, share: 0 };

  /**
   * @param limit bytes held at once, at most (but see the class comment: one reservation always may).
   * @param perHolder bytes one holder's reservations hold at once, at most (one always may when it holds none).
   */
  constructor(
    readonly limit: number,
    readonly perHolder = limit,
  ) {
    super();
  }

  /** Bytes reserved and not yet released. */
  get held(): number {
    return this.heldBytes;
  }

  /** Reservations not yet released. */
  get reservations(): number {
    return this.heldCount;
  }

  /** Bytes `holder`'s reservations hold now. */
  heldBy(holder: string): number {
    return this.byHolder.get(holder)?.bytes ?? 0;
  }

  /** Reserves `bytes`, or null when they would take what is held over the limit. */
  reserve(bytes: number): Reservation | null {
    return this.reserveFor(null, bytes);
  }

  /** The budget as `holder` (an account's name) may use it: within the limit and its share. */
  holder(holder: string): ByteBudget {
    return { reserve: (bytes) => this.reserveFor(holder, bytes) };
  }

  private reserveFor(holder: string | null, bytes: number): Reservation | null {
    const reservation = this.take(holder, bytes);
    this.emit('change');
    return reservation;
  }

  private take(holder: string | null, bytes: number): Reservation | null {
    if (this.heldCount > 0 && this.heldBytes + bytes > this.limit) {
      this.refusals.budget += 1;
      return null;
    }
    const mine = holder === null ? null : (this.byHolder.get(holder) ?? { holder, bytes: 0, count: 0 });
    if (mine && mine.count > 0 && mine.bytes + bytes > this.perHolder) {
      this.refusals.share += 1;
      return null;
    }
    this.heldBytes += bytes;
    this.heldCount += 1;
    if (mine) {
      mine.bytes += bytes;
      mine.count += 1;
      this.byHolder.set(mine.holder, mine);
    }
    let released = false;
    return {
      bytes,
      release: () => {
        if (released) return;
        released = true;
        this.heldBytes -= bytes;
        this.heldCount -= 1;
        if (mine) {
          mine.bytes -= bytes;
          mine.count -= 1;
          if (mine.count === 0) this.byHolder.delete(mine.holder);
        }
        this.emit('change');
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
