/**
 * Drivers from an explicit table: `createDriver` picks by the config's `driver` name. A name the
 * schema accepts but this version has no driver for is reported, never silently skipped.
 */
import type { DeviceConfig } from '../../config/schema.js';
import { resolveSecret } from '../../config/secrets.js';
import { AnprHttpPushDriver } from '../../drivers/anpr/http-push-driver.js';
import { OnvifAnprDriver } from '../../drivers/anpr/onvif-anpr-driver.js';
import { BarrierDriver } from '../../drivers/barrier/barrier-driver.js';
import type { Driver, DriverContext } from '../../drivers/driver.js';
import { WeighbridgeDriver } from '../../drivers/weighbridge/weighbridge-driver.js';
import { XrayFolderDriver } from '../../drivers/xray/xray-folder-driver.js';
import { XrayHttpDriver } from '../../drivers/xray/xray-http-driver.js';
import { join } from 'node:path';

export type AnyDriver = Driver<unknown> & { readonly id: string };

type Factory = (device: DeviceConfig, context: DriverContext, where: string, dataDir: string) => AnyDriver;

const FACTORIES: Partial<Record<DeviceConfig['driver'], Factory>> = {
  onvif: (device, context, where) => {
    if (device.driver !== 'onvif') throw new Error('unreachable');
    return new OnvifAnprDriver(device, resolveSecret(device.connection.password, `${where}.connection.password`), context);
  },
  'anpr-http-push': (device, context) => new AnprHttpPushDriver(device as Extract<DeviceConfig, { driver: 'anpr-http-push' }>, context),
  'modbus-tcp': (device, context) => new BarrierDriver(device as Extract<DeviceConfig, { driver: 'modbus-tcp' }>, context),
  'modbus-rtu': (device, context) => new BarrierDriver(device as Extract<DeviceConfig, { driver: 'modbus-rtu' }>, context),
  sma: (device, context) => new WeighbridgeDriver(device as Extract<DeviceConfig, { driver: 'sma' }>, context),
  toledo: (device, context) => new WeighbridgeDriver(device as Extract<DeviceConfig, { driver: 'toledo' }>, context),
  'xray-http': (device, context, _where, dataDir) =>
    new XrayHttpDriver(device as Extract<DeviceConfig, { driver: 'xray-http' }>, join(dataDir, 'xray', device.id), context),
  'xray-folder': (device, context) => new XrayFolderDriver(device as Extract<DeviceConfig, { driver: 'xray-folder' }>, context),
  pattern: (device, context) => new WeighbridgeDriver(device as Extract<DeviceConfig, { driver: 'pattern' }>, context),
};

export const AVAILABLE_DRIVERS = Object.keys(FACTORIES) as DeviceConfig['driver'][];

export class DriverUnavailableError extends Error {
  constructor(readonly driver: string) {
    super(`driver "${driver}" is not available in this version; available: ${AVAILABLE_DRIVERS.join(', ')}`);
    this.name = 'DriverUnavailableError';
  }
}

/** Creates the driver for `device`; `where` is its path in the config, for secret errors; `dataDir` keeps received files. */
export function createDriver(device: DeviceConfig, context: DriverContext, where: string, dataDir: string): AnyDriver {
  const factory = FACTORIES[device.driver];
  if (!factory) throw new DriverUnavailableError(device.driver);
  return factory(device, context, where, dataDir);
}
