/**
 * ANPR cameras that push their reads: an HTTP POST with a multipart body holding an XML
 * `EventNotificationAlert` (eventType ANPR, an `ANPR` block with licensePlate, confidenceLevel,
 * country, vehicleType…) and the plate and scene JPEGs. The request is answered 200 only once
 * the read is committed to the outbox (the reading's `ack`), so a camera retries what the gateway
 * did not store; a malformed push gets 400 with the reason.
 */
import type { AnprPushConfig } from '../../config/schema.js';
import type { DriverContext } from '../driver.js';
import { PushDriverBase, type Ack } from '../push-driver.js';
import { boundaryOf, parseMultipart, type Part } from './multipart.js';
import type { AnprReading } from './onvif-anpr-driver.js';
import { normalisePlate } from './plate-normaliser.js';
import { parseXml, text1, type XmlNode } from './soap-client.js';

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
      plateType: text1(anpr, 'plateType'),
      vehicleType: text1(anpr, 'vehicleType'),
      imageRef: [...images.keys()][0] ?? null,
      cameraTime: text1(alert, 'dateTime'),
      atMs: this.context.clock.now(),
      ack,
    });
  }

  private parse(contentType: string | undefined, body: Buffer): { alert: XmlNode; images: Map<string, Buffer> } | { error: string } {
    const boundary = boundaryOf(contentType);
    const parts: Part[] = boundary
      ? parseMultipart(body, boundary)
      : [{ headers: {}, name: null, filename: null, contentType: contentType ?? null, body }];
    const xmlPart = parts.find((part) => /xml/.test(part.contentType ?? '') || /\.xml$/i.test(part.filename ?? '') || part.body.subarray(0, 200).toString('latin1').includes('<EventNotificationAlert'));
    if (!xmlPart) return { error: 'no EventNotificationAlert XML part' };
    let alert: XmlNode | undefined;
    try {
      alert = parseXml(xmlPart.body.toString('utf8')).EventNotificationAlert as XmlNode | undefined;
    } catch (error) {
      return { error: `unparsable XML: ${(error as Error).message}` };
    }
    if (!alert) return { error: 'the XML part is not an EventNotificationAlert' };
    if (text1(alert, 'eventType') !== 'ANPR' || !alert.ANPR) return { error: `eventType ${text1(alert, 'eventType') ?? '(none)'} has no ANPR block` };
    const images = new Map<string, Buffer>();
    for (const part of parts) {
      if (part !== xmlPart && (part.contentType?.startsWith('image/') || /\.jpe?g$/i.test(part.filename ?? ''))) {
        images.set(part.filename ?? part.name ?? `image-${images.size + 1}.jpg`, part.body);
      }
    }
    return { alert, images };
  }
}

/** Cameras send a country name or code; codes pass through, a few names map to codes. */
function countryCode(country: string | null): string | null {
  if (!country) return null;
  const names: Record<string, string> = { georgia: 'GE', armenia: 'AM', azerbaijan: 'AZ', turkey: 'TR', turkiye: 'TR', poland: 'PL', germany: 'DE', ukraine: 'UA' };
  return /^[A-Za-z]{2}$/.test(country) ? country.toUpperCase() : (names[country.toLowerCase()] ?? null);
}
