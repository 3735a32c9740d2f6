import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyModel } from '../edge-models/manifest.js';
import { tempDir } from '../test/helpers/test-config.js';
import { trainingFile, trainingRows } from '../test/helpers/training-rows.js';
import { modelCommand } from './model-commands.js';

describe('border-gateway model train --from', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const keyPath = join(tempDir('train-key-'), 'key.pem');
  writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }));

  it('trains the risk model from exported rows, prints its held-out quality and signs it', async () => {
    const printed: string[] = [];
    const outDir = tempDir('train-cli-');
    expect(await modelCommand(['train', '--from', trainingFile(trainingRows(1500)), '--key', keyPath, '--out', outDir, '--version', '2026.12.2'], (line) => printed.push(line))).toBe(0);
    const text = printed.join('\n');
    expect(text).toMatch(/held out the later 100 .*\n {2}held-out quality: AUC 0\.9\d\d, base rate \d+\.\d %/);
    expect(text).toMatch(/\n {2}red \(score ≥ 0\.\d{4}, \d+\.\d % of held-out traffic\): precision \d+\.\d %, recall \d+\.\d %/);
    expect(verifyModel(join(outDir, 'risk.manifest.json'), [publicKey], 'risk').manifest.version).toBe('2026.12.2');
  });

  it('refuses simulator options beside --from, and a version that is not one, before reading anything', async () => {
    for (const extra of [['--seed', '3'], ['--rows', '5000'], ['--version', 'v2']]) {
      await expect(modelCommand(['train', '--from', '/nonexistent/rows.jsonl', '--key', keyPath, '--out', tempDir('train-cli-'), ...extra], () => undefined), extra.join(' ')).rejects.toMatchObject({ code: 'GW_ERR_CLI_USAGE' });
    }
  });
});
