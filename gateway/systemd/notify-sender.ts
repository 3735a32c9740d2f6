/**
 * Sends sd_notify messages (READY=1, STATUS=…, WATCHDOG=1, …) to the service manager through
 * `systemd-notify` (Debian's systemd package; on every machine systemd runs).
 *
 * Why a helper process: the protocol is one AF_UNIX datagram to `NOTIFY_SOCKET`, and Node has no
 * AF_UNIX datagram sockets (its dgram module is UDP only); a native addon would be one more
 * binary to build for every CPU of the bundle. The price: the datagram comes from the helper's
 * pid, not from the gateway's. systemd-notify first tries to send it in the gateway's name
 * (SCM_CREDENTIALS with its parent's pid), which only a privileged process may do, so under the
 * unit's own user it falls back to its own pid and the unit needs `NotifyAccess=all`. It also
 * waits until the service manager has read the message (sd_notify_barrier, up to 5 s: its
 * `--no-block` is deliberately not used), so the manager can still tell which unit the helper
 * belongs to; one that had already exited would be ignored (systemd-notify(1), DESCRIPTION).
 *
 * One helper runs at a time and each is killed after `timeoutMs`: a hung helper (a manager that
 * does not read) costs one process, never a pile of them. A routine message (a watchdog ping, a
 * status line) still waiting is replaced by the next one, which carries the newer verdict; state
 * changes (READY, RELOADING, STOPPING) are all kept, in order. A failure never reaches the
 * caller: it is logged (GW_ERR_SYSTEMD_NOTIFY) once, then at most once per interval with a count.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import type { ErrorCode } from '../../core/errors.js';

export interface NotifySenderOptions {
  /** `NOTIFY_SOCKET` as systemd gave it (a path, or `@name` for the abstract namespace). */
  socket: string;
  /** Runs the helper's time bound. */
  clock: Clock;
  logger: Logger;
  /** The helper program. Default `systemd-notify`, found on PATH. */
  command?: string;
  /** A helper still running after this long is killed (SIGKILL). Default 6000 ms: systemd-notify waits up to 5 s for the manager to read the message. */
  timeoutMs?: number;
  /** Failures are logged at most once per this interval, with a count. Default 60 000 ms. */
  failureLogIntervalMs?: number;
  /** Most messages waiting for the helper; beyond it the oldest is dropped (as a failure). Default 16. */
  maxQueued?: number;
}

export interface NotifySenderEvents {
  /** A helper was started for `assignments` (one at a time). */
  started: [assignments: string[]];
  /** The helper sent `assignments` and exited 0. */
  sent: [assignments: string[]];
  /** `assignments` did not reach the manager (or may not have): the reason, in words. */
  failed: [assignments: string[], reason: string];
}

interface Message {
  assignments: string[];
  /** A watchdog ping or status line: superseded by the next one. */
  routine: boolean;
}

const DEFAULT_TIMEOUT_MS = 6000;
const DEFAULT_FAILURE_LOG_INTERVAL_MS = 60_000;
const DEFAULT_MAX_QUEUED = 16;
/** Enough of the helper's stderr to say why it failed. */
const STDERR_CAP_CHARS = 1024;

export class NotifySender extends EventEmitter<NotifySenderEvents> {
  private readonly queue: Message[] = [];
  private helperRunning = false;
  private closed = false;
  private readonly idleWaiters: Array<() => void> = [];
  /** Failures since the last failure log line, when that was, and whether we are in a spell. */
  private readonly failures = { unlogged: 0, loggedMono: Number.NEGATIVE_INFINITY, failing: false };

  constructor(private readonly options: NotifySenderOptions) {
    super();
  }

