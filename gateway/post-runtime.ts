/**
 * The lanes of a running post: loads and verifies the edge models (bundled ones unless the
 * configuration names others), builds the risk assessor and the post workflow over the device
 * manager, keeps the post's evidence (snapshots, scans: gateway/evidence), and serves the lane
 * API. `run` and `demo` both start the post through here.
 */
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import type { PostConfig } from '../config/schema.js';
import type { GatewayError } from '../core/errors.js';
import { systemClock, type Clock } from '../core/clock.js';
import { createClockQualityProbe } from '../core/clock-quality.js';
import { PACKAGE_ROOT } from '../core/package-info.js';
import { readPublicKeys } from '../edge-models/manifest.js';
import { ModelSlot } from '../edge-models/model-slot.js';
import { RiskModel } from '../edge-models/risk-model.js';
import { XrayScreeningModel } from '../edge-models/xray-screening.js';
import type { Gateway } from './daemon.js';
import { ModelVersions } from './model-versions.js';
import { POST_LANE } from '../contract/envelope.js';
import type { DeviceManager } from './devices/device-manager.js';
import { PostWorkflow, type DeviceFeed } from './workflow/post-workflow.js';
import { RiskAssessor } from './workflow/risk-assessor.js';
import { LaneStore } from './workflow/lane-store.js';
import { LaneConsole, type ConsoleImage } from './workflow/lane-console.js';
import { OnvifAnprDriver } from '../drivers/anpr/onvif-anpr-driver.js';
import { AnprHttpPushDriver } from '../drivers/anpr/http-push-driver.js';
import { startPostEvidence, type PostEvidence } from './evidence/post-evidence.js';
import { commandTopicFilter } from '../contract/vmc-command.js';
import { topicRoot } from './uplink/topics.js';
import { CommandHandler } from './vmc-commands/command-handler.js';
import { CommandState } from './vmc-commands/command-state.js';
import type { RulesOptions } from './workflow/rules-risk.js';

export const BUNDLED_MODELS = {
  publicKey: join(PACKAGE_ROOT, 'models', 'keys', 'release.pub.pem'),
  risk: join(PACKAGE_ROOT, 'models', 'risk.manifest.json'),
  xrayScreening: join(PACKAGE_ROOT, 'models', 'xray-screening.manifest.json'),
};

/** Who asked for a model reload, and whether an older model may replace the running one. */
export interface ReloadRequest {
  /**
   * The acting identity, from the caller's credentials: an authenticated user, or a system actor
   * (`{id: 'gateway', role: 'system'}` at start, `{id: 'sighup', role: 'system'}` on SIGHUP).
   */
  requestedBy: { id: string; role: string };
  /** Load a manifest older than the running model (an admin's deliberate rollback). Default false. */
  rollback?: boolean;
}

export interface PostRuntime {
  post: PostWorkflow;
  assessor: RiskAssessor;
  riskSlot: ModelSlot<RiskModel>;
  screeningSlot: ModelSlot<XrayScreeningModel>;
  /** What the console reads: the lane view, standing alarms, pictures, and the live feed's changes. */
  laneConsole: LaneConsole;
  /**
   * Loads the configured manifests again (SIGHUP, POST /api/models/reload): each swap is a
   * `model.swapped` event, each refusal an alarm. Answers per model what runs now and what happened.
   */
  reloadModels(request: ReloadRequest): Promise<Record<string, unknown>>;
  /** Applies and answers the VMC's signed commands (watchlist updates, model rollouts, evidence requests). */
  commands: CommandHandler;
  /** The evidence store and its transfers to the VMC. */
  evidence: PostEvidence;
  stop(): Promise<void>;
}

export interface PostRuntimeOptions {
  config: PostConfig;
  gateway: Gateway;
  devices: DeviceFeed & Pick<DeviceManager, 'health'>;
  clock: Clock;
  logger: Logger;
  random?: () => number;
  /** Post-clock ms per real ms, for the console's waiting times (the demo's `--speed`). Default 1. */
  clockSpeed?: number;
}

