/**
 * How often the event loop turned while some work ran: a setImmediate chain counts the turns, so
 * a test can tell work that yields (many turns) from one long synchronous stretch (none or one).
 */

/** Runs `work` while a setImmediate chain counts the loop's turns; returns its result and the count. */
export async function countingTurns<T>(work: () => Promise<T>): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let counting = true;
  const count = (): void => {
    turns += 1;
    if (counting) setImmediate(count);
  };
  setImmediate(count);
  const result = await work();
  counting = false;
  return { result, turns };
}
