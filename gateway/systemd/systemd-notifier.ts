/**
 * Tells systemd (`Type=notify`, `WatchdogSec=`) how the gateway is: READY=1 once `run` has
 * started, a STATUS= line for `systemctl status`, WATCHDOG=1 pings while the gateway is healthy
 * (watchdog-rule.ts says when that is), RELOADING=1 … READY=1 around a model reload, and
 * STOPPING=1 when a graceful stop begins. Nothing here can stop or slow the gateway: messages
 * leave through NotifySender, which never throws and bounds its helper in time.
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { ErrorCode } from '../../core/errors.js';
import { notifySettingsFromEnv, type NotifySettings } from './notify-settings.js';
import { NotifySender } from './notify-sender.js';
import { WatchdogRule, type CommitState, type Verdict } from './watchdog-rule.js';

/** Where messages go (NotifySender; tests record them). */
export interface NotifyTransport {
  /** Queues one message; never throws. `routine` ones (pings, status) may be superseded. */
  send(assignments: string[], routine?: boolean): void;
  /** Resolves once what is queued has been sent or given up on. */
  close(): Promise<void>;
}

export interface SystemdNotifierOptions {
  settings: NotifySettings;
  /** Times the pings and status lines; its monotonic time measures commit stalls. */
  clock: Clock;
  logger: Logger;
  /** The outbox as the watchdog rule reads it, at every ping; a throw counts as unhealthy. */
  commitState: () => CommitState;
  /** One line for `systemctl status`, read at every tick; a throw leaves a placeholder. */
  status: () => string;
  /** Default: a NotifySender on `settings.socket`. */
  transport?: NotifyTransport;
  /** How long commits may stall or fail before pings stop. Default DEFAULT_COMMIT_STALL_BOUND_MS (60 s). */
  commitStallBoundMs?: number;
  /** CLOCK_MONOTONIC in µs (RELOADING=1 carries it as MONOTONIC_USEC). Default process.hrtime. */
  monotonicUsec?: () => bigint;
}

/** The status is looked at this often (at each ping, when pings come sooner) and sent when it changed or with a ping. */
export const STATUS_INTERVAL_MS = 15_000;

type NotifierState = 'starting' | 'running' | 'stopping';

export class SystemdNotifier {
  private state: NotifierState = 'starting';
  private timer: TimerHandle | null = null;
  /** Reloads under way (two SIGHUPs may overlap): RELOADING=1 at the first, READY=1 after the last. */
  private reloads = 0;
  private readonly rule: WatchdogRule;
  private readonly transport: NotifyTransport;
  private lastStatus: string | null = null;
  /** Why pings are withheld, while they are. */
  private withheld: string | null = null;

  constructor(private readonly options: SystemdNotifierOptions) {
    this.rule = new WatchdogRule(options.commitStallBoundMs);
    this.transport = options.transport ?? new NotifySender({ socket: options.settings.socket, clock: options.clock, logger: options.logger });
    const { settings } = options;
    if (settings.watchdogNote) options.logger.warn({ socket: settings.socket }, `systemd watchdog not pinged: ${settings.watchdogNote}`);
    options.logger.info({ socket: settings.socket, pingIntervalMs: settings.pingIntervalMs }, 'systemd notifications on');
  }

  /** A notifier when the process runs under a notification socket (`NOTIFY_SOCKET`), else null. */
  static fromEnvironment(options: Omit<SystemdNotifierOptions, 'settings'> & { env?: NodeJS.ProcessEnv; pid?: number }): SystemdNotifier | null {
    const settings = notifySettingsFromEnv(options.env ?? process.env, options.pid ?? process.pid);
    return settings ? new SystemdNotifier({ ...options, settings }) : null;
  }

  /** The gateway has started (outbox open, lanes restored, listening): READY=1, once; pings begin. */
  ready(): void {
    if (this.state !== 'starting') return;
    this.state = 'running';
    this.transport.send(['READY=1', this.statusAssignment(this.judge())]);
    this.schedule();
  }

