/**
 * The one registry of the gateway's errors. Every code is stable (operators grep for it, the VMC
 * alarms on it) and documented in docs/errors.md; a test keeps the two in step.
 */

export const ERROR_CODES = {
  GW_ERR_CONFIG_INVALID: 'The configuration file does not match the schema',
  GW_ERR_CONFIG_SYNTAX: 'The configuration file is not valid YAML',
  GW_ERR_CONFIG_READ: 'The configuration file could not be read',
  GW_ERR_CONFIG_SECRET: 'A secret named in the configuration could not be resolved',
  GW_ERR_OUTBOX_OPEN: 'The outbox database could not be opened',
  GW_ERR_DATA_DIR_LOCKED: 'Another gateway holds the lock of this data directory (its outbox)',
  GW_ERR_OUTBOX_DAMAGED: "The gateway's database is damaged (SQLite's quick_check finds a malformed page, or the file is no database); nothing was written to it",
  GW_ERR_OUTBOX_SCHEMA_NEWER: "The gateway's database was written by a newer gateway (its schema version is above this one's); nothing was changed",
  GW_ERR_BACKUP_WRITE: 'A backup of the data directory could not be made (database, files or the archive)',
  GW_ERR_BACKUP_INVALID: 'A file given to restore is not a backup of a data directory, or its database is damaged; nothing was changed',
  GW_ERR_BACKUP_TOO_LARGE: 'An archive given to restore unpacks to more than the disk has room for; nothing was unpacked or changed',
  GW_ERR_OUTBOX_DISK_FULL: 'The outbox database could not commit because the disk is full (or the commit would use the space kept for removals)',
  GW_ERR_OUTBOX_LOCKED: "Another connection holds the gateway database's write lock: commits wait in memory and are tried again",
  GW_ERR_OUTBOX_WAL_GROWING: "The gateway database's WAL file has grown past its bound: a reader holding an old snapshot keeps checkpoints from resetting it",
  GW_ERR_OUTBOX_WRITE: 'The outbox database could not commit an event',
  GW_ERR_OUTBOX_FULL: 'The outbox byte bound left no room for an event of its class; it was dropped and counted',
  GW_ERR_OUTBOX_CLOSED: 'An event was appended after the outbox was closed',
  GW_ERR_EVENT_INVALID: 'An event does not match its schema in the event catalogue',
  GW_ERR_EVENT_TOO_LARGE: 'An event is larger than uplink.maxEventBytes once serialised; it was not stored',
  GW_ERR_UPLINK_PUBLISH_REFUSED: 'The broker refused a publish with an MQTT 5 reason code',
  GW_ERR_UPLINK_PUBLISH_TIMEOUT: 'The broker did not acknowledge a publish in time',
  GW_ERR_UPLINK_CONNECT: 'The gateway could not connect to any MQTT broker',
  GW_ERR_UPLINK_PACKET_TOO_LARGE: "A stored event's PUBLISH exceeds the broker's Maximum Packet Size; it is parked, not sent",
  GW_ERR_UPLINK_PUBLISH_POISON: 'The broker dropped the connection repeatedly while one event was the oldest unacknowledged publish; it is parked',
  GW_ERR_UPLINK_INSECURE: 'The uplink sends a password without TLS, or does not verify the broker certificate',
  GW_ERR_BARRIER_UNSAFE: 'The barrier refused to close: a vehicle is on the loop or the photocell is blocked',
  GW_ERR_BARRIER_NOT_CONFIRMED: 'The barrier did not reach the commanded position within the confirmation timeout',
  GW_ERR_BARRIER_MODBUS_EXCEPTION: 'The barrier controller answered with a Modbus exception',
  GW_ERR_BARRIER_MALFORMED_REPLY: 'The barrier controller answered with a short or malformed Modbus reply; its inputs count as occupied',
  GW_ERR_BARRIER_NO_ANSWER: 'The barrier controller left several requests in a row unanswered; the connection was dropped and is reopened',
  GW_ERR_XRAY_FILE_REFUSED: 'A file in an X-ray drop folder was refused (unsafe, too large or invalid) and moved to quarantine/',
  GW_ERR_DEVICE_OFFLINE: 'A command was sent to a device that is not connected',
  GW_ERR_DEVICE_REPLY_TOO_LARGE: 'A device reply was larger than its byte or markup bound; it was cut off unread',
  GW_ERR_DEVICE_REPLY_TIMEOUT: 'A device reply was not complete within its deadline; it was cut off',
  GW_ERR_DEVICE_REPLY_INVALID: 'A device reply is not acceptable XML or SOAP (unparsable, a DTD, too deeply nested)',
  GW_ERR_DEVICE_FOREIGN_ADDRESS: 'A device named an address off its own host; it was not followed and no credentials were sent',
  GW_ERR_TRS_INPUT: 'The TRS report input could not be read as events',
  GW_ERR_VMC_STORE: 'The VMC store could not be opened, migrated or written',
  GW_ERR_VMC_STORE_NEWER: 'The VMC store was migrated by a newer VMC than this one',
  GW_ERR_VMC_MESSAGE_REJECTED: 'A message on the VMC subscription was not a valid event (too large, not JSON, or off its schema); it was counted and dropped',
  GW_ERR_VMC_EVENT_UNSTORABLE: 'The VMC store refused an event for its data (not for its health); it was counted as rejected and dropped',
  GW_ERR_VMC_DEAD_LETTER: 'A message failed to store several times while the store itself answered; it was counted, acknowledged and dropped',
  GW_ERR_VMC_SEQ_RESTART: "A gateway's seq started again far below what the VMC had seen: a new outbox; gap scanning restarted from the new run",
  GW_ERR_CLI_USAGE: 'The command line is not understood',
  GW_ERR_HTTP_LISTEN: 'The local HTTP server could not listen on its address',
  GW_ERR_SIM_LISTEN: "A simulated device or the simulator's fault endpoint could not listen: another process holds its port",
  GW_ERR_HTTP_BAD_REQUEST: 'An HTTP request does not match its route schema (size, type, range or characters)',
  GW_ERR_HTTP_TOO_LARGE: 'An HTTP request body is larger than its route allows',
  GW_ERR_HTTP_NOT_FOUND: 'No such HTTP route, or no such file of the lane console',
  GW_ERR_HTTP_PATH_REFUSED: "A path to the lane console's files was refused: it leaves their folder or names a dotfile",
  GW_ERR_HTTP_INTERNAL: 'An HTTP request failed inside the gateway',
  GW_ERR_HTTP_TOO_MANY_STREAMS: 'Too many live streams (GET /api/live) are open for this session, or on the gateway in all',
  GW_ERR_PUSH_BUSY: "A device's pushes being read or awaiting their answer would hold more than twice its route's limit in memory",
  GW_ERR_PUSH_TIMEOUT: "A device's push did not arrive whole within its route's deadline",
  GW_ERR_CONSOLE_NOT_BUILT: 'The lane console is not built: dist/console/index.html is missing',
  GW_ERR_IMAGE_NOT_FOUND: 'No picture with this reference is held (never stored, or dropped to keep the image store bounded)',
  GW_ERR_IMAGE_BUSY: 'Pictures being read or sent for the console already hold 16 MiB, or 4 MiB for this account; try again in a second',
  GW_ERR_AUTH_REQUIRED: 'The request carries no valid credentials (missing, wrong, expired or disabled)',
  GW_ERR_AUTH_FORBIDDEN: 'The authenticated caller may not do this (role, device or source address)',
  GW_ERR_AUTH_CSRF: 'A state-changing request with a session cookie lacks the session CSRF token',
  GW_ERR_AUTH_THROTTLED: 'Too many failed logins for this account or address; wait before trying again',
  GW_ERR_AUTH_ACCOUNT: 'An account or client command was refused (name, role, password or address list)',
  GW_ERR_AUDIT_BROKEN: 'The audit log chain does not verify: an entry was edited, removed or reordered',
  GW_ERR_MODEL_MANIFEST: 'A model manifest could not be read or does not match the manifest schema',
  GW_ERR_MODEL_SIGNATURE: 'A model manifest is not signed by a trusted key',
  GW_ERR_MODEL_DIGEST: 'A model file does not match the sha256 its manifest names',
  GW_ERR_MODEL_LOAD: 'onnxruntime could not load a model, or the model does not have the inputs and outputs its kind needs',
  GW_ERR_MODEL_INFERENCE: 'A model failed while scoring; the rules decided instead',
  GW_ERR_MODEL_ROLLBACK: 'A model manifest is older than the running model and no rollback was asked for; the running model stays',
  GW_ERR_COMMAND_TOO_LARGE: 'A VMC command is larger than commands.maxBytes (or nested too deeply); refused unread',
  GW_ERR_COMMAND_MALFORMED: 'A VMC command is not JSON or does not match the command envelope or its kind\'s payload schema; refused',
  GW_ERR_COMMAND_KEY_UNKNOWN: 'A VMC command is signed by a key not among commands.publicKeys (or none is configured); refused',
  GW_ERR_COMMAND_SIGNATURE: 'A VMC command\'s signature does not verify (changed after signing); refused',
  GW_ERR_COMMAND_WRONG_POST: 'A VMC command does not name this post; refused',
  GW_ERR_COMMAND_REPLAY: 'A VMC command was already applied (same command id, or same version of its kind); refused',
  GW_ERR_COMMAND_OLDER: 'A VMC command\'s version is older than the last applied of its kind; refused',
  GW_ERR_COMMAND_ISSUED_AHEAD: "A verified VMC command was issued more than 5 minutes ahead of the post's clock: one of the two clocks is wrong; the command is applied all the same",
  GW_ERR_COMMAND_FLOOD: 'Messages on the command topic were refused faster than the post answers refusals one by one; the rest were counted and summarised in one alarm',
  GW_ERR_COMMAND_APPLY: 'A verified VMC command could not be applied or stored; the post keeps what it had',
  GW_ERR_EVIDENCE_NOT_HELD: 'An evidence.request names no evidence this post holds (never stored, evicted, or damaged); refused',
  GW_ERR_EVIDENCE_WRITE: 'A piece of evidence could not be kept: larger than evidence.maxBytes, too little disk, a write error, or bytes that do not match their digest',
  GW_ERR_EVIDENCE_DAMAGED: 'A file of the evidence store is missing, or its size or bytes no longer match its digest; it was dropped from the store',
  GW_ERR_VMC_COMMAND_VERSION: "A command version the VMC will not sign: not above the highest sent of its kind (the posts would refuse it), or more than 1000 above it (it would raise every post's version floor out of reach)",
  GW_ERR_VMC_NO_COMMAND_KEY: 'This VMC instance was started without a command-signing key (vmc --command-key PEM): it shows commands but sends none',
  GW_ERR_VMC_EVIDENCE_REJECTED: "Evidence a post sent was rejected or dropped at the VMC: a chunk that contradicts its piece, a piece over the size bound, bytes that do not match their digest, or an incomplete piece dropped by the bounds; counted, never served",
  GW_ERR_VMC_TRS_BUSY: 'Two TRS reports are being made on this VMC instance and sixteen wait for their turn: try again in a second',
  GW_ERR_VMC_TRS_GONE: 'The client left before its TRS report was made: its place in the queue, or the rest of its report, was given up',
  GW_ERR_VMC_EVIDENCE_UNKNOWN: 'An evidence request named a post, or a digest of it, that the post never announced to the VMC (evidence.stored): nothing was sent',
  GW_ERR_VMC_EVIDENCE_NOT_FOUND: 'The VMC holds no verified evidence of that digest (not received, not yet complete, or rejected)',
  GW_ERR_VMC_EVIDENCE_BUSY: 'Evidence answers not yet taken by their clients already hold 64 MiB at the VMC, or 16 MiB for this account; try again in a second',
  GW_ERR_TRAINING_INPUT: 'A training file could not be read, or one of its lines is too long or not a valid training row (the message names the line)',
  GW_ERR_TRAINING_DATA: 'A training file has too few labelled crossings, or only one class of outcome, in the part trained on or the part held out',
  GW_ERR_WORKFLOW_STEP: 'A lane workflow step was refused: the crossing is not in a state that allows it, or the input is incomplete',
  GW_ERR_UPLINK_UNROUTED: 'The broker routed events to no subscriber (MQTT 5 PUBACK 0x10): the VMC is not subscribed; the events are kept and sent again',
  GW_ERR_UPLINK_HOLDING: 'As many events are parked or unrouted as the uplink keeps in memory (uplink.maxHeldEvents): newer events wait in the outbox until some are delivered',
  GW_ERR_SYSTEMD_NOTIFY: 'A notification to systemd (readiness, status, watchdog ping) could not be sent; the gateway carries on',
  GW_ERR_WATCHDOG_WITHHELD: "The gateway stopped pinging systemd's watchdog: its outbox commits have stalled or failed for too long; systemd restarts it",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Process exit codes: distinct so a supervisor can tell bad configuration from a crash. */
export const EXIT_CODES = {
  ok: 0,
  failure: 1,
  usage: 64, // EX_USAGE
  config: 78, // EX_CONFIG
} as const;

/** An error with a stable code; the original error, if any, is kept as `cause`. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message ?? ERROR_CODES[code], options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.details = options?.details;
  }
}

export function isGatewayError(error: unknown, code?: ErrorCode): error is GatewayError {
  return error instanceof GatewayError && (code === undefined || error.code === code);
}
