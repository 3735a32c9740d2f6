/** An X-ray scanner pushing over HTTP to a gateway of its own: the push's body, and the post it goes to. */
import { join } from 'node:path';
import { pino } from 'pino';
import { postConfigSchema } from '../../config/schema.js';
import { systemClock } from '../../core/clock.js';
import type { Gateway } from '../../gateway/daemon.js';
import { DeviceManager } from '../../gateway/devices/device-manager.js';
import { freePort } from './free-port.js';
import { startTestGateway, tempDir } from './test-config.js';

export const SCAN_BOUNDARY = 'scan-boundary';

/** The push as the xray-http driver reads it: a metadata part and, when given, the image part. */
export function scanPush(metadata: object, image?: Buffer): Uint8Array<ArrayBuffer> {
  const parts: Buffer[] = [Buffer.from(`--${SCAN_BOUNDARY}\r\nContent-Disposition: form-data; name="metadata"\r\nContent-Type: application/json\r\n\r\n${JSON.stringify(metadata)}\r\n`)];
  if (image) parts.push(Buffer.from(`--${SCAN_BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="scan.pgm"\r\nContent-Type: image/x-portable-graymap\r\n\r\n`), image, Buffer.from('\r\n'));
  parts.push(Buffer.from(`--${SCAN_BOUNDARY}--\r\n`));
  return Uint8Array.from(Buffer.concat(parts));
}

export interface XrayPost {
  gateway: Gateway;
  devices: DeviceManager;
  /** The device listener's port. */
  port: number;
  /** The scanner's own client, bearer token form. */
  authorization: string;
  /** Where the driver keeps the images. */
  imageDir: string;
}

/** A gateway with its device listener and one xray-http scanner (`xray-1`, POST /xray/lane-1), started. */
/** A post with one xray-http scanner, its data in `dataDir` (default: a fresh temporary one). */
export async function xrayPost(dataDir = tempDir()): Promise<XrayPost> {
  const config = postConfigSchema.parse({
    version: 1,
    post: { id: 'test-post' },
    lanes: [{ id: 'lane-1', devices: [{ id: 'xray-1', driver: 'xray-http', connection: { path: '/xray/lane-1' } }] }],
    uplink: { brokers: [`mqtt://127.0.0.1:${await freePort()}`] },
    http: { port: 0 },
    devicePush: { port: 0 },
  });
  const gateway = await startTestGateway(config, dataDir, true);
  const devices = new DeviceManager(config, gateway, systemClock, pino({ level: 'silent' }), dataDir);
  await devices.start();
  const authorization = `Bearer xray-1.${gateway.accounts.addClient('xray-1', 'device', { deviceId: 'xray-1' })}`;
  return { gateway, devices, port: gateway.deviceAddress?.port ?? 0, authorization, imageDir: join(dataDir, 'xray', 'xray-1') };
}
