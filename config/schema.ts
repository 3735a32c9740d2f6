/**
 * config/: the one schema of a post's configuration. It drives the TypeScript types, the defaults,
 * the validation (`config check`) and the JSON Schema editors use. Every object is strict: an
 * unknown key is an error, because a typo must never be silently ignored.
 */
import { z } from 'zod';
import { parsePlateInput } from '../core/plates.js';
import { ID_PATTERN, ID_RULE, RESERVED_LANE_IDS } from '../core/identifiers.js';

export const CONFIG_VERSION = 1;

/** A post, lane or device id: the contract's one rule (core/identifiers.ts), so every id configured can be emitted and filtered on. */
const identifier = z.string().regex(ID_PATTERN, `must be ${ID_RULE}`);

/** A secret is given inline (discouraged), or named by environment variable or file. */
export const secretSchema = z.union([
  z.string().min(1),
  z.strictObject({ env: z.string().min(1).describe('Environment variable holding the secret') }),
  z.strictObject({ file: z.string().min(1).describe('File whose content (trimmed) is the secret') }),
]);
export type SecretRef = z.infer<typeof secretSchema>;

/**
 * Longest timer Node runs as asked: one over 2^31-1 ms (24.8 days) fires at once, with only a
 * TimeoutOverflowWarning (Node's timers.md, setTimeout). Every duration the gateway arms a timer
 * with is bounded by it, so a "never" written as a huge number cannot mean "now".
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** A duration in ms from `min` up to the longest timer. */
const durationMs = (min: number) => z.number().int().min(min).max(MAX_TIMER_MS);

const port = z.number().int().min(1).max(65535);
const tcpConnection = z.strictObject({ host: z.string().min(1), port });
const serialConnection = z.strictObject({
  path: z.string().min(1).describe('Serial device, e.g. /dev/ttyUSB0'),
  // Linux's termios goes no higher (B4000000); a larger rate failed only when the port opened, as
  // a device that never connects, instead of at `config check`.
  baudRate: z.number().int().min(50).max(4_000_000).default(9600),
  dataBits: z.union([z.literal(7), z.literal(8)]).default(8),
  parity: z.enum(['none', 'even', 'odd']).default('none'),
  stopBits: z.union([z.literal(1), z.literal(2)]).default(1),
});

const deviceBase = {
  id: identifier.describe('Unique device id within the post; names its logger and metrics'),
  role: z.enum(['entry', 'exit', 'lane']).default('lane').describe('Where on the lane the device sits'),
};

