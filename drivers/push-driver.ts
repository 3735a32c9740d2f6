/**
 * What drivers of pushing devices (cameras and scanners that POST to the gateway) share: no
 * connection to keep, an HTTP path, and the rule that a push is answered 200 only once its reading
 * is stored (the reading's `ack`), 400 with the reason when it is malformed, 503 when it could not
 * be stored or the driver is stopped, so the device keeps it and retries.
 */
import { DriverBase, type DriverContext } from './driver.js';

export interface PushResponse {
  status: number;
  body: string;
}

/**
 * A push as the listener hands it on: whole, or as it arrives (its chunks, bounded by the route's
 * limit, refused by throwing while they are read; gateway/http/push-body.ts).
 */
export type PushBody = Buffer | AsyncIterable<Buffer>;

/** A push stored nowhere for a reason of the gateway's, not the device's: answered 503, to be sent again. */
export class PushNotStored extends Error {}

/** All of a push, for a driver that reads it whole (the route has bounded its size). */
export async function wholePush(body: PushBody): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body;
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export interface Ack {
  resolve(): void;
  reject(error: unknown): void;
}

/** The ack of a reading that is never handed on. */
const IGNORED_ACK: Ack = { resolve: () => undefined, reject: () => undefined };

export abstract class PushDriverBase<Reading extends { ack: Ack }> extends DriverBase<Reading> {
  private stopped = true;
  /** Pushes refused as malformed. */
  refused = 0;

  protected constructor(
    readonly path: string,
    context: DriverContext,
  ) {
    super(context);
  }

  /** Stopped: pushes are answered 503 (a reader of a long push checks before it keeps anything). */
  protected get isStopped(): boolean {
    return this.stopped;
  }

  start(): Promise<void> {
    this.stopped = false;
    this.setHealth('up');
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.removeAllListeners();
    return Promise.resolve();
  }

  /** Handles one push: reads it (`receive` returns a reason to refuse) and stores its reading. */
  async handle(contentType: string | undefined, body: PushBody): Promise<PushResponse> {
    if (this.stopped) return { status: 503, body: 'device input stopped' };
    let decoded: ((ack: Ack) => Reading) | string;
    try {
      decoded = await this.receive(contentType, body);
    } catch (error) {
      if (error instanceof PushNotStored) return { status: 503, body: `not stored: ${error.message}` };
      throw error;
    }
    if (this.stopped) {
      // Stopped while the push was read (an X-ray push takes seconds): nobody listens for the
      // reading any more. It is built only to be refused, so that what it kept is let go.
      if (typeof decoded !== 'string') decoded(IGNORED_ACK).ack.reject(new Error('device input stopped'));
      return { status: 503, body: 'device input stopped' };
    }
    if (typeof decoded === 'string') {
      this.refused += 1;
      this.setHealth('degraded', `refused push: ${decoded}`);
      return { status: 400, body: decoded };
    }
    try {
      await new Promise<void>((resolve, reject) => this.emitReading(decoded({ resolve, reject })));
      this.setHealth('up');
      return { status: 200, body: 'stored' };
    } catch (error) {
      return { status: 503, body: `not stored: ${(error as Error).message}` };
    }
  }

  /**
   * Reads a push into a reading builder (given its ack), or the reason it is refused. Called at
   * once by `handle`: a driver that returns synchronously for a whole body reads it before any
   * await. Throws PushNotStored when the gateway could not keep what it read (the disk), and lets
   * the body's own errors (cut off, too large) through to the listener, which answers them.
   */
  protected abstract receive(contentType: string | undefined, body: PushBody): ((ack: Ack) => Reading) | string | Promise<((ack: Ack) => Reading) | string>;
}
