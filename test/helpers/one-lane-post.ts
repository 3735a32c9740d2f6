/**
 * A one-lane post in this process, for tests of the lane API and its security: the gateway with
 * its operators' app built but not listening (tests call `gateway.operatorApp.inject()`), no
 * broker reachable, no models (the rules decide), and the lane workflow fed by no device.
 */
import { parseConfigText } from '../../config/load-config.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { Gateway } from '../../gateway/daemon.js';
import { createLogger } from '../../gateway/logger.js';
import { startPostRuntime, type PostRuntime } from '../../gateway/post-runtime.js';
import { resolveUplinkSettings } from '../../gateway/uplink/resolve-settings.js';
import { DeviceFeedStandIn } from './post-harness.js';
import { tempDir } from './test-config.js';

export interface OneLanePost {
  gateway: Gateway;
  /** Null when started with `workflow: false`. */
  runtime: PostRuntime | null;
  stop(): Promise<void>;
}

export async function startOneLanePost(options: { clock?: Clock; extraYaml?: string; workflow?: boolean } = {}): Promise<OneLanePost> {
  const config = parseConfigText(`
version: 1
post: { id: test-post }
lanes: [{ id: lane-1 }]
uplink: { brokers: ['mqtt://127.0.0.1:1'] }
outbox: { path: outbox.db }
models: { risk: null, xrayScreening: null }
${options.extraYaml ?? ''}`);
  const logger = createLogger('silent');
  const clock = options.clock ?? systemClock;
  const gateway = await Gateway.start({ config, uplink: resolveUplinkSettings(config), logger, clock, dataDir: tempDir(), http: false });
  const runtime = options.workflow === false ? null : await startPostRuntime({ config, gateway, devices: new DeviceFeedStandIn(), clock, logger });
  return {
    gateway,
    runtime,
    stop: async () => {
      await runtime?.stop();
      await gateway.stop();
    },
  };
}
