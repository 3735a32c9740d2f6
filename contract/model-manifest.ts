/**
 * The shape of a model manifest (edge-models/manifest.ts signs and verifies it): shared with the
 * VMC, which checks a rollout's manifest and file before it signs the command that carries them.
 */
import { z } from 'zod';
import { readFileBounded } from '../core/bounded-file.js';
import { jsonDepth } from '../core/canonical-json.js';
import { MODEL_VERSION_MAX_LENGTH, MODEL_VERSION_PATTERN, MODEL_VERSION_RULE } from './model-version.js';

export const MODEL_KINDS = ['risk', 'xray-screening'] as const;

/** The ONNX file a rolled-out manifest names: a plain name, written into the rollout's own folder. */
export const MODEL_FILE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export type ModelKind = (typeof MODEL_KINDS)[number];

export const unsignedManifestSchema = z
  .object({
    kind: z.enum(MODEL_KINDS),
    name: z.string().min(1),
    /** Ordered (model-version.ts): a gateway refuses to swap in an older version unless asked to roll back. */
    version: z.string().max(MODEL_VERSION_MAX_LENGTH).regex(MODEL_VERSION_PATTERN, MODEL_VERSION_RULE),
    /** The ONNX file, relative to the manifest. */
    file: z.string().min(1),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex sha256'),
    createdAt: z.string(),
    /** Input feature names in column order (risk models). */
    features: z.array(z.string()).default([]),
    /** A typical value per feature: the reference a feature's contribution is measured from. */
    baseline: z.array(z.number()).default([]),
    thresholds: z.record(z.string(), z.number()),
    quality: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export const manifestSchema = unsignedManifestSchema
  .extend({
    signature: z.object({ algorithm: z.literal('ed25519'), keyId: z.string(), value: z.string() }).strict(),
  })
  .strict();

export type UnsignedManifest = z.input<typeof unsignedManifestSchema>;
export type ModelManifest = z.infer<typeof manifestSchema>;

/** Largest manifest file read: a model's is ~1 KB (its features, thresholds and quality figures). */
export const MAX_MANIFEST_BYTES = 64 * 1024;
/**
 * Deepest nesting of a manifest: as deep as the VMC's POST /api/commands/model takes one (its
 * body, at most 32 deep, holds the manifest one level in). Signing and verifying walk it
 * recursively (core/canonical-json.ts): 100,000 nested arrays under `quality` overflowed the stack.
 */
export const MAX_MANIFEST_DEPTH = 31;

/**
 * A manifest file's JSON, read no further than MAX_MANIFEST_BYTES and its depth counted before it
 * is parsed; throws an Error naming what is wrong (callers wrap it in GW_ERR_MODEL_MANIFEST).
 */
export function readManifestJson(manifestPath: string): unknown {
  const text = readFileBounded(manifestPath, MAX_MANIFEST_BYTES, 'a model manifest').toString('utf8');
  if (jsonDepth(text, MAX_MANIFEST_DEPTH) > MAX_MANIFEST_DEPTH) throw new Error(`nested deeper than ${MAX_MANIFEST_DEPTH}: not a model manifest`);
  return JSON.parse(text);
}
