/**
 * The checks a VMC command passes before anything of it is used, in this order, each failure a
 * coded refusal: size (before a byte is parsed), nesting depth, JSON, the envelope's schema, the
 * signing key (one of `commands.publicKeys`), the signature, this post named, and a version above
 * the last applied of its kind (a replay — the same command id or version — told from an older
 * one). Then the kind's payload schema: watchlist plates by the same rule as a camera read; an
 * evidence request's digests (1 to 100, duplicates folded). What a model rollout carries is
 * verified later, as any model is (its manifest signature with the post's model keys, the ONNX
 * file's sha256, a version above the running one): command-handler.ts.
 *
 * Pure: no I/O, no clock; whatever the input, it returns a verdict and never throws.
 */
import type { KeyObject } from 'node:crypto';
import { jsonDepth } from '../../core/canonical-json.js';
import type { ErrorCode } from '../../core/errors.js';
import { parsePlateInput } from '../../core/plates.js';
import {
  COMMAND_KINDS,
  commandEnvelopeSchema,
  commandKeyId,
  commandSignatureValid,
  evidenceRequestPayloadSchema,
  modelRolloutPayloadSchema,
  watchlistPayloadSchema,
  type CommandEnvelope,
  type CommandKind,
} from '../../contract/vmc-command.js';
import type { z } from 'zod';

/** Deepest nesting accepted (a manifest nests 3 deep). */
export const MAX_COMMAND_DEPTH = 64;

export interface VerifyContext {
  postId: string;
  /** The VMC's public keys (`commands.publicKeys`). */
  keys: readonly KeyObject[];
  maxBytes: number;
  /** The last command of `kind` applied here, or null. */
  lastApplied(kind: CommandKind): { version: number; commandId: string } | null;
}

export type VerifiedCommand =
  | { kind: 'watchlist.update'; envelope: CommandEnvelope; plates: string[] }
  | { kind: 'model.rollout'; envelope: CommandEnvelope; payload: z.infer<typeof modelRolloutPayloadSchema> }
  | { kind: 'evidence.request'; envelope: CommandEnvelope; digests: string[] };

/** Identity of a command as far as it could be read, for its answer. */
export interface CommandIdentity {
  commandId: string | null;
  kind: CommandKind | null;
  version: number | null;
}

export type Verdict = { ok: true; command: VerifiedCommand } | { ok: false; code: ErrorCode; message: string; identity: CommandIdentity };

const UNREAD: CommandIdentity = { commandId: null, kind: null, version: null };

export function verifyCommand(bytes: Buffer, context: VerifyContext): Verdict {
  if (bytes.length > context.maxBytes) return refuse('GW_ERR_COMMAND_TOO_LARGE', `${bytes.length} bytes, over commands.maxBytes ${context.maxBytes}`, UNREAD);
  const text = bytes.toString('utf8');
  if (jsonDepth(text, MAX_COMMAND_DEPTH) > MAX_COMMAND_DEPTH) return refuse('GW_ERR_COMMAND_TOO_LARGE', `nested deeper than ${MAX_COMMAND_DEPTH}`, UNREAD);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return refuse('GW_ERR_COMMAND_MALFORMED', `not JSON: ${(error as Error).message.slice(0, 200)}`, UNREAD);
  }
  const parsed = commandEnvelopeSchema.safeParse(raw);
  if (!parsed.success) return refuse('GW_ERR_COMMAND_MALFORMED', `not a command envelope: ${issues(parsed.error)}`, identityOf(raw));
  const envelope = parsed.data;
  const identity: CommandIdentity = { commandId: envelope.commandId, kind: envelope.kind, version: envelope.version };
  if (context.keys.length === 0) return refuse('GW_ERR_COMMAND_KEY_UNKNOWN', 'no VMC key is configured (commands.publicKeys): commands are never applied unsigned', identity);
  const key = context.keys.find((candidate) => commandKeyId(candidate) === envelope.keyId);
  if (!key) return refuse('GW_ERR_COMMAND_KEY_UNKNOWN', `signed by key ${envelope.keyId}, which is not among the ${context.keys.length} in commands.publicKeys`, identity);
  if (!commandSignatureValid(envelope, key)) return refuse('GW_ERR_COMMAND_SIGNATURE', `the signature does not verify with key ${envelope.keyId}: the command was changed after signing`, identity);
  if (!envelope.postIds.includes(context.postId)) return refuse('GW_ERR_COMMAND_WRONG_POST', `addressed to ${envelope.postIds.slice(0, 5).join(', ')}${envelope.postIds.length > 5 ? ', …' : ''}, not ${context.postId}`, identity);
  const last = context.lastApplied(envelope.kind);
  if (last && (last.commandId === envelope.commandId || last.version === envelope.version)) {
    return refuse('GW_ERR_COMMAND_REPLAY', `${envelope.kind} version ${envelope.version} (${envelope.commandId}) was applied already`, identity);
  }
  if (last && envelope.version < last.version) return refuse('GW_ERR_COMMAND_OLDER', `${envelope.kind} version ${envelope.version} is older than version ${last.version}, applied already`, identity);
  if (envelope.kind === 'watchlist.update') {
    const payload = watchlistPayloadSchema.safeParse(envelope.payload);
    if (!payload.success) return refuse('GW_ERR_COMMAND_MALFORMED', `not a watchlist: ${issues(payload.error)}`, identity);
    const plates: string[] = [];
    for (const [index, entry] of payload.data.plates.entries()) {
      const plate = parsePlateInput(entry);
      if (!plate.ok) return refuse('GW_ERR_COMMAND_MALFORMED', `plates.${index}: not a plate: ${plate.reason}`, identity);
      plates.push(plate.text);
    }
    return { ok: true, command: { kind: 'watchlist.update', envelope, plates: [...new Set(plates)] } };
  }
  if (envelope.kind === 'evidence.request') {
    const request = evidenceRequestPayloadSchema.safeParse(envelope.payload);
    if (!request.success) return refuse('GW_ERR_COMMAND_MALFORMED', `not an evidence request: ${issues(request.error)}`, identity);
    return { ok: true, command: { kind: 'evidence.request', envelope, digests: [...new Set(request.data.digests)] } };
  }
  const payload = modelRolloutPayloadSchema.safeParse(envelope.payload);
  if (!payload.success) return refuse('GW_ERR_COMMAND_MALFORMED', `not a model rollout: ${issues(payload.error)}`, identity);
  return { ok: true, command: { kind: 'model.rollout', envelope, payload: payload.data } };
}

function refuse(code: ErrorCode, message: string, identity: CommandIdentity): Verdict {
  return { ok: false, code, message, identity };
}

function issues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ')
    .slice(0, 500);
}

/** Whatever of the identity a malformed command carries, each field only when well-formed. */
function identityOf(raw: unknown): CommandIdentity {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return UNREAD;
  const { commandId, kind, version } = raw as Record<string, unknown>;
  return {
    commandId: typeof commandId === 'string' && /^[0-9a-f-]{36}$/i.test(commandId) ? commandId : null,
    kind: COMMAND_KINDS.find((k) => k === kind) ?? null,
    version: typeof version === 'number' && Number.isSafeInteger(version) ? version : null,
  };
}
