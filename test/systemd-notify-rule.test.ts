/**
 * When the gateway pings systemd's watchdog, on a clock the test drives (gateway/systemd/):
 * pings while the outbox commits, none once commits stall or fail for longer than the bound (and
 * again once they recover), none at all for a watchdog that belongs to another process; READY=1
 * once; RELOADING=1 … READY=1 around reloads; STOPPING=1 ends the pings.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { ErrorCode } from '../core/errors.js';
import { notifySettingsFromEnv, type NotifySettings } from '../gateway/systemd/notify-settings.js';
import { statusLine } from '../gateway/systemd/status-line.js';
import { STATUS_INTERVAL_MS, SystemdNotifier, type NotifyTransport } from '../gateway/systemd/systemd-notifier.js';
import { WatchdogRule, type CommitState } from '../gateway/systemd/watchdog-rule.js';
import { ManualClock } from './helpers/manual-clock.js';

const BOUND_MS = 60_000;
/** WATCHDOG_USEC=2 s: a ping every second. */
const PING_MS = 1000;

/** Records every message, as the service manager would receive them. */
class RecordingTransport implements NotifyTransport {
  readonly messages: { assignments: string[]; routine: boolean }[] = [];
  send(assignments: string[], routine = false): void {
    this.messages.push({ assignments, routine });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  count(assignment: string): number {
    return this.messages.filter((m) => m.assignments.includes(assignment)).length;
  }
}

interface LogLine {
  level: number;
  msg: string;
  code?: string;
}

function notifierRig(options: { env?: NodeJS.ProcessEnv; pid?: number; commitState?: () => CommitState } = {}) {
  const clock = new ManualClock();
  const transport = new RecordingTransport();
  const logs: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as LogLine) });
  let state: CommitState = { lastSeq: 10, durableSeq: 10, lastError: null };
  const notifier = SystemdNotifier.fromEnvironment({
    env: options.env ?? { NOTIFY_SOCKET: '@test-notify', WATCHDOG_USEC: String(PING_MS * 2000) },
    pid: options.pid ?? 4242,
    clock,
    logger,
    commitState: options.commitState ?? (() => state),
    status: () => '1 lane, devices 0/0 up; uplink connected; outbox empty; commits ok',
    transport,
    commitStallBoundMs: BOUND_MS,
    monotonicUsec: () => 123_456_789n,
  });
  if (!notifier) throw new Error('expected a notifier for NOTIFY_SOCKET');
  return {
    clock,
    transport,
    logs,
    notifier,
    setState: (next: Partial<CommitState>): void => {
      state = { ...state, ...next };
    },
  };
}

describe('notifySettingsFromEnv', () => {
  it('reads the socket and pings at half of WATCHDOG_USEC', () => {
    expect(notifySettingsFromEnv({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '77' }, 77)).toEqual<NotifySettings>({
      socket: '/run/systemd/notify',
      pingIntervalMs: 15_000,
      watchdogNote: null,
    });
    expect(notifySettingsFromEnv({ NOTIFY_SOCKET: '@/org/freedesktop/systemd1/notify' }, 77)).toEqual<NotifySettings>({
      socket: '@/org/freedesktop/systemd1/notify',
      pingIntervalMs: null,
      watchdogNote: null,
    });
  });

  it('is null without a notification socket: nothing to send', () => {
    expect(notifySettingsFromEnv({}, 77)).toBeNull();
    expect(notifySettingsFromEnv({ NOTIFY_SOCKET: '' }, 77)).toBeNull();
    expect(notifySettingsFromEnv({ NOTIFY_SOCKET: 'vsock:2:1234' }, 77)).toBeNull();
  });

  it("leaves another process's watchdog, and an unreadable one, alone", () => {
    expect(notifySettingsFromEnv({ NOTIFY_SOCKET: '@n', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '78' }, 77)).toMatchObject({ pingIntervalMs: null, watchdogNote: expect.stringContaining('process 78') as unknown });
    expect(notifySettingsFromEnv({ NOTIFY_SOCKET: '@n', WATCHDOG_USEC: '30000000', WATCHDOG_PID: 'x' }, 77)).toMatchObject({ pingIntervalMs: null });
    expect(notifySettingsFromEnv({ NOTIFY_SOCKET: '@n', WATCHDOG_USEC: '-5' }, 77)).toMatchObject({ pingIntervalMs: null });
    expect(notifySettingsFromEnv({ NOTIFY_SOCKET: '@n', WATCHDOG_USEC: '0' }, 77)).toMatchObject({ pingIntervalMs: null });
  });
});

