/**
 * The VMC side: one MQTT subscriber (QoS 1) on both peers' topics, in a process of its own
 * (subscriber-process.ts) that stamps each message as it arrives on the monotonic clock; here the
 * stamp is turned into this process's performance.now(), the clock the pushes are timed with.
 * A tally per peer run keeps, by plate, when its message first arrived; repeats and the peer's
 * other messages are counted beside it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Classified } from './peer-process.js';
import type { SubscriberReport } from './subscriber-process.js';

const SUBSCRIBER = fileURLToPath(new URL('./subscriber-process.js', import.meta.url));
/** How long the subscriber may take to connect and subscribe. */
const READY_TIMEOUT_MS = 15_000;

export interface Tally {
  /** Plate → when its message first arrived. */
  firstArrival: Map<string, number>;
  /** Messages for a plate that had arrived already. */
  repeats: number;
  /** The peer's other messages, by type. */
  others: Map<string, number>;
  /** When the last message of this peer arrived (any type). */
  lastMessageMs: number;
}

export interface SubscriberOptions {
  /** A persistent session under this client id (MQTT 5, expiry one hour): the broker queues for it while it is away. */
  persistentId?: string;
}

export class Arrivals {
  private watching: { classify: (topic: string, payload: Buffer) => Classified; tally: Tally } | null = null;
  private readonly events = new EventEmitter<{ message: [plate: string] }>();

  /** The monotonic clock (process.hrtime, ms) less performance.now(): both tick together. */
  private readonly monoOffsetMs = Number(process.hrtime.bigint()) / 1e6 - performance.now();

  private stopping = false;

  private constructor(private readonly subscriber: ChildProcess) {
    subscriber.on('message', (report: SubscriberReport) => {
      if ('message' in report) this.onMessage(report.message.topic, Buffer.from(report.message.payload), report.message.atMonoMs - this.monoOffsetMs);
    });
    // Messages it would have stamped would read as lost: say so where the figures are printed.
    subscriber.once('exit', (code, signal) => {
      if (!this.stopping) console.log(`  the subscriber process exited during the run (${signal ?? String(code)}): messages after that are counted as lost`);
    });
  }

  private get exited(): boolean {
    return this.subscriber.exitCode !== null || this.subscriber.signalCode !== null;
  }

  static async connect(url: string, topics: string[], options: SubscriberOptions = {}): Promise<Arrivals> {
    // 'advanced' serialisation hands payloads over as bytes, not as JSON arrays of numbers.
    const subscriber = fork(SUBSCRIBER, [url, topics.join(','), options.persistentId ?? '-'], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    try {
      await new Promise<void>((resolve, reject) => {
        const settle = (error?: Error): void => {
          clearTimeout(timer);
          if (error) reject(error);
          else resolve();
        };
        const timer = setTimeout(() => settle(new Error('the subscriber did not subscribe in time')), READY_TIMEOUT_MS);
        subscriber.on('message', (report: SubscriberReport) => {
          if ('ready' in report) settle();
          if ('error' in report) settle(new Error(`the subscriber failed: ${report.error}`));
        });
        subscriber.once('exit', (code) => settle(new Error(`the subscriber exited (${String(code)}) before subscribing`)));
      });
    } catch (error) {
      subscriber.kill('SIGKILL');
      throw error;
    }
    return new Arrivals(subscriber);
  }

  /** Counts the messages `classify` claims from now on into a new tally (ending the previous one). */
  watch(classify: (topic: string, payload: Buffer) => Classified): Tally {
    const tally: Tally = { firstArrival: new Map(), repeats: 0, others: new Map(), lastMessageMs: 0 };
    this.watching = { classify, tally };
    return tally;
  }

  /** Resolves true once every plate has arrived, false after `timeoutMs` without them all. */
  waitForPlates(tally: Tally, plates: string[], timeoutMs: number): Promise<boolean> {
    const missing = new Set(plates.filter((plate) => !tally.firstArrival.has(plate)));
    if (missing.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onMessage = (plate: string): void => {
        if (!missing.delete(plate) || missing.size > 0) return;
        clearTimeout(timer);
        this.events.off('message', onMessage);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.events.off('message', onMessage);
        resolve(false);
      }, timeoutMs);
      this.events.on('message', onMessage);
    });
  }

  /** Resolves once no message of the tally's peer has arrived for `quietMs` (at most `timeoutMs`). */
  async waitQuiet(tally: Tally, quietMs: number, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const quietFor = performance.now() - tally.lastMessageMs;
      if (quietFor >= quietMs || performance.now() >= deadline) return;
      await new Promise((resolve) => setTimeout(resolve, Math.min(quietMs - quietFor, deadline - performance.now()) + 1));
    }
  }

  /** Ends the subscriber's session cleanly (a persistent one stays at the broker) and its process. */
  async close(): Promise<void> {
    this.stopping = true;
    if (this.exited) return;
    const exited = new Promise((resolve) => this.subscriber.once('exit', resolve));
    // A channel closed under it (the process dying as this is called) must not throw: kill it.
    this.subscriber.send('stop', (error) => {
      if (error) this.subscriber.kill('SIGKILL');
    });
    await exited;
  }

  private onMessage(topic: string, payload: Buffer, at: number): void {
    const watching = this.watching;
    if (!watching) return;
    const classified = watching.classify(topic, payload);
    if (!classified) return;
    const { tally } = watching;
    tally.lastMessageMs = at;
    if ('plate' in classified) {
      if (tally.firstArrival.has(classified.plate)) tally.repeats += 1;
      else tally.firstArrival.set(classified.plate, at);
      this.events.emit('message', classified.plate);
    } else {
      tally.others.set(classified.other, (tally.others.get(classified.other) ?? 0) + 1);
    }
  }
}
