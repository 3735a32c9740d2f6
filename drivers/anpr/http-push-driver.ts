/**
 * ANPR cameras that push their reads: an HTTP POST with a multipart body holding an XML
 * `EventNotificationAlert` (eventType ANPR, an `ANPR` block with licensePlate, confidenceLevel,
 * country, vehicleType…) and the plate and scene JPEGs. The request is answered 200 only once
 * the read is committed to the outbox (the reading's `ack`), so a camera retries what the gateway
 * did not store; a malformed push gets 400 with the reason. The parser is bounded (multipart.ts:
 * parts, part and header sizes, a complete body only; the XML part at most 64 KiB and 6,000 tags,
 * and well-formed), so a push cut in half or built to be expensive is a 400, never a plate.
 *
 * A camera resends a push whose 200 it did not see; the resent push is answered 200 and not
 * stored again: pushes are told apart by the alert's UUID (Hikvision writes one per event), else
 * by its dateTime, channel and plate, within `duplicateWindowSec`. The confidence is read on
 * either scale (0-100 or 0..1) as 0..1, the country from a code or name (country-code.ts).
 *
 * The push's first picture is the read's: kept in a bounded image store (image-store.ts, as the
 * ONVIF driver keeps its fetched pictures) and named in the reading by the `sha256:` digest of its
 * bytes, by which the console and the evidence store look it up (`image(ref)`).
 */
import type { AnprPushConfig } from '../../config/schema.js';
import type { DriverContext } from '../driver.js';
import { PushDriverBase, wholePush, type Ack, type PushBody, type PushResponse } from '../push-driver.js';
import { countryCode } from './country-code.js';
import { boundaryOf, readMultipart, type Part } from './multipart.js';
import { ImageStore, type StoredImage } from './image-store.js';
import type { AnprImage, AnprReading } from './onvif-anpr-driver.js';
import { normalisePlate } from './plate-normaliser.js';
import { normaliseLikelihood } from './profile-m.js';
import { RecentKeys } from './recent-keys.js';
import { asNode, clip, parseXml, text1, type XmlNode } from './soap-client.js';

/** Largest XML alert accepted in a push; a real one is 1-3 KiB. */
export const MAX_PUSH_XML_BYTES = 64 * 1024;

/** A reading that must be acknowledged: resolve once stored, reject when it could not be. */
export type AckedAnprReading = AnprReading & { ack: Ack };

/** Most stored pushes remembered for duplicate detection. */
const MAX_RECENT_PUSHES = 1024;

/**
 * Pictures kept for look-up by digest: the last few pushes' (a push is at most 4 MiB). The
 * evidence store copies each as its read is handled; the console reads it there once it is gone.
 */
const MAX_HELD_IMAGES = 4;
const MAX_HELD_IMAGE_BYTES = 4 * 1024 * 1024;

interface PushedImage {
  body: Buffer;
  contentType: string;
}

type ParsedPush = { alert: XmlNode; images: Map<string, PushedImage> } | { error: string };

export class AnprHttpPushDriver extends PushDriverBase<AckedAnprReading> {
  readonly id: string;
  readonly kind = 'anpr' as const;
  /** Images of the last push (name → JPEG), as pushed. */
  lastImages = new Map<string, Buffer>();
  /** The reads' pictures by digest (bounded): what `imageRef` names. */
  private readonly images = new ImageStore({ maxImages: MAX_HELD_IMAGES, maxBytes: MAX_HELD_IMAGE_BYTES });
  /** Pushes answered 200 as a resend of one already stored. */
  duplicates = 0;
  private readonly stored: RecentKeys;
  /** Pushes being stored now, by duplicate key: a resend arriving meanwhile waits for the first. */
  private readonly storing = new Map<string, Promise<PushResponse>>();
  /** The last body parsed, so `handle` and `decode` parse a push once. */
  private lastParse: { body: Buffer; contentType: string | undefined; result: ParsedPush } | null = null;

  constructor(
    private readonly config: AnprPushConfig,
    context: DriverContext,
  ) {
    super(config.connection.path, context);
    this.id = config.id;
    this.stored = new RecentKeys({ clock: context.clock, windowMs: config.duplicateWindowSec * 1000, maxKeys: MAX_RECENT_PUSHES });
  }

  /** A pushed picture by the `imageRef` of its read, while it is still held (see image-store.ts). */
  image(ref: string): StoredImage | null {
    return this.images.get(ref);
  }

  /**
   * As PushDriverBase.handle, but a resend of a push stored within `duplicateWindowSec` is
   * answered 200 without a second reading; one that arrives while the first is being stored waits
   * for it, and is stored after all if the first could not be.
   */
  override async handle(contentType: string | undefined, push: PushBody): Promise<PushResponse> {
    // Read whole (the listener hands camera pushes whole; its limit bounds them either way).
    const body = Buffer.isBuffer(push) ? push : await wholePush(push);
    const parsed = this.parseOnce(contentType, body);
    // The base decodes synchronously, before its first await: the cached parse is used then and
    // dropped at once, never holding a push's images past its own handling.
    const store = (): Promise<PushResponse> => {
      try {
        return super.handle(contentType, body);
      } finally {
        this.lastParse = null;
      }
    };
    const key = 'alert' in parsed && this.config.duplicateWindowSec > 0 ? pushKey(parsed.alert) : null;
    if (key === null) return store();
    const first = this.storing.get(key);
    if (first || this.stored.has(key)) {
      this.lastParse = null;
      if (this.stored.has(key) || (first && (await first).status === 200)) {
        this.duplicates += 1;
        this.context.logger.info({ key: clip(key, 200) }, 'camera push resent; already stored');
        return { status: 200, body: 'stored (duplicate)' };
      }
    }
    const handled = store();
    this.storing.set(key, handled);
    try {
      const response = await handled;
      if (response.status === 200) this.stored.add(key);
      return response;
    } finally {
      if (this.storing.get(key) === handled) this.storing.delete(key);
    }
  }

