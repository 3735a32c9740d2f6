/**
 * Commands from the VMC to the posts (watchlist updates, model rollouts): the signed envelope both
 * sides share, its topic, and how it is signed. The VMC signs; a gateway applies a command only
 * when the signature verifies with a configured VMC key (`commands.publicKeys`), the command names
 * the post, and its version is newer than the last one applied of its kind (gateway/vmc-commands).
 *
 * The signature is ed25519 over the canonical JSON (core/canonical-json.ts) of the envelope
 * without `signature`, so whitespace or key order changed in transit do not matter, and any other
 * change (a plate, a post id, the version) breaks it.
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from '../core/canonical-json.js';
import { BASE64_PATTERN } from './base64.js';
import { COMMANDS_TOPIC_LEVEL, ID_PATTERN, ID_RULE } from '../core/identifiers.js';

export const COMMAND_KINDS = ['watchlist.update', 'model.rollout', 'evidence.request'] as const;
export type CommandKind = (typeof COMMAND_KINDS)[number];

/** Topic leaf per kind: each kind's latest command stays retained on its own topic. */
export const COMMAND_TOPIC_LEAF: Record<CommandKind, string> = { 'watchlist.update': 'watchlist', 'model.rollout': 'model', 'evidence.request': 'evidence' };

/**
 * `{root}/commands/{watchlist|model|evidence}`, published retained by the VMC: a post that is offline when
 * a command is sent gets the latest of each kind when it subscribes again. `{root}` is the post's
 * topic root (default `border/v1/{postId}`), so the broker's per-post ACL pattern covers it.
 */
export function commandTopic(root: string, kind: CommandKind): string {
  return `${root}/${COMMANDS_TOPIC_LEVEL}/${COMMAND_TOPIC_LEAF[kind]}`;
}

/** The filter a post subscribes to. */
export function commandTopicFilter(root: string): string {
  return `${root}/${COMMANDS_TOPIC_LEVEL}/+`;
}

/** Largest watchlist a command may carry. */
export const MAX_WATCHLIST_PLATES = 100_000;
/** Posts one command may name. */
export const MAX_COMMAND_POSTS = 1000;

const postId = z.string().regex(ID_PATTERN, `a post id: ${ID_RULE}`);

export const watchlistPayloadSchema = z.strictObject({
  /** The whole list (not a difference): applying it replaces the post's list. */
  plates: z.array(z.string().max(32)).max(MAX_WATCHLIST_PLATES),
});

export const modelRolloutPayloadSchema = z.strictObject({
  /** The model's signed manifest (edge-models/manifest.ts), verified by the post with its model keys. */
  manifest: z.record(z.string(), z.unknown()),
  /** The ONNX file the manifest's sha256 names, base64. */
  onnxBase64: z.string().refine((text) => BASE64_PATTERN.test(text), { message: 'base64' }),
});

/** Most digests one evidence request may name. */
export const MAX_EVIDENCE_REQUEST_DIGESTS = 100;

export const evidenceRequestPayloadSchema = z.strictObject({
  /** Evidence the post should send (again) in full: e.g. the X-ray image a thumbnail's `of` names. */
  digests: z
    .array(z.string().regex(/^sha256:[0-9a-f]{64}$/))
    .min(1)
    .max(MAX_EVIDENCE_REQUEST_DIGESTS),
});

export const commandEnvelopeSchema = z.strictObject({
  kind: z.enum(COMMAND_KINDS),
  commandId: z.uuid(),
  postIds: z.array(postId).min(1).max(MAX_COMMAND_POSTS),
  /** Per kind, strictly increasing: a post applies only a version above the last it applied. */
  version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  issuedAt: z.iso.datetime({ offset: true }),
  payload: z.record(z.string(), z.unknown()),
  /** First 16 hex digits of the sha256 of the signing key's SPKI DER (as model manifests name keys). */
  keyId: z.string().regex(/^[0-9a-f]{16}$/),
  signature: z.string().max(200),
});

export type CommandEnvelope = z.infer<typeof commandEnvelopeSchema>;
export type UnsignedCommand = Omit<CommandEnvelope, 'keyId' | 'signature'>;

/** A short, stable name for a public key: the first 16 hex digits of its SPKI DER's sha256. */
export function commandKeyId(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** The bytes the signature covers: the envelope without `signature`, as canonical JSON. */
export function signedCommandBytes(command: Omit<CommandEnvelope, 'signature'>): Buffer {
  const { kind, commandId, postIds, version, issuedAt, payload, keyId } = command;
  return Buffer.from(canonicalJson({ kind, commandId, postIds, version, issuedAt, payload, keyId }));
}

export function signCommand(unsigned: UnsignedCommand, privateKey: KeyObject): CommandEnvelope {
  const keyId = commandKeyId(createPublicKey(privateKey));
  const body = { ...unsigned, keyId };
  return { ...body, signature: sign(null, signedCommandBytes(body), privateKey).toString('base64') };
}

/** Whether `command`'s signature verifies with `publicKey`. */
export function commandSignatureValid(command: CommandEnvelope, publicKey: KeyObject): boolean {
  try {
    return verify(null, signedCommandBytes(command), publicKey, Buffer.from(command.signature, 'base64'));
  } catch {
    return false;
  }
}
