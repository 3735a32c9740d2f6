/**
 * At most `maxConcurrent` device pushes handled at once: parsed, committed, synced and answered.
 * A push whose body has been read waits for a slot (preHandler, so a device that sends its body
 * slowly holds no slot while it does) and gives it back when its response is closed, answered or
 * cut off.
 *
 * Why: Node polls each socket once per turn of its event loop. At 32 pushes in flight every turn
 * handled ≈ 8 of them (12–15 ms), and the uplink, which may have only 19 publishes unacknowledged
 * against a default Mosquitto and hears their PUBACKs once per turn (twice per round trip, as the
 * broker's Nagle splits them), moved ≈ 38 messages per 50 ms while the pushes made ≈ 60: each
 * push's message reached the VMC 0.85–1.05 s after it was sent (p50). A few pushes at a time keep
 * turns short, every socket (the broker's, a barrier's, the console's) heard often, and
 * the messages as prompt as the answers (docs/benchmarks.md, "Pushes handled a few at a time").
 */
import type { FastifyPluginCallback } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import { onRequestEnded } from '../../core/request-ended.js';

export interface PushSlotsOptions {
  maxConcurrent: number;
}

/** Slots handed out oldest waiter first. */
export class Slots {
  private held = 0;
  /** Waiters in arrival order (a Set keeps it, and lets one that left be removed). */
  private readonly waiting = new Set<() => void>();

  constructor(private readonly max: number) {}

  get inUse(): number {
    return this.held;
  }

  get queued(): number {
    return this.waiting.size;
  }

  /** Calls `grant` once a slot is the caller's: at once when one is free (true), else later (false). */
  take(grant: () => void): boolean {
    if (this.held < this.max) {
      this.held += 1;
      grant();
      return true;
    }
    this.waiting.add(grant);
    return false;
  }

  /** A waiter that left before its turn. */
  cancel(grant: () => void): void {
    this.waiting.delete(grant);
  }

  give(): void {
    const next = this.waiting.values().next();
    if (next.done) {
      this.held -= 1;
      return;
    }
    this.waiting.delete(next.value);
    next.value(); // the slot passes on: held stays as it is
  }
}

const plugin: FastifyPluginCallback<PushSlotsOptions> = (app, options, done) => {
  const slots = new Slots(options.maxConcurrent);
  app.addHook('preHandler', (request, reply, next) => {
    let state: 'waiting' | 'held' | 'gone' = 'waiting';
    const grant = (): void => {
      state = 'held';
      next();
    };
    // Its client gone before its turn to wait (an earlier hook awaited something): nobody is left
    // to answer, and a slot taken now would never come back (core/request-ended.ts). Fastify runs the
    // hooks of a request whose client left.
    const waits = onRequestEnded(request, reply, () => {
      if (state === 'held') slots.give();
      else if (state === 'waiting') slots.cancel(grant);
      state = 'gone';
    });
    if (!waits) return;
    // Only a push that must wait says so: at debug, how many are handled and waiting before it.
    if (!slots.take(grant)) request.log.debug({ handled: slots.inUse, waiting: slots.queued }, 'push waits for a slot (devicePush.maxConcurrentPushes)');
  });
  done();
};

/** Hooks the scope it is registered in: register it in a scope of the routes it bounds (the cameras', not a scanner's stream). */
export const pushSlots = fastifyPlugin(plugin, { name: 'border-gateway-push-slots' });
