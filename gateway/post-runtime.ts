/**
 * The lanes of a running post: loads and verifies the edge models (bundled ones unless the
 * configuration names others), builds the risk assessor and the post workflow over the device
 * manager, and serves the lane API. `run` and `demo` both start the post through here.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { PostConfig } from '../config/schema.js';
import { systemClock, type Clock } from '../core/clock.js';
import { createClockQualityProbe } from '../core/clock-quality.js';
import { PACKAGE_ROOT } from '../core/package-info.js';
import { readPublicKeys } from '../edge-models/manifest.js';
import { ModelSlot } from '../edge-models/model-slot.js';
import { RiskModel } from '../edge-models/risk-model.js';
import { XrayScreeningModel } from '../edge-models/xray-screening.js';
import type { Gateway } from './daemon.js';
import type { DeviceManager } from './devices/device-manager.js';
import { createLaneApi } from './workflow/lane-api.js';
import { PostWorkflow, type DeviceFeed } from './workflow/post-workflow.js';
import type { ApiHandler } from './http/health-server.js';
import { RiskAssessor } from './workflow/risk-assessor.js';
import { VisitHistory } from './workflow/visit-history.js';

export const BUNDLED_MODELS = {
  publicKey: join(PACKAGE_ROOT, 'models', 'keys', 'release.pub.pem'),
  risk: join(PACKAGE_ROOT, 'models', 'risk.manifest.json'),
  xrayScreening: join(PACKAGE_ROOT, 'models', 'xray-screening.manifest.json'),
};

export interface PostRuntime {
  post: PostWorkflow;
  /** The lane API handler (also served under /api/ by the gateway's HTTP server). */
  api: ApiHandler;
  assessor: RiskAssessor;
  riskSlot: ModelSlot<RiskModel>;
  screeningSlot: ModelSlot<XrayScreeningModel>;
  /** Loads the configured manifests again (SIGHUP, POST /api/models/reload). */
  reloadModels(): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export interface PostRuntimeOptions {
  config: PostConfig;
  gateway: Gateway;
  devices: DeviceFeed & Pick<DeviceManager, 'health'>;
  clock: Clock;
  logger: Logger;
  random?: () => number;
}

export async function startPostRuntime(options: PostRuntimeOptions): Promise<PostRuntime> {
  const { config, gateway, logger } = options;
  const keyFiles = config.models.publicKeys ?? [BUNDLED_MODELS.publicKey];
  const trustedKeys = readPublicKeys(keyFiles);
  const manifests = {
    risk: config.models.risk === undefined ? BUNDLED_MODELS.risk : config.models.risk,
    xrayScreening: config.models.xrayScreening === undefined ? BUNDLED_MODELS.xrayScreening : config.models.xrayScreening,
  };
  const riskSlot = new ModelSlot('risk', (verified) => RiskModel.load(verified), () => trustedKeys);
  const screeningSlot = new ModelSlot('xray-screening', (verified) => XrayScreeningModel.load(verified), () => trustedKeys);
  const history = new VisitHistory();
  const random = options.random ?? Math.random;
  const modelLogger = logger.child({ module: 'models' });

  const alarm = (alarmName: string, message: string, details: Record<string, unknown>): void => {
    gateway.raiseAlarm(alarmName, 'warning', message, details);
  };
  const assessor = new RiskAssessor({
    slot: riskSlot,
    rules: { watchlist: config.workflow.watchlist, weightToleranceShare: config.workflow.weightToleranceShare, randomXrayShare: config.workflow.randomXrayShare, random },
    history,
    utcOffsetMin: config.workflow.utcOffsetMin,
    logger: modelLogger,
    onModelFailure: (crossing, error) => alarm('GW_ERR_MODEL_INFERENCE', `risk model failed on ${crossing.crossingId}: ${error.message}; rules decided`, { crossingId: crossing.crossingId }),
  });

  const reloadModels = async (): Promise<Record<string, unknown>> => {
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
        const model = await (slot as ModelSlot<RiskModel | XrayScreeningModel>).load(manifest);
        modelLogger.info({ model: name, version: model.version, manifest }, 'model loaded');
        outcome[name] = { version: model.version };
      } catch (error) {
        const code = (error as { code?: string }).code ?? 'GW_ERR_MODEL_LOAD';
        modelLogger.error({ err: error, manifest }, 'model not loaded');
        alarm(code, `${name} model not loaded: ${(error as Error).message}`, { manifest, keptVersion: slot.version });
        outcome[name] = { version: slot.version, error: { code, message: (error as Error).message } };
      }
    }
    return outcome;
  };
  await reloadModels();

  const post = new PostWorkflow({
    config,
    gateway,
    devices: options.devices,
    clock: options.clock,
    // The OS is asked at most once a real minute, whatever speed the stamping clock runs at.
    clockQuality: createClockQualityProbe(systemClock),
    assessor,
    screening: screeningSlot,
    history,
    logger: logger.child({ module: 'workflow' }),
  });
  const api = createLaneApi({ post, deviceHealth: (id) => options.devices.health.get(id), reloadModels });
  gateway.setApiHandler(api);
  return {
    post,
    api,
    assessor,
    riskSlot,
    screeningSlot,
    reloadModels,
    stop: async () => {
      gateway.setApiHandler(null);
      post.stop();
      await riskSlot.close();
      await screeningSlot.close();
    },
  };
}
