/**
 * ANPR cameras that push their reads: an HTTP POST with a multipart body holding an XML
 * `EventNotificationAlert` (eventType ANPR, an `ANPR` block with licensePlate, confidenceLevel,
 * country, vehicleType…) and the plate and scene JPEGs. The request is answered 200 only once
 * the read is committed to the outbox (the reading's `ack`), so a camera retries what the gateway
 * did not store; a malformed push gets 400 with the reason. The parser is bounded (multipart.ts:
 * parts, part and header sizes, a complete body only; the XML part at most 64 KiB and 6,000 tags),
 * so a push cut in half or built to be expensive is a 400, never a plate.
 */
import type { AnprPushConfig } from '../../config/schema.js';
import type { DriverContext } from '../driver.js';
import { PushDriverBase, type Ack } from '../push-driver.js';
import { boundaryOf, readMultipart, type Part } from './multipart.js';
import type { AnprReading } from './onvif-anpr-driver.js';
import { normalisePlate } from './plate-normaliser.js';
import { asNode, clip, parseXml, text1, type XmlNode } from './soap-client.js';

/** Largest XML alert accepted in a push; a real one is 1-3 KiB. */
export const MAX_PUSH_XML_BYTES = 64 * 1024;

/** A reading that must be acknowledged: resolve once stored, reject when it could not be. */
export type AckedAnprReading = AnprReading & { ack: Ack };

export class AnprHttpPushDriver extends PushDriverBase<AckedAnprReading> {
  readonly id: string;
  readonly kind = 'anpr' as const;
  /** Images of the last push (name → JPEG), for the console; not forwarded over MQTT. */
  lastImages = new Map<string, Buffer>();

  constructor(
    private readonly config: AnprPushConfig,
    context: DriverContext,
  ) {
    super(config.connection.path, context);
    this.id = config.id;
  }

  protected decode(contentType: string | undefined, body: Buffer): ((ack: Ack) => AckedAnprReading) | string {
    const parsed = this.parse(contentType, body);
    if ('error' in parsed) return parsed.error;
    const { alert, images } = parsed;
    const anpr = alert.ANPR as XmlNode;
    const plateText = text1(anpr, 'licensePlate');
    const confidence = Number(text1(anpr, 'confidenceLevel'));
    const likelihood = Number.isFinite(confidence) ? confidence / 100 : null;
    const trusted = plateText !== null && plateText !== '' && plateText.toLowerCase() !== 'unknown' && (likelihood ?? 1) >= this.config.minConfidence;
    this.lastImages = images;
    return (ack) => ({
      type: 'plate.read',
      deviceId: this.id,
      plate: trusted ? normalisePlate(plateText, likelihood, countryCode(text1(anpr, 'country'))) : null,
      plateType: bounded(text1(anpr, 'plateType')),
      vehicleType: bounded(text1(anpr, 'vehicleType')),
      imageRef: bounded([...images.keys()][0] ?? null, 256),
      cameraTime: bounded(text1(alert, 'dateTime')),
      atMs: this.context.clock.now(),
      ack,
    });
  }

  private parse(contentType: string | undefined, body: Buffer): { alert: XmlNode; images: Map<string, Buffer> } | { error: string } {
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
    const images = new Map<string, Buffer>();
    for (const part of parts) {
      if (part !== xmlPart && (part.contentType?.startsWith('image/') || /\.jpe?g$/i.test(part.filename ?? ''))) {
        images.set(part.filename ?? part.name ?? `image-${images.size + 1}.jpg`, part.body);
      }
    }
    return { alert, images };
  }
}

/** Device text kept in a reading: at most `max` characters, else none (never cut to something the camera did not say). */
function bounded(text: string | null, max = 64): string | null {
  return text !== null && text.length <= max ? text : null;
}

/** Cameras send a country name or code; codes pass through, a few names map to codes. */
function countryCode(country: string | null): string | null {
  if (!country) return null;
  const names: Record<string, string> = { georgia: 'GE', armenia: 'AM', azerbaijan: 'AZ', turkey: 'TR', turkiye: 'TR', poland: 'PL', germany: 'DE', ukraine: 'UA' };
  return /^[A-Za-z]{2}$/.test(country) ? country.toUpperCase() : (names[country.toLowerCase()] ?? null);
}
