/**
 * Pictures from cameras (fetched by the ONVIF driver, pushed to the push driver), held in memory
 * for the console and the evidence store to look up by the reference a reading carries
 * (`sha256:<hex>` of the bytes). Bounded by construction: at most `maxImages` pictures and `maxBytes`
 * bytes are held, the oldest dropped first; a picture larger than `maxBytes` is not kept at all.
 * Nothing is written to disk here (the evidence store keeps its own copy): a reference outlives
 * its picture, and a reader must expect null.
 */
import { createHash } from 'node:crypto';

export interface StoredImage {
  /** `sha256:<hex>` of the bytes. */
  ref: string;
  body: Buffer;
  contentType: string;
}

export interface ImageStoreLimits {
  maxImages: number;
  maxBytes: number;
}

export class ImageStore {
  private readonly images = new Map<string, StoredImage>();
  private held = 0;

  constructor(private readonly limits: ImageStoreLimits) {}

  /** Keeps a picture; resolves its reference (the same bytes always get the same one). */
  put(body: Buffer, contentType: string): StoredImage {
    const ref = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const image = { ref, body, contentType };
    if (body.length > this.limits.maxBytes) return image;
    this.drop(ref);
    this.images.set(ref, image);
    this.held += body.length;
    for (const oldest of this.images.keys()) {
      if (this.images.size <= this.limits.maxImages && this.held <= this.limits.maxBytes) break;
      this.drop(oldest);
    }
    return image;
  }

  /** The picture for `ref`, or null when it was never kept or has been dropped since. */
  get(ref: string): StoredImage | null {
    return this.images.get(ref) ?? null;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.held;
  }

  get size(): number {
    return this.images.size;
  }

  private drop(ref: string): void {
    const image = this.images.get(ref);
    if (!image) return;
    this.images.delete(ref);
    this.held -= image.body.length;
  }
}
