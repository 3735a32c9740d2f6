/**
 * `model sign`: a manifest written elsewhere (a model trained centrally, or by another tool) is
 * signed with a key the posts trust, and then verifies as the gateway verifies before loading;
 * a manifest that does not describe its file is refused, not signed.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../test/helpers/test-config.js';
import { MAX_MANIFEST_BYTES, MAX_MANIFEST_DEPTH } from '../contract/model-manifest.js';
import { verifyModel, readPublicKeys } from '../edge-models/manifest.js';
import { modelCommand } from './model-commands.js';
import { BUNDLED_MODELS } from './post-runtime.js';

const readJson = (path: string): Record<string, unknown> => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

/** A key pair from `model keygen`, and a folder holding the bundled risk model under a new name. */
async function setUp(): Promise<{ dir: string; key: string; pub: string; lines: string[] }> {
  const dir = tempDir('model-sign-');
  const lines: string[] = [];
  expect(await modelCommand(['keygen', '--out', dir], (line) => lines.push(line))).toBe(0);
  const bundled = readJson(BUNDLED_MODELS.risk);
  copyFileSync(join(BUNDLED_MODELS.risk, '..', bundled.file as string), join(dir, 'risk-central.onnx'));
  return { dir, key: join(dir, 'model-signing.key.pem'), pub: join(dir, 'model-signing.pub.pem'), lines };
}

/** The bundled risk manifest as another tool would write it: no signature, no sha256, its own name. */
function writeUnsigned(dir: string, changes: Record<string, unknown> = {}): string {
  const rest = readJson(BUNDLED_MODELS.risk);
  delete rest.signature;
  delete rest.sha256;
  const path = join(dir, 'risk.manifest.json');
  writeFileSync(path, JSON.stringify({ ...rest, name: 'risk-central', version: '2026.12.5', file: 'risk-central.onnx', ...changes }, null, 2));
  return path;
}

describe('border-gateway model sign', () => {
  it('signs a manifest written elsewhere; model verify then accepts it with that key only', async () => {
    const { dir, key, pub, lines } = await setUp();
    const manifest = writeUnsigned(dir);
    expect(await modelCommand(['sign', manifest, '--key', key], (line) => lines.push(line))).toBe(0);
    expect(lines.at(-1)).toMatch(/risk\.manifest\.json: signed — risk risk-central 2026\.12\.5, sha256 [0-9a-f]{16}…, key [0-9a-f]{16}$/);

    lines.length = 0;
    expect(await modelCommand(['verify', manifest, '--public-key', pub], (line) => lines.push(line))).toBe(0);
    expect(lines[0]).toContain(': ok — risk risk-central 2026.12.5');
    // What a post loads with: its trusted keys. The bundled release key did not sign this one.
    expect(verifyModel(manifest, readPublicKeys([pub]), 'risk').manifest.version).toBe('2026.12.5');
    await expect(modelCommand(['verify', manifest], () => undefined)).rejects.toMatchObject({ code: 'GW_ERR_MODEL_SIGNATURE' });

    // Changed after signing: the signature no longer verifies.
    const signed = readJson(manifest);
    writeFileSync(manifest, JSON.stringify({ ...signed, thresholds: { ...(signed.thresholds as object), red: 0.01 } }));
    await expect(modelCommand(['verify', manifest, '--public-key', pub], () => undefined)).rejects.toMatchObject({ code: 'GW_ERR_MODEL_SIGNATURE' });
  });

  it('re-signs a manifest signed by another key, into --out beside it', async () => {
    const { dir, key, pub } = await setUp();
    const manifest = writeUnsigned(dir);
    const bundledSignature = readJson(BUNDLED_MODELS.risk).signature;
    writeFileSync(manifest, JSON.stringify({ ...readJson(manifest), sha256: readJson(BUNDLED_MODELS.risk).sha256, signature: bundledSignature }));
    const lines: string[] = [];
    const out = join(dir, 'risk.resigned.json');
    expect(await modelCommand(['sign', manifest, '--key', key, '--out', out], (line) => lines.push(line))).toBe(0);
    expect(lines[0]).toContain('risk.resigned.json: re-signed');
    expect(readJson(manifest).signature).toEqual(bundledSignature);
    expect(verifyModel(out, readPublicKeys([pub])).manifest.name).toBe('risk-central');
  });

  it('refuses a manifest whose sha256 is not its file, one off the schema, and an --out away from the model', async () => {
    const { dir, key } = await setUp();
    const wrongDigest = writeUnsigned(dir, { sha256: 'a'.repeat(64) });
    const before = readFileSync(wrongDigest, 'utf8');
    await expect(modelCommand(['sign', wrongDigest, '--key', key], () => undefined)).rejects.toMatchObject({ code: 'GW_ERR_MODEL_DIGEST', message: expect.stringContaining('the manifest says "aaaa') as unknown });
    expect(readFileSync(wrongDigest, 'utf8')).toBe(before);

    const badVersion = writeUnsigned(dir, { version: 'v2' });
    await expect(modelCommand(['sign', badVersion, '--key', key], () => undefined)).rejects.toMatchObject({ code: 'GW_ERR_MODEL_MANIFEST', message: expect.stringContaining('version') as unknown });

    const noFile = writeUnsigned(dir, { file: 'missing.onnx' });
    await expect(modelCommand(['sign', noFile, '--key', key], () => undefined)).rejects.toMatchObject({ code: 'GW_ERR_MODEL_DIGEST', message: expect.stringContaining('missing.onnx') as unknown });

    const elsewhere = join(tempDir('model-sign-out-'), 'risk.manifest.json');
    await expect(modelCommand(['sign', writeUnsigned(dir), '--key', key, '--out', elsewhere], () => undefined)).rejects.toMatchObject({ code: 'GW_ERR_CLI_USAGE' });
  });

  it('refuses, as sign and as verify, a manifest nested deeper than MAX_MANIFEST_DEPTH or larger than MAX_MANIFEST_BYTES, before parsing it', async () => {
    const { dir, key, pub } = await setUp();
    // 30,000 nested arrays under `quality` (61 KB): signing and verifying walk it recursively,
    // and it overflowed the stack (RangeError) past the schema, which leaves `quality` open.
    const deep = writeUnsigned(dir, { quality: { nested: 'DEEP' } });
    writeFileSync(deep, readFileSync(deep, 'utf8').replace('"DEEP"', `${'['.repeat(30_000)}${']'.repeat(30_000)}`));
    // Valid JSON, refused for its depth alone.
    expect(typeof JSON.parse(readFileSync(deep, 'utf8'))).toBe('object');
    for (const command of [['sign', deep, '--key', key], ['verify', deep, '--public-key', pub]]) {
      await expect(modelCommand(command, () => undefined)).rejects.toMatchObject({ code: 'GW_ERR_MODEL_MANIFEST', message: expect.stringContaining(`nested deeper than ${MAX_MANIFEST_DEPTH}`) as unknown });
    }
    const large = writeUnsigned(dir, { notes: 'x'.repeat(MAX_MANIFEST_BYTES) });
    for (const command of [['sign', large, '--key', key], ['verify', large, '--public-key', pub]]) {
      await expect(modelCommand(command, () => undefined)).rejects.toMatchObject({ code: 'GW_ERR_MODEL_MANIFEST', message: expect.stringContaining(`larger than ${MAX_MANIFEST_BYTES} bytes`) as unknown });
    }
  });
});