  /**
   * Queues one message of `KEY=value` assignments; returns at once. A `routine` message replaces
   * a routine one still waiting behind the running helper.
   */
  send(assignments: string[], routine = false): void {
    if (this.closed) return;
    // One assignment per line is the protocol: a newline inside a value would start a new one.
    const message: Message = { assignments: assignments.map((line) => line.replace(/[\r\n]+/g, ' ')), routine };
    const last = this.queue.at(-1);
    if (routine && last?.routine) this.queue[this.queue.length - 1] = message;
    else this.queue.push(message);
    if (this.queue.length > (this.options.maxQueued ?? DEFAULT_MAX_QUEUED)) {
      const dropped = this.queue.shift() as Message;
      this.failed(dropped.assignments, 'dropped: too many notifications waiting for the helper');
    }
    this.next();
  }

  /** Sends nothing more that is routine; resolves once what was queued is sent (each bounded in time). */
  close(): Promise<void> {
    this.closed = true;
    for (let i = this.queue.length - 1; i >= 0; i -= 1) if (this.queue[i]?.routine) this.queue.splice(i, 1);
    if (!this.helperRunning && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private next(): void {
    if (this.helperRunning) return;
    const message = this.queue.shift();
    if (!message) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
      return;
    }
    this.helperRunning = true;
    void this.runHelper(message.assignments)
      .then(
        () => this.succeeded(message.assignments),
        (error: Error) => this.failed(message.assignments, error.message),
      )
      .finally(() => {
        this.helperRunning = false;
        this.next();
      });
  }

  /** Runs the helper once; resolves when it exited 0, rejects with the reason otherwise. */
  private runHelper(assignments: string[]): Promise<void> {
    const { clock } = this.options;
    const command = this.options.command ?? 'systemd-notify';
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      let child: ChildProcess;
      try {
        // `--` so that no value is ever read as an option of the helper.
        child = spawn(command, ['--', ...assignments], { env: { ...process.env, NOTIFY_SOCKET: this.options.socket }, stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (error) {
        reject(new Error(`${command} could not be started: ${String(error)}`));
        return;
      }
      let stderr = '';
      let timedOut = false;
      let settled = false;
      const timer = clock.setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      const settle = (reason: string | null): void => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(timer);
        if (reason === null) resolve();
        else reject(new Error(reason));
      };
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        if (stderr.length < STDERR_CAP_CHARS) stderr += chunk.slice(0, STDERR_CAP_CHARS - stderr.length);
      });
      child.once('error', (error: NodeJS.ErrnoException) => {
        // ENOENT: not installed (or not on PATH); the child never ran, so no 'close' may follow.
        settle(error.code === 'ENOENT' ? `${command} not found: install Debian's systemd package` : `${command} could not be started: ${error.message}`);
      });
      child.once('close', (code, signal) => {
        if (timedOut) settle(`${command} did not finish within ${timeoutMs} ms; killed`);
        else if (code === 0) settle(null);
        else settle(`${command} exited with ${code === null ? `signal ${String(signal)}` : `code ${code}`}${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
      });
      this.emit('started', assignments);
    });
  }

  private succeeded(assignments: string[]): void {
    if (this.failures.failing) {
      this.failures.failing = false;
      this.options.logger.info({ unlogged: this.failures.unlogged }, 'notifications reach systemd again');
      this.failures.unlogged = 0;
    }
    this.emit('sent', assignments);
  }

  private failed(assignments: string[], reason: string): void {
    const failures = this.failures;
    failures.failing = true;
    failures.unlogged += 1;
    const now = this.options.clock.monotonic();
    if (now - failures.loggedMono >= (this.options.failureLogIntervalMs ?? DEFAULT_FAILURE_LOG_INTERVAL_MS)) {
      this.options.logger.error(
        { code: 'GW_ERR_SYSTEMD_NOTIFY' satisfies ErrorCode, reason, notification: assignments.join(' '), failures: failures.unlogged, socket: this.options.socket },
        `could not notify systemd (${failures.unlogged} failure(s) since the last report): ${reason}`,
      );
      failures.loggedMono = now;
      failures.unlogged = 0;
    }
    this.emit('failed', assignments, reason);
  }
}
