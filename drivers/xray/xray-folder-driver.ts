/**
 * X-ray scanner through its drop folder: every `<scanId>.json` is validated, its image (for a
 * completed scan) decoded and checked, and a reading emitted; the files then move to
 * `processed/`. A bad or partial file moves to `quarantine/` beside a `<name>.reason.txt` that
 * says what was wrong, and the driver goes on: nothing in the folder can crash it.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { XrayFolderConfig } from '../../config/schema.js';
import type { TimerHandle } from '../../core/clock.js';
import { DriverBase, type DriverContext } from '../driver.js';
import { imageStats, parsePgm } from './pgm.js';
import { scanFields, scanMetadataSchema, type ScanMetadata } from './scan-file.js';

export type XrayReading = {
  type: 'scan';
  deviceId: string;
  status: ScanMetadata['status'];
  scanId: string;
  scannerId: string;
  plate: string | null;
  container: string | null;
  scannerTime: string;
  /** Where the image now is (processed/), for a completed scan. */
  imageRef: string | null;
  image: { width: number; height: number; min: number; max: number; mean: number } | null;
  metadataRef: string | null;
  decision: NonNullable<ScanMetadata['decision']> | null;
  atMs: number;
};

export class XrayFolderDriver extends DriverBase<XrayReading> {
  readonly id: string;
  readonly kind = 'xray' as const;
  private watcher: FSWatcher | null = null;
  private timer: TimerHandle | null = null;
  private scanning = false;
  quarantined = 0;

  constructor(
    private readonly config: XrayFolderConfig,
    context: DriverContext,
  ) {
    super(context);
    this.id = config.id;
  }

  private get folder(): string {
    return this.config.connection.folder;
  }

  start(): Promise<void> {
    try {
      mkdirSync(join(this.folder, 'processed'), { recursive: true });
      mkdirSync(join(this.folder, 'quarantine'), { recursive: true });
      this.watcher = watch(this.folder, () => this.scan());
      this.watcher.on('error', (error) => this.setHealth('degraded', `watch: ${error.message}`));
      this.setHealth('up');
    } catch (error) {
      this.setHealth('down', `cannot watch ${this.folder}: ${(error as Error).message}`);
    }
    this.scan();
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.watcher?.close();
    this.watcher = null;
    if (this.timer) this.context.clock.clearTimeout(this.timer);
    this.timer = null;
    this.removeAllListeners();
    return Promise.resolve();
  }

  /** Processes every metadata file present, then rescans after `rescanMs`. */
  scan(): void {
    if (this.scanning) return;
    this.scanning = true;
    try {
      const names = readdirSync(this.folder).filter((name) => name.endsWith('.json')).sort();
      for (const name of names) this.process(name);
      if (this.health().state === 'down') this.setHealth('up');
    } catch (error) {
      this.setHealth('down', `cannot read ${this.folder}: ${(error as Error).message}`);
    } finally {
      this.scanning = false;
    }
    if (this.timer) this.context.clock.clearTimeout(this.timer);
    this.timer = this.context.clock.setTimeout(() => this.scan(), this.config.rescanMs);
  }

  private process(name: string): void {
    let metadata: ScanMetadata;
    try {
      const parsed = scanMetadataSchema.safeParse(JSON.parse(readFileSync(join(this.folder, name), 'utf8')));
      if (!parsed.success) return this.quarantine([name], `invalid metadata: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
      metadata = parsed.data;
    } catch (error) {
      return this.quarantine([name], `unreadable metadata: ${(error as Error).message}`);
    }
    let image: XrayReading['image'] = null;
    let imageRef: string | null = null;
    const files = [name];
    if (metadata.status === 'completed') {
      if (!metadata.image) return this.quarantine(files, 'a completed scan must name its image');
      files.push(metadata.image);
      let bytes: Buffer;
      try {
        bytes = readFileSync(join(this.folder, metadata.image));
      } catch {
        return this.quarantine(files, `image ${metadata.image} is missing`);
      }
      const decoded = parsePgm(bytes);
      if (!decoded.ok) return this.quarantine(files, `image ${metadata.image}: ${decoded.error}`);
      if (decoded.image.maxval <= 255) return this.quarantine(files, `image ${metadata.image}: 8-bit image, a 16-bit greyscale image is required`);
      image = { width: decoded.image.width, height: decoded.image.height, ...imageStats(decoded.image) };
      imageRef = join(this.folder, 'processed', metadata.image);
    }
    for (const file of files) renameSync(join(this.folder, file), join(this.folder, 'processed', file));
    this.emitReading({
      type: 'scan',
      deviceId: this.id,
      ...scanFields(metadata),
      imageRef,
      image,
      atMs: this.context.clock.now(),
    });
    this.setHealth('up');
  }

  private quarantine(files: string[], reason: string): void {
    this.quarantined += 1;
    for (const file of files) {
      try {
        renameSync(join(this.folder, file), join(this.folder, 'quarantine', file));
      } catch {
        // A file named but absent has nothing to move; the reason still says so.
      }
    }
    writeFileSync(join(this.folder, 'quarantine', `${files[0]}.reason.txt`), `${reason}\n`);
    this.context.logger.warn({ files, reason }, 'scan file quarantined');
    this.setHealth('degraded', `quarantined ${files[0]}: ${reason}`);
  }
}