export async function startPostRuntime(options: PostRuntimeOptions): Promise<PostRuntime> {
  const { config, gateway, logger } = options;
  const keyFiles = config.models.publicKeys ?? [BUNDLED_MODELS.publicKey];
  const trustedKeys = readPublicKeys(keyFiles);
  // What the VMC's commands applied before this start wins over the configuration's list and
  // model: the configuration is where a post starts, the VMC's later commands where it is now.
  const commandState = new CommandState(gateway.outbox.database);
  const rolledOut = commandState.model()?.content ?? null;
  const manifests: Record<'risk' | 'xrayScreening', string | null> = {
    risk: config.models.risk === undefined ? BUNDLED_MODELS.risk : config.models.risk,
    xrayScreening: config.models.xrayScreening === undefined ? BUNDLED_MODELS.xrayScreening : config.models.xrayScreening,
  };
  if (rolledOut) manifests[rolledOut.model] = rolledOut.manifestPath;
  const engine = config.models.engine ?? 'auto';
  const riskSlot = new ModelSlot('risk', (verified) => RiskModel.load(verified, engine), () => trustedKeys);
  const screeningSlot = new ModelSlot('xray-screening', (verified) => XrayScreeningModel.load(verified, engine), () => trustedKeys);
  // Open crossings, barrier cycles and the visit history, in the gateway's database; the risk
  // features read a plate's visits from it.
  const laneStore = new LaneStore(gateway.outbox.database, options.clock);
  const random = options.random ?? Math.random;
  const modelLogger = logger.child({ module: 'models' });

  const alarm = (alarmName: string, message: string, details: Record<string, unknown>): void => {
    gateway.raiseAlarm(alarmName, 'warning', message, details);
  };
  // One object every decision reads: an applied watchlist command replaces its `watchlist`.
  const rules: RulesOptions = {
    watchlist: commandState.watchlist()?.content.plates ?? config.workflow.watchlist,
    weightToleranceShare: config.workflow.weightToleranceShare,
    randomXrayShare: config.workflow.randomXrayShare,
    random,
  };
  const assessor = new RiskAssessor({
    slot: riskSlot,
    rules,
    history: laneStore,
    utcOffsetMin: config.workflow.utcOffsetMin,
    logger: modelLogger,
    // About one crossing: on its lane's topic, with the lane's other alarms.
    onModelFailure: (crossing, error) =>
      gateway.raiseAlarm('GW_ERR_MODEL_INFERENCE', 'warning', `risk model failed on ${crossing.crossingId}: ${error.message}; rules decided`, { crossingId: crossing.crossingId }, crossing.laneId),
  });

  const versions = new ModelVersions(gateway.outbox.database);
  const reloadModels = async (request: ReloadRequest): Promise<Record<string, unknown>> => {
    // Only who and in which role: the caller may hand a richer identity (e.g. an auth Actor).
    const requestedBy = { id: request.requestedBy.id, role: request.requestedBy.role };
    const outcome: Record<string, unknown> = {};
    for (const [name, slot, manifest] of [
      ['risk', riskSlot, manifests.risk],
      ['xrayScreening', screeningSlot, manifests.xrayScreening],
    ] as const) {
      if (manifest === null) {
        outcome[name] = { version: null, note: 'disabled in the configuration' };
        continue;
      }
      try {
        const loaded = await (slot as ModelSlot<RiskModel | XrayScreeningModel>).load(manifest, { allowRollback: request.rollback === true, floorVersion: versions.get(name) });
        const { fromVersion, toVersion, rollback, manifestSha256 } = loaded;
        if (loaded.status === 'unchanged') {
          modelLogger.info({ model: name, version: toVersion, manifest, requestedBy }, 'model unchanged: this version already runs');
          outcome[name] = { version: toVersion, swapped: false, note: `version ${toVersion} already running: nothing swapped` };
          continue;
        }
        const { runsIn, fallbackReason } = loaded.model;
        modelLogger.info({ model: name, fromVersion, toVersion, rollback, manifest, requestedBy, runsIn, ...(fallbackReason ? { fallbackReason } : {}) }, 'model swapped');
        outcome[name] = { version: toVersion, swapped: true, fromVersion, rollback };
        // The swap has happened whether or not its event is stored; a failure to store is logged.
        // The version is remembered with its event: after a restart an older model is a rollback too.
        await gateway.emit('model.swapped', POST_LANE, { model: name, fromVersion, toVersion, rollback, requestedBy, manifestSha256 }, undefined, versions.within(name, toVersion)).catch((error: unknown) => {
          modelLogger.error({ err: error, model: name, toVersion }, 'model.swapped could not be stored');
        });
      } catch (error) {
        const code = (error as { code?: string }).code ?? 'GW_ERR_MODEL_LOAD';
        const message = (error as Error).message;
        modelLogger.error({ err: error, manifest, requestedBy }, 'model not loaded');
        if (code === 'GW_ERR_MODEL_ROLLBACK') {
          // A validly signed older model showing up unasked is how a known-weak model would be put
          // back: critical, with both versions and who asked.
          const { refusedVersion } = (error as GatewayError).details as { refusedVersion: string };
          const { runningVersion } = (error as GatewayError).details as { runningVersion: string };
          gateway.raiseAlarm(code, 'critical', `${name} model ${refusedVersion} refused: older than ${slot.version ? `the running ${runningVersion}` : `${runningVersion}, which this post ran before`}; reload asked by ${requestedBy.id} (${requestedBy.role}) without a rollback`, {
            model: name,
            manifest,
            runningVersion,
            refusedVersion,
            requestedBy,
          });
        } else {
          alarm(code, `${name} model not loaded: ${message}`, { manifest, keptVersion: slot.version, requestedBy });
        }
        outcome[name] = { version: slot.version, error: { code, message } };
      }
    }
    return outcome;
  };
  await reloadModels({ requestedBy: { id: 'gateway', role: 'system' } });

  // Before the command topic is subscribed: a retained evidence request may come at once.
  const evidence = await startPostEvidence({ config, gateway, clock: options.clock, logger });
  const commands = new CommandHandler({
    postId: config.post.id,
    keys: readPublicKeys(config.commands.publicKeys),
    maxBytes: config.commands.maxBytes,
    gateway,
    state: commandState,
    rules,
    slots: { risk: riskSlot, xrayScreening: screeningSlot },
    versions,
    manifests,
    // Beside the gateway's database: rolled-out models are state, like the versions.
    modelDir: join(dirname(gateway.outbox.database.name), 'vmc-models'),
    evidence: evidence.requests,
    clock: options.clock,
    logger: logger.child({ module: 'vmc-commands' }),
  });
  gateway.uplink.subscribe(commandTopicFilter(topicRoot(config.uplink.topicRoot, config.post.id)), (_topic, payload, retained) => commands.receive(payload, retained));

  const post = new PostWorkflow({
    config,
    gateway,
    devices: options.devices,
    clock: options.clock,
    // The OS is asked at most once a real minute, whatever speed the stamping clock runs at.
    clockQuality: createClockQualityProbe(systemClock),
    assessor,
    screening: screeningSlot,
    logger: logger.child({ module: 'workflow' }),
    store: laneStore,
  });
  // The console shows a crossing's entry picture: not one an exit camera took (lane-console.ts).
  const exitCameras = new Set(config.lanes.flatMap((lane) => lane.devices.filter((device) => device.role === 'exit').map((device) => device.id)));
  const laneConsole = new LaneConsole({
    post,
    onEvent: (listener) => gateway.onEvent(listener),
    devices: options.devices,
    deviceHealth: (id) => options.devices.health.get(id),
    image: (ref) => heldImage(options.devices, post, ref),
    stored: { picture: (ref, budget) => evidence.store.picture(ref, budget), entrySnapshot: (crossingId) => evidence.store.entrySnapshot(crossingId, (deviceId) => !exitCameras.has(deviceId ?? '')) },
    clock: options.clock,
    logger: logger.child({ module: 'console' }),
    clockSpeed: options.clockSpeed ?? 1,
  });
  // Read at scrape time: many `share` refusals is one account's clients asking and not reading.
  // (A runtime started again on the same gateway replaces the last one's.)
  gateway.metrics.registry.removeSingleMetric('gateway_image_busy_total');
  new Counter({
    name: 'gateway_image_busy_total',
    help: 'Console pictures refused with GW_ERR_IMAGE_BUSY: over the 16 MiB of all answers (budget) or over the asking account\'s 4 MiB (share)',
    labelNames: ['cause'],
    registers: [gateway.metrics.registry],
    collect() {
      this.reset();
      for (const [cause, count] of Object.entries(laneConsole.pictureBytes.refusals)) this.inc({ cause }, count);
    },
  });
  // After the workflow: a plate read's crossing exists by the time the capture hears the read.
  evidence.capture({ devices: options.devices, image: (ref) => heldImage(options.devices, post, ref) }, [...post.lanes.values()].flatMap((lane) => lane.workflow.open()));
  gateway.setLaneApi({ post, deviceHealth: (id) => options.devices.health.get(id), console: laneConsole }, reloadModels);
  return {
    post,
    assessor,
    riskSlot,
    screeningSlot,
    laneConsole,
    reloadModels,
    commands,
    evidence,
    stop: async () => {
      gateway.setLaneApi(null);
      await commands.stop();
      await evidence.stop();
      laneConsole.stop();
      post.stop();
      laneStore.stop();
      await riskSlot.close();
      await screeningSlot.close();
    },
  };
}

/** A picture still held by one of the post's cameras (each camera driver keeps its last few). */
function heldImage(devices: DeviceFeed, post: PostWorkflow, ref: string): ConsoleImage | null {
  for (const lane of post.lanes.values()) {
    for (const device of lane.config.devices) {
      const driver = devices.driver(device.id);
      const image = driver instanceof OnvifAnprDriver || driver instanceof AnprHttpPushDriver ? driver.image(ref) : null;
      if (image) return image;
    }
  }
  return null;
}
