/**
 * Room on the gateway's disk for what devices send to be written there (an X-ray scanner's
 * images), shared by every driver that writes: a write is admitted only if, with everything
 * admitted before it and still being written counted as taken, `keepFreeBytes` stay free (the
 * outbox's room: the disk every lane's events are committed to). Reading the free space alone let
 * six scanner pushes at once past a check that admitted two.
 */
import { statfs } from 'node:fs/promises';

export class WriteRoom {
  private promised = 0;

  constructor(readonly keepFreeBytes: number) {}

  /** Bytes admitted and not yet let go. */
  get promisedBytes(): number {
    return this.promised;
  }

  /**
   * Admits a write of up to `bytes` in `dir`: the function that lets the room go (once written and
   * counted by the disk, or abandoned), or why not.
   */
  async take(dir: string, bytes: number): Promise<{ release: () => void } | { refused: string }> {
    const disk = await statfs(dir);
    const available = disk.bavail * disk.bsize;
    if (available - this.promised < bytes + this.keepFreeBytes) {
      return { refused: `disk: ${available} bytes free, ${this.promised} of them promised to writes under way, and ${bytes} more must leave ${this.keepFreeBytes} for the outbox` };
    }
    this.promised += bytes;
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.promised -= bytes;
      },
    };
  }
}
