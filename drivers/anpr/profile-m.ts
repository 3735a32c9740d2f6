/**
 * Decoding ONVIF notification messages into plate reads. Plate data follows Profile M's
 * `tt:LicensePlateInfo` (PlateNumber, PlateType, CountryCode, IssuingEntity, each with a
 * Likelihood attribute), carried in a message Data ElementItem; the vehicle type and the image
 * reference come as Data SimpleItems. Which topics carry plates is discovered, not assumed: any
 * topic whose message description declares a LicensePlateInfo element or a PlateNumber item.
 */
import { asArray, textOf, type XmlNode } from './soap-client.js';

export interface PlateRead {
  topic: string;
  utcTime: string | null;
  plateNumber: string | null;
  plateLikelihood: number | null;
  countryCode: string | null;
  plateType: string | null;
  issuingEntity: string | null;
  vehicleType: string | null;
  imageRef: string | null;
  source: Record<string, string>;
}

/** Topic paths (as `tns1:A/B/C`) whose message description mentions plate data. */
export function plateTopics(topicSet: XmlNode, prefix = 'tns1:'): string[] {
  const found: string[] = [];
  const walk = (node: unknown, path: string[]): void => {
    if (!node || typeof node !== 'object') return;
    for (const [key, child] of Object.entries(node as XmlNode)) {
      if (key.startsWith('@') || key === '#text') continue;
      if (key === 'MessageDescription') {
        if (/LicensePlateInfo|PlateNumber/.test(JSON.stringify(child))) found.push(prefix + path.join('/'));
        continue;
      }
      for (const item of asArray(child as XmlNode | XmlNode[])) walk(item, [...path, key]);
    }
  };
  walk(topicSet, []);
  return found;
}

function simpleItems(node: unknown): Record<string, string> {
  const items: Record<string, string> = {};
  for (const item of asArray((node as XmlNode | undefined)?.SimpleItem as XmlNode | XmlNode[] | undefined)) {
    const name = item['@Name'];
    if (typeof name === 'string') items[name] = String((item['@Value'] as string | undefined) ?? '');
  }
  return items;
}

function likelihoodText(node: unknown): { text: string | null; likelihood: number | null } {
  const text = textOf(node);
  const raw = (node as XmlNode | undefined)?.['@Likelihood'];
  const likelihood = raw === undefined ? null : Number(raw);
  return { text: text?.trim() || null, likelihood: Number.isFinite(likelihood) ? likelihood : null };
}

/** Decodes one wsnt:NotificationMessage; null when it carries no plate data. */
export function decodePlateNotification(notification: XmlNode): PlateRead | null {
  const topic = textOf(notification.Topic) ?? '';
  const message = (notification.Message as XmlNode | undefined)?.Message as XmlNode | undefined;
  if (!message) return null;
  const data = message.Data as XmlNode | undefined;
  const element = asArray(data?.ElementItem as XmlNode | XmlNode[] | undefined).find((item) => item['@Name'] === 'LicensePlateInfo');
  const info = (element?.LicensePlateInfo as XmlNode | undefined) ?? undefined;
  const items = simpleItems(data);
  if (!info && items.PlateNumber === undefined) return null;
  const plate = info ? likelihoodText(info.PlateNumber) : { text: items.PlateNumber || null, likelihood: null };
  return {
    topic,
    utcTime: typeof message['@UtcTime'] === 'string' ? message['@UtcTime'] : null,
    plateNumber: plate.text,
    plateLikelihood: plate.likelihood,
    countryCode: info ? likelihoodText(info.CountryCode).text : (items.CountryCode ?? null),
    plateType: info ? likelihoodText(info.PlateType).text : (items.PlateType ?? null),
    issuingEntity: info ? likelihoodText(info.IssuingEntity).text : null,
    vehicleType: items.VehicleType ?? null,
    imageRef: items.ImageRef ?? items.Image ?? null,
    source: simpleItems(message.Source),
  };
}
