import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TrainingRow } from '../contract/training-rows.js';
import { tempDir } from '../test/helpers/test-config.js';
import { T0, trainingFile as file, trainingRows as rows } from '../test/helpers/training-rows.js';
import { verifyModel } from './manifest.js';
import { RISK_FEATURES } from './risk-features.js';
import { trainFromCrossings } from './train-from-crossings.js';
import { labelOf, readTrainingFile } from './training-file.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
describe('labels from outcomes', () => {
  it.each([
    [{ xray: null, inspection: 'irregularity' }, 1],
    [{ xray: 'clear', inspection: 'cleared' }, 0],
    [{ xray: 'clear', inspection: null }, 0],
    [{ xray: 'suspect', inspection: 'irregularity' }, 1],
    [{ xray: 'suspect', inspection: null }, null],
    [{ xray: null, inspection: 'refused' }, null],
    [{ xray: null, inspection: null }, null],
  ] as const)('%j → %s', (outcomes, label) => {
    expect(labelOf(outcomes)).toBe(label);
  });
});

describe('model train --from', () => {
  it('trains on the earlier 80 % of the checked crossings and measures the later 20 %, whatever the file order', async () => {
    // 8 % irregular: the share of traffic red is to take (11 %) then lies among regular loads' scores.
    const all = rows(3000, { irregularShare: 0.08 });
    // Shuffled (two exports concatenated, say): the split still goes by assessment time.
    const shuffled = [...all].sort((a, b) => (a.crossingId < b.crossingId ? -1 : 1));
    const read = await readTrainingFile(file([...shuffled, all[3] as TrainingRow, '']));
    expect(read.duplicates).toBe(1);
    const outDir = tempDir('train-out-');
    const trained = trainFromCrossings(read.rows, { outDir, privateKeyPem, version: '2026.12.1', createdAt: '2026-12-01T00:00:00.000Z' });
    const { report } = trained;
    expect(report).toMatchObject({ rows: 3000, labelled: 1000, trainRows: 800, heldOutRows: 200, posts: ['post-a'] });
    expect(report.trainPeriod[1] < report.heldOutPeriod[0]).toBe(true);
    // The crossings held out are the last 200 checked ones: every third of the last 600 hours.
    expect(report.heldOutPeriod).toEqual([new Date(T0 + 2400 * 3_600_000).toISOString(), new Date(T0 + 2997 * 3_600_000).toISOString()]);
    expect(report.aucHeldOut).toBeGreaterThan(0.95);
    expect(report.red.threshold).toBeGreaterThanOrEqual(report.orangeOrRed.threshold);
    // About 11 % of all traffic (checked or not) above red, 22 % above orange.
    expect(report.red.trafficShare).toBeGreaterThan(0.06);
    expect(report.red.trafficShare).toBeLessThan(0.16);
    expect(report.orangeOrRed.recall).toBeGreaterThanOrEqual(report.red.recall);
    const verified = verifyModel(trained.manifestPath, [publicKey], 'risk');
    expect(verified.manifest).toMatchObject({ version: '2026.12.1', features: [...RISK_FEATURES], quality: { source: 'crossings', split: 'time', aucHeldOut: report.aucHeldOut } });
  });

  it('refuses too few checked crossings, one outcome only, or a held-out part without irregularities (GW_ERR_TRAINING_DATA), writing nothing', async () => {
    const outDir = tempDir('train-refused-');
    const options = { outDir, privateKeyPem, version: '2026.12.1' };
    const few = await readTrainingFile(file(rows(450)));
    expect(() => trainFromCrossings(few.rows, options)).toThrow(expect.objectContaining({ code: 'GW_ERR_TRAINING_DATA', message: expect.stringContaining('checked 150') as unknown }));
    const clean = await readTrainingFile(file(rows(900, { irregularShare: 0 })));
    expect(() => trainFromCrossings(clean.rows, options)).toThrow(expect.objectContaining({ code: 'GW_ERR_TRAINING_DATA', message: expect.stringContaining('irregular 0') as unknown }));
    const earlyOnly = await readTrainingFile(file(rows(1500, { irregularUntil: 1150 })));
    expect(() => trainFromCrossings(earlyOnly.rows, options)).toThrow(expect.objectContaining({ code: 'GW_ERR_TRAINING_DATA', message: expect.stringContaining('heldOutIrregular 0') as unknown }));
    expect(() => verifyModel(join(outDir, 'risk.manifest.json'), [publicKey])).toThrow(expect.objectContaining({ code: 'GW_ERR_MODEL_MANIFEST' }));
  });

  it.each([
    ['not JSON', (good: string) => [good, good.replace('c-0', 'c-x'), '{"format": 1,'], ':3: not JSON'],
    ['too long', (good: string) => [good, `{"pad": "${'x'.repeat(20_000)}"}`, good.replace('c-0', 'c-y')], ':2: longer than 16384 bytes'],
    ['another format', (good: string) => [good.replace('"format":1', '"format":2')], ':1: not a training row: format'],
    ['a feature missing', (good: string) => [good.replace(/"hourOfDay":\d+,?/, '').replace(',}', '}')], ':1: features lack hourOfDay'],
  ])('refuses a line that is %s, naming it (GW_ERR_TRAINING_INPUT)', async (_, make, where) => {
    const good = JSON.stringify(rows(1)[0]);
    await expect(readTrainingFile(file(make(good)))).rejects.toMatchObject({ code: 'GW_ERR_TRAINING_INPUT', message: expect.stringContaining(where) as unknown });
  });

  it('reads CRLF lines and says when the file cannot be read', async () => {
    const crlf = join(tempDir('train-crlf-'), 'rows.jsonl');
    writeFileSync(crlf, rows(3).map((row) => `${JSON.stringify(row)}\r\n`).join(''));
    expect((await readTrainingFile(crlf)).rows).toHaveLength(3);
    await expect(readTrainingFile('/nonexistent/rows.jsonl')).rejects.toMatchObject({ code: 'GW_ERR_TRAINING_INPUT', message: expect.stringContaining('cannot be read') as unknown });
  });
});
