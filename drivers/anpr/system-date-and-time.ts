/**
 * The camera's clock, from GetSystemDateAndTime (ONVIF Core Specification 8.3.6), which a camera
 * answers without authentication precisely so that a client can sign its WS-UsernameToken with
 * the camera's time (5.12.2: a device may refuse a token whose `Created` is too far from its own
 * clock). Only the UTC date and time are read: the local time and time zone are the camera's
 * display settings, and a reply without UTCDateTime is no reading.
 */
import { asNode, text1, type XmlNode } from './soap-client.js';

export const GET_SYSTEM_DATE_AND_TIME_ACTION = 'http://www.onvif.org/ver10/device/wsdl/GetSystemDateAndTime';

function integer(node: unknown, key: string, min: number, max: number): number | null {
  const text = text1(node, key);
  if (text === null || !/^\s*\d{1,4}\s*$/.test(text)) return null;
  const value = Number(text);
  return value >= min && value <= max ? value : null;
}

/** The camera's UTC time in ms from a GetSystemDateAndTime reply Body; null when it gives none valid. */
export function cameraUtcMs(body: XmlNode): number | null {
  const utc = asNode(asNode(asNode(body.GetSystemDateAndTimeResponse)?.SystemDateAndTime)?.UTCDateTime);
  const date = asNode(utc?.Date);
  const time = asNode(utc?.Time);
  const year = integer(date, 'Year', 1970, 9999);
  const month = integer(date, 'Month', 1, 12);
  const day = integer(date, 'Day', 1, 31);
  const hour = integer(time, 'Hour', 0, 23);
  const minute = integer(time, 'Minute', 0, 59);
  // 60: a leap second, which Date.UTC folds into the next minute.
  const second = integer(time, 'Second', 0, 60);
  if (year === null || month === null || day === null || hour === null || minute === null || second === null) return null;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC rolls 31 February over into March: a date that does not exist is no reading.
  return new Date(ms).getUTCDate() === day || second === 60 ? ms : null;
}
