/**
 * `border-gateway model keygen | train | sign | verify`: how a post (or the project) makes and
 * signs its own edge models, or signs one made elsewhere (docs/models.md). The options of each
 * subcommand are its form in commands/command-specs.ts.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseForm, selectForm, unknownForm, usageError } from '../core/command-line.js';
import { EXIT_CODES, GatewayError } from '../core/errors.js';
import { writePrivateFile } from '../core/private-files.js';
import { keyIdOf, readPublicKeys, verifyModel } from '../edge-models/manifest.js';
import { isModelVersion, MODEL_VERSION_RULE } from '../contract/model-version.js';
import { trainFromCrossings, type AtThreshold, type CrossingTrainingReport } from '../edge-models/train-from-crossings.js';
import { readTrainingFile } from '../edge-models/training-file.js';
import { signManifestFile } from '../edge-models/sign-manifest-file.js';
import { trainRiskModel, trainXrayModel } from '../edge-models/train-models.js';
import { BUNDLED_MODELS } from './post-runtime.js';
import { MODEL, MODEL_KEYGEN_FORM, MODEL_SIGN_FORM, MODEL_TRAIN_FORM, MODEL_VERIFY_FORM } from './commands/command-specs.js';

export async function modelCommand(args: string[], out: (line: string) => void): Promise<number> {
  const selected = selectForm(MODEL, args);
  const rest = selected?.rest ?? [];
  if (selected?.form === MODEL_KEYGEN_FORM) {
    const { values } = parseForm(MODEL_KEYGEN_FORM, rest);
    if (values.out === undefined) throw usageError(MODEL_KEYGEN_FORM.path, 'model keygen needs --out DIR');
    mkdirSync(values.out, { recursive: true });
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const privatePath = join(values.out, 'model-signing.key.pem');
    // 0600 before a byte of the key is written, whatever the umask or an older file's mode.
    writePrivateFile(privatePath, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(values.out, 'model-signing.pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    out(`key ${keyIdOf(publicKey)}: private ${privatePath} (keep it off the post), public ${join(values.out, 'model-signing.pub.pem')} (models.publicKeys)`);
    return EXIT_CODES.ok;
  }
  if (selected?.form === MODEL_TRAIN_FORM) {
    const { values } = parseForm(MODEL_TRAIN_FORM, rest);
    if (values.key === undefined || values.out === undefined) throw usageError(MODEL_TRAIN_FORM.path, 'model train needs --key PEM and --out DIR');
    if (values.from !== undefined && (values.seed !== undefined || values.rows !== undefined)) throw usageError(MODEL_TRAIN_FORM.path, '--seed and --rows are for simulated data, not --from');
    const seed = Number(values.seed ?? 42);
    const rows = Number(values.rows ?? 20_000);
    if (!Number.isInteger(seed) || !Number.isInteger(rows) || rows < 1000) throw new GatewayError('GW_ERR_CLI_USAGE', '--seed must be an integer and --rows an integer ≥ 1000');
    // Today's date, e.g. 2026.11.26: dots, not ISO dashes, so it is a model version that orders.
    const version = values.version ?? new Date().toISOString().slice(0, 10).replaceAll('-', '.');
    // Checked before training, not after minutes of it when the manifest is signed.
    if (!isModelVersion(version)) throw new GatewayError('GW_ERR_CLI_USAGE', `--version ${version}: a model version is ${MODEL_VERSION_RULE}`);
    if (values.from !== undefined) {
      const privateKeyPem = readFileSync(values.key, 'utf8');
      const file = await readTrainingFile(values.from);
      const trained = trainFromCrossings(file.rows, { outDir: values.out, privateKeyPem, version });
      for (const line of describeTraining(values.from, trained.report, file.duplicates)) out(line);
      out(`  signed manifest ${trained.manifestPath} (key ${trained.manifest.signature.keyId}); thresholds ${JSON.stringify(trained.manifest.thresholds)}`);
      return EXIT_CODES.ok;
    }
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
  if (selected?.form === MODEL_SIGN_FORM) {
    const { values, positionals } = parseForm(MODEL_SIGN_FORM, rest);
    const manifest = positionals[0] as string;
    if (values.key === undefined) throw usageError(MODEL_SIGN_FORM.path, 'model sign needs --key PEM');
    const outPath = values.out ?? manifest;
    // The manifest names its model file relative to itself: a copy elsewhere would name nothing.
    if (dirname(resolve(outPath)) !== dirname(resolve(manifest)) && !isAbsoluteModelPath(manifest)) {
      throw usageError(MODEL_SIGN_FORM.path, `--out ${outPath}: write the signed manifest beside ${manifest} (its "file" is relative to it)`);
    }
    const signed = signManifestFile(manifest, readFileSync(values.key, 'utf8'), outPath);
    const { kind, name, version, sha256, signature } = signed.manifest;
    out(`${signed.path}: ${signed.resigned ? 're-signed' : 'signed'} — ${kind} ${name} ${version}, sha256 ${sha256.slice(0, 16)}…, key ${signature.keyId}`);
    return EXIT_CODES.ok;
  }
  if (selected?.form === MODEL_VERIFY_FORM) {
    const { values, positionals } = parseForm(MODEL_VERIFY_FORM, rest);
    const manifest = positionals[0] as string;
    const keys = values['public-key'] ?? [BUNDLED_MODELS.publicKey];
    const verified = verifyModel(manifest, readPublicKeys(keys));
    out(`${manifest}: ok — ${verified.manifest.kind} ${verified.manifest.name} ${verified.manifest.version}, sha256 ${verified.manifest.sha256.slice(0, 16)}…, signed by ${verified.manifest.signature.keyId}`);
    out(`  quality ${JSON.stringify(verified.manifest.quality)}`);
    return EXIT_CODES.ok;
  }
  throw unknownForm(MODEL, args);
}

/** Whether a manifest names its model file by an absolute path (then it may be written anywhere). */
function isAbsoluteModelPath(manifestPath: string): boolean {
  try {
    const { file } = JSON.parse(readFileSync(manifestPath, 'utf8')) as { file?: unknown };
    return typeof file === 'string' && isAbsolute(file);
  } catch {
    return false; // signManifestFile reports the unreadable manifest with its code
  }
}

