/**
 * Model manifests: what a model is (kind, name, version), the sha256 of its ONNX file, what it
 * needs to be used (feature order, reference values, thresholds), its measured quality, and an
 * ed25519 signature over all of that. The gateway loads a model only after the signature verifies
 * with a trusted public key and the file's digest matches; otherwise the rules decide.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { canonicalJson } from '../core/canonical-json.js';
import { GatewayError } from '../core/errors.js';
import { MODEL_VERSION_MAX_LENGTH, MODEL_VERSION_PATTERN, MODEL_VERSION_RULE } from './model-version.js';

export const MODEL_KINDS = ['risk', 'xray-screening'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

const unsignedManifestSchema = z
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

/** JSON with keys sorted at every level: the bytes that are signed (shared with VMC commands). */
export { canonicalJson };

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** A short, stable name for a public key: the first 16 hex digits of its SPKI DER's sha256. */
export function keyIdOf(publicKey: KeyObject): string {
  return sha256Hex(publicKey.export({ type: 'spki', format: 'der' })).slice(0, 16);
}

export function signManifest(unsigned: UnsignedManifest, privateKeyPem: string): ModelManifest {
  const body = unsignedManifestSchema.parse(unsigned);
  const privateKey = createPrivateKey(privateKeyPem);
  const value = sign(null, Buffer.from(canonicalJson(body)), privateKey).toString('base64');
  return { ...body, signature: { algorithm: 'ed25519', keyId: keyIdOf(createPublicKey(privateKey)), value } };
}

export interface VerifiedModel {
  manifest: ModelManifest;
  manifestPath: string;
  /**
   * sha256 of the bytes that were signed (the manifest without its signature, as canonical JSON):
   * the manifest's identity, whatever its file's whitespace, and what `model.swapped` reports.
   */
  manifestSha256: string;
  bytes: Buffer;
}

/**
 * Reads a manifest, checks its schema, its signature against the trusted keys, and the model
 * file's digest. Each failure is a GatewayError whose message names the manifest and what is wrong.
 */
export function verifyModel(manifestPath: string, trustedKeys: KeyObject[], expectedKind?: ModelKind): VerifiedModel {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (error) {
    throw new GatewayError('GW_ERR_MODEL_MANIFEST', `${manifestPath}: ${(error as Error).message}`, { cause: error });
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
    throw new GatewayError('GW_ERR_MODEL_MANIFEST', `${manifestPath}: ${problems}`);
  }
  const manifest = parsed.data;
  if (expectedKind && manifest.kind !== expectedKind) {
    throw new GatewayError('GW_ERR_MODEL_MANIFEST', `${manifestPath}: kind is ${manifest.kind}, expected ${expectedKind}`);
  }
  const key = trustedKeys.find((candidate) => keyIdOf(candidate) === manifest.signature.keyId);
  if (!key) throw new GatewayError('GW_ERR_MODEL_SIGNATURE', `${manifestPath}: signed by key ${manifest.signature.keyId}, which is not among the ${trustedKeys.length} trusted keys`);
  const { signature, ...body } = manifest;
  const signed = Buffer.from(canonicalJson(body));
  if (!verify(null, signed, key, Buffer.from(signature.value, 'base64'))) {
    throw new GatewayError('GW_ERR_MODEL_SIGNATURE', `${manifestPath}: the signature does not verify (the manifest was changed after signing)`);
  }
  const modelPath = isAbsolute(manifest.file) ? manifest.file : join(dirname(manifestPath), manifest.file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(modelPath);
  } catch (error) {
    throw new GatewayError('GW_ERR_MODEL_DIGEST', `${manifestPath}: model file ${modelPath} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  const digest = sha256Hex(bytes);
  if (digest !== manifest.sha256) throw new GatewayError('GW_ERR_MODEL_DIGEST', `${manifestPath}: ${modelPath} has sha256 ${digest}, the manifest says ${manifest.sha256}`);
  return { manifest, manifestPath, manifestSha256: sha256Hex(signed), bytes };
}

/** Trusted public keys from PEM files (a file may hold one key). */
export function readPublicKeys(paths: string[]): KeyObject[] {
  return paths.map((path) => {
    try {
      return createPublicKey(readFileSync(path, 'utf8'));
    } catch (error) {
      throw new GatewayError('GW_ERR_MODEL_SIGNATURE', `public key ${path} cannot be read: ${(error as Error).message}`, { cause: error });
    }
  });
}
