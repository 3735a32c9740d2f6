/**
 * Signs a manifest written elsewhere: a model trained centrally (the VMC team's pipeline) or by
 * another tool, for posts that trust the signer's public key (docs/models.md). The signature
 * covers the model file's sha256, so the file is read and its digest filled in; a manifest that
 * already names another digest is refused rather than signed for a file it does not describe.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { ZodError } from 'zod';
import { GatewayError } from '../core/errors.js';
import { readManifestJson } from '../contract/model-manifest.js';
import { sha256Hex, signManifest, type ModelManifest, type UnsignedManifest } from './manifest.js';

export interface SignedManifestFile {
  manifest: ModelManifest;
  /** Where the signed manifest was written. */
  path: string;
  /** Whether the manifest carried a signature before (now replaced). */
  resigned: boolean;
}

export function signManifestFile(manifestPath: string, privateKeyPem: string, outPath = manifestPath): SignedManifestFile {
  let raw: unknown;
  try {
    raw = readManifestJson(manifestPath);
  } catch (error) {
    throw new GatewayError('GW_ERR_MODEL_MANIFEST', `${manifestPath}: ${(error as Error).message}`, { cause: error });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new GatewayError('GW_ERR_MODEL_MANIFEST', `${manifestPath}: not a JSON object`);
  const { signature, ...unsigned } = raw as Record<string, unknown>;
  if (typeof unsigned.file !== 'string' || unsigned.file === '') throw new GatewayError('GW_ERR_MODEL_MANIFEST', `${manifestPath}: file: the model file, relative to the manifest, is required`);
  // Relative to the manifest being signed, as verifyModel reads it (keep --out beside it).
  const modelPath = isAbsolute(unsigned.file) ? unsigned.file : join(dirname(manifestPath), unsigned.file);
  let digest: string;
  try {
    digest = sha256Hex(readFileSync(modelPath));
  } catch (error) {
    throw new GatewayError('GW_ERR_MODEL_DIGEST', `${manifestPath}: model file ${modelPath} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  if (unsigned.sha256 !== undefined && unsigned.sha256 !== digest) {
    throw new GatewayError('GW_ERR_MODEL_DIGEST', `${manifestPath}: ${modelPath} has sha256 ${digest}, the manifest says ${JSON.stringify(unsigned.sha256)}; not signed (fix the manifest or copy the file again)`);
  }
  let manifest: ModelManifest;
  try {
    manifest = signManifest({ ...unsigned, sha256: digest } as UnsignedManifest, privateKeyPem);
  } catch (error) {
    if (error instanceof ZodError) {
      const problems = error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
      throw new GatewayError('GW_ERR_MODEL_MANIFEST', `${manifestPath}: ${problems}`, { cause: error });
    }
    throw new GatewayError('GW_ERR_MODEL_SIGNATURE', `the private key cannot sign: ${(error as Error).message}`, { cause: error });
  }
  // Written whole, then renamed: a gateway reloading meanwhile reads the old or the new manifest.
  const partial = `${outPath}.partial`;
  writeFileSync(partial, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(partial, outPath);
  return { manifest, path: outPath, resigned: signature !== undefined };
}
