/**
 * A real Mosquitto broker for system tests, on a free port of its own so a test can stop and
 * restart it. Persistence is on, so a subscriber's session (and its queued QoS 1 messages)
 * survives a restart, as the VMC's broker would keep them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { waitForLine } from './lines.js';

export const MOSQUITTO_BIN = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((path) => existsSync(path)) ?? 'mosquitto';

export interface MosquittoOptions {
  /** Lines of an ACL file; anonymous clients get these rules. */
  acl?: string[];
  /** Extra mosquitto.conf lines. */
  extraConfig?: string[];
}

export class Mosquitto {
  readonly port: number;
  readonly dir: string;
  private process: ChildProcess | null = null;
  private readonly aclFile: string;

  private constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
    this.aclFile = join(dir, 'acl');
  }

  /**
   * Starts a broker on a free port. The port is free when picked but may be taken by another
   * process before Mosquitto binds it (tests run in parallel): then Mosquitto exits with "Address
   * already in use" and another port is tried.
   */
  static async start(options: MosquittoOptions = {}): Promise<Mosquitto> {
    for (let attempt = 1; ; attempt += 1) {
      const broker = new Mosquitto(await freePort(), mkdtempSync(join(tmpdir(), 'mosquitto-')));
      // Started as root, mosquitto drops to its own user, which must be able to save persistence here.
      chmodSync(broker.dir, 0o777);
      const config = [
        `listener ${broker.port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence true',
        `persistence_location ${broker.dir}/`,
        // Room for a whole replayed backlog in the subscriber's queue (the default 1000 would drop
        // QoS 1 messages from it). Not 0 ("no limit"): Mosquitto 2.0.11 then drops the connection
        // after every publish it refuses (its quota check lacks the `> 0` guard of later
        // releases), which no production broker does and which hid how the gateway treats a
        // refusal on a connection that stays up.
        'max_queued_messages 100000',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'log_type notice',
        'log_type information',
        ...(options.acl ? [`acl_file ${broker.aclFile}`] : []),
        ...(options.extraConfig ?? []),
      ];
      if (options.acl) writeFileSync(broker.aclFile, `${options.acl.join('\n')}\n`);
      writeFileSync(join(broker.dir, 'mosquitto.conf'), `${config.join('\n')}\n`);
      try {
        await broker.run();
        return broker;
      } catch (error) {
        if (attempt >= 3 || !String(error).includes('Address already in use')) throw error;
      }
    }
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Starts (or restarts) the broker process and resolves once it listens. */
  async run(): Promise<void> {
    const child = spawn(MOSQUITTO_BIN, ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.process = child;
    // "Opening … listen socket" comes before the bind; "running" only once every listener is bound.
    await waitForLine(child.stderr, (line) => / running$/.test(line), 15_000, `mosquitto running on port ${this.port}`);
    // Keep draining stderr so the broker never blocks on a full pipe.
    child.stderr.resume();
  }

  /** Stops the broker (SIGTERM: it saves its persistence file) and waits for the exit. */
  async stop(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    this.process = null;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  /**
   * Kills the broker with SIGKILL, as a crash or a power cut would (nothing saved since its last
   * autosave), and waits for the exit; `run()` starts it again on the same port.
   */
  async kill(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.process = null;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** Replaces the ACL and makes the broker reload it (SIGHUP). */
  async reloadAcl(lines: string[]): Promise<void> {
    writeFileSync(this.aclFile, `${lines.join('\n')}\n`);
    const child = this.process;
    if (!child?.stderr) throw new Error('mosquitto is not running');
    const reloaded = waitForLine(child.stderr, (line) => /reloading config/i.test(line), 10_000, 'mosquitto reload');
    child.kill('SIGHUP');
    await reloaded;
  }
}
