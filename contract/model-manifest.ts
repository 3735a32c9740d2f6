/**
 * The shape of a model manifest (edge-models/manifest.ts signs and verifies it): shared with the
 * VMC, which checks a rollout's manifest and file before it signs the command that carries them.
 */
import { z } from 'zod';
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

