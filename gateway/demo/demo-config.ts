/**
 * Adjusts the demo post's configuration to this machine: the X-ray drop folders move under the
 * demo's data directory (two demos never share a folder), and with `freePorts` every simulated
 * device's TCP port is replaced by a free one, so demos and tests can run side by side. The
 * simulator and the drivers read the same adjusted configuration, so they still meet.
 */
import { isAbsolute, join } from 'node:path';
import type { PostConfig } from '../../config/schema.js';
import { freePort } from '../../core/free-port.js';

export async function adjustDemoConfig(config: PostConfig, dataDir: string, freePorts: boolean): Promise<PostConfig> {
  for (const lane of config.lanes) {
    for (const device of lane.devices) {
      if (device.driver === 'xray-folder' && !isAbsolute(device.connection.folder)) device.connection.folder = join(dataDir, device.connection.folder);
      if (!freePorts) continue;
      if (device.driver === 'onvif') {
        const url = new URL(device.connection.url);
        url.port = String(await freePort());
        device.connection.url = url.toString();
      } else if (device.driver === 'modbus-tcp') {
        device.connection.port = await freePort();
      } else if ((device.driver === 'sma' || device.driver === 'toledo' || device.driver === 'pattern') && 'port' in device.connection) {
        device.connection.port = await freePort();
      }
    }
  }
  return config;
}