  /** A model reload begins (SIGHUP). */
  reloading(): void {
    if (this.state !== 'running') return;
    this.reloads += 1;
    if (this.reloads > 1) return;
    const usec = (this.options.monotonicUsec ?? (() => process.hrtime.bigint() / 1000n))();
    this.transport.send(['RELOADING=1', `MONOTONIC_USEC=${usec}`, 'STATUS=reloading the edge models']);
  }

  /** A model reload has ended, however it went: READY=1 after the last one under way. */
  reloaded(): void {
    if (this.state !== 'running' || this.reloads === 0) return;
    this.reloads -= 1;
    if (this.reloads > 0) return;
    this.transport.send(['READY=1', this.statusAssignment(this.judge())]);
  }

  /** A graceful stop begins: STOPPING=1; no more pings (systemd's stop timeout takes over). */
  stopping(): void {
    if (this.state === 'stopping') return;
    this.state = 'stopping';
    this.cancelTimer();
    this.transport.send(['STOPPING=1', 'STATUS=stopping: devices, lanes, uplink, outbox']);
  }

  /** Stops the timer and waits (bounded) for what is still queued, such as STOPPING=1. */
  async close(): Promise<void> {
    this.state = 'stopping';
    this.cancelTimer();
    await this.transport.close();
  }

  private schedule(): void {
    const interval = Math.min(this.options.settings.pingIntervalMs ?? STATUS_INTERVAL_MS, STATUS_INTERVAL_MS);
    this.timer = this.options.clock.setTimeout(() => this.tick(), interval);
  }

  private cancelTimer(): void {
    if (this.timer) this.options.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** This runs on time only while the event loop turns: that is half of what a ping vouches for. */
  private tick(): void {
    this.timer = null;
    if (this.state !== 'running') return;
    const verdict = this.judge();
    const pinging = this.options.settings.pingIntervalMs !== null;
    const assignments: string[] = [];
    if (pinging) {
      if (verdict.healthy) assignments.push('WATCHDOG=1');
      this.noteVerdict(verdict);
    }
    // A status line that has not changed goes out only with a ping (one helper run carries both).
    const status = this.statusLine(verdict);
    if (assignments.length > 0 || status !== this.lastStatus) {
      assignments.push(`STATUS=${status}`);
      this.lastStatus = status;
    }
    if (assignments.length > 0) this.transport.send(assignments, true);
    this.schedule();
  }

  /** Fails safe: an outbox state that cannot be read is no reason to vouch for the gateway. */
  private judge(): Verdict {
    let state: CommitState;
    try {
      state = this.options.commitState();
    } catch (error) {
      return { healthy: false, reason: `the outbox state could not be read: ${String(error)}` };
    }
    return this.rule.judge(state, this.options.clock.monotonic());
  }

  /** Logs when pings stop and when they resume, once each (the journal then says why systemd restarted it). */
  private noteVerdict(verdict: Verdict): void {
    if (!verdict.healthy && this.withheld === null) {
      this.options.logger.error({ code: 'GW_ERR_WATCHDOG_WITHHELD' satisfies ErrorCode, reason: verdict.reason }, `watchdog pings withheld: ${verdict.reason}; systemd restarts the gateway unless commits recover`);
    } else if (verdict.healthy && this.withheld !== null) {
      this.options.logger.warn({ was: this.withheld }, 'watchdog pings resume: outbox commits recovered');
    }
    this.withheld = verdict.healthy ? null : verdict.reason;
  }

  private statusLine(verdict: Verdict): string {
    let status: string;
    try {
      status = this.options.status();
    } catch (error) {
      status = `status unavailable (${String(error)})`;
    }
    if (this.reloads > 0) status = `reloading the edge models; ${status}`;
    return verdict.healthy ? status : `UNHEALTHY: ${verdict.reason}${this.options.settings.pingIntervalMs === null ? '' : ' (watchdog pings withheld)'}; ${status}`;
  }

  private statusAssignment(verdict: Verdict): string {
    this.lastStatus = this.statusLine(verdict);
    return `STATUS=${this.lastStatus}`;
  }
}
