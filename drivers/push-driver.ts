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

export interface Ack {
  resolve(): void;
  reject(error: unknown): void;
}

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

  /** Handles one push: decodes it (`decode` returns a reason to refuse) and stores its reading. */
  async handle(contentType: string | undefined, body: Buffer): Promise<PushResponse> {
    if (this.stopped) return { status: 503, body: 'device input stopped' };
    const decoded = this.decode(contentType, body);
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

  /** Decodes a push into a reading builder (given its ack), or the reason it is refused. */
  protected abstract decode(contentType: string | undefined, body: Buffer): ((ack: Ack) => Reading) | string;
}
