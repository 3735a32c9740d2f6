/**
 * `border-gateway model keygen | train | verify`: how a post (or the project) makes and signs its
 * own edge models (docs/models.md).
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from './cli-args.js';
import { EXIT_CODES, GatewayError } from '../core/errors.js';
import { writePrivateFile } from '../core/private-files.js';
import { keyIdOf, readPublicKeys, verifyModel } from '../edge-models/manifest.js';
import { isModelVersion, MODEL_VERSION_RULE } from '../edge-models/model-version.js';
import { trainRiskModel, trainXrayModel } from '../edge-models/train-models.js';
import { BUNDLED_MODELS } from './post-runtime.js';

const USAGE = 'usage: border-gateway model keygen --out DIR | model train --key PRIVATE.pem --out DIR [--version V] [--seed N] [--rows N] | model verify MANIFEST [--public-key PEM ...]';


export async function modelCommand(args: string[], out: (line: string) => void): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'keygen') {
    const { values } = parse(rest, { out: { type: 'string' } }, true, USAGE);
    if (values.out === undefined) throw new GatewayError('GW_ERR_CLI_USAGE', USAGE);
    mkdirSync(values.out, { recursive: true });
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const privatePath = join(values.out, 'model-signing.key.pem');
    // 0600 before a byte of the key is written, whatever the umask or an older file's mode.
    writePrivateFile(privatePath, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(values.out, 'model-signing.pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    out(`key ${keyIdOf(publicKey)}: private ${privatePath} (keep it off the post), public ${join(values.out, 'model-signing.pub.pem')} (models.publicKeys)`);
    return EXIT_CODES.ok;
  }
  if (sub === 'train') {
    const { values } = parse(rest, { key: { type: 'string' }, out: { type: 'string' }, version: { type: 'string' }, seed: { type: 'string' }, rows: { type: 'string' } }, true, USAGE);
    if (values.key === undefined || values.out === undefined) throw new GatewayError('GW_ERR_CLI_USAGE', USAGE);
    const seed = Number(values.seed ?? 42);
    const rows = Number(values.rows ?? 20_000);
    if (!Number.isInteger(seed) || !Number.isInteger(rows) || rows < 1000) throw new GatewayError('GW_ERR_CLI_USAGE', '--seed must be an integer and --rows an integer ≥ 1000');
    // Today's date, e.g. 2026.11.26: dots, not ISO dashes, so it is a model version that orders.
    const version = values.version ?? new Date().toISOString().slice(0, 10).replaceAll('-', '.');
    // Checked before training, not after minutes of it when the manifest is signed.
    if (!isModelVersion(version)) throw new GatewayError('GW_ERR_CLI_USAGE', `--version ${version}: a model version is ${MODEL_VERSION_RULE}`);
    const common = {
      outDir: values.out,
      privateKeyPem: readFileSync(values.key, 'utf8'),
      version,
      seed,
      trainRows: rows,
      testRows: Math.round(rows / 4),
    };
    const risk = trainRiskModel(common);
    out(`risk model ${risk.manifest.version}: ${risk.manifestPath}\n  held-out quality ${JSON.stringify(risk.manifest.quality)}\n  thresholds ${JSON.stringify(risk.manifest.thresholds)}`);
    const xray = await trainXrayModel(common);
    out(`X-ray screening model ${xray.manifest.version}: ${xray.manifestPath}\n  held-out quality ${JSON.stringify(xray.manifest.quality)}`);
    return EXIT_CODES.ok;
  }
  if (sub === 'verify') {
    const { values, positionals } = parse(rest, { 'public-key': { type: 'string', multiple: true } }, true, USAGE);
    const manifest = positionals[0];
    if (!manifest || positionals.length > 1) throw new GatewayError('GW_ERR_CLI_USAGE', USAGE);
    const keys = values['public-key'] ?? [BUNDLED_MODELS.publicKey];
    const verified = verifyModel(manifest, readPublicKeys(keys));
    out(`${manifest}: ok — ${verified.manifest.kind} ${verified.manifest.name} ${verified.manifest.version}, sha256 ${verified.manifest.sha256.slice(0, 16)}…, signed by ${verified.manifest.signature.keyId}`);
    out(`  quality ${JSON.stringify(verified.manifest.quality)}`);
    return EXIT_CODES.ok;
  }
  throw new GatewayError('GW_ERR_CLI_USAGE', USAGE);
}