  /** `handle` reads the push whole before the base calls this: a stream here is a wiring bug. */
  protected receive(contentType: string | undefined, push: PushBody): ((ack: Ack) => AckedAnprReading) | string {
    if (!Buffer.isBuffer(push)) throw new TypeError('a camera push reaches receive() whole: handle() reads it');
    return this.decode(contentType, push);
  }

  private decode(contentType: string | undefined, body: Buffer): ((ack: Ack) => AckedAnprReading) | string {
    const parsed = this.parseOnce(contentType, body);
    if ('error' in parsed) return parsed.error;
    const { alert, images } = parsed;
    const anpr = alert.ANPR as XmlNode;
    const plateText = text1(anpr, 'licensePlate');
    const likelihood = normaliseLikelihood(text1(anpr, 'confidenceLevel'), 'percent');
    const trusted = plateText !== null && plateText !== '' && plateText.toLowerCase() !== 'unknown' && (likelihood ?? 1) >= this.config.minConfidence;
    // Views of this push: it stays in memory until the next one (one push, within its body limit).
    this.lastImages = new Map([...images].map(([name, image]) => [name, image.body]));
    const first = [...images.values()][0];
    // A copy: the part is a view of the whole push, which must not stay in memory with it.
    const stored = first ? this.images.put(Buffer.from(first.body), first.contentType) : null;
    const picture: AnprImage | null = stored ? { ref: stored.ref, bytes: stored.body.length, contentType: stored.contentType } : null;
    // Hikvision: `country` is an index into the firmware's table, `countryAbbreviation` alpha-3.
    const country = countryCode(text1(anpr, 'country')) ?? countryCode(text1(alert, 'countryAbbreviation'));
    return (ack) => ({
      type: 'plate.read',
      deviceId: this.id,
      plate: trusted ? normalisePlate(plateText, likelihood, country) : null,
      plateType: bounded(text1(anpr, 'plateType')),
      vehicleType: bounded(text1(anpr, 'vehicleType')),
      imageRef: picture?.ref ?? null,
      image: picture,
      cameraTime: bounded(text1(alert, 'dateTime')),
      atMs: this.context.clock.now(),
      ack,
    });
  }

  private parseOnce(contentType: string | undefined, body: Buffer): ParsedPush {
    if (this.lastParse?.body === body && this.lastParse.contentType === contentType) return this.lastParse.result;
    const result = this.parse(contentType, body);
    this.lastParse = { body, contentType, result };
    return result;
  }

  private parse(contentType: string | undefined, body: Buffer): ParsedPush {
    const boundary = boundaryOf(contentType);
    let parts: Part[];
    if (boundary) {
      const multipart = readMultipart(body, boundary);
      if (!multipart.ok) return { error: `malformed multipart: ${multipart.error}` };
      parts = multipart.parts;
    } else {
      parts = [{ headers: {}, name: null, filename: null, contentType: contentType ?? null, body }];
    }
    const xmlPart = parts.find((part) => /xml/.test(part.contentType ?? '') || /\.xml$/i.test(part.filename ?? '') || part.body.subarray(0, 200).toString('latin1').includes('<EventNotificationAlert'));
    if (!xmlPart) return { error: 'no EventNotificationAlert XML part' };
    if (xmlPart.body.length > MAX_PUSH_XML_BYTES) return { error: `the XML part is over ${MAX_PUSH_XML_BYTES} bytes` };
    let alert: XmlNode | undefined;
    try {
      alert = asNode(parseXml(xmlPart.body.toString('utf8')).EventNotificationAlert);
    } catch (error) {
      return { error: `unacceptable XML: ${(error as Error).message}` };
    }
    if (!alert) return { error: 'the XML part is not an EventNotificationAlert' };
    if (text1(alert, 'eventType') !== 'ANPR' || !asNode(alert.ANPR)) return { error: `eventType ${clip(text1(alert, 'eventType') ?? '(none)', 64)} has no ANPR block` };
    const images = new Map<string, PushedImage>();
    for (const part of parts) {
      if (part !== xmlPart && (part.contentType?.startsWith('image/') || /\.jpe?g$/i.test(part.filename ?? ''))) {
        const contentType = part.contentType?.startsWith('image/') ? part.contentType : 'image/jpeg';
        images.set(part.filename ?? part.name ?? `image-${images.size + 1}.jpg`, { body: part.body, contentType });
      }
    }
    return { alert, images };
  }
}

/** Device text kept in a reading: at most `max` characters, else none (never cut to something the camera did not say). */
function bounded(text: string | null, max = 64): string | null {
  return text !== null && text.length <= max ? text : null;
}

/** What a resent push shares with the first: the alert's UUID, else its dateTime, channel and plate. */
export function pushKey(alert: XmlNode): string | null {
  const uuid = text1(alert, 'UUID');
  if (uuid !== null && uuid.trim() !== '' && uuid.length <= 128) return `uuid ${uuid.trim()}`;
  const dateTime = text1(alert, 'dateTime');
  const plate = text1(asNode(alert.ANPR), 'licensePlate');
  if (dateTime === null || plate === null || dateTime.length > 64 || plate.length > 64) return null;
  return `at ${dateTime} ${clip(text1(alert, 'channelID') ?? '', 16)} ${plate}`;
}
