/**
 * sd_notify over real sockets and processes: Debian's `systemd-notify` delivers what NotifySender
 * hands it to a datagram socket (a path, and an abstract `@name`), a hung helper is killed and
 * never piles up, a missing one is logged once; and the real gateway (`run` as a child process)
 * sends READY=1 once it is listening, WATCHDOG=1 with STATUS= lines at half of WATCHDOG_USEC,
 * RELOADING=1 … READY=1 around SIGHUP, and STOPPING=1 on SIGTERM.
 *
 * Node cannot bind an AF_UNIX datagram socket, so the service manager's end is Debian's python3
 * (/usr/bin/python3), printing each datagram as a JSON line. systemd itself cannot run here (a
 * container without it as PID 1), so no test runs the unit under `systemd-run`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pino, { type Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../core/clock.js';
import { NotifySender } from '../gateway/systemd/notify-sender.js';
import { freePort } from './helpers/free-port.js';
import { GatewayProcess } from './helpers/gateway-process.js';
import { ManualClock } from './helpers/manual-clock.js';
import { systemRig } from './helpers/rig.js';
import { tempDir } from './helpers/test-config.js';

const PYTHON = '/usr/bin/python3';
/** Binds the socket named by argv[1] (`@name`: abstract) and prints every datagram as JSON. */
const LISTENER_SCRIPT = `
import json, socket, sys
address = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + address[1:] if address.startswith('@') else address)
print(json.dumps('LISTENING'), flush=True)
while True:
    print(json.dumps(s.recv(65536).decode('utf-8', 'replace')), flush=True)
`;

/** The service manager's end of NOTIFY_SOCKET: every datagram, as its assignments. */
class NotifyListener {
  /** Datagrams in arrival order, without systemd-notify's BARRIER=1 (its wait for the reader). */
  readonly messages: string[][] = [];
  private readonly waiters = new Set<() => void>();
  /** Resolves once the socket is bound. */
  private readonly listening: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    this.listening = new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`the python3 listener exited with ${code}`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const text = JSON.parse(line) as string;
        if (text === 'LISTENING') resolve();
        if (text === 'LISTENING' || text === 'BARRIER=1') return;
        this.messages.push(text.split('\n'));
        for (const waiter of this.waiters) waiter();
      });
    });
  }

  static async start(address: string): Promise<NotifyListener> {
    const listener = new NotifyListener(spawn(PYTHON, ['-c', LISTENER_SCRIPT, address], { stdio: ['ignore', 'pipe', 'inherit'] }));
    listeners.push(listener);
    await listener.listening;
    return listener;
  }

  /** Resolves with the first message at or after `from` that `match` accepts. */
  waitFor(match: (message: string[]) => boolean, what: string, from = 0, timeoutMs = 45_000): Promise<{ index: number; message: string[] }> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const index = this.messages.findIndex((message, i) => i >= from && match(message));
        if (index < 0) return;
        done();
        resolve({ index, message: this.messages[index] as string[] });
      };
      // A safety net for a hung gateway, not a wait for time to pass.
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}; received:\n${this.messages.map((m) => m.join(' | ')).join('\n')}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

const listeners: NotifyListener[] = [];
afterEach(() => {
  for (const listener of listeners.splice(0)) listener.stop();
});

