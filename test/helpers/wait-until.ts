/**
 * Polls what another process does (writes to its database, serves on its API) until `check`
 * holds: there is no event to wait on across processes. The deadline is the test's safety net
 * against a hung child, not a measure of its speed.
 */
export async function waitUntil(what: string, check: () => Promise<boolean>, { timeoutMs = 60_000, everyMs = 100 } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
