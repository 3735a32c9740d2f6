/**
 * Sends a signed command to posts: the next version of its kind (one above the highest the store
 * knows, unless given, and then at most MAX_VERSION_STEP above it), recorded in the store before it is published (so the dashboard shows the
 * posts as waiting, and a second sender picks the version after), then published QoS 1 and
 * retained on each post's command topic: a post offline now gets it when it reconnects.
 * The key stays with the sender (the CLI's --key, the API server's --command-key).
 */
import { createHash, randomUUID, type KeyObject } from 'node:crypto';
import { dirname, isAbsolute, join } from 'node:path';
import mqtt from 'mqtt';
import { readFileBounded } from '../../core/bounded-file.js';
import type { Clock } from '../../core/clock.js';
import { GatewayError } from '../../core/errors.js';
import { parsePlateInput } from '../../core/plates.js';
import { manifestSchema, MODEL_FILE_NAME_PATTERN, readManifestJson } from '../../contract/model-manifest.js';
import { commandTopic, MAX_WATCHLIST_PLATES, signCommand, type CommandEnvelope, type CommandKind } from '../../contract/vmc-command.js';
import type { CommandRecords } from './command-records.js';

export const DEFAULT_TOPIC_ROOT = 'border/v1/{postId}';

/**
 * How far above the highest version sent of its kind a command's version may be set. Each post
 * keeps the version of the last command it applied as a floor and refuses any command below it;
 * a command of version 9007199254740991 set that floor where no later command can pass it, and
 * the kind was blocked until each post's database was edited. 1,000 leaves room for any
 * deliberate jump (a store restored from an older backup, whose posts are a few versions ahead).
 */
export const MAX_VERSION_STEP = 1000;

export interface Broker {
  url: string;
  username?: string;
  password?: string;
  /** The posts' topic root template (`uplink.topicRoot`), default `border/v1/{postId}`. */
  topicRoot?: string;
}

export interface SendRequest {
  kind: CommandKind;
  payload: Record<string, unknown>;
  summary: string;
  postIds: string[];
  /** Default: one above the highest sent of this kind; at most MAX_VERSION_STEP above it. */
  version?: number;
  issuedBy: string;
}

/**
 * Lines of a watchlist read in one turn of the event loop: a line takes about 4 µs, so a turn
 * stays near 10 ms; a text of 100,000 plates read whole held the VMC's loop (its event intake,
 * every dashboard's answers) for 370–480 ms.
 */
export const WATCHLIST_LINES_PER_TURN = 2_000;

/**
 * Watchlist payload from text: one plate per line; blank lines and `#` comments skipped. A list
 * replaces the posts' lists whole, so one without plates clears them: only when `clear` says so
 * (an empty file or form sent by mistake would otherwise lift every watch at once), and `clear`
 * with plates is refused as unclear. Read a line at a time, yielding every
 * WATCHLIST_LINES_PER_TURN lines, and never split whole.
 */
