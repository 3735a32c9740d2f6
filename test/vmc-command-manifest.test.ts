/**
 * `vmc command rollout-model --manifest FILE` given a manifest no model has, as a child process:
 * nested 100,000 deep (it overflowed the stack where the command is signed, a RangeError and its
 * stack trace) or larger than a manifest can be (`/dev/zero` among them). Each is refused with
 * GW_ERR_MODEL_MANIFEST and exit 1, as a manifest that is no JSON is, before the store is opened.
 */
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_MANIFEST_BYTES, MAX_MANIFEST_DEPTH } from '../contract/model-manifest.js';
import { MAX_BODY_DEPTH } from '../vmc/http/vmc-app.js';
import { freePort } from './helpers/free-port.js';
import { GatewayProcess, REPO_ROOT } from './helpers/gateway-process.js';
import { tempDir } from './helpers/test-config.js';

const MODEL = 'risk-2026.11.26.onnx';

/** A folder with the shipped risk model and its manifest, `quality.extra` set to `extra`, and a command key. */
function rollout(extra: string): { dir: string; manifest: string; key: string } {
  const dir = tempDir('vmc-manifest-');
  copyFileSync(join(REPO_ROOT, 'models', MODEL), join(dir, MODEL));
  const shipped = readFileSync(join(REPO_ROOT, 'models', 'risk.manifest.json'), 'utf8').trim();
  expect(shipped).toMatch(/"quality":\s*\{/);
  const manifest = join(dir, 'risk.manifest.json');
  writeFileSync(manifest, shipped.replace(/"quality":\s*\{/, `"quality":{"extra":${extra},`));
  const key = join(dir, 'command.key.pem');
  writeFileSync(key, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return { dir, manifest, key };
}

async function send(manifest: string, key: string, dir: string): Promise<{ code: number | null; stderr: string }> {
  // A port nobody listens on: a rollout that got past its manifest fails at the broker instead.
  const mqtt = `mqtt://127.0.0.1:${await freePort()}`;
  const run = new GatewayProcess(['vmc', 'command', 'rollout-model', '--manifest', manifest, '--posts', 'post-a', '--key', key, '--mqtt', mqtt, '--store', `sqlite:${join(dir, 'vmc.db')}`]);
  const { code } = await run.exited;
  return { code, stderr: run.stderrText.join('\n') };
}

describe('vmc command rollout-model, a manifest no model has', () => {
  it(`takes a manifest nested as deep as the API's bodies (${MAX_MANIFEST_DEPTH} levels inside one of ${MAX_BODY_DEPTH})`, () => {
    expect(MAX_MANIFEST_DEPTH).toBe(MAX_BODY_DEPTH - 1);
  });

  it('refuses one nested deep with GW_ERR_MODEL_MANIFEST and exit 1, before the store is opened', async () => {
    // 30,000 levels fit in the size bound (61 KB): the depth refuses them. 100,000 (200 KB) are refused by their size first.
    for (const [depth, problem] of [[30_000, `nested deeper than ${MAX_MANIFEST_DEPTH}`], [100_000, `larger than ${MAX_MANIFEST_BYTES} bytes`]] as const) {
      const { dir, manifest, key } = rollout(`${'['.repeat(depth)}${']'.repeat(depth)}`);
      const { code, stderr } = await send(manifest, key, dir);
      expect(stderr, String(depth)).toContain(`GW_ERR_MODEL_MANIFEST: ${manifest}: ${problem}: not a model manifest`);
      expect(stderr, String(depth)).not.toMatch(/RangeError|call stack|\n\s+at /);
      expect(code, String(depth)).toBe(1);
      expect(existsSync(join(dir, 'vmc.db')), String(depth)).toBe(false);
    }
  });

  it('refuses one larger than a manifest can be, /dev/zero among them, reading no further than its bound', async () => {
    const { dir, manifest, key } = rollout(JSON.stringify('x'.repeat(MAX_MANIFEST_BYTES)));
    for (const file of [manifest, '/dev/zero']) {
      const { code, stderr } = await send(file, key, dir);
      expect(stderr, file).toContain(`GW_ERR_MODEL_MANIFEST: ${file}: larger than ${MAX_MANIFEST_BYTES} bytes: not a model manifest`);
      expect(code, file).toBe(1);
    }
    expect(existsSync(join(dir, 'vmc.db'))).toBe(false);
  });

  it(`passes one nested ${MAX_MANIFEST_DEPTH} deep on to be signed and sent (here to a broker that is not there)`, async () => {
    // `quality` is one level in: `extra` adds the rest.
    const depth = MAX_MANIFEST_DEPTH - 2;
    const { dir, manifest, key } = rollout(`${'['.repeat(depth)}${']'.repeat(depth)}`);
    const { code, stderr } = await send(manifest, key, dir);
    expect(stderr).not.toContain('GW_ERR_MODEL_MANIFEST');
    expect(stderr).toMatch(/ECONNREFUSED/);
    expect(code).toBe(1);
  });
});
