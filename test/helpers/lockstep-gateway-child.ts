/**
 * The gateway of the 4-lane day, as a child process on a clock its parent drives
 * (lockstep-gateway.ts): the real Gateway and lane workflow on the given data directory, device
 * readings and lane API calls arriving over the IPC channel instead of from drivers and sockets.
 * The parent kills it with SIGKILL whenever it likes; it starts again on the same data.
 *
 * Run as `node --import tsx test/helpers/lockstep-gateway-child.ts DATA_DIR START_WALL_MS`.
 */
import { systemClock } from '../../core/clock.js';
import { Gateway } from '../../gateway/daemon.js';
import type { DeviceReading } from '../../gateway/devices/device-manager.js';
import { createLogger } from '../../gateway/logger.js';
import { startPostRuntime } from '../../gateway/post-runtime.js';
import { resolveUplinkSettings } from '../../gateway/uplink/resolve-settings.js';
import { fourLaneConfig } from './four-lane-post.js';
import { ManualClock } from './manual-clock.js';
import { DeviceFeedStandIn, InProcessDesk } from './post-harness.js';

/** What the parent asks; each is answered once, in order, with the same id. */
export type LockstepRequest =
  | { id: number; op: 'advance'; toWallMs: number }
  | { id: number; op: 'read'; laneId: string; role: 'entry' | 'exit' | 'lane'; reading: DeviceReading }
  | { id: number; op: 'desk'; method: 'GET' | 'POST'; url: string; body?: unknown; as: 'registration' | 'supervisor' };

export type LockstepReply = { id: number; ok: true; result?: unknown } | { id: number; ok: false; error: string } | { op: 'ready'; restored: number };

async function main(): Promise<void> {
  const [dataDir, startWall] = process.argv.slice(2);
  if (!dataDir || !startWall) throw new Error('usage: lockstep-gateway-child DATA_DIR START_WALL_MS');
  const config = fourLaneConfig();
  // Random X-ray selection draws from a source each process seeds anew: a restarted day would
  // pick other trucks at random than the undisturbed one, which is no question of crash safety.
  config.workflow.randomXrayShare = 0;
  const clock = new ManualClock(Number(startWall));
  const logger = createLogger('silent');
  const feed = new DeviceFeedStandIn();
  const gateway = await Gateway.start({ config, uplink: resolveUplinkSettings(config), logger, clock: systemClock, eventClock: clock, dataDir, http: false });
  const runtime = await startPostRuntime({ config, gateway, devices: feed, clock, logger });
  const desk = await InProcessDesk.create(gateway);
  const restored = [...runtime.post.lanes.values()].reduce((sum, lane) => sum + lane.workflow.open().length, 0);

  const handle = async (request: LockstepRequest): Promise<unknown> => {
    switch (request.op) {
      case 'advance':
        await clock.runFor(Math.max(0, request.toWallMs - clock.now()));
        return undefined;
      case 'read':
        feed.read(request.laneId, request.role, request.reading);
        await clock.runFor(0);
        return undefined;
      case 'desk':
        return desk.call(request.method, request.url, request.body, request.as);
    }
  };
  // One request at a time, in the order sent: the parent's clock and this one stay in step.
  let queue = Promise.resolve();
  process.on('message', (request: LockstepRequest) => {
    queue = queue.then(async () => {
      try {
        send({ id: request.id, ok: true, result: await handle(request) });
      } catch (error) {
        send({ id: request.id, ok: false, error: error instanceof Error ? error.message : String(error) });
      }
    });
  });
  process.on('disconnect', () => {
    void runtime.stop().then(() => gateway.stop()).finally(() => process.exit(0));
  });
  send({ op: 'ready', restored });
}

function send(reply: LockstepReply): void {
  process.send?.(reply);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
