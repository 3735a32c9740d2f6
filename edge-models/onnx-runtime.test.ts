/**
 * onnxruntime's telemetry stays off: a model loaded and run through edge-models/onnx-runtime.ts
 * leaves no telemetry store in the process's home, where onnxruntime-node loaded directly makes
 * one (the control, so this test sees the store when there is one). Each in a child process with
 * a fresh HOME, since the library reads its switch once per process.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../test/helpers/gateway-process.js';
import { tempDir } from '../test/helpers/test-config.js';

const MODEL = join(REPO_ROOT, 'models', 'risk-2026.11.26.onnx');
const TELEMETRY_STORE = ['.cache', 'Microsoft', 'DeveloperTools', '.onnxruntime'];

/** Runs `script` (ESM, top-level await) in a child with HOME set to a fresh folder; returns that folder. */
function runWithFreshHome(script: string): string {
  const home = tempDir('ort-home-');
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  delete env.ORT_DISABLE_TELEMETRY;
  // The library records nothing when it sees it runs under CI (CI=true, as .ci/run sets): the
  // control would then find no store for another reason than our switch.
  delete env.CI;
  execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, env, stdio: 'pipe' });
  return home;
}

const RUN_MODEL = `
  const bytes = (await import('node:fs')).readFileSync(${JSON.stringify(MODEL)});
  const session = await InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  await session.run({ features: new Tensor('float32', new Float32Array(110), [11, 10]) });
  await session.release();
`;

describe('onnxruntime as the gateway loads it', () => {
  it('writes no telemetry store, where the library loaded directly does', () => {
    const direct = runWithFreshHome(`const { InferenceSession, Tensor } = (await import('onnxruntime-node')).default;${RUN_MODEL}`);
    expect(existsSync(join(direct, ...TELEMETRY_STORE)), 'onnxruntime-node no longer writes telemetry: this module and its test may go').toBe(true);
    const ours = runWithFreshHome(`const { InferenceSession, Tensor } = await import('./edge-models/onnx-runtime.ts');${RUN_MODEL}`);
    expect(existsSync(join(ours, '.cache'))).toBe(false);
  }, 60_000);
});
