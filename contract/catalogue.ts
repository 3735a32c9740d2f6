/**
 * The event catalogue: the `data` schema of every event type the gateway emits. It is part of the
 * contract with the VMC; docs/schemas/*.json are generated from it (`npm run schema`) and a test
 * validates emitted events against those files with an independent validator.
 */
import { z } from 'zod';
import { base64String } from './base64.js';
import { DIRECTIONS } from '../config/schema.js';
import { ID_PATTERN, ID_RULE } from '../core/identifiers.js';
import { COMMAND_KINDS } from './vmc-command.js';

export const CHANNELS = ['green', 'orange', 'red'] as const;
export const MILESTONES = ['arrived', 'registered', 'weighed', 'riskAssessed', 'scanned', 'inspected', 'released', 'exited'] as const;
export type Milestone = (typeof MILESTONES)[number];

/** A post, lane or device id of the post's configuration: one rule, the one `source` is made of (core/identifiers.ts). */
const configuredId = (what: string) => z.string().regex(ID_PATTERN).describe(`${what}: ${ID_RULE}`);
const deviceId = configuredId('The device id in the post\'s configuration');

const isoTime = z.iso.datetime({ offset: false, precision: 3 }).describe('RFC 3339 UTC time with milliseconds');

const clockQuality = z
  .strictObject({
    synchronised: z.boolean(),
    offsetMs: z.number().nullable(),
  })
  .describe('How far the wall clock could be trusted when the milestone was stamped');

const plateRead = z.strictObject({
  text: z.string().describe('Normalised plate'),
  raw: z.string().optional().describe('As read by the camera'),
  confidence: z.number().min(0).max(1).optional(),
  country: z.string().optional(),
});

const milestoneBase = {
  crossingId: z.string(),
  clock: clockQuality,
  sinceArrivalSec: z.number().min(0).describe('Monotonic seconds since the vehicle arrived'),
};

const screening = z.strictObject({
  score: z.number().min(0).max(1).describe('Probability-like score that the image hides a dense object'),
  modelVersion: z.string(),
  regions: z
    .array(z.strictObject({ x: z.number().int(), y: z.number().int(), width: z.number().int(), height: z.number().int(), density: z.number() }))
    .describe('Densest image blocks above the model threshold, pixel rectangles'),
});

/** What the post keeps as evidence (gateway/evidence): a camera's picture of a plate read, an X-ray scan's thumbnail, the scan itself. */
export const EVIDENCE_KINDS = ['plate-snapshot', 'xray-thumbnail', 'xray-image'] as const;
export type EvidenceKind = (typeof EVIDENCE_KINDS)[number];

/**
 * Raw bytes carried by one `evidence.chunk`: base64 of this and the envelope stay under the default
 * `uplink.maxEventBytes` (64 KiB), so a chunk is an ordinary event for the outbox and the broker.
 */
export const EVIDENCE_CHUNK_BYTES = 32 * 1024;

export const evidenceDigest = z
  .string()
  .regex(/^sha256:[0-9a-f]{64}$/)
  .describe('sha256 of the bytes as `sha256:<hex>`: the name of a piece of evidence at the post and at the VMC');

const evidenceKind = z.enum(EVIDENCE_KINDS);

const VEHICLE_TYPES = ['truck', 'tractor-trailer', 'van', 'bus', 'car', 'unknown'] as const;

/** What every answer to a VMC command (contract/vmc-command.ts) carries. */
const commandAnswerFields = {
  commandId: z.string().max(64).nullable().describe('The command answered; null when it could not be read'),
  kind: z.enum(COMMAND_KINDS).nullable().describe('Its kind; null when it could not be read'),
  version: z.number().int().nullable().describe('Its version; null when it could not be read'),
  current: z
    .strictObject({
      watchlistVersion: z.number().int().nullable().describe('Version of the last watchlist command applied; null: the configured list'),
      watchlistPlates: z.number().int().describe('Plates on the list in use'),
      modelCommandVersion: z.number().int().nullable().describe('Version of the last model rollout applied; null: none'),
      models: z.strictObject({ risk: z.string().nullable(), xrayScreening: z.string().nullable() }).describe('Model versions running now (null: none loaded)'),
    })
    .describe("The post's state after the command: what it applies from now on"),
};