const onvifCamera = z.strictObject({
  ...deviceBase,
  driver: z.literal('onvif'),
  connection: z.strictObject({
    // z.url() takes any scheme: ftp:// passed config check and left the camera down at run
    // ("ftp: is not http or https"); a user:password@ in it is not what the driver signs requests
    // with (connection.username/password) and keeps a secret in the file in plain text.
    url: z
      .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
      .refine((url) => !/^[a-z]+:\/\/[^/?#]*@/i.test(url), 'must hold no credentials: give them as username and password ({env} or {file})')
      .describe('ONVIF device service URL'),
    username: z.string().min(1),
    password: secretSchema,
  }),
  pullTimeoutSec: z.number().int().min(1).max(60).default(10).describe('PullMessages long-poll timeout'),
  subscriptionSec: z.number().int().min(10).max(Math.floor(MAX_TIMER_MS / 1000)).default(60).describe('PullPoint termination time, renewed at half'),
  requestTimeoutMs: durationMs(100).default(5000).describe('Deadline of each whole request to the camera (connect, headers, body); PullMessages gets its long-poll time on top'),
  minConfidence: z.number().min(0).max(1).default(0.5).describe('Below this a read is reported as unreadable'),
  maxReplyBytes: z
    .number()
    .int()
    .min(4096)
    .max(16 * 1024 * 1024)
    .default(256 * 1024)
    .describe('Largest SOAP reply read from the camera; a bigger one is cut off (GW_ERR_DEVICE_REPLY_TOO_LARGE) and the camera retried'),
  maxSnapshotBytes: z.number().int().min(4096).max(64 * 1024 * 1024).default(4 * 1024 * 1024).describe('Largest snapshot image read from the camera'),
  trustedHosts: z
    .array(z.string().regex(/^[A-Za-z0-9.:[\]_-]{1,253}$/, 'must be a host name or an IP address'))
    .default([])
    .describe("Hosts besides the device URL's that the camera's service, pull-point and snapshot addresses may name (e.g. its internal address behind NAT)"),
  rewriteForeignAddresses: z
    .boolean()
    .default(false)
    .describe("Move an address on any other host onto the device URL's scheme, host and port (logged) instead of refusing it"),
  fetchPictures: z
    .boolean()
    .default(true)
    .describe('Fetch the picture a plate notification names (ImageRef, PictureUri; at most maxSnapshotBytes, on the camera host only) and reference it from the read'),
  duplicateWindowSec: z
    .number()
    .int()
    .min(0)
    .max(3600)
    .default(60)
    .describe('A notification with the same camera event id, or UtcTime and plate, as one seen this recently is dropped as a duplicate; 0 keeps every one'),
});
export type OnvifCameraConfig = z.infer<typeof onvifCamera>;

const httpPushCamera = z.strictObject({
  ...deviceBase,
  driver: z.literal('anpr-http-push'),
  connection: z.strictObject({ path: z.string().startsWith('/').describe('HTTP path the camera posts to') }),
  minConfidence: z.number().min(0).max(1).default(0.5).describe('Below this a read is reported as unreadable'),
  duplicateWindowSec: z
    .number()
    .int()
    .min(0)
    .max(3600)
    .default(300)
    .describe('A push with the same alert UUID, or dateTime and plate, as one stored this recently is answered 200 and not stored again; 0 stores every one'),
});
export type AnprPushConfig = z.infer<typeof httpPushCamera>;

const BARRIER_INPUTS = ['openLimitInput', 'closedLimitInput', 'loopInput', 'photocellInput'] as const;

/** A coil or discrete input: Modbus carries its address in 16 bits (Modbus Application Protocol V1.1b3, 6.1-6.5). */
const modbusAddress = z.number().int().min(0).max(65_535);
/** Most discrete inputs one Read Discrete Inputs request may ask for (Modbus Application Protocol V1.1b3, 6.2). */
const MAX_DISCRETE_INPUTS_PER_READ = 2000;

const modbusRegisterMap = z
  .strictObject({
    openCoil: modbusAddress,
    closeCoil: modbusAddress,
    openLimitInput: modbusAddress,
    closedLimitInput: modbusAddress,
    loopInput: modbusAddress,
    photocellInput: modbusAddress,
  })
  // One signal per address: a loop read from a limit switch's input would read "clear" while a
  // vehicle stands under the arm, and the gateway would close on it; one coil for both would open
  // the arm it was told to close.
  .superRefine((map, ctx) => {
    if (map.closeCoil === map.openCoil) ctx.addIssue({ code: 'custom', path: ['closeCoil'], message: `coil ${map.closeCoil} is already the open coil: the close coil must be another` });
    // The inputs are read in one request, first to last: Modbus takes at most 2000 in one (6.2), and
    // a device answers more with exception 03, so the barrier would never come up.
    const highest = BARRIER_INPUTS.reduce((a, b) => (map[b] > map[a] ? b : a));
    const span = map[highest] - Math.min(...BARRIER_INPUTS.map((input) => map[input])) + 1;
    if (span > MAX_DISCRETE_INPUTS_PER_READ) {
      ctx.addIssue({ code: 'custom', path: [highest], message: `the four inputs span ${span} addresses: they are read in one request, which Modbus bounds at ${MAX_DISCRETE_INPUTS_PER_READ}` });
    }
    const seen = new Map<number, string>();
    for (const input of BARRIER_INPUTS) {
      const other = seen.get(map[input]);
      if (other !== undefined) ctx.addIssue({ code: 'custom', path: [input], message: `input ${map[input]} is already the ${other}: each input reads one signal` });
      else seen.set(map[input], input);
    }
  });

const defaultRegisterMap = {
  openCoil: 0,
  closeCoil: 1,
  openLimitInput: 0,
  closedLimitInput: 1,
  loopInput: 2,
  photocellInput: 3,
};

const barrierTiming = {
  registers: modbusRegisterMap.default(defaultRegisterMap),
  pollMs: durationMs(20).default(200).describe('How often the discrete inputs are read'),
  pulseMs: durationMs(0).default(500).describe('OPEN/CLOSE coil pulse length; 0 = hold the coil on'),
  confirmTimeoutMs: durationMs(100).default(10_000).describe('The arm must reach its limit switch within this'),
  requestTimeoutMs: durationMs(50).default(1000).describe('A Modbus request unanswered this long fails'),
  maxConsecutiveTimeouts: z.number().int().min(1).max(100).default(3).describe('This many requests in a row unanswered: the connection is dropped (health down) and reopened with backoff'),
};

const modbusTcpBarrier = z.strictObject({
  ...deviceBase,
  driver: z.literal('modbus-tcp'),
  connection: tcpConnection.extend({ unitId: z.number().int().min(0).max(247).default(1) }),
  ...barrierTiming,
});

const modbusRtuBarrier = z.strictObject({
  ...deviceBase,
  driver: z.literal('modbus-rtu'),
  connection: serialConnection.extend({ unitId: z.number().int().min(1).max(247).default(1) }),
  ...barrierTiming,
});
export type BarrierConfig = z.infer<typeof modbusTcpBarrier> | z.infer<typeof modbusRtuBarrier>;

const weighbridgeConnection = z.union([serialConnection, tcpConnection]);

/** sma poll mode's request interval when `pollMs` is not given. */
export const DEFAULT_SMA_POLL_MS = 500;
/** Axle mode's empty-platform gap that ends a vehicle when `vehicleGapMs` is not given. */
export const DEFAULT_VEHICLE_GAP_MS = 3000;

/** What every weighbridge indicator takes, whatever its protocol. */
const weighbridgeBase = {
  ...deviceBase,
  connection: weighbridgeConnection,
  stableMs: durationMs(0).default(2000).describe('A weight counts after staying within tolerance this long'),
  toleranceKg: z.number().min(0).default(20),
  zeroBandKg: z.number().min(0).default(100).describe('Below this the platform counts as empty'),
  axleMode: z.boolean().default(false).describe('Axle weighbridge: sum stable axle weights per vehicle'),
  vehicleGapMs: durationMs(0).optional().describe(`axle mode only: empty platform this long ends a vehicle (default ${DEFAULT_VEHICLE_GAP_MS})`),
  silenceMs: durationMs(100).default(5000).describe('No valid frame this long: health degraded'),
};

/**
 * A setting that only one mode reads, given without that mode, was ignored: a `vehicleGapMs`
 * without `axleMode: true` weighed each axle as a vehicle, a `pollMs` without `smaMode: poll`
 * waited for a stream the indicator never sends. Such settings have no default in the schema
 * (the driver's is DEFAULT_…), so that one given can be told from one left out.
 */
function refuseAxleSettingWithoutAxleMode(device: { axleMode: boolean; vehicleGapMs?: number | undefined }, ctx: z.RefinementCtx): void {
  if (device.vehicleGapMs !== undefined && !device.axleMode) ctx.addIssue({ code: 'custom', path: ['vehicleGapMs'], message: 'applies only with axleMode: true (set it, or remove vehicleGapMs)' });
}

// One schema per protocol, each strict: a setting of another protocol (`checksum`, a Toledo
// setting, on an sma indicator) is an unknown key, not silently ignored.
const smaWeighbridge = z
  .strictObject({
    ...weighbridgeBase,
    driver: z.literal('sma'),
    smaMode: z.enum(['continuous', 'poll']).default('continuous').describe('The indicator streams, or is polled with <LF>W<CR>'),
    pollMs: durationMs(50).optional().describe(`poll mode only: request interval (default ${DEFAULT_SMA_POLL_MS})`),
  })
  .superRefine((device, ctx) => {
    refuseAxleSettingWithoutAxleMode(device, ctx);
    if (device.pollMs !== undefined && device.smaMode !== 'poll') ctx.addIssue({ code: 'custom', path: ['pollMs'], message: 'applies only with smaMode: poll (set it, or remove pollMs)' });
  });

const toledoWeighbridge = z
  .strictObject({
    ...weighbridgeBase,
    driver: z.literal('toledo'),
    checksum: z.boolean().default(false).describe('Frames carry the 18th checksum byte'),
  })
  .superRefine(refuseAxleSettingWithoutAxleMode);

const patternWeighbridge = z
  .strictObject({
    ...weighbridgeBase,
    driver: z.literal('pattern'),
    pattern: z.string().describe('Regex per line with named groups weight, unit?, motion?'),
    unit: z.enum(['kg', 't', 'lb', 'g']).default('kg').describe('Unit when the line has none'),
  })
  .superRefine((device, ctx) => {
    refuseAxleSettingWithoutAxleMode(device, ctx);
    try {
      new RegExp(device.pattern);
      if (!device.pattern.includes('(?<weight>')) throw new Error('needs a named group (?<weight>...)');
    } catch (error) {
      ctx.addIssue({ code: 'custom', path: ['pattern'], message: `invalid: ${(error as Error).message}` });
    }
  });
export type WeighbridgeConfig = z.infer<typeof smaWeighbridge> | z.infer<typeof toledoWeighbridge> | z.infer<typeof patternWeighbridge>;

/** Byte bounds of a scanner's files; 16384 x 16384 16-bit samples (512 MiB) is the largest image any setting admits. */
const xrayFileBounds = {
  maxMetadataBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024).describe('A scan metadata file (JSON) larger than this is refused unread'),
  maxImageBytes: z
    .number()
    .int()
    .min(1024)
    .max(1024 * 1024 * 1024)
    .default(256 * 1024 * 1024)
    .describe('An image larger than this is refused before its header is read, and a header announcing more samples is refused before its body is read'),
};

const xrayHttpScanner = z.strictObject({
  ...deviceBase,
  driver: z.literal('xray-http'),
  connection: z.strictObject({ path: z.string().startsWith('/').describe('HTTP path the scanner posts to') }),
  ...xrayFileBounds,
});
export type XrayHttpConfig = z.infer<typeof xrayHttpScanner>;

const xrayFolderScanner = z.strictObject({
  ...deviceBase,
  driver: z.literal('xray-folder'),
  connection: z.strictObject({ folder: z.string().min(1).describe('Drop folder the scanner writes <scanId>.json and .pgm into') }),
  rescanMs: durationMs(50).default(2000).describe('Folder rescan interval (file-system events can be missed)'),
  ...xrayFileBounds,
});
export type XrayFolderConfig = z.infer<typeof xrayFolderScanner>;

/** Every driver a device may name; `driver` picks the shape of `connection`. */
export const deviceSchema = z.discriminatedUnion('driver', [
  onvifCamera,
  httpPushCamera,
  modbusTcpBarrier,
  modbusRtuBarrier,
  smaWeighbridge,
  toledoWeighbridge,
  patternWeighbridge,
  xrayHttpScanner,
  xrayFolderScanner,
]);
export type DeviceConfig = z.infer<typeof deviceSchema>;

/** Each driver's device kind and the keys it takes. */
const DEVICE_SETTINGS: ReadonlyMap<string, { kind: string; keys: ReadonlySet<string> }> = new Map(
  (
    [
      ['camera', [onvifCamera, httpPushCamera]],
      ['barrier', [modbusTcpBarrier, modbusRtuBarrier]],
      ['weighbridge', [smaWeighbridge, toledoWeighbridge, patternWeighbridge]],
      ['scanner', [xrayHttpScanner, xrayFolderScanner]],
    ] as const
  ).flatMap(([kind, schemas]) => schemas.map((schema) => [schema.shape.driver.value, { kind, keys: new Set(Object.keys(schema.shape)) }] as const)),
);

/**
 * The other drivers that take `key` as a setting, those of `driver`'s own kind when any do (a
 * weighbridge's `pollMs` is an sma setting, whatever barriers also call so), for the message on a
 * key `driver` does not take.
 */
export function otherDriversTaking(key: string, driver: string): string[] {
  const others = [...DEVICE_SETTINGS].filter(([other, { keys }]) => other !== driver && keys.has(key));
  const kind = DEVICE_SETTINGS.get(driver)?.kind;
  const sameKind = others.filter(([, settings]) => settings.kind === kind);
  return (sameKind.length > 0 ? sameKind : others).map(([other]) => other);
}

export const DIRECTIONS = ['import', 'export', 'transit-entry', 'transit-exit', 'domestic-transit'] as const;

const laneSchema = z.strictObject({
  id: identifier.refine((id) => !RESERVED_LANE_IDS.includes(id), {
    error: `is kept by the topic tree (${RESERVED_LANE_IDS.join(', ')}: post-wide events, the VMC's commands): give the lane another id`,
  }),
  name: z.string().optional(),
  directions: z.array(z.enum(DIRECTIONS)).min(1).default([...DIRECTIONS]).describe('Directions this lane handles'),
  devices: z.array(deviceSchema).default([]),
});
export type LaneConfig = z.infer<typeof laneSchema>;

const tlsSchema = z.strictObject({
  // Not empty: an empty path was skipped as if not given (the system CAs verified the broker, no
  // client certificate was sent) without a word.
  ca: z.string().min(1).optional().describe('PEM file of the CA that signed the broker certificate'),
  cert: z.string().min(1).optional().describe('PEM file of the client certificate'),
  key: secretSchema.optional().describe('PEM file (or secret) of the client key'),
  rejectUnauthorized: z.boolean().default(true),
})
  // A client certificate is sent only with its key: one without the other was read and not used,
  // and a broker that asks for a client certificate refused the post.
  .superRefine((tls, ctx) => {
    if (tls.cert !== undefined && tls.key === undefined) ctx.addIssue({ code: 'custom', path: ['key'], message: 'is required with cert: the client certificate is sent only with its key' });
    if (tls.key !== undefined && tls.cert === undefined) ctx.addIssue({ code: 'custom', path: ['cert'], message: 'is required with key: the client key is used only with its certificate' });
  });

/** Why a broker URL whose scheme is right still names no broker, or null. */
export function brokerUrlProblem(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not a valid URL (is the port 1-65535?)';
  }
  if (parsed.hostname === '') return 'names no host';
  if (parsed.port === '0') return 'port 0 is no broker';
  return null;
}

