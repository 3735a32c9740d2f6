/**
 * The parts a system test starts (broker, gateway, subscriber), stopped after each test in the
 * right order: gateway first (it drains and says offline), then the subscriber, then the broker.
 */
import { afterEach } from 'vitest';
import type { Gateway } from '../../gateway/daemon.js';
import type { Collector } from './collector.js';

export interface Stoppable {
  stop?(): Promise<void>;
  close?(): Promise<void>;
}

export interface Rig<B extends Stoppable> {
  broker?: B;
  gateway?: Gateway;
  collector?: Collector;
}

/** Registers an afterEach that tears down whatever the test put in the returned rig. */
export function systemRig<B extends Stoppable>(): Rig<B> {
  const rig: Rig<B> = {};
  afterEach(async () => {
    await rig.gateway?.stop();
    await rig.collector?.close();
    await (rig.broker?.stop ?? rig.broker?.close)?.call(rig.broker);
    delete rig.gateway;
    delete rig.collector;
    delete rig.broker;
  });
  return rig;
}
