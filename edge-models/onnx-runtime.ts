/**
 * onnxruntime-node, loaded with its telemetry off. Since 1.2x the Linux build records session
 * events (with a device id) into ~/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db, a
 * SQLite file it keeps writing, and uploads them over HTTPS when it can: nothing a customs post
 * may send to a third party, flash wear for nothing, and one more thread and ≈ 3 MB of memory in
 * the gateway. The library reads ORT_DISABLE_TELEMETRY once, when it is loaded (setting it after
 * the import is too late: measured), so this module sets it and then loads the library itself,
 * synchronously; every model module takes onnxruntime from here. An operator's own setting wins.
 */
import { createRequire } from 'node:module';
import type * as Ort from 'onnxruntime-node';

process.env.ORT_DISABLE_TELEMETRY ??= '1';
const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof Ort;

export const InferenceSession = ort.InferenceSession;
export type InferenceSession = Ort.InferenceSession;
export const Tensor = ort.Tensor;
export type Tensor = Ort.Tensor;
