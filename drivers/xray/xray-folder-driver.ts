/**
 * X-ray scanner through its drop folder: every `<name>.json` is validated, its image (for a
 * completed scan) checked and summarised, and a reading emitted; the files then move to
 * `processed/`. A bad, partial or unsafe file moves to `quarantine/` beside a
 * `<name>.reason.txt` that says what was wrong, and the driver goes on: nothing in the folder can
 * crash it, block it, or make it read outside the folder or beyond its byte bounds
 * (drop-folder-files.ts says how; docs/integrators.md gives scanners the naming convention).
 */
import { accessSync, constants, lstatSync, mkdirSync, watch, type FSWatcher } from 'node:fs';
import { lstat, open, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { XrayFolderConfig } from '../../config/schema.js';
import type { TimerHandle } from '../../core/clock.js';
import { DriverBase, type DriverContext } from '../driver.js';
import { fileIdentity, fileNameProblem, isMetadataName, isSameFile, openRegularFile, readScanImageFile, readWhole, RefusedNames, type OpenedFile } from './drop-folder-files.js';
import { SCAN_IMAGE_EXTENSIONS } from './scan-image-header.js';
import { scanMetadataSchema, scanReading, type ScanMetadata } from './scan-file.js';

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

const SUBFOLDERS = ['processed', 'quarantine'] as const;

export class XrayFolderDriver extends DriverBase<XrayReading> {
  readonly id: string;
  readonly kind = 'xray' as const;
  private watcher: FSWatcher | null = null;
  private timer: TimerHandle | null = null;
  private scanning = false;
  private rescanRequested = false;
  private stopped = true;
  /** Refused names whose move aside failed: not looked at again while unchanged. */
  private readonly refusedNames = new RefusedNames();
  /**
   * Metadata files that did not parse, by name, with the identity they had: a scanner writing in
   * place may be caught mid-write. Refused only when the next pass finds the same file unchanged
   * and still unparsable. Bounded by the folder's listing (pruned each pass).
   */
  private readonly unparsed = new Map<string, string>();
  /** Files moved to quarantine/ (or refused where they lie), for any reason. */
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
    this.stopped = false;
    try {
      for (const sub of SUBFOLDERS) mkdirSync(join(this.folder, sub), { recursive: true });
      this.checkSubfolders();
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
    this.stopped = true;
    this.watcher?.close();
    this.watcher = null;
    if (this.timer) this.context.clock.clearTimeout(this.timer);
    this.timer = null;
    this.removeAllListeners();
    return Promise.resolve();
  }

  /**
   * Processes every metadata file present, one at a time, then rescans after `rescanMs`. A call
   * while a pass runs asks for one more pass after it (file-system events come in bursts).
   */
  scan(): void {
    if (this.stopped) return;
    if (this.scanning) {
      this.rescanRequested = true;
      return;
    }
    this.scanning = true;
    this.rescanRequested = false;
    if (this.timer) this.context.clock.clearTimeout(this.timer);
    this.timer = null;
    void this.scanOnce().finally(() => {
      this.scanning = false;
      if (this.stopped) return;
      if (this.rescanRequested) return this.scan();
      this.timer = this.context.clock.setTimeout(() => this.scan(), this.config.rescanMs);
    });
  }

  private async scanOnce(): Promise<void> {
    let names: string[];
    try {
      this.checkSubfolders();
      names = (await readdir(this.folder)).filter(isMetadataName).sort();
    } catch (error) {
      if (!this.stopped) this.setHealth('down', `cannot use ${this.folder}: ${(error as Error).message}`);
      return;
    }
    if (this.health().state === 'down' && !this.stopped) this.setHealth('up');
    const listed = new Set(names);
    this.refusedNames.keepOnly(listed);
    for (const name of this.unparsed.keys()) if (!listed.has(name)) this.unparsed.delete(name);
    for (const name of names) {
      if (this.stopped) return;
      try {
        if (this.refusedNames.size > 0 && this.refusedNames.has(name, await this.identityOf(name))) continue;
        await this.process(name);
      } catch (error) {
        // A file that vanished or changed under us mid-way, or a move refused (permissions):
        // reported, and the next pass (not sooner) sees what is there then.
        this.context.logger.warn({ err: (error as Error).message, file: name }, 'scan file not processed');
        if (!this.stopped) this.setHealth('degraded', `${name} not processed: ${(error as Error).message}`);
      }
    }
  }

  /**
   * processed/ and quarantine/ must be directories of the folder, not links elsewhere, and the
   * folder and both subfolders ones the gateway may write to: every scan's files are moved out of
   * the folder into one of them. A folder the gateway can only read (the systemd unit's
   * ProtectSystem=strict keeps everything outside its data directory read-only) is reported now,
   * with what to do, not as each scan's move fails.
   */
  private checkSubfolders(): void {
    for (const sub of SUBFOLDERS) {
      if (!lstatSync(join(this.folder, sub)).isDirectory()) throw new Error(`${sub}/ is not a directory (a symbolic link is not followed)`);
    }
    for (const path of [this.folder, ...SUBFOLDERS.map((sub) => join(this.folder, sub))]) {
      try {
        accessSync(path, constants.W_OK);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'error';
        throw new Error(`${path} is not writable (${code}): scans are moved from the folder into processed/ and quarantine/; under the systemd unit add ReadWritePaths=${this.folder} in a drop-in (docs/deployment.md)`);
      }
    }
  }

  private async identityOf(name: string): Promise<string> {
    try {
      return fileIdentity(await lstat(join(this.folder, name)));
    } catch {
      return '';
    }
  }

  private async process(name: string): Promise<void> {
    const opened = await openRegularFile(this.folder, name, this.config.maxMetadataBytes);
    if (!opened.ok) {
      if (opened.missing) return; // gone since the listing
      return this.refuse([name], `metadata ${name} ${opened.error}`);
    }
    let metadata: ScanMetadata;
    try {
      const text = (await readWhole(opened.file)).toString('utf8');
      const parsed = scanMetadataSchema.safeParse(JSON.parse(text));
      if (!parsed.success) return await this.refuse([name], `invalid metadata: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
      metadata = parsed.data;
      this.unparsed.delete(name);
    } catch (error) {
      if (this.unparsed.get(name) !== opened.file.identity) {
        this.unparsed.set(name, opened.file.identity);
        return; // perhaps half-written: looked at again on the next pass
      }
      this.unparsed.delete(name);
      return await this.refuse([name], `unreadable metadata: ${(error as Error).message}`);
    } finally {
      await opened.file.handle.close();
    }
    if (metadata.status !== 'completed') return this.accept(metadata, [{ name, file: opened.file }], null, null);
    if (!metadata.image) return this.refuse([name], 'a completed scan must name its image');
    const nameProblem = fileNameProblem(metadata.image, Object.values(SCAN_IMAGE_EXTENSIONS));
    // The named path is never touched: only the metadata file is moved aside.
    if (nameProblem) return this.refuse([name], `image reference ${JSON.stringify(metadata.image.slice(0, 200))} is ${nameProblem} in the drop folder`);
    const imageName = metadata.image;
    const image = await openRegularFile(this.folder, imageName, this.config.maxImageBytes);
    if (!image.ok) return this.refuse([name, imageName], `image ${imageName} ${image.error}`);
    try {
      const decoded = await readScanImageFile(image.file, { maxBodyBytes: this.config.maxImageBytes });
      if (!decoded.ok) return await this.refuse([name, imageName], `image ${imageName}: ${decoded.error}`);
      if (decoded.header.maxval <= 255) return await this.refuse([name, imageName], `image ${imageName}: 8-bit image, a 16-bit greyscale image is required`);
      const summary = { width: decoded.header.width, height: decoded.header.height, ...decoded.stats };
      return await this.accept(metadata, [{ name, file: opened.file }, { name: imageName, file: image.file }], join(this.folder, 'processed', imageName), summary);
    } finally {
      await image.file.handle.close();
    }
  }

  /** Moves the files to processed/ (checking they are still the files read) and emits the reading. */
  private async accept(metadata: ScanMetadata, files: { name: string; file: OpenedFile }[], imageRef: string | null, image: XrayReading['image']): Promise<void> {
    for (const { name, file } of files) {
      const target = join(this.folder, 'processed', name);
      await rename(join(this.folder, name), target);
      if (!(await isSameFile(target, file))) {
        // Swapped after the checks: what now lies in processed/ is not what was read.
        await rename(target, join(this.folder, 'quarantine', name)).catch(() => undefined);
        return this.refuse([files[0]!.name], `${name} was replaced while being read`);
      }
    }
    if (this.stopped) return;
    this.emitReading(scanReading(this.id, metadata, imageRef, image, this.context.clock.now()));
    this.context.logger.info({ scanId: metadata.scanId, status: metadata.status }, 'scan read');
    this.setHealth('up');
  }

  /**
   * Moves the named files (plain names of the folder, checked by the caller) to quarantine/ with
   * the reason. A metadata file that cannot be moved is remembered so it is not read again.
   */
  private async refuse(files: string[], reason: string): Promise<void> {
    this.quarantined += 1;
    const [metadataName] = files as [string, ...string[]];
    const notMoved: string[] = [];
    for (const file of files) {
      try {
        await rename(join(this.folder, file), join(this.folder, 'quarantine', file));
      } catch (error) {
        // A file named but absent has nothing to move; the reason still says so.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') notMoved.push(file);
      }
    }
    if (notMoved.includes(metadataName)) this.refusedNames.remember(metadataName, await this.identityOf(metadataName));
    await this.writeReason(`${metadataName}.reason.txt`, `${reason}\n`);
    this.context.logger.warn({ code: 'GW_ERR_XRAY_FILE_REFUSED', files, reason, ...(notMoved.length > 0 ? { notMoved } : {}) }, 'scan file refused');
    if (!this.stopped) this.setHealth('degraded', `quarantined ${metadataName}: ${reason}`);
  }

  /** Writes a reason file in quarantine/ without following a link or blocking on a FIFO put there. */
  private async writeReason(name: string, text: string): Promise<void> {
    try {
      const handle = await open(join(this.folder, 'quarantine', name), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644);
      try {
        if ((await handle.stat()).isFile()) await handle.writeFile(text);
      } finally {
        await handle.close();
      }
    } catch (error) {
      this.context.logger.warn({ err: (error as Error).message, file: name }, 'quarantine reason not written');
    }
  }
}
