/**
 * A simulated X-ray scanner writing its drop folder: metadata files for requested, started and
 * completed scans, and a synthetic 16-bit greyscale image (air, the truck's frame, and denser
 * cargo blocks, with noise). Files are written under a temporary name and renamed, as scanners do.
 * Faults: a truncated image, a corrupt metadata file.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePgm, type GreyImage } from '../../drivers/xray/pgm.js';

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
  completed(scanId: string, plate: string | null, options: { width?: number; height?: number; truncate?: boolean } = {}): void {
    const image = this.image(options.width ?? 256, options.height ?? 128);
    const bytes = encodePgm(image);
    this.writeAtomically(`${scanId}.pgm`, options.truncate ? bytes.subarray(0, Math.floor(bytes.length / 2)) : bytes);
    this.writeAtomically(`${scanId}.json`, this.metadata(scanId, 'completed', { plate, image: `${scanId}.pgm`, metadataRef: `${scanId}.uff` }));
  }

  decided(scanId: string, result: 'clear' | 'suspect', analyst = 'analyst-1'): void {
    this.writeAtomically(`${scanId}-decided.json`, this.metadata(scanId, 'decided', { decision: { analyst, result } }));
  }

  corruptMetadata(name: string): void {
    this.writeAtomically(name, '{"scanId": "broken", "status": ');
  }

  image(width: number, height: number): GreyImage {
    const pixels = new Uint16Array(width * height);
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) {
        const inTruck = y > height * 0.2 && y < height * 0.85 && x > width * 0.05 && x < width * 0.95;
        const inCargo = inTruck && y > height * 0.35 && y < height * 0.8 && x % 64 < 48;
        const base = inCargo ? 42_000 : inTruck ? 18_000 : 3_000;
        pixels[y * width + x] = Math.min(65535, Math.round(base + (this.random() - 0.5) * 2_000));
      }
    }
    return { width, height, maxval: 65535, pixels };
  }
}
