/**
 * The image of a completed scan, read for the screening model straight into the model's input:
 * samples scaled to 0..1, read from the file a chunk at a time. Nothing else of the image is held:
 * neither the file's bytes nor a 16-bit copy (reading the whole file, decoding it to 16-bit pixels
 * and scaling those held 8 bytes per pixel at once, 128 MiB for the largest image screened; this
 * holds the 4 the model needs, and a 1 MiB chunk).
 *
 * The image lies where a scanner can write, so it is opened as the drop folder opens files: no
 * symbolic link followed, no FIFO waited on (O_NONBLOCK), a regular file of bounded size only, its
 * header checked against its size before any sample is read. Read synchronously, as before: the
 * read is bounded, and the workflow stays deterministic on an injected clock.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { bodySizeProblem, readSample } from '../../drivers/xray/pgm.js';
import { readScanImageHeader, SCAN_HEADER_MAX_BYTES } from '../../drivers/xray/scan-image-header.js';
import type { ScaledImage } from '../../edge-models/xray-screening.js';

/** Largest image screened: 4096 × 4096 16-bit samples and a header. */
export const SCREENING_MAX_IMAGE_BYTES = 4096 * 4096 * 2 + SCAN_HEADER_MAX_BYTES;
const CHUNK_BYTES = 1024 * 1024;

function readAt(fd: number, buffer: Buffer, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const read = readSync(fd, buffer, done, length - done, position + done);
    if (read === 0) break;
    done += read;
  }
  return done;
}

/** The scan image at `path` as the screening model takes it; throws with the reason it cannot be. */
export function readScanForScreening(path: string, maxBytes = SCREENING_MAX_IMAGE_BYTES): ScaledImage {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new Error(`${path} is not a regular file`);
    if (stats.size > maxBytes) throw new Error(`${path} is ${stats.size} bytes, more than ${maxBytes} screened`);
    const parsed = readScanImageHeader((length) => {
      const head = Buffer.alloc(length);
      return head.subarray(0, readAt(fd, head, length, 0));
    }, stats.size);
    if (!parsed.ok) throw new Error(parsed.error);
    const { header } = parsed;
    const problem = bodySizeProblem(header, stats.size);
    if (problem) throw new Error(problem);
    const samples = new Float32Array(header.width * header.height);
    const scale = 1 / header.maxval;
    // Whole samples per chunk, so none straddles two reads.
    const chunk = Buffer.alloc(Math.min(CHUNK_BYTES - (CHUNK_BYTES % header.bytesPerSample), header.bodyBytes));
    let next = 0;
    for (let position = header.headerBytes; next < samples.length; ) {
      const read = readAt(fd, chunk, Math.min(chunk.length, (samples.length - next) * header.bytesPerSample), position);
      if (read === 0) throw new Error(`truncated image: expected ${header.bodyBytes} bytes of samples, got ${next * header.bytesPerSample} (the file shrank while being read)`);
      position += read;
      const count = Math.floor(read / header.bytesPerSample);
      for (let i = 0; i < count; i += 1) samples[next + i] = readSample(header, chunk, i * header.bytesPerSample) * scale;
      next += count;
    }
    return { width: header.width, height: header.height, samples };
  } finally {
    closeSync(fd);
  }
}
