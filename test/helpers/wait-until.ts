/**
 * Polls what another process does (writes to its database, serves on its API) until `check`
 * holds: there is no event to wait on across processes. The deadline is the test's safety net
 * against a hung child, not a measure of its speed.
 */
const POLL_EVERY_MS = 100;

export async function waitUntil(what: string, check: () => Promise<boolean>, { timeoutMs = 60_000 } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_EVERY_MS));
  }
}
