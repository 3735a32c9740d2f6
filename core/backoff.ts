/**
 * Capped exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
 * Jitter"): a post whose uplink comes back does not reconnect in lock-step with every other post.
 */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/** Delay before retry number `attempt` (0 = first retry): uniform in [cap/2, cap]. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 30));
  // Half fixed, half random: never a zero delay (a tight reconnect loop), still spread out.
  return Math.round(cap / 2 + random() * (cap / 2));
}
