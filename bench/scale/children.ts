/**
 * Runs one scale point in a fresh Node process (compiled JS beside this file) and takes the one
 * JSON line it prints last: a fresh process per point, so each peak RSS is that point's alone and
 * no point inherits another's heap, JIT state or SQLite cache.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `script` is a file name beside this module (e.g. `lanes-child.js`); `env` adds to this process's. */
export async function runChild<T>(script: string, args: readonly string[], nodeFlags: readonly string[] = [], env: Record<string, string> = {}): Promise<T> {
  const path = fileURLToPath(new URL(`./${script}`, import.meta.url));
  try {
    const { stdout } = await run(process.execPath, [...nodeFlags, path, ...args], { encoding: 'utf8', maxBuffer: 4 << 20, env: { ...process.env, ...env } });
    const last = stdout.trim().split('\n').pop() ?? '';
    return JSON.parse(last) as T;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`${script} ${args.join(' ')} failed: ${String(error)}\n${stderr.slice(-4000)}`, { cause: error });
  }
}
