/**
 * X-ray image screening: a small ONNX graph over the 16-bit image that finds the densest block
 * (mean absorption over `block`×`block` pixels) and maps how far it exceeds a calibrated density to
 * a score in 0..1 — a compact object denser than any honest cargo is what a concealment looks like
 * on a transmission image. The graph also returns the block density map, from which the regions
 * above the calibrated density are reported with the score.
 *
 *   image [1,1,H,W] (0..1) → AveragePool(block) → density [1,1,H/b,W/b] → ReduceMax → peak
 *   score = Sigmoid(steepness · (peak − density threshold))
 */
import { GatewayError } from '../core/errors.js';
import type { VerifiedModel } from './manifest.js';
import type { FloatTensor } from './float-tensor.js';
import { openModelSession, type ModelEngine, type ModelSession } from './model-session.js';
import { encodeModel, floatConstant, floatValue, node } from './onnx-graph.js';

export interface ScreeningParameters {
  block: number;
  /** Block mean density (0..1) at which the score is 0.5. */
  densityThreshold: number;
  steepness: number;
}

export function buildScreeningModel(parameters: ScreeningParameters, metadata: Record<string, string>): Buffer {
  return encodeModel({
    graphName: 'xray_screening',
    docString: 'Densest-block screening of a transmission X-ray image',
    opsets: { '': 17 },
    metadata: { ...metadata, block: String(parameters.block), densityThreshold: String(parameters.densityThreshold) },
    inputs: [floatValue('image', [1, 1, 'height', 'width'])],
    outputs: [floatValue('score', []), floatValue('density', [1, 1, 'blocksY', 'blocksX'])],
    initializers: [floatConstant('threshold', [parameters.densityThreshold], []), floatConstant('steepness', [parameters.steepness], [])],
    nodes: [
      node({ op: 'AveragePool', inputs: ['image'], outputs: ['density'], attributes: { kernel_shape: { ints: [parameters.block, parameters.block] }, strides: { ints: [parameters.block, parameters.block] } } }),
      node({ op: 'ReduceMax', inputs: ['density'], outputs: ['peak'], attributes: { keepdims: 0 } }),
      node({ op: 'Sub', inputs: ['peak', 'threshold'], outputs: ['excess'] }),
      node({ op: 'Mul', inputs: ['excess', 'steepness'], outputs: ['logit'] }),
      node({ op: 'Sigmoid', inputs: ['logit'], outputs: ['score'] }),
    ],
  });
}

export interface XrayImage {
  width: number;
  height: number;
  maxval: number;
  pixels: Uint16Array;
}

/**
 * An image as the graph takes it: its samples scaled to 0..1 by the image's maxval, row after row.
 * A reader can fill one straight from a file (gateway/workflow/scan-image.ts) without holding the
 * image twice.
 */
export interface ScaledImage {
  width: number;
  height: number;
  samples: Float32Array;
}

export function scaleImage(image: XrayImage): ScaledImage {
  const samples = new Float32Array(image.pixels.length);
  const scale = 1 / image.maxval;
  for (let i = 0; i < samples.length; i += 1) samples[i] = (image.pixels[i] as number) * scale;
  return { width: image.width, height: image.height, samples };
}

/** The graph's input: the 16-bit pixels scaled to 0..1, as [1, 1, height, width]. */
export function imageTensor(image: XrayImage | ScaledImage): FloatTensor {
  const scaled = 'samples' in image ? image : scaleImage(image);
  return { dims: [1, 1, scaled.height, scaled.width], data: scaled.samples };
}

export interface ScreeningRegion {
  /** Pixel rectangle of the block. */
  x: number;
  y: number;
  width: number;
  height: number;
  density: number;
}

export interface ScreeningResult {
  score: number;
  suspect: boolean;
  regions: ScreeningRegion[];
}

export class XrayScreeningModel {
  private constructor(
    private readonly session: ModelSession,
    readonly version: string,
    private readonly block: number,
    private readonly densityThreshold: number,
    readonly suspectAt: number,
  ) {}

  static async load(verified: VerifiedModel, engine: ModelEngine = 'auto'): Promise<XrayScreeningModel> {
    const { manifest, manifestPath } = verified;
    const block = Number(manifest.quality.block);
    const densityThreshold = Number(manifest.quality.densityThreshold);
    const suspectAt = manifest.thresholds.suspect;
    if (!(block >= 1) || !(densityThreshold > 0) || suspectAt === undefined) {
      throw new GatewayError('GW_ERR_MODEL_LOAD', `${manifestPath}: a screening manifest needs quality.block, quality.densityThreshold and thresholds.suspect`);
    }
    let session: ModelSession;
    try {
      session = await openModelSession(verified.bytes, engine);
    } catch (error) {
      throw new GatewayError('GW_ERR_MODEL_LOAD', `${manifestPath}: onnxruntime refused the model: ${(error as Error).message}`, { cause: error });
    }
    if (!session.inputNames.includes('image') || !session.outputNames.includes('score')) {
      await session.release();
      throw new GatewayError('GW_ERR_MODEL_LOAD', `${manifestPath}: a screening model needs input "image" and output "score"`);
    }
    return new XrayScreeningModel(session, manifest.version, block, densityThreshold, suspectAt);
  }

  /** Screens an image, given as its 16-bit pixels or already scaled (see ScaledImage). */
  async screen(image: XrayImage | ScaledImage): Promise<ScreeningResult> {
    if (image.width < this.block || image.height < this.block) throw new RangeError(`image ${image.width}×${image.height} is smaller than one ${this.block}-pixel block`);
    const result = await this.session.run({ image: imageTensor(image) });
    const score = (result.score?.data as Float32Array)[0] as number;
    const density = result.density as FloatTensor;
    const [, , rows, columns] = density.dims as [number, number, number, number];
    const values = density.data;
    const regions: ScreeningRegion[] = [];
    for (let by = 0; by < rows; by += 1) {
      for (let bx = 0; bx < columns; bx += 1) {
        const value = values[by * columns + bx] as number;
        if (value > this.densityThreshold) regions.push({ x: bx * this.block, y: by * this.block, width: this.block, height: this.block, density: Math.round(value * 1000) / 1000 });
      }
    }
    regions.sort((a, b) => b.density - a.density);
    return { score, suspect: score >= this.suspectAt, regions: regions.slice(0, 8) };
  }

  /** Which engine screens with this model (model-session.ts). */
  get runsIn(): ModelSession['runsIn'] {
    return this.session.runsIn;
  }

  /** Why the gateway's evaluator did not take the model, when onnxruntime runs it though `auto` was asked for. */
  get fallbackReason(): string | null {
    return this.session.fallbackReason;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
