/**
 * The parts a system test starts (gateway processes, broker, gateway, subscriber), stopped after
 * each test in the right order: child processes killed, the in-process gateway stopped (it drains
 * and says offline), then the subscriber, then the broker.
 */
import { afterEach } from 'vitest';
import type { Gateway } from '../../gateway/daemon.js';
import type { Collector } from './collector.js';
import type { GatewayProcess } from './gateway-process.js';

export interface Stoppable {
  stop?(): Promise<void>;
  close?(): Promise<void>;
}

export interface Rig<B extends Stoppable> {
  broker?: B;
  gateway?: Gateway;
  collector?: Collector;
  /** Gateway child processes; killed (SIGKILL) before anything else is stopped. */
  processes: GatewayProcess[];
}

/** Registers an afterEach that tears down whatever the test put in the returned rig. */
export function systemRig<B extends Stoppable>(): Rig<B> {
  const rig: Rig<B> = { processes: [] };
  afterEach(async () => {
    await Promise.all(rig.processes.splice(0).map((process) => process.kill('SIGKILL')));
    await rig.gateway?.stop();
    await rig.collector?.close();
    await (rig.broker?.stop ?? rig.broker?.close)?.call(rig.broker);
    delete rig.gateway;
    delete rig.collector;
    delete rig.broker;
  });
  return rig;
}
