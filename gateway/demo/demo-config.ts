/**
 * Adjusts the demo post's configuration to this machine: the X-ray drop folders move under the
 * demo's data directory (two demos never share a folder), and with a `portSource` every simulated
 * device's TCP port is replaced by one it gives (the OS's free ports for `--free-ports`; the
 * tests' own allocator in tests), so demos and tests can run side by side. The simulator and the
 * drivers read the same adjusted configuration, so they still meet.
 */
import { isAbsolute, join } from 'node:path';
import type { PostConfig } from '../../config/schema.js';

export type PortSource = () => Promise<number>;

export async function adjustDemoConfig(config: PostConfig, dataDir: string, portSource?: PortSource): Promise<PostConfig> {
  for (const lane of config.lanes) {
    for (const device of lane.devices) {
      if (device.driver === 'xray-folder' && !isAbsolute(device.connection.folder)) device.connection.folder = join(dataDir, device.connection.folder);
      if (!portSource) continue;
      if (device.driver === 'onvif') {
        const url = new URL(device.connection.url);
        url.port = String(await portSource());
        device.connection.url = url.toString();
      } else if (device.driver === 'modbus-tcp') {
        device.connection.port = await portSource();
      } else if ((device.driver === 'sma' || device.driver === 'toledo' || device.driver === 'pattern') && 'port' in device.connection) {
        device.connection.port = await portSource();
      }
    }
  }
  return config;
}