/** One broker URL, as `uplink.brokers` takes it and the command line's `--mqtt URL` is checked (gateway/cli-args.ts). */
export const brokerUrlSchema = z
  .string()
  .regex(/^(mqtts?|wss?|tcp|ssl):\/\//, 'must be a URL such as mqtt://host:1883 or mqtts://host:8883')
  // The scheme alone is not a broker: `mqtt://` connected to localhost:1883 unannounced, and a
  // port past 65535 left the uplink retrying a URL it can never open.
  .superRefine((url, ctx) => {
    const problem = brokerUrlProblem(url);
    if (problem) ctx.addIssue({ code: 'custom', message: `${problem}: must be a URL such as mqtt://host:1883 or mqtts://host:8883` });
  });

const uplinkSchema = z.strictObject({
  brokers: z
    .array(brokerUrlSchema)
    .min(1)
    .describe('Brokers in failover order'),
  topicRoot: z
    .string()
    // Every event is published under it: a wildcard or NUL makes each PUBLISH a protocol error the
    // broker drops the connection on (MQTT 3.1.1 4.7.1, 5.0 4.7.3), so every event ended parked as
    // a suspect poison message; a `$` topic is the broker's own (4.7.2).
    .regex(/^[^$+#][^+#]*$/, 'must be an MQTT topic name: no + or # wildcard, not starting with $')
    .refine((root) => !root.includes('\u0000'), 'must be an MQTT topic name: no NUL character')
    // A topic name is at most 65,535 bytes (MQTT 1.5.4): a root near that made every PUBLISH one
    // the client cannot encode. 512 leaves the lane and event type room and then some.
    .max(512)
    .default('border/v1/{postId}')
    .describe('Topic root; {postId} is replaced'),
  // Not empty: an empty client id has the broker assign a random one at each connection, which no
  // ACL pattern on the client id (%c) matches and no broker log names the post by.
  clientId: z.string().min(1).max(256).optional().describe('MQTT client id; default border-gateway-{postId}'),
  username: z.string().optional(),
  password: secretSchema.optional(),
  tls: tlsSchema.optional(),
  protocolVersion: z.union([z.literal(5), z.literal(4)]).default(5).describe('MQTT 5, falling back to 3.1.1 when refused'),
  keepaliveSec: z.number().int().min(5).max(65_535).default(30).describe('Seconds between PINGREQs when nothing else is sent (MQTT allows at most 65,535)'),
  inflightWindow: z.number().int().min(1).max(65_000).default(256).describe('Most unacknowledged QoS 1 publishes at once'),
  publishTimeoutMs: durationMs(100).default(15_000).describe('A publish not acknowledged in this time forces a reconnect'),
  refusedRetryMs: durationMs(10).default(60_000).describe('How often a parked publish (refused by the broker, too large for it, or a suspect poison message) is retried'),
  keepUnrouted: z
    .boolean()
    .default(true)
    .describe(
      'An event the broker routed to no subscriber (MQTT 5 PUBACK 0x10: the VMC is not subscribed, e.g. after a Mosquitto restart lost its shared subscription) stays in the outbox and is sent again (1 s doubling to 30 s) until one receives it. false: forgotten as delivered (for a broker where some event types knowingly have no subscriber)',
    ),
  maxEventBytes: z
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(64 * 1024)
    .describe('Largest event (serialised CloudEvent) a producer may emit; a bigger one is refused with GW_ERR_EVENT_TOO_LARGE and alarmed, never stored. Keep it below the broker\'s packet limit'),
  poisonAfterDrops: z
    .number()
    .int()
    .min(2)
    .max(100)
    .default(3)
    .describe('The broker dropping the connection this many times in a row while one event is the oldest unacknowledged publish parks that event as a suspect poison message'),
  maxHeldEvents: z
    .number()
    .int()
    .min(10)
    .max(1_000_000)
    .default(10_000)
    .describe(
      'Most events the uplink keeps back in memory by seq: parked (refused by the broker, too large for it, suspect) and unrouted (no subscriber) together. Past it no newer event is read from the outbox until some are delivered; they wait there, on disk (GW_ERR_UPLINK_HOLDING)',
    ),
  reconnect: z
    .strictObject({
      initialMs: durationMs(1).default(500),
      maxMs: durationMs(1).default(30_000),
    })
    .default({ initialMs: 500, maxMs: 30_000 }),
})
  // TLS settings with only plain brokers were ignored without a word: an integrator who set a CA
  // and a client certificate believed the link encrypted and the broker verified.
  .superRefine((uplink, ctx) => {
    if (uplink.tls !== undefined && !uplink.brokers.some((url) => /^(mqtts|wss|ssl):\/\//.test(url))) {
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'is used only with an mqtts://, ssl:// or wss:// broker, and every broker here is plain: name the brokers with a TLS scheme' });
    }
  });
export type UplinkConfig = z.infer<typeof uplinkSchema>;

const outboxSchema = z.strictObject({
  // Not empty: run would open the data directory itself as the database (EISDIR) after starting up.
  path: z
    .string()
    .min(1)
    // Nor a name only a directory has (`data/`, `.`, `..`): run could not open it as its database.
    .refine((path) => path === '' || !/(^|\/)\.{0,2}$/.test(path), 'must name a file, not a directory (it ends in /, . or ..)')
    .default('data/outbox.db')
    .describe('SQLite file, relative to the data directory unless absolute'),
  maxBytes: z
    .number()
    .int()
    .min(64 * 1024)
    .default(512 * 1024 * 1024)
    .describe('Bound on stored event bytes; telemetry is dropped first, crossings and alarms last'),
  // Bounded: a burst's appends are committed in one transaction on the loop up to it, so a huge
  // one let a backlog's commit stall the loop that publishes for as long as it took.
  maxBatch: z.number().int().min(1).max(10_000).default(1000).describe('Most events committed in one transaction (one fsync)'),
  reserveBytes: z
    .number()
    .int()
    .min(0)
    .default(4 * 1024 * 1024)
    .describe('Disk space kept free on the outbox filesystem: new events are refused below it, so acknowledged rows can always be deleted and the WAL checkpointed'),
});

const httpsSchema = z.strictObject({
  cert: z.string().min(1).describe('PEM file of the server certificate (chain)'),
  key: secretSchema.describe('PEM file of the server key (a path, or {file: /etc/border-gateway/https.key}); {env: NAME} or a string holding a PEM block is the key itself'),
});

const httpSchema = z.strictObject({
  host: z.string().default('127.0.0.1').describe("Address of the operators' listener (lane API, console, /healthz, /metrics)"),
  port: z.number().int().min(0).max(65535).default(8080).describe('0 picks a free port'),
  tls: httpsSchema.optional().describe('Serve HTTPS instead of HTTP'),
  sessionIdleMin: z.number().min(1).max(24 * 60).default(30).describe('A session ends after this many minutes without a request'),
  sessionMaxHours: z.number().min(1).max(7 * 24).default(12).describe('A session ends this many hours after login, whatever the activity'),
});

/** Camera pushes handled at once: 4 kept each push's event within a window's round trip at 32 in flight (docs/benchmarks.md). */
const DEFAULT_MAX_CONCURRENT_PUSHES = 4;

const devicePushSchema = z.strictObject({
  host: z.string().default('127.0.0.1').describe('Address of the device listener: cameras and scanners push here, never to the operators\' port'),
  port: z.number().int().min(0).max(65535).default(8081).describe('0 picks a free port'),
  tls: httpsSchema.optional().describe('Serve HTTPS to the devices'),
  maxConcurrentPushes: z
    .number()
    .int()
    .min(1)
    .max(256)
    .default(DEFAULT_MAX_CONCURRENT_PUSHES)
    .describe("Camera pushes handled at once, from their read body to their answer; the others wait their turn. A few at a time keep the event loop's turns short, so the uplink hears the broker often and each push's event leaves as soon as it is answered (a scanner's streamed push is not counted)"),
});

const workflowSchema = z.strictObject({
  abandonAfterMin: z
    .number()
    .min(1)
    .max(Math.floor(MAX_TIMER_MS / 60_000))
    .default(720).describe('A crossing without progress this long is closed as abandoned'),
  maxUnregisteredPerLane: z
    .number()
    .int()
    .min(1)
    .default(200)
    .describe('Vehicles arrived on one lane and not yet registered, at most: beyond it the oldest is closed as abandoned (a camera that reads passing traffic must not fill memory for 12 hours)'),
  watchlist: z
    .array(
      // An entry must be a plate by the same rule as a read; one that normalises to nothing would match nothing.
      z.string().superRefine((entry, ctx) => {
        const parsed = parsePlateInput(entry);
        if (!parsed.ok) ctx.addIssue({ code: 'custom', message: `not a plate: ${parsed.reason}` });
      }),
    )
    .default([])
    .describe('Plates always sent red; matched tolerant of OCR confusions (0/O, 1/I, 8/B, 5/S)'),
  weightToleranceShare: z.number().min(0).max(1).default(0.1).describe('Rules: declared vs measured weight off by more than this share → orange with X-ray; a weight within it of the next registered vehicle\'s declaration instead counts toward WF_WEIGHT_QUEUE_SHIFT'),
  randomXrayShare: z.number().min(0).max(1).default(0.07).describe('Share of green vehicles picked at random for X-ray'),
  utcOffsetMin: z.number().int().min(-720).max(840).default(0).describe("The post's time zone offset, for the hour-of-day feature"),
});

const modelsSchema = z.strictObject({
  publicKeys: z.array(z.string().min(1)).optional().describe('PEM files of the keys model manifests must be signed with; default: the key of the bundled models'),
  risk: z.string().min(1).nullable().optional().describe('Risk model manifest; default: the bundled model; null: rules only'),
  xrayScreening: z.string().min(1).nullable().optional().describe('X-ray screening model manifest; default: the bundled model; null: none'),
  engine: z
    .enum(['auto', 'onnxruntime'])
    .optional()
    .describe("Default auto: a model made only of the operators the gateway's own evaluator implements runs there, any other in onnxruntime (docs/models.md); onnxruntime: every model in onnxruntime"),
});
export type ModelsConfig = z.infer<typeof modelsSchema>;

const commandsSchema = z.strictObject({
  publicKeys: z
    .array(z.string().min(1))
    .default([])
    .describe("PEM files of the VMC's command-signing keys (distinct from the model keys); none: every VMC command is refused, never applied unsigned"),
  maxBytes: z
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(2 * 1024 * 1024)
    .describe('Largest VMC command accepted, bytes (a model rollout carries its ONNX file, base64)'),
});

const evidenceSchema = z.strictObject({
  maxBytes: z
    .number()
    .int()
    .min(0)
    .default(2 * 1024 * 1024 * 1024)
    .describe('Bound on the bytes of evidence kept on disk (plate snapshots, X-ray thumbnails and full images, under {data}/evidence); the oldest piece is evicted first to make room, reported as evidence.evicted. 0: no evidence is kept or sent'),
  fullImageDays: z
    .number()
    .min(0)
    .max(3650)
    .default(7)
    .describe('Full X-ray images are kept this many days (within maxBytes), sent only when the VMC asks (evidence.request); 0: not kept'),
  forward: z
    .strictObject({
      plateSnapshots: z.boolean().default(true).describe("Send each plate read's picture to the VMC"),
      xrayThumbnails: z.boolean().default(true).describe("Send each scan's thumbnail to the VMC"),
    })
    .default({ plateSnapshots: true, xrayThumbnails: true }),
  maxQueuedChunks: z
    .number()
    .int()
    .min(1)
    .max(1024)
    .default(8)
    .describe('Most evidence chunks (32 KiB each) in the outbox at once, not yet acknowledged by the broker: evidence never crowds out crossing events, and waits in the evidence store during an outage'),
});
export type EvidenceConfig = z.infer<typeof evidenceSchema>;

export const postConfigSchema = z
  .strictObject({
    version: z.literal(CONFIG_VERSION).describe('Schema version of this file'),
    post: z.strictObject({
      id: identifier.describe('Post id; part of every topic and event source'),
      name: z.string().optional(),
    }),
    lanes: z.array(laneSchema).min(1),
    uplink: uplinkSchema,
    outbox: outboxSchema.default({ path: 'data/outbox.db', maxBytes: 512 * 1024 * 1024, maxBatch: 1000, reserveBytes: 4 * 1024 * 1024 }),
    http: httpSchema.default({ host: '127.0.0.1', port: 8080, sessionIdleMin: 30, sessionMaxHours: 12 }),
    devicePush: devicePushSchema.default({ host: '127.0.0.1', port: 8081, maxConcurrentPushes: DEFAULT_MAX_CONCURRENT_PUSHES }).describe('The listener for device pushes (anpr-http-push, xray-http); started only when such a device is configured'),
    workflow: workflowSchema.default({ abandonAfterMin: 720, maxUnregisteredPerLane: 200, watchlist: [], weightToleranceShare: 0.1, randomXrayShare: 0.07, utcOffsetMin: 0 }),
    models: modelsSchema.default({}).describe('Relative paths are relative to the configuration file'),
    commands: commandsSchema.default({ publicKeys: [], maxBytes: 2 * 1024 * 1024 }).describe('Signed watchlist updates and model rollouts from the VMC (docs/vmc.md); relative key paths are relative to the configuration file'),
    evidence: evidenceSchema
      .default({ maxBytes: 2 * 1024 * 1024 * 1024, fullImageDays: 7, forward: { plateSnapshots: true, xrayThumbnails: true }, maxQueuedChunks: 8 })
      .describe('Plate snapshots and X-ray images kept at the post and sent to the VMC (docs/operations.md#evidence)'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  })
  .superRefine((config, ctx) => {
    const seenLanes = new Set<string>();
    const seenDevices = new Set<string>();
    // Push devices share one listener, a route per path: two on one path would stop `run` with a
    // stack trace when the second route is declared.
    const pushPaths = new Map<string, string>();
    // What one device holds alone: a serial port (each driver opens its own), a drop folder (two
    // drivers would race for its files), a barrier's coil on its Modbus unit (two barriers would
    // move one arm).
    const held = new Map<string, string>();
    const hold = (key: string, deviceId: string, path: (string | number)[], taken: (other: string) => string): void => {
      const other = held.get(key);
      if (other !== undefined) ctx.addIssue({ code: 'custom', path, message: taken(other) });
      else held.set(key, deviceId);
    };
    config.lanes.forEach((lane, laneIndex) => {
      if (seenLanes.has(lane.id)) {
        ctx.addIssue({ code: 'custom', path: ['lanes', laneIndex, 'id'], message: `duplicate lane id "${lane.id}"` });
      }
      seenLanes.add(lane.id);
      lane.devices.forEach((device, deviceIndex) => {
        if (seenDevices.has(device.id)) {
          ctx.addIssue({
            code: 'custom',
            path: ['lanes', laneIndex, 'devices', deviceIndex, 'id'],
            message: `duplicate device id "${device.id}"`,
          });
        }
        seenDevices.add(device.id);
        const at = ['lanes', laneIndex, 'devices', deviceIndex];
        const serialPort = (device.driver === 'modbus-rtu' || device.driver === 'sma' || device.driver === 'toledo' || device.driver === 'pattern') && 'path' in device.connection ? device.connection.path : null;
        if (serialPort !== null) {
          hold(`serial:${serialPort}`, device.id, [...at, 'connection', 'path'], (other) => `serial port ${serialPort} is already device "${other}"'s: one device per serial port (several Modbus units on one RS-485 bus are not supported)`);
        }
        if (device.driver === 'xray-folder') {
          hold(`folder:${device.connection.folder}`, device.id, [...at, 'connection', 'folder'], (other) => `"${device.connection.folder}" is already the drop folder of device "${other}": give each scanner a folder of its own`);
        }
        if (device.driver === 'modbus-tcp' || device.driver === 'modbus-rtu') {
          const unit = device.driver === 'modbus-tcp' ? `${device.connection.host}:${device.connection.port} unit ${device.connection.unitId}` : `${device.connection.path} unit ${device.connection.unitId}`;
          for (const coil of ['openCoil', 'closeCoil'] as const) {
            const n = device.registers[coil];
            // One coil for both is the register map's own refusal, not another barrier's.
            if (coil === 'closeCoil' && n === device.registers.openCoil) continue;
            hold(`coil:${unit}:${n}`, device.id, [...at, 'registers', coil], (other) => `coil ${n} of ${unit} is already barrier "${other}"'s: two barriers would move one arm`);
          }
        }
        if (device.driver === 'anpr-http-push' || device.driver === 'xray-http') {
          const other = pushPaths.get(device.connection.path);
          if (other !== undefined) {
            ctx.addIssue({
              code: 'custom',
              path: ['lanes', laneIndex, 'devices', deviceIndex, 'connection', 'path'],
              message: `"${device.connection.path}" is already the push path of device "${other}": give each push device a path of its own`,
            });
          } else pushPaths.set(device.connection.path, device.id);
        }
      });
    });
    // The device listener starts only for a push device; on the operators' address it stopped
    // `run` with GW_ERR_HTTP_LISTEN (EADDRINUSE, exit 1, systemd restarting it) once one was added.
    const wildcard = (host: string): boolean => host === '0.0.0.0' || host === '::' || host === '';
    const { http, devicePush } = config;
    if (
      pushPaths.size > 0 &&
      devicePush.port !== 0 &&
      devicePush.port === http.port &&
      (devicePush.host === http.host || wildcard(devicePush.host) || wildcard(http.host))
    ) {
      ctx.addIssue({ code: 'custom', path: ['devicePush', 'port'], message: `${devicePush.port} is also http.port on ${http.host}: the device listener needs a port of its own (default 8081)` });
    }
    if (config.uplink.reconnect.maxMs < config.uplink.reconnect.initialMs) {
      ctx.addIssue({ code: 'custom', path: ['uplink', 'reconnect', 'maxMs'], message: 'must be >= initialMs' });
    }
  });

/** A validated post configuration, secrets not yet resolved. */
export type PostConfig = z.infer<typeof postConfigSchema>;