/** A socket name nobody else uses: abstract names have no directory to keep them apart. */
function abstractName(): string {
  return `@border-gateway-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
}

function captureLogger(): { logger: Logger; lines: Array<{ level: number; msg: string; code?: string; failures?: number }> } {
  const lines: Array<{ level: number; msg: string; code?: string; failures?: number }> = [];
  return { logger: pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) }), lines };
}

function nextEvent<K extends 'started' | 'sent' | 'failed'>(sender: NotifySender, event: K): Promise<string[]> {
  return new Promise((resolve) => sender.once(event, ((assignments: string[]) => resolve(assignments)) as never));
}

describe('NotifySender (systemd-notify)', () => {
  it('delivers each message as one datagram, to an abstract name and to a path', async () => {
    for (const address of [abstractName(), join(tempDir('gw-notify-'), 'notify.sock')]) {
      const listener = await NotifyListener.start(address);
      const sender = new NotifySender({ socket: address, clock: systemClock, logger: pino({ level: 'silent' }) });
      const sent = nextEvent(sender, 'sent');
      // A newline in a value would start another assignment: it is sent as a space.
      sender.send(['READY=1', 'STATUS=-1 lane\nuplink down']);
      await sent;
      const { message } = await listener.waitFor((m) => m.includes('READY=1'), 'READY=1');
      expect(message).toEqual(['READY=1', 'STATUS=-1 lane uplink down']);
      await sender.close();
    }
  });

  it('runs one helper at a time, kills a hung one after its time bound, and keeps only the newest routine message', async () => {
    const clock = new ManualClock();
    const { logger, lines } = captureLogger();
    // A helper that never answers, as systemd-notify would when nobody reads the socket.
    const hung = join(tempDir('gw-notify-'), 'hung-notify');
    writeFileSync(hung, '#!/bin/sh\nexec sleep 600\n');
    chmodSync(hung, 0o755);
    const sender = new NotifySender({ socket: '@unused', clock, logger, command: hung, timeoutMs: 6000 });
    const started: string[][] = [];
    sender.on('started', (assignments) => started.push(assignments));
    let firstStarted = nextEvent(sender, 'started');
    sender.send(['WATCHDOG=1', 'STATUS=ping 1'], true);
    await firstStarted;
    for (let n = 2; n <= 6; n += 1) sender.send(['WATCHDOG=1', `STATUS=ping ${n}`], true);
    sender.send(['STOPPING=1']);
    expect(started).toHaveLength(1);

    let failed = nextEvent(sender, 'failed');
    firstStarted = nextEvent(sender, 'started');
    clock.advance(6000);
    expect(await failed).toEqual(['WATCHDOG=1', 'STATUS=ping 1']);
    // Pings 2…5 were superseded while they waited; the state change was kept behind the newest.
    expect(await firstStarted).toEqual(['WATCHDOG=1', 'STATUS=ping 6']);
    failed = nextEvent(sender, 'failed');
    const last = nextEvent(sender, 'started');
    clock.advance(6000);
    await failed;
    expect(await last).toEqual(['STOPPING=1']);
    const closed = sender.close();
    clock.advance(6000);
    await closed;
    expect(started).toHaveLength(3);
    // Logged once for the spell (then at most once a minute), with its code.
    const logged = lines.filter((line) => line.code === 'GW_ERR_SYSTEMD_NOTIFY');
    expect(logged).toHaveLength(1);
    expect(logged[0]?.msg).toContain('did not finish within 6000 ms; killed');
  });

  it('logs a missing helper or an unreachable socket once per interval, with a count, and never throws', async () => {
    const clock = new ManualClock();
    const { logger, lines } = captureLogger();
    const missing = new NotifySender({ socket: '@unused', clock, logger, command: join(tempDir('gw-notify-'), 'no-such-notify') });
    for (let n = 0; n < 3; n += 1) {
      const failed = nextEvent(missing, 'failed');
      missing.send(['WATCHDOG=1'], true);
      await failed;
    }
    clock.advance(60_000);
    const failed = nextEvent(missing, 'failed');
    missing.send(['WATCHDOG=1'], true);
    await failed;
    const logged = lines.filter((line) => line.code === 'GW_ERR_SYSTEMD_NOTIFY');
    expect(logged.map((line) => line.failures)).toEqual([1, 3]);
    expect(logged[0]?.msg).toContain("not found: install Debian's systemd package");

    // The real helper, with nobody listening on the socket.
    const { logger: refusedLogger, lines: refusedLines } = captureLogger();
    const refused = new NotifySender({ socket: abstractName(), clock, logger: refusedLogger });
    const refusal = nextEvent(refused, 'failed');
    refused.send(['READY=1']);
    await refusal;
    expect(refusedLines.find((line) => line.code === 'GW_ERR_SYSTEMD_NOTIFY')?.msg).toMatch(/systemd-notify exited with code \d+: .*Connection refused/);
  });
});

describe('run under a notification socket', () => {
  const rig = systemRig();

  it('sends READY=1 once listening, WATCHDOG=1 with STATUS= every second for WATCHDOG_USEC=2 s, RELOADING/READY on SIGHUP, STOPPING=1 on SIGTERM', async () => {
    const address = abstractName();
    const listener = await NotifyListener.start(address);
    const [httpPort, deadBrokerPort] = [await freePort(), await freePort()];
    const dir = tempDir('gw-notify-run-');
    const config = join(dir, 'post.yaml');
    // A broker nobody listens on: the post works offline, and says so in its status.
    writeFileSync(config, `version: 1\npost: { id: notify-post }\nlanes: [{ id: lane-1 }]\nuplink: { brokers: ['mqtt://127.0.0.1:${deadBrokerPort}'] }\noutbox: { path: outbox.db }\nhttp: { port: ${httpPort} }\nmodels: { risk: null, xrayScreening: null }\n`);
    const gateway = new GatewayProcess(['run', '--config', config, '--data', dir], { NOTIFY_SOCKET: address, WATCHDOG_USEC: '2000000', WATCHDOG_PID: undefined });
    rig.processes.push(gateway);

    const ready = await listener.waitFor((m) => m.includes('READY=1'), 'READY=1');
    // Ready means listening: the health check answers now, without waiting for anything else.
    const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
    expect(health.status).toBe(200);
    expect(ready.index).toBe(0);
    expect(ready.message).toEqual(['READY=1', expect.stringMatching(/^STATUS=1 lane, devices 0\/0 up; uplink (connecting|backoff); outbox (empty|\d+ queued, oldest \d+ s); commits ok$/) as unknown]);

    let from = ready.index + 1;
    for (let n = 0; n < 3; n += 1) {
      const ping = await listener.waitFor((m) => m.includes('WATCHDOG=1'), `watchdog ping ${n + 1}`, from);
      expect(ping.message).toEqual(['WATCHDOG=1', expect.stringMatching(/^STATUS=1 lane, .*; commits ok$/) as unknown]);
      from = ping.index + 1;
    }

    gateway.child.kill('SIGHUP');
    const reloading = await listener.waitFor((m) => m.includes('RELOADING=1'), 'RELOADING=1', from);
    expect(reloading.message).toEqual(['RELOADING=1', expect.stringMatching(/^MONOTONIC_USEC=\d+$/) as unknown, 'STATUS=reloading the edge models']);
    const reloaded = await listener.waitFor((m) => m.includes('READY=1'), 'READY=1 after the reload', reloading.index + 1);

    gateway.child.kill('SIGTERM');
    const stopping = await listener.waitFor((m) => m.includes('STOPPING=1'), 'STOPPING=1', reloaded.index + 1);
    expect((await gateway.exited).code).toBe(0);
    // Started once, reloaded once; no ping once the stop began (STOPPING=1 waited for by close()).
    expect(listener.messages.filter((m) => m.includes('READY=1'))).toHaveLength(2);
    expect(listener.messages.slice(stopping.index + 1).filter((m) => m.includes('WATCHDOG=1'))).toEqual([]);
    expect(gateway.logs.filter((line) => line.code === 'GW_ERR_SYSTEMD_NOTIFY')).toEqual([]);
  });
});