describe('WatchdogRule', () => {
  const healthy = { healthy: true };

  it('stays healthy while the durable seq follows the committed one, even when always one fsync behind', () => {
    const rule = new WatchdogRule(BOUND_MS);
    for (let t = 0; t <= 10 * BOUND_MS; t += 1000) {
      // Under load a sync is always running, but each one moves the durable seq on.
      expect(rule.judge({ lastSeq: t + 5, durableSeq: t, lastError: null }, t)).toEqual(healthy);
    }
  });

  it('turns unhealthy once the durable seq has not moved for the bound while commits wait', () => {
    const rule = new WatchdogRule(BOUND_MS);
    expect(rule.judge({ lastSeq: 10, durableSeq: 10, lastError: null }, 0)).toEqual(healthy);
    expect(rule.judge({ lastSeq: 11, durableSeq: 10, lastError: null }, 1000)).toEqual(healthy);
    expect(rule.judge({ lastSeq: 14, durableSeq: 10, lastError: null }, 1000 + BOUND_MS - 1)).toEqual(healthy);
    const verdict = rule.judge({ lastSeq: 14, durableSeq: 10, lastError: null }, 1000 + BOUND_MS);
    expect(verdict).toEqual({ healthy: false, reason: 'outbox commits have waited 60 s for the disk (durable up to seq 10, committed up to 14)' });
    // The sync returns: healthy at once.
    expect(rule.judge({ lastSeq: 14, durableSeq: 14, lastError: null }, 2000 + BOUND_MS)).toEqual(healthy);
  });

  it("stays healthy while appends are refused for another connection's write lock: a restart cannot lift it, and would lose the events waiting in memory", () => {
    const rule = new WatchdogRule(BOUND_MS);
    for (let t = 0; t <= 10 * BOUND_MS; t += 1000) expect(rule.judge({ lastSeq: 10, durableSeq: 10, lastError: 'GW_ERR_OUTBOX_LOCKED' }, t)).toEqual(healthy);
  });

  it('turns unhealthy once commits have failed for the bound; a full disk does not count', () => {
    const rule = new WatchdogRule(BOUND_MS);
    const failing = (code: ErrorCode, t: number) => rule.judge({ lastSeq: 10, durableSeq: 10, lastError: code }, t);
    expect(failing('GW_ERR_OUTBOX_WRITE', 0)).toEqual(healthy);
    expect(failing('GW_ERR_OUTBOX_WRITE', BOUND_MS - 1)).toEqual(healthy);
    expect(failing('GW_ERR_OUTBOX_WRITE', BOUND_MS)).toEqual({ healthy: false, reason: 'outbox commits have failed for 60 s (GW_ERR_OUTBOX_WRITE)' });
    // A commit succeeds: the spell is over, and a new one starts its count afresh.
    expect(rule.judge({ lastSeq: 11, durableSeq: 11, lastError: null }, BOUND_MS + 1)).toEqual(healthy);
    expect(failing('GW_ERR_OUTBOX_WRITE', BOUND_MS + 2)).toEqual(healthy);
    // Disk full for ten bounds: a restart cannot make room, so the pings go on.
    const full = new WatchdogRule(BOUND_MS);
    for (let t = 0; t <= 10 * BOUND_MS; t += 1000) expect(full.judge({ lastSeq: 10, durableSeq: 10, lastError: 'GW_ERR_OUTBOX_DISK_FULL' }, t)).toEqual(healthy);
  });
});

