/**
 * A peer under test as a child process of its own (`node …`), so its CPU time and peak RSS are
 * read from /proc for it alone, never for the benchmark. Its output (both streams) is read line
 * by line as it comes, so the pipes never fill, and kept for waits and for the report when it
 * fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';

/** What a peer turns a message on the broker into: a read it made, another event of its own, or not its message. */
export type Classified = { plate: string } | { other: string } | null;

/** What the benchmark needs of either peer. */
export interface Peer {
  readonly name: string;
  readonly pid: number;
  /** Where the camera POSTs, and the headers it sends with every push (credentials). */
  readonly pushUrl: URL;
  readonly pushHeaders: Record<string, string>;
  classify(topic: string, payload: Buffer): Classified;
  /**
   * Resolves with when (performance.now()) it was first connected to the broker at or after
   * `sinceMs`, as soon as it is; rejects after `timeoutMs`.
   */
  connectedSince(sinceMs: number, timeoutMs: number): Promise<number>;
  /** Resolves true once it holds nothing it still means to publish (bounded: false on timeout). */
  drained(timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

export class PeerProcess extends EventEmitter<{ line: [string] }> {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  private readonly exited: Promise<void>;

  constructor(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }) {
    super();
    this.child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.lines.push(line);
        // A bounded tail: a run logs little, but nothing here may grow without end.
        if (this.lines.length > 2000) this.lines.splice(0, 1000);
        this.emit('line', line);
      });
    }
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.child.spawnfile} did not start`);
    return this.child.pid;
  }

  /**
   * Resolves once `condition` holds, checked now and after every line the process writes; rejects
   * when the process exits first or after `timeoutMs`.
   */
  waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onLine = (): void => {
        if (!condition()) return;
        cleanup();
        resolve();
      };
      const onExit = (): void => {
        cleanup();
        reject(new Error(`${this.child.spawnfile} exited before ${what}; last lines:\n${this.lines.slice(-15).join('\n')}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last lines:\n${this.lines.slice(-15).join('\n')}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('line', onLine);
        this.child.off('exit', onExit);
      };
      this.on('line', onLine);
      this.child.once('exit', onExit);
    });
  }

  /** The first of `times` (appended to as lines come) at or after `sinceMs`, once there is one. */
  async firstSince(times: number[], sinceMs: number, timeoutMs: number, what: string): Promise<number> {
    const first = (): number | undefined => times.find((at) => at >= sinceMs);
    await this.waitUntil(() => first() !== undefined, timeoutMs, what);
    return first() as number;
  }

  /** SIGTERM, and SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
