/**
 * The device address policy: only addresses on the camera's own host (or a trusted one) are
 * followed; a foreign one is refused, or moved onto the device URL when the integrator asked.
 */
import { describe, expect, it } from 'vitest';
import { DeviceAddressPolicy } from './device-address.js';

const DEVICE = 'http://127.0.0.1:8080/onvif/device_service';
const strict = new DeviceAddressPolicy(DEVICE, { trustedHosts: [], rewriteForeignAddresses: false });
const outcome = (policy: DeviceAddressPolicy, address: string): string => {
  try {
    return policy.resolve(address, 'pull point').href;
  } catch (error) {
    return (error as { code: string }).code;
  }
};

describe('device address policy', () => {
  it.each([
    ['http://127.0.0.1:9000/onvif/pullpoint/1', 'http://127.0.0.1:9000/onvif/pullpoint/1'],
    ['https://127.0.0.1/onvif/pullpoint/1', 'https://127.0.0.1/onvif/pullpoint/1'],
    ['HTTP://127.1:8080/a', 'http://127.0.0.1:8080/a'],
    ['http://0x7f.0.0.1/a', 'http://127.0.0.1/a'],
    ['/onvif/events', 'http://127.0.0.1:8080/onvif/events'],
    ['  http://127.0.0.1/a  ', 'http://127.0.0.1/a'],
    ['http://admin:secret@127.0.0.1/a', 'http://127.0.0.1/a'],
  ])('follows %s on the camera host', (address, expected) => {
    expect(outcome(strict, address)).toBe(expected);
  });

  it.each([
    'http://127.0.0.2/a',
    '//evil.example/a',
    'http://127.0.0.1.evil.example/a',
    'http://127.0.0.1@evil.example/a',
    'http://evil.example#@127.0.0.1/a',
    'http://evil.example\\@127.0.0.1/a',
    'http://localhost:8080/a',
    'http://[::1]:8080/a',
    'file:///etc/passwd',
    'javascript:alert(1)',
    'rtsp://127.0.0.1/stream',
  ])('refuses %s', (address) => {
    expect(outcome(strict, address)).toBe('GW_ERR_DEVICE_FOREIGN_ADDRESS');
  });

  it('names the address, what the camera gave it as, and the allowed hosts', () => {
    expect(() => strict.resolve('http://10.9.8.7:80/onvif/events', 'event service')).toThrow(
      "refused the camera's event service http://10.9.8.7/onvif/events: it is not on the camera's host (127.0.0.1)",
    );
    expect(outcome(strict, 'http://%zz/')).toBe('GW_ERR_DEVICE_REPLY_INVALID');
  });

  it('follows hosts listed in trustedHosts, normalised as URLs are', () => {
    const policy = new DeviceAddressPolicy('http://Camera.Post.Local./onvif/device_service', { trustedHosts: ['192.168.1.64', 'Cam-1.LAN.', '::1', '10.0.0.9:8000', '[fe80::1]'], rewriteForeignAddresses: false });
    expect(policy.allowedHosts).toEqual(['camera.post.local', '192.168.1.64', 'cam-1.lan', '[::1]', '10.0.0.9', '[fe80::1]']);
    for (const address of ['http://camera.post.local/a', 'http://192.168.1.64:8899/a', 'http://CAM-1.lan/a', 'http://[::1]/a', 'http://10.0.0.9/a', 'http://[fe80::1]/a']) {
      expect(outcome(policy, address)).toBe(new URL(address).href);
    }
    expect(outcome(policy, 'http://192.168.1.65/a')).toBe('GW_ERR_DEVICE_FOREIGN_ADDRESS');
  });

  it('with rewriteForeignAddresses, moves a foreign address onto the device URL and tells once per origin', () => {
    const rewrites: unknown[] = [];
    const policy = new DeviceAddressPolicy('https://203.0.113.7:8443/onvif/device_service', { trustedHosts: [], rewriteForeignAddresses: true }, (rewrite) => rewrites.push(rewrite));
    expect(outcome(policy, 'http://192.168.1.64/onvif/pullpoint/7?sub=1')).toBe('https://203.0.113.7:8443/onvif/pullpoint/7?sub=1');
    expect(outcome(policy, 'http://192.168.1.64/onvif/pullpoint/8')).toBe('https://203.0.113.7:8443/onvif/pullpoint/8');
    expect(rewrites).toEqual([{ what: 'pull point', from: 'http://192.168.1.64/onvif/pullpoint/7?sub=1', to: 'https://203.0.113.7:8443/onvif/pullpoint/7?sub=1' }]);
    // Still never another scheme.
    expect(outcome(policy, 'ftp://192.168.1.64/x')).toBe('GW_ERR_DEVICE_FOREIGN_ADDRESS');
  });

  it('remembers the origins it told of for a bounded number only, however many a camera names', () => {
    const rewrites: string[] = [];
    const policy = new DeviceAddressPolicy('http://203.0.113.7/onvif/device_service', { trustedHosts: [], rewriteForeignAddresses: true }, (rewrite) => rewrites.push(rewrite.from));
    for (let i = 0; i < 1000; i += 1) outcome(policy, `http://10.${Math.floor(i / 256)}.${i % 256}.1/pp`);
    expect(rewrites).toHaveLength(1000);
    // Each told once while remembered; the first, long forgotten, is told again.
    outcome(policy, 'http://10.3.231.1/pp');
    outcome(policy, 'http://10.0.0.1/pp');
    expect(rewrites.slice(1000)).toEqual(['http://10.0.0.1/pp']);
  });
});