describe('SystemdNotifier', () => {
  it('sends READY=1 once, then WATCHDOG=1 with a status every half WATCHDOG_USEC while healthy', () => {
    const { clock, transport, notifier } = notifierRig();
    expect(transport.messages).toEqual([]);
    notifier.ready();
    notifier.ready();
    expect(transport.messages).toEqual([{ assignments: ['READY=1', 'STATUS=1 lane, devices 0/0 up; uplink connected; outbox empty; commits ok'], routine: false }]);
    clock.advance(PING_MS - 1);
    expect(transport.count('WATCHDOG=1')).toBe(0);
    clock.advance(1);
    expect(transport.messages[1]).toEqual({ assignments: ['WATCHDOG=1', 'STATUS=1 lane, devices 0/0 up; uplink connected; outbox empty; commits ok'], routine: true });
    clock.advance(9 * PING_MS);
    expect(transport.count('WATCHDOG=1')).toBe(10);
    expect(transport.count('READY=1')).toBe(1);
  });

  it('stops pinging when commits stall for longer than the bound, says why, and resumes once they recover', () => {
    const { clock, transport, notifier, logs, setState } = notifierRig();
    notifier.ready();
    clock.advance(5 * PING_MS);
    expect(transport.count('WATCHDOG=1')).toBe(5);
    // The disk stops: a commit is made and its fsync never returns.
    setState({ lastSeq: 11 });
    clock.advance(BOUND_MS);
    const pingsWhileStalled = transport.count('WATCHDOG=1');
    // Seen first at the next ping, so at most the bound of pings more.
    expect(pingsWhileStalled).toBe(5 + BOUND_MS / PING_MS);
    clock.advance(10 * PING_MS);
    expect(transport.count('WATCHDOG=1')).toBe(pingsWhileStalled);
    // systemd shows why (`systemctl status`), and the journal says it once.
    const last = transport.messages.at(-1)?.assignments ?? [];
    expect(last).toEqual([expect.stringMatching(/^STATUS=UNHEALTHY: outbox commits have waited \d+ s for the disk .*\(watchdog pings withheld\); 1 lane/) as unknown]);
    expect(logs.filter((line) => line.code === 'GW_ERR_WATCHDOG_WITHHELD')).toHaveLength(1);
    // The sync returns before systemd acted: pings resume.
    setState({ durableSeq: 11 });
    clock.advance(PING_MS);
    expect(transport.count('WATCHDOG=1')).toBe(pingsWhileStalled + 1);
    expect(logs.some((line) => line.msg.startsWith('watchdog pings resume'))).toBe(true);
  });

  it('stops pinging when commits fail (I/O error) for longer than the bound, not when the disk is full', () => {
    const { clock, transport, notifier, setState } = notifierRig();
    notifier.ready();
    setState({ lastError: 'GW_ERR_OUTBOX_DISK_FULL' });
    clock.advance(3 * BOUND_MS);
    expect(transport.count('WATCHDOG=1')).toBe((3 * BOUND_MS) / PING_MS);
    setState({ lastError: 'GW_ERR_OUTBOX_WRITE' });
    const before = transport.count('WATCHDOG=1');
    clock.advance(BOUND_MS + 10 * PING_MS);
    expect(transport.count('WATCHDOG=1')).toBeLessThanOrEqual(before + BOUND_MS / PING_MS);
    const after = transport.count('WATCHDOG=1');
    clock.advance(10 * PING_MS);
    expect(transport.count('WATCHDOG=1')).toBe(after);
  });

  it('never pings when the outbox state cannot be read', () => {
    const { clock, transport, notifier } = notifierRig({
      commitState: () => {
        throw new Error('database is locked');
      },
    });
    notifier.ready();
    clock.advance(10 * PING_MS);
    expect(transport.count('READY=1')).toBe(1);
    expect(transport.count('WATCHDOG=1')).toBe(0);
    expect(transport.messages.at(-1)?.assignments.find((a) => a.startsWith('STATUS='))).toMatch(/^STATUS=UNHEALTHY: the outbox state could not be read: Error: database is locked/);
  });

  it('never pings a watchdog that WATCHDOG_PID gives to another process, but reports readiness and status', () => {
    const { clock, transport, notifier, logs } = notifierRig({ env: { NOTIFY_SOCKET: '/run/notify', WATCHDOG_USEC: '2000000', WATCHDOG_PID: '4243' }, pid: 4242 });
    notifier.ready();
    clock.advance(100 * STATUS_INTERVAL_MS);
    expect(transport.count('WATCHDOG=1')).toBe(0);
    expect(transport.count('READY=1')).toBe(1);
    expect(logs.some((line) => line.msg.includes('the watchdog belongs to process 4243'))).toBe(true);
  });

  it('sends no pings and no unchanged status without a watchdog', () => {
    const { clock, transport, notifier } = notifierRig({ env: { NOTIFY_SOCKET: '/run/notify' } });
    notifier.ready();
    clock.advance(100 * STATUS_INTERVAL_MS);
    expect(transport.messages).toHaveLength(1);
  });

  it('wraps reloads in RELOADING=1 … READY=1 (overlapping ones once), and ends the pings with STOPPING=1', () => {
    const { clock, transport, notifier } = notifierRig();
    notifier.reloading(); // before READY: nothing to say yet
    notifier.ready();
    notifier.reloading();
    notifier.reloading();
    notifier.reloaded();
    expect(transport.count('READY=1')).toBe(1);
    notifier.reloaded();
    notifier.reloaded();
    expect(transport.messages.map((m) => m.assignments[0])).toEqual(['READY=1', 'RELOADING=1', 'READY=1']);
    expect(transport.messages[1]?.assignments).toEqual(['RELOADING=1', 'MONOTONIC_USEC=123456789', 'STATUS=reloading the edge models']);
    clock.advance(PING_MS);
    notifier.stopping();
    notifier.stopping();
    const count = transport.messages.length;
    expect(transport.messages.at(-1)?.assignments[0]).toBe('STOPPING=1');
    clock.advance(100 * PING_MS);
    expect(transport.messages.length).toBe(count);
    expect(transport.count('STOPPING=1')).toBe(1);
    notifier.ready();
    expect(transport.count('READY=1')).toBe(2);
  });
});

describe('statusLine', () => {
  it('says lanes, devices, uplink, outbox and commits in one line', () => {
    expect(statusLine({ lanes: 3, devicesUp: 5, devices: 6, uplink: 'connected', outboxDepth: 0, oldestAgeMs: 0, commitError: null })).toBe(
      '3 lanes, devices 5/6 up; uplink connected; outbox empty; commits ok',
    );
    expect(statusLine({ lanes: 1, devicesUp: 0, devices: 2, uplink: 'reconnecting', outboxDepth: 1234, oldestAgeMs: 3 * 3_600_000 + 5, commitError: 'GW_ERR_OUTBOX_DISK_FULL' })).toBe(
      '1 lane, devices 0/2 up; uplink reconnecting; outbox 1234 queued, oldest 3 h; commits failing (GW_ERR_OUTBOX_DISK_FULL)',
    );
  });
});
