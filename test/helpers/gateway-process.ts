/**
 * The gateway as a child process (`node --import tsx gateway/cli.ts ...`), for tests about
 * crashes and the command line. Its pino log (stderr, JSON lines) is parsed as it arrives.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = ['--import', 'tsx', 'gateway/cli.ts'];

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export class GatewayProcess extends EventEmitter<{ log: [LogLine]; stdout: [string] }> {
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  readonly stdout: string[] = [];
  readonly stderrText: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /**
   * `options.nodeArgs` go to node before the CLI (e.g. `--max-old-space-size=96`); `options.stdin`
   * is written to the process's standard input, which is then closed (e.g. a password).
   */
  constructor(args: string[], env: NodeJS.ProcessEnv = {}, options: { nodeArgs?: string[]; stdin?: string } = {}) {
    super();
    this.child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...CLI, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (options.stdin !== undefined) this.child.stdin?.end(options.stdin);
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.stdout.push(line);
      this.emit('stdout', line);
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      if (!line.startsWith('{')) {
        this.stderrText.push(line);
        return;
      }
      const parsed = JSON.parse(line) as LogLine;
      this.logs.push(parsed);
      this.emit('log', parsed);
    });
  }

  /** Resolves with the first log line `match` accepts (already seen or yet to come). */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs = 45_000, what = 'log line'): Promise<LogLine> {
    const seen = this.logs.find(match);
    if (seen) return Promise.resolve(seen);
    return this.waitFor('log', match, timeoutMs, what);
  }

  waitForStdout(match: (line: string) => boolean, timeoutMs = 45_000, what = 'stdout line'): Promise<string> {
    const seen = this.stdout.find(match);
    if (seen) return Promise.resolve(seen);
    return this.waitFor('stdout', match, timeoutMs, what);
  }

  private waitFor<K extends 'log' | 'stdout'>(
    event: K,
    match: (value: K extends 'log' ? LogLine : string) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<K extends 'log' ? LogLine : string> {
    type Value = K extends 'log' ? LogLine : string;
    return new Promise((resolve, reject) => {
      const listener = (value: Value): void => {
        if (!match(value)) return;
        cleanup();
        resolve(value);
      };
      const onExit = (): void => {
        cleanup();
        reject(new Error(`gateway exited before ${what}; stderr:\n${this.stderrText.slice(-20).join('\n')}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}; stderr:\n${this.stderrText.slice(-20).join('\n')}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off(event, listener as never);
        this.child.off('exit', onExit);
      };
      this.on(event, listener as never);
      this.child.once('exit', onExit);
    });
  }

  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}
