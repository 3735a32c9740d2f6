/**
 * A file's descriptor for fdatasync, opened on first use (SQLite creates the -wal file with its
 * first write, after the outbox opened) and closed once. The syncs that use it run in libuv's
 * pool: their owners close it only when no sync is in flight, so the number is never reused under
 * one.
 */
import { closeSync, openSync } from 'node:fs';

export class FileDescriptor {
  private fd: number | null = null;

  constructor(private readonly path: string) {}

  /** The open descriptor; throws what open(2) throws (ENOENT before SQLite made the file). */
  get(): number {
    this.fd ??= openSync(this.path, 'r+');
    return this.fd;
  }

  close(): void {
    const fd = this.fd;
    this.fd = null;
    if (fd === null) return;
    try {
      closeSync(fd);
    } catch {
      // Already unusable: nothing more to release.
    }
  }
}