const percent = (share: number | null): string => (share === null ? 'n/a' : `${(share * 100).toFixed(1)} %`);

function describeThreshold(name: string, at: AtThreshold): string {
  return `  ${name} (score ≥ ${at.threshold.toFixed(4)}, ${percent(at.trafficShare)} of held-out traffic): precision ${percent(at.precision)}, recall ${percent(at.recall)}, ${at.flagged} checked crossings flagged`;
}

/** What `model train --from` prints: where the data came from, the split, and the held-out quality. */
export function describeTraining(file: string, report: CrossingTrainingReport, duplicates: number): string[] {
  return [
    `risk model from ${file}: ${report.rows} crossings of ${report.posts.length} post(s) (${report.posts.join(', ')}), ${report.labelled} checked (X-ray or inspection)${duplicates ? `, ${duplicates} duplicate rows ignored` : ''}`,
    `  trained on the earlier ${report.trainRows} checked (${report.trainPeriod[0]} … ${report.trainPeriod[1]}), ${report.trees} trees`,
    `  held out the later ${report.heldOutRows} (${report.heldOutPeriod[0]} … ${report.heldOutPeriod[1]}):`,
    `  held-out quality: AUC ${report.aucHeldOut.toFixed(3)}, base rate ${percent(report.baseRateHeldOut)} (${report.irregularHeldOut} irregular of ${report.heldOutRows})`,
    describeThreshold('red', report.red),
    describeThreshold('orange or red', report.orangeOrRed),
  ];
}