export const eventDataSchemas = {
  'vehicle.arrived': z.strictObject({
    ...milestoneBase,
    plate: plateRead.nullable().describe('null when the plate was unread'),
    vehicleType: z.enum(VEHICLE_TYPES),
    detectedBy: z
      .enum(['anpr', 'loop', 'operator', 'synthetic'])
      .describe(
        'What detected the vehicle: anpr = the entry camera (also when it could not read the plate); operator = entered at registration, no camera saw it; loop = an entry loop without a camera (no lane reports arrivals so yet); synthetic = the demo traffic generator',
      ),
  }),
  'vehicle.registered': z.strictObject({
    ...milestoneBase,
    direction: z.enum(DIRECTIONS),
    declaredWeightKg: z.number().min(0).nullable(),
    documents: z.array(z.string()),
    aeo: z.boolean().describe('Authorised Economic Operator / trusted trader'),
  }),
  'vehicle.weighed': z.strictObject({
    ...milestoneBase,
    weightKg: z.number(),
    deviceId: deviceId.nullable(),
  }),
  'risk.assessed': z.strictObject({
    ...milestoneBase,
    channel: z.enum(CHANNELS),
    score: z.number().min(0).max(1),
    modelVersion: z.string().describe('Model that decided, or "rules" when rules decided alone'),
    reasons: z.array(z.string()),
    xrayRequested: z.boolean(),
    features: z
      .record(z.string(), z.number())
      .optional()
      .describe(
        "The risk model's inputs as the gateway computed them for this decision, by feature name (docs/models.md), also when the rules decided: what `vmc export-training` exports and a model trained from a post's crossings learns from. Absent from gateways older than this field",
      ),
  }),
  'xray.scanned': z.strictObject({
    ...milestoneBase,
    scannerId: z.string(),
    result: z.enum(['clear', 'suspect']),
    imageRef: z.string().nullable(),
    screening: screening.nullable().describe('The on-device X-ray screening model on the image; null when no model ran'),
  }),
  'inspection.completed': z.strictObject({
    ...milestoneBase,
    outcome: z.enum(['cleared', 'irregularity', 'refused']),
  }),
  'vehicle.released': z.strictObject({ ...milestoneBase }),
  'vehicle.exited': z.strictObject({
    ...milestoneBase,
    plate: plateRead.nullable(),
  }),
  'crossing.completed': z.strictObject({
    crossingId: z.string(),
    postId: configuredId('The post id'),
    laneId: configuredId('The lane id'),
    direction: z.enum(DIRECTIONS),
    plate: z.string().nullable(),
    vehicleType: z.enum(VEHICLE_TYPES),
    channel: z.enum(CHANNELS),
    xray: z.boolean(),
    milestones: z.partialRecord(z.enum(MILESTONES), isoTime).describe('ISO time of every milestone reached'),
    durations: z.strictObject({
      registrationSec: z.number().min(0).nullable(),
      crossingSec: z.number().min(0),
      clock: z
        .enum(['monotonic', 'wall-across-restart'])
        .optional()
        .describe('monotonic (default): measured on one process\'s monotonic clock; wall-across-restart: the gateway restarted during the crossing, and the time across the outage comes from the wall clock'),
    }),
    weightKg: z.number().nullable(),
    risk: z.strictObject({ score: z.number().min(0).max(1), modelVersion: z.string(), reasons: z.array(z.string()) }),
    xrayScreening: screening.nullable().describe('Screening of the scan image, when the vehicle was scanned and a model ran'),
    clock: clockQuality,
    outcome: z.enum(['completed', 'abandoned']),
  }),
  'anpr.plate': z.strictObject({
    deviceId,
    plate: plateRead.extend({ formatValid: z.boolean().nullable() }).nullable().describe('null when the plate was unreadable or below the confidence threshold'),
    plateType: z.string().nullable(),
    vehicleType: z.string().nullable(),
    imageRef: z.string().nullable(),
    cameraTime: z.string().nullable().describe("The camera's own timestamp of the read"),
  }),
  'weighbridge.weight': z.strictObject({
    deviceId,
    weightKg: z.number(),
    axles: z.array(z.number()).nullable().describe('Axle weights in axle mode'),
  }),
  'weighbridge.status': z.strictObject({
    deviceId,
    status: z.enum(['ok', 'centre-of-zero', 'over-capacity', 'under-capacity', 'zero-error', 'tare-error', 'out-of-range']),
  }),
  'barrier.state': z.strictObject({
    deviceId,
    position: z.enum(['open', 'closed', 'moving', 'fault']),
    vehiclePresent: z.boolean(),
    photocellBlocked: z.boolean(),
  }),
  'xray.scan': z.strictObject({
    deviceId,
    status: z.enum(['requested', 'started', 'completed', 'decided']),
    scanId: z.string(),
    scannerId: z.string(),
    plate: z.string().nullable(),
    container: z.string().nullable(),
    scannerTime: z.string(),
    imageRef: z.string().nullable().describe('Where the 16-bit image is kept on the gateway'),
    image: z.strictObject({ width: z.number().int(), height: z.number().int(), min: z.number(), max: z.number(), mean: z.number() }).nullable(),
    metadataRef: z.string().nullable().describe('WCO UFF or vendor metadata file'),
    decision: z.strictObject({ analyst: z.string(), result: z.enum(['clear', 'suspect']), note: z.string().optional() }).nullable(),
  }),
  'device.status': z.strictObject({
    deviceId,
    state: z.enum(['up', 'degraded', 'down']),
    lastError: z.string().nullable(),
    changes: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe('Health changes of the device since its previous device.status, this one included: more than 1 when a flapping device was debounced'),
    since: z.string().optional().describe('RFC 3339 time the device entered this state (the event may be published later, when debounced)'),
  }),
  'operator.action': z.strictObject({
    operatorId: z.string().describe('The authenticated account or client that acted (from its credentials, never a request body)'),
    role: z.string().optional().describe('Its role: operator, supervisor, admin, registration, device, or system'),
    action: z.string().describe('What was done, e.g. crossing.channel, crossing.release, barrier.manual, models.reload, user.add'),
    before: z.string().nullable().optional().describe('The value before the action, where it changed one'),
    after: z.string().nullable().optional().describe('The value after the action'),
    reason: z.string().min(1),
    crossingId: z.string().nullable(),
    audit: z
      .strictObject({ seq: z.number().int().positive(), hash: z.string().regex(/^[0-9a-f]{64}$/) })
      .optional()
      .describe("The action's entry in the post's hash-chained audit log: the VMC's copy of the chain's anchors"),
  }),
  'model.swapped': z.strictObject({
    model: z.enum(['risk', 'xrayScreening']),
    fromVersion: z.string().nullable().describe('Version that ran before; null when none was loaded (the first load after a start)'),
    toVersion: z.string().describe('Version that runs now'),
    rollback: z.boolean().describe('True when an older version replaced a newer one, on an explicit rollback request'),
    requestedBy: z
      .strictObject({ id: z.string(), role: z.string() })
      .describe('Who asked for the load: an authenticated user, or a system actor (gateway at start, sighup)'),
    manifestSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .describe("sha256 of the manifest's signed bytes: canonical JSON (keys sorted) without the signature"),
  }),
  'command.applied': z.strictObject({
    ...commandAnswerFields,
  }),
  'command.refused': z.strictObject({
    ...commandAnswerFields,
    reason: z
      .strictObject({ code: z.string().describe('Stable code of docs/errors.md, e.g. GW_ERR_COMMAND_SIGNATURE'), message: z.string() })
      .describe('Why the command was not applied; what the post had stays in use'),
  }),
  'evidence.stored': z.strictObject({
    digest: evidenceDigest,
    kind: evidenceKind,
    contentType: z.string().max(100).describe('Media type of the bytes, e.g. image/jpeg, image/png, image/x-portable-graymap'),
    bytes: z.number().int().min(0),
    crossingId: z.string().nullable().describe('The crossing it is evidence of; null when the post could not tell'),
    // Not the configured id's rule: a scan's evidence names the scanner by the id its own metadata gives.
    deviceId: z.string().nullable().describe('The camera (its configured id) or scanner (the id its scan metadata gives) it came from'),
    chunks: z
      .number()
      .int()
      .min(0)
      .describe('How many `evidence.chunk` events carry it to the VMC after this one; 0: kept at the post only, sent when the VMC asks (an `evidence.request` command)'),
    imageWidth: z.number().int().min(1).optional().describe('For a thumbnail: width of the image it shows (screening regions are in those pixels)'),
    imageHeight: z.number().int().min(1).optional().describe('For a thumbnail: height of the image it shows'),
    of: evidenceDigest.optional().describe('For a thumbnail: the digest of the full image it shows, which the VMC may request'),
  }),
  'evidence.chunk': z.strictObject({
    digest: evidenceDigest,
    kind: evidenceKind,
    contentType: z.string().max(100),
    bytes: z.number().int().min(0).describe('Size of the whole evidence'),
    index: z.number().int().min(0).describe('0-based; chunk `index` holds bytes from index × EVIDENCE_CHUNK_BYTES (32 KiB)'),
    count: z.number().int().min(1),
    data: base64String(Math.ceil(EVIDENCE_CHUNK_BYTES / 3) * 4, 'The bytes of this chunk, base64'),
    requestId: z.string().max(64).optional().describe('The `evidence.request` command this transfer answers, when the VMC asked for it'),
  }),
  'evidence.evicted': z.strictObject({
    reason: z.enum(['bound', 'retention']).describe("bound: the store's size limit made room for newer evidence; retention: full images past their configured days"),
    evicted: z
      .array(
        z.strictObject({
          digest: evidenceDigest,
          kind: evidenceKind,
          bytes: z.number().int().min(0),
          storedAt: isoTime,
          unsent: z.number().int().min(0).describe('Chunks of it that had not yet been queued for the VMC (they never will be)'),
        }),
      )
      .max(1000)
      .describe('Oldest first'),
    heldBytes: z.number().int().min(0).describe('Bytes the store holds after the eviction'),
    maxBytes: z.number().int().min(0),
  }),
  'alarm.raised': z.strictObject({
    alarm: z.string().describe('Stable alarm code, e.g. GW_ERR_UPLINK_PUBLISH_REFUSED'),
    severity: z.enum(['info', 'warning', 'critical']),
    message: z.string(),
    details: z.record(z.string(), z.unknown()),
  }),
} as const;

export type EventType = keyof typeof eventDataSchemas;
export type EventData<T extends EventType> = z.infer<(typeof eventDataSchemas)[T]>;
export const EVENT_TYPES = Object.keys(eventDataSchemas) as EventType[];

/**
 * Retention class when the outbox is full: telemetry goes first, crossings and alarms last.
 * Higher number = kept longer.
 */
export const RETENTION_CLASSES = { telemetry: 0, operational: 1, critical: 2 } as const;
export type RetentionClass = keyof typeof RETENTION_CLASSES;

export function retentionClassOf(type: string): RetentionClass {
  // An operator's action carries its audit entry: it is kept as long as a crossing.
  if (type === 'crossing.completed' || type === 'alarm.raised' || type === 'operator.action') return 'critical';
  // Evidence can be sent again on request while the post holds it: the first to go when full.
  if (type === 'device.status' || type === 'evidence.chunk') return 'telemetry';
  return 'operational';
}
