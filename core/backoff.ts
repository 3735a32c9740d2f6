/**
 * Capped exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
 * Jitter"): a post whose uplink comes back does not reconnect in lock-step with every other post.
 */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/** The cap for retry number `attempt` (0 = first retry): `initialMs` doubled per attempt, at most `maxMs`. */
export function backoffCap(attempt: number, policy: BackoffPolicy): number {
  return Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 30));
}

/** Delay before retry number `attempt` (0 = first retry): uniform in [cap/2, cap]. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const cap = backoffCap(attempt, policy);
  // Half fixed, half random: never a zero delay (a tight reconnect loop), still spread out.
  return Math.round(cap / 2 + random() * (cap / 2));
}