export async function watchlistFromText(text: string, clear = false): Promise<{ payload: Record<string, unknown>; summary: string }> {
  const plates: string[] = [];
  let lineNumber = 0;
  for (let start = 0; start <= text.length; ) {
    const newline = text.indexOf('\n', start);
    const end = newline === -1 ? text.length : newline;
    const line = text.slice(start, end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end);
    start = end + 1;
    lineNumber += 1;
    if (lineNumber % WATCHLIST_LINES_PER_TURN === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const entry = line.replace(/#.*$/, '').trim();
    if (entry === '') continue;
    const plate = parsePlateInput(entry);
    if (!plate.ok) throw new GatewayError('GW_ERR_COMMAND_MALFORMED', `line ${lineNumber}: not a plate: ${plate.reason}`);
    plates.push(plate.text);
    // Refused at the first plate past the bound, not after parsing a 4 MiB text of them.
    if (plates.length > MAX_WATCHLIST_PLATES) throw new GatewayError('GW_ERR_COMMAND_MALFORMED', `more than ${MAX_WATCHLIST_PLATES} plates (line ${lineNumber})`);
  }
  const unique = [...new Set(plates)];
  if (unique.length === 0 && !clear) throw new GatewayError('GW_ERR_COMMAND_MALFORMED', "no plates: an empty list clears the posts' watchlists; say so to send one (the API's clear: true, the command line's --clear)");
  if (unique.length > 0 && clear) throw new GatewayError('GW_ERR_COMMAND_MALFORMED', `${unique.length} plate(s) and clear: a list that clears the watchlists has no plates`);
  return { payload: { plates: unique }, summary: clear ? 'cleared (no plates)' : `${unique.length} plate(s)` };
}

/**
 * What the VMC can check of a rollout before it signs it (the posts check again, and verify the
 * manifest's signature with their model keys, which the VMC does not hold): a manifest of the
 * shape the posts load, naming a plain file name, and an ONNX file in strict base64 whose sha256
 * the manifest names. A rollout that fails here would be retained on the posts' topics in place
 * of the last good one, and refused by every post.
 */
export function checkRollout(payload: Record<string, unknown>): void {
  const malformed = (message: string): GatewayError => new GatewayError('GW_ERR_COMMAND_MALFORMED', `model rollout: ${message}`);
  const manifest = manifestSchema.safeParse(payload.manifest);
  if (!manifest.success) throw malformed(`the manifest is not one the posts load: ${manifest.error.issues.map((issue) => `${issue.path.join('.') || 'manifest'}: ${issue.message}`).join('; ')}`);
  const { file, sha256 } = manifest.data;
  if (!MODEL_FILE_NAME_PATTERN.test(file)) throw malformed(`manifest.file "${file.slice(0, 64)}" is not a plain file name`);
  const encoded = payload.onnxBase64;
  if (typeof encoded !== 'string' || encoded.length === 0) throw malformed('no ONNX file (onnxBase64 is empty)');
  const onnx = Buffer.from(encoded, 'base64');
  // Node's decoder skips what is not base64: the bytes must encode back to exactly what was sent.
  if (onnx.toString('base64') !== encoded) throw malformed('onnxBase64 is not base64');
  const digest = createHash('sha256').update(onnx).digest('hex');
  if (digest !== sha256) throw malformed(`the ONNX file's sha256 is ${digest}, the manifest names ${sha256}: not the file it was signed for`);
}

/** Largest ONNX file read: in base64, the most any post takes in a command (`commands.maxBytes` at most 64 MiB). */
export const MAX_ROLLOUT_ONNX_BYTES = 48 * 1024 * 1024;

/**
 * Rollout payload from a signed model manifest and the ONNX file it names (the posts verify both).
 * Each file is read no further than its bound, and the manifest's depth counted before it is
 * parsed (readManifestJson: jsonDepth, as the VMC's JSON bodies are: core/json-body-depth.ts).
 */
export function rolloutFromManifest(manifestPath: string): { payload: Record<string, unknown>; summary: string } {
  let manifest: Record<string, unknown>;
  try {
    manifest = readManifestJson(manifestPath) as Record<string, unknown>;
  } catch (error) {
    throw new GatewayError('GW_ERR_MODEL_MANIFEST', `${manifestPath}: ${(error as Error).message}`, { cause: error });
  }
  const file = manifest.file;
  if (typeof file !== 'string' || !MODEL_FILE_NAME_PATTERN.test(file)) {
    throw new GatewayError('GW_ERR_MODEL_MANIFEST', `${manifestPath}: "file" must be a plain file name beside the manifest (the posts write it into a folder of their own)`);
  }
  const onnxPath = isAbsolute(file) ? file : join(dirname(manifestPath), file);
  let onnx: Buffer;
  try {
    onnx = readFileBounded(onnxPath, MAX_ROLLOUT_ONNX_BYTES, 'a model any post takes in a command');
  } catch (error) {
    throw new GatewayError('GW_ERR_MODEL_MANIFEST', `${onnxPath}, the manifest's file: ${(error as Error).message}`, { cause: error });
  }
  return { payload: { manifest, onnxBase64: onnx.toString('base64') }, summary: `${String(manifest.kind)} ${String(manifest.version)}` };
}

export function topicRootOf(template: string, postId: string): string {
  return template.replaceAll('{postId}', postId).replace(/\/+$/, '');
}

/** Signs, records and publishes `request`; resolves with the command once every post's copy is acknowledged by the broker. */
export async function sendCommand(records: CommandRecords, broker: Broker, key: KeyObject, asked: SendRequest, clock: Clock): Promise<{ command: CommandEnvelope; topics: string[] }> {
  // A post named twice (the command line's --posts a,a) gets the command once, recorded once.
  const request = { ...asked, postIds: [...new Set(asked.postIds)] };
  if (request.kind === 'model.rollout') checkRollout(request.payload);
  const highest = await records.highestVersion(request.kind);
  const version = request.version ?? highest + 1;
  if (!Number.isSafeInteger(version) || version <= highest) {
    throw new GatewayError('GW_ERR_VMC_COMMAND_VERSION', `${request.kind} version ${version} is not above ${highest}, the highest already sent: the posts would refuse it as older or a replay`);
  }
  if (version > highest + MAX_VERSION_STEP) {
    throw new GatewayError(
      'GW_ERR_VMC_COMMAND_VERSION',
      `${request.kind} version ${version} is more than ${MAX_VERSION_STEP} above ${highest}, the highest already sent: each post would keep it as its floor and refuse every later ${request.kind} below it`,
    );
  }
  const command = signCommand(
    { kind: request.kind, commandId: randomUUID(), postIds: request.postIds, version, issuedAt: new Date(clock.now()).toISOString(), payload: request.payload },
    key,
  );
  await records.recordSent({ commandId: command.commandId, kind: command.kind, version, postIds: request.postIds, summary: request.summary, issuedBy: request.issuedBy, issuedAt: command.issuedAt });
  const text = JSON.stringify(command);
  const topics = request.postIds.map((post) => commandTopic(topicRootOf(broker.topicRoot ?? DEFAULT_TOPIC_ROOT, post), request.kind));
  const client = await mqtt.connectAsync(broker.url, {
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ...(broker.username !== undefined ? { username: broker.username } : {}),
    ...(broker.password !== undefined ? { password: broker.password } : {}),
  });
  try {
    for (const topic of topics) await client.publishAsync(topic, text, { qos: 1, retain: true });
  } finally {
    await client.endAsync();
  }
  return { command, topics };
}
