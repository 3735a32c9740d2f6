/**
 * A loaded model, whichever engine runs it. With `engine: 'auto'` (the default) a model whose graph
 * the gateway's own evaluator takes (graph-evaluator.ts: both bundled models) runs there, and any
 * other in onnxruntime; `engine: 'onnxruntime'` runs every model in onnxruntime. onnxruntime is
 * imported only when a model runs in it, so a gateway whose models the evaluator takes never maps
 * the library (≈ 29 MB of the 4-lane post's RSS: docs/benchmarks.md).
 */
import type { FloatTensor } from './float-tensor.js';
import { compileGraph } from './graph-evaluator.js';

export type ModelEngine = 'auto' | 'onnxruntime';

export interface ModelSession {
  /** Which engine runs the model: 'gateway' (the gateway's own evaluator) or 'onnxruntime'. */
  readonly runsIn: 'gateway' | 'onnxruntime';
  /** Why the gateway's evaluator did not take the model (null when it did, or when onnxruntime was asked for). */
  readonly fallbackReason: string | null;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the model on float32 inputs; returns the outputs named in `wanted` (default: all). */
  run(feeds: Record<string, FloatTensor>, wanted?: readonly string[]): Promise<Record<string, FloatTensor>>;
  release(): Promise<void>;
}

async function openInOnnxruntime(bytes: Uint8Array, fallbackReason: string | null): Promise<ModelSession> {
  const { InferenceSession, Tensor } = await import('./onnx-runtime.js');
  const session = await InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  return {
    runsIn: 'onnxruntime',
    fallbackReason,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds, wanted) {
      const tensors = Object.fromEntries(Object.entries(feeds).map(([name, feed]) => [name, new Tensor('float32', feed.data, [...feed.dims])]));
      const results = await (wanted ? session.run(tensors, [...wanted]) : session.run(tensors));
      const outputs: Record<string, FloatTensor> = {};
      for (const [name, tensor] of Object.entries(results)) {
        if (!(tensor.data instanceof Float32Array)) throw new TypeError(`output ${name} is ${tensor.type}, not float32`);
        outputs[name] = { dims: [...tensor.dims], data: tensor.data };
      }
      return outputs;
    },
    release: () => session.release(),
  };
}

/** Opens a model's bytes in the engine `engine` picks; throws what the engine threw for a model neither takes. */
export async function openModelSession(bytes: Uint8Array, engine: ModelEngine = 'auto'): Promise<ModelSession> {
  if (engine === 'onnxruntime') return openInOnnxruntime(bytes, null);
  const evaluator = compileGraph(bytes);
  if (typeof evaluator === 'string') return openInOnnxruntime(bytes, evaluator);
  return {
    runsIn: 'gateway',
    fallbackReason: null,
    inputNames: evaluator.inputNames,
    outputNames: evaluator.outputNames,
    run: (feeds, wanted) => evaluator.run(feeds, wanted),
    release: async () => {},
  };
}
