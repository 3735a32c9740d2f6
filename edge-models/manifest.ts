/**
 * Model manifests: what a model is (kind, name, version), the sha256 of its ONNX file, what it
 * needs to be used (feature order, reference values, thresholds), its measured quality, and an
 * ed25519 signature over all of that. The gateway loads a model only after the signature verifies
 * with a trusted public key and the file's digest matches; otherwise the rules decide.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { canonicalJson } from '../core/canonical-json.js';
import { GatewayError } from '../core/errors.js';
import { manifestSchema, readManifestJson, unsignedManifestSchema, type ModelKind, type ModelManifest, type UnsignedManifest } from '../contract/model-manifest.js';

// The manifest's shape is shared with the VMC, which checks a rollout before it signs it.
export { MODEL_KINDS, manifestSchema, type ModelKind, type ModelManifest, type UnsignedManifest } from '../contract/model-manifest.js';

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
    raw = readManifestJson(manifestPath);
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
