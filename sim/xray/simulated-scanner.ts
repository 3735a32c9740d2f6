/**
 * A simulated X-ray scanner writing its drop folder: metadata files for requested, started and
 * completed scans, and a synthetic 16-bit greyscale image (air, the truck's frame, and denser
 * cargo blocks, with noise). Files are written under a temporary name and renamed, as scanners do.
 * Faults: a truncated image, a corrupt metadata file. The PGM writer is the simulator's own.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePgm, type GreyImage } from './pgm-writer.js';

export class SimulatedScanner {
  constructor(
    private readonly folder: string,
    private readonly scannerId: string,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  private writeAtomically(name: string, content: Buffer | string): void {
    const temporary = join(this.folder, `.${name}.part`);
    writeFileSync(temporary, content);
    renameSync(temporary, join(this.folder, name));
  }

  private metadata(scanId: string, status: string, extra: Record<string, unknown> = {}): string {
    return JSON.stringify({ scanId, scannerId: this.scannerId, status, time: new Date(this.now()).toISOString(), ...extra });
  }

  started(scanId: string, plate: string | null, container: string | null = null): void {
    this.writeAtomically(`${scanId}-started.json`, this.metadata(scanId, 'started', { plate, container }));
  }

  /** Writes the image, then the metadata naming it. */
  completed(scanId: string, plate: string | null, options: { width?: number; height?: number; truncate?: boolean; concealed?: boolean } = {}): void {
    const image = this.image(options.width ?? 256, options.height ?? 128, { concealed: options.concealed ?? false });
    const bytes = writePgm(image);
    this.writeAtomically(`${scanId}.pgm`, options.truncate ? bytes.subarray(0, Math.floor(bytes.length / 2)) : bytes);
    this.writeAtomically(`${scanId}.json`, this.metadata(scanId, 'completed', { plate, image: `${scanId}.pgm`, metadataRef: `${scanId}.uff` }));
  }

  decided(scanId: string, result: 'clear' | 'suspect', analyst = 'analyst-1'): void {
    this.writeAtomically(`${scanId}-decided.json`, this.metadata(scanId, 'decided', { decision: { analyst, result } }));
  }

  corruptMetadata(name: string): void {
    this.writeAtomically(name, '{"scanId": "broken", "status": ');
  }

  /**
   * Air, the truck's frame and cargo blocks, with noise. Some honest loads carry dense goods (a
   * block up to ~55k); a concealed object is a compact block denser still (~56–63k), so the
   * screening model has a real, not perfect, separation to learn.
   */
  image(width: number, height: number, options: { concealed?: boolean } = {}): GreyImage {
    const pixels = new Uint16Array(width * height);
    const dense = options.concealed ? this.denseBlock(width, height, 56_000 + this.random() * 7_000) : this.random() < 0.2 ? this.denseBlock(width, height, 47_000 + this.random() * 8_000) : null;
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) {
        const inTruck = y > height * 0.2 && y < height * 0.85 && x > width * 0.05 && x < width * 0.95;
        const inCargo = inTruck && y > height * 0.35 && y < height * 0.8 && x % 64 < 48;
        const inDense = dense !== null && x >= dense.x && x < dense.x + dense.w && y >= dense.y && y < dense.y + dense.h;
        const base = inDense ? dense.level : inCargo ? 42_000 : inTruck ? 18_000 : 3_000;
        pixels[y * width + x] = Math.min(65535, Math.round(base + (this.random() - 0.5) * 2_000));
      }
    }
    return { width, height, maxval: 65535, pixels };
  }

  private denseBlock(width: number, height: number, level: number): { x: number; y: number; w: number; h: number; level: number } {
    const w = Math.max(16, Math.round(width * (0.08 + this.random() * 0.06)));
    const h = Math.max(16, Math.round(height * (0.18 + this.random() * 0.1)));
    const x = Math.round(width * 0.1 + this.random() * (width * 0.8 - w));
    const y = Math.round(height * 0.4 + this.random() * Math.max(0, height * 0.38 - h));
    return { x, y, w, h, level };
  }
}
