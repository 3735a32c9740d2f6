/**
 * How the long-running commands (`run`, `sim`, `demo`) stop: SIGINT/SIGTERM run their ordered
 * stop once; the same signal again exits at once, for a stop that hangs.
 */
import { EXIT_CODES } from '../../core/errors.js';

/** Resolves once SIGINT/SIGTERM has run `stop` to its end. */
export function untilSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((done) =>
    onSignals(async () => {
      await stop();
      done();
    }),
  );
}

export function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting now\n`);
      process.exit(EXIT_CODES.failure);
    }
    stopping = true;
    stop().catch((error: unknown) => {
      process.stderr.write(`stop failed: ${String(error)}\n`);
      process.exit(EXIT_CODES.failure);
    });
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

