/**
 * A lane as the console shows it (`GET /api/lanes`, and the `lanes` event of `GET /api/live`):
 * its devices with their health, the barrier (the gateway's cycle, the arm's position, the loop
 * and the photocell), the alarms still standing, and each open crossing with the step it is at,
 * since when, its entry snapshot and its scan. Pure: the lane console (lane-console.ts) hands in
 * what it has heard from the devices.
 */
import type { BarrierInputs } from '../../drivers/barrier/barrier-driver.js';
import type { AlarmView } from './open-alarms.js';
import type { Crossing } from './lane-workflow.js';
import type { PostWorkflow } from './post-workflow.js';

type Lane = ReturnType<PostWorkflow['lane']>;

/** Where a vehicle is on the lane, as the console draws it. */
export type Step = 'queue' | 'registration' | 'weighbridge' | 'scanner' | 'inspection' | 'barrier' | 'exit';

/** A picture's reference as the image store keys it: only these are served by `/api/images/`. */
export const IMAGE_REF_PATTERN = /^sha256:[0-9a-f]{64}$/;

/** A thumbnail the gateway made of a scan, and the scan's own size (regions are in its pixels). */
export interface ScanThumbnail {
  ref: string;
  imageWidth: number;
  imageHeight: number;
}

export interface LaneViewInputs {
  deviceHealth: (deviceId: string) => unknown;
  alarms: AlarmView[];
  /** The barrier's last reading, with its wall time; null when none came yet. */
  barrierInputs: (BarrierInputs & { atMs: number }) | null;
  /** The entry camera's picture reference of a crossing, when its read had one. */
  snapshotRef: (crossing: Crossing) => string | null;
  /** The thumbnail made of a crossing's scan, once made. */
  thumbnail: (crossingId: string) => ScanThumbnail | null;
  /** The post clock now (the demo's runs fast): waiting times are `viewAt − stepSince`. */
  nowMs: number;
  /** Post-clock ms per real ms, so a waiting time can keep growing between two views. */
  clockSpeed: number;
}

/**
 * A scan as callers see it, field by field: never its `imageRef`, which names a file on the
 * gateway's disk (the drop folder's layout is nobody's business over HTTP; the event to the VMC
 * still carries it). The picture is reached through the view's `thumbnailUrl` instead.
 */
function scanShown(scan: NonNullable<Crossing['scan']>): Omit<NonNullable<Crossing['scan']>, 'imageRef'> {
  return { scannerId: scan.scannerId, result: scan.result, screening: scan.screening };
}

/** A crossing as the lane API has always answered it (the POST routes answer this). */
export function summary(crossing: Crossing): Record<string, unknown> {
  return {
    crossingId: crossing.crossingId,
    laneId: crossing.laneId,
    state: crossing.state,
    plate: crossing.plate,
    plateConfidence: crossing.plateConfidence,
    vehicleType: crossing.vehicleType,
    direction: crossing.declaration?.direction ?? null,
    declaredWeightKg: crossing.declaration?.declaredWeightKg ?? null,
    weightKg: crossing.weightKg,
    channel: crossing.risk?.channel ?? null,
    risk: crossing.risk,
    scan: crossing.scan && scanShown(crossing.scan),
    milestones: Object.fromEntries(Object.entries(crossing.wallMs).map(([m, ms]) => [m, new Date(ms).toISOString()])),
  };
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());
const imageUrl = (ref: string | null | undefined): string | null => (ref && IMAGE_REF_PATTERN.test(ref) ? `/api/images/${ref}` : null);

/**
 * The step of a crossing from its state; of the vehicles that arrived and are not registered yet,
 * the oldest is at the booth and the others queue behind it. `since` is the milestone that began
 * the step (a vehicle at the booth has waited there since it arrived, as far as the gateway knows).
 */
export function stepOf(crossing: Crossing, atBooth: boolean): { step: Step; sinceMs: number | undefined } {
  const m = crossing.wallMs;
  switch (crossing.state) {
    case 'arrived':
      return { step: atBooth ? 'registration' : 'queue', sinceMs: m.arrived };
    case 'registered':
    case 'weighed':
    case 'risk-assessed':
      return { step: 'weighbridge', sinceMs: m.registered ?? m.arrived };
    case 'scanning':
      return { step: 'scanner', sinceMs: m.riskAssessed ?? m.weighed ?? m.arrived };
    case 'inspecting':
      return { step: 'inspection', sinceMs: m.scanned ?? m.riskAssessed ?? m.arrived };
    case 'released':
      return { step: 'barrier', sinceMs: m.released ?? m.arrived };
    case 'exited':
    case 'abandoned':
      return { step: 'exit', sinceMs: m.exited ?? m.arrived };
  }
}

export function crossingView(crossing: Crossing, atBooth: boolean, snapshotRef: string | null, thumbnail: ScanThumbnail | null = null): Record<string, unknown> {
  const { step, sinceMs } = stepOf(crossing, atBooth);
  const { scan } = crossing;
  return {
    ...summary(crossing),
    step,
    arrivedAt: iso(crossing.wallMs.arrived),
    stepSince: iso(sinceMs),
    snapshotUrl: imageUrl(snapshotRef),
    scan: scan && {
      ...scanShown(scan),
      regions: scan.screening?.regions ?? [],
      // Made by the gateway from the scan image (xray-thumbnail.ts); a file path is never served
      // (imageUrl takes a `sha256:` reference only).
      thumbnailUrl: imageUrl(thumbnail?.ref ?? scan.imageRef),
      imageWidth: thumbnail?.imageWidth ?? null,
      imageHeight: thumbnail?.imageHeight ?? null,
    },
  };
}

export function laneView(lane: Lane, inputs: LaneViewInputs): Record<string, unknown> {
  const open = lane.workflow.open();
  const booth = open.find((crossing) => crossing.state === 'arrived')?.crossingId;
  const reading = inputs.barrierInputs;
  return {
    laneId: lane.config.id,
    name: lane.config.name ?? null,
    directions: lane.config.directions,
    devices: lane.config.devices.map((device) => ({ id: device.id, driver: device.driver, role: device.role, health: inputs.deviceHealth(device.id) ?? null })),
    barrier: {
      ...lane.cycle,
      deviceId: lane.barrierId,
      position: reading?.position ?? null,
      vehiclePresent: reading?.vehiclePresent ?? null,
      photocellBlocked: reading?.photocellBlocked ?? null,
      inputsAt: iso(reading?.atMs),
    },
    alarms: inputs.alarms,
    crossings: open.map((crossing) => crossingView(crossing, crossing.crossingId === booth, inputs.snapshotRef(crossing), inputs.thumbnail(crossing.crossingId))),
    viewAt: new Date(inputs.nowMs).toISOString(),
    clockSpeed: inputs.clockSpeed,
  };
}
