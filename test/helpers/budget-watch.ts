/**
 * Waits for a budget of bytes in flight (core/bytes-in-flight.ts) to reach a state, on its
 * `change` events: the server holding or giving back an answer's bytes happens in this process,
 * so there is something to wait on, not a state to ask for again and again. The test's own
 * timeout is the net under a state that never comes.
 */
import type { BytesInFlight } from '../../core/bytes-in-flight.js';

export function budgetReaches(budget: BytesInFlight, holds: () => boolean): Promise<void> {
  if (holds()) return Promise.resolve();
  return new Promise((resolve) => {
    const check = (): void => {
      if (!holds()) return;
      budget.off('change', check);
      resolve();
    };
    budget.on('change', check);
  });
}
