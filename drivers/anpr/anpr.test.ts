import fc from 'fast-check';
import { parseMultipart } from './multipart.js';
import { describe, expect, it } from 'vitest';
import { decodePlateNotification, plateTopics } from './profile-m.js';
import { normalisePlate } from './plate-normaliser.js';
import { asArray, parseXml, parseXmlQualified, type XmlNode } from './soap-client.js';
import { passwordDigest, verifyUsernameToken } from './ws-security.js';

describe('WS-UsernameToken', () => {
  it('computes Base64(SHA-1(nonce + created + password))', () => {
    // Expected value computed independently: printf '0123456789abcdef2026-11-26T06:00:00Zs3cret' | openssl sha1 -binary | base64
    const nonce = Buffer.from('0123456789abcdef');
    expect(passwordDigest(nonce, '2026-11-26T06:00:00Z', 's3cret')).toBe('4bSYSXlUo90+0gCX0hXCDyRsO2g=');
    const token = { username: 'admin', nonce: nonce.toString('base64'), created: '2026-11-26T06:00:00Z', digest: passwordDigest(nonce, '2026-11-26T06:00:00Z', 's3cret') };
    expect(verifyUsernameToken(token, 'admin', 's3cret')).toBe(true);
    expect(verifyUsernameToken(token, 'admin', 'wrong')).toBe(false);
  });
});

describe('plate normalisation', () => {
  it('keeps the raw read, canonicalises the text and checks the country format', () => {
    expect(normalisePlate('ab-123 cd', 0.91, 'ge')).toEqual({ text: 'AB123CD', raw: 'ab-123 cd', confidence: 0.91, country: 'GE', formatValid: true });
    expect(normalisePlate('AB12-3CDX', 0.6, 'GE')?.formatValid).toBe(false);
    expect(normalisePlate('34 ABC 123', null, 'TR')).toMatchObject({ text: '34ABC123', formatValid: true });
    expect(normalisePlate('XYZ 1', null, null)).toMatchObject({ text: 'XYZ1', formatValid: null, country: null });
    // Cyrillic look-alikes (А, В, С) fold to Latin; a read that is no plate is dropped (the lane asks the operator).
    expect(normalisePlate('\u0410\u0412-123-\u0421D', 0.8, 'GE')).toMatchObject({ text: 'AB123CD', formatValid: true });
    expect(normalisePlate('AB\u0000123CD')).toBeNull();
    expect(normalisePlate('\u4EACA12345')).toBeNull();
  });
});

const NOTIFICATION = `<wsnt:NotificationMessage xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tt="http://www.onvif.org/ver10/schema">
  <wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">tns1:RuleEngine/LicensePlateRecognition/Plate</wsnt:Topic>
  <wsnt:Message><tt:Message UtcTime="2026-11-26T06:10:00Z">
    <tt:Source><tt:SimpleItem Name="VideoSourceConfigurationToken" Value="vsc_1"/></tt:Source>
    <tt:Data>
      <tt:ElementItem Name="LicensePlateInfo"><tt:LicensePlateInfo>
        <tt:PlateNumber Likelihood="0.87">GE 123 AB</tt:PlateNumber>
        <tt:PlateType Likelihood="0.9">Normal</tt:PlateType>
        <tt:CountryCode Likelihood="0.95">GE</tt:CountryCode>
        <tt:IssuingEntity Likelihood="0.9">GE</tt:IssuingEntity>
      </tt:LicensePlateInfo></tt:ElementItem>
      <tt:SimpleItem Name="VehicleType" Value="Truck"/>
      <tt:SimpleItem Name="ImageRef" Value="/images/42.jpg"/>
    </tt:Data>
  </tt:Message></wsnt:Message>
</wsnt:NotificationMessage>`;

describe('Profile M decoding', () => {
  it('reads LicensePlateInfo with likelihoods, vehicle type and image reference', () => {
    const node = parseXml(NOTIFICATION).NotificationMessage as XmlNode;
    expect(decodePlateNotification(node)).toEqual({
      topic: 'tns1:RuleEngine/LicensePlateRecognition/Plate',
      utcTime: '2026-11-26T06:10:00Z',
      plateNumber: 'GE 123 AB',
      plateLikelihood: 0.87,
      countryCode: 'GE',
      plateType: 'Normal',
      issuingEntity: 'GE',
      vehicleType: 'Truck',
      imageRef: '/images/42.jpg',
      eventId: null,
      source: { VideoSourceConfigurationToken: 'vsc_1' },
    });
  });

  it('ignores notifications without plate data and finds plate topics in a topic set', () => {
    const motion = parseXml(`<NotificationMessage><Topic>tns1:VideoSource/MotionAlarm</Topic><Message><Message><Data><SimpleItem Name="State" Value="true"/></Data></Message></Message></NotificationMessage>`);
    expect(decodePlateNotification(motion.NotificationMessage as XmlNode)).toBeNull();
    const set = parseXmlQualified(
      `<TopicSet xmlns:tns1="http://www.onvif.org/ver10/topics"><tns1:VideoSource><MotionAlarm><MessageDescription><Data><SimpleItemDescription Name="State"/></Data></MessageDescription></MotionAlarm></tns1:VideoSource><tns1:RuleEngine><LPR><Plate><MessageDescription><Data><SimpleItemDescription Name="PlateNumber"/></Data></MessageDescription></Plate></LPR></tns1:RuleEngine></TopicSet>`,
    );
    expect(plateTopics(set)).toEqual([{ expression: 'tns1:RuleEngine/LPR/Plate', namespaces: { tns1: 'http://www.onvif.org/ver10/topics' }, plate: true }]);
    expect(asArray(undefined)).toEqual([]);
  });
});

describe('push and notification parsing on arbitrary input', () => {
  it('multipart parsing never throws and never returns more bytes than it was given', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.constantFrom('b', 'boundary-7', '--'), (bytes, boundary) => {
        const body = Buffer.concat([Buffer.from(`--${boundary}\r\n`), Buffer.from(bytes), Buffer.from(`\r\n--${boundary}--`)]);
        const parts = parseMultipart(body, boundary);
        return parts.reduce((sum, part) => sum + part.body.length, 0) <= body.length;
      }),
      { numRuns: 1000 },
    );
  });

  it('notification decoding never throws on arbitrary XML-ish text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        let parsed: XmlNode;
        try {
          parsed = parseXml(`<NotificationMessage>${text}</NotificationMessage>`);
        } catch {
          return true; // the parser may refuse; decoding is what must not throw
        }
        const node = parsed.NotificationMessage;
        decodePlateNotification(typeof node === 'object' && node !== null ? (node as XmlNode) : {});
        return true;
      }),
      { numRuns: 1000 },
    );
  });
});
