import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';

/**
 * Resolves with the first line of `stream` that `match` accepts; rejects when the stream ends
 * first or after `timeoutMs` (a safety net for a hung process, not a wait for time to pass).
 */
export function waitForLine(stream: Readable, match: (line: string) => boolean, timeoutMs = 30_000, what = 'line'): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = createInterface({ input: stream });
    const seen: string[] = [];
    const timer = setTimeout(() => finish(new Error(`timed out waiting for ${what}; last lines:\n${seen.slice(-10).join('\n')}`)), timeoutMs);
    let settled = false;
    const finish = (error: Error | null, line?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reader.close();
      if (error) reject(error);
      else resolve(line as string);
    };
    reader.on('line', (line) => {
      seen.push(line);
      if (match(line)) finish(null, line);
    });
    reader.on('close', () => finish(new Error(`stream ended before ${what}; last lines:\n${seen.slice(-10).join('\n')}`)));
  });
}
