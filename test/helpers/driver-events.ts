/** Waiting on a driver's events in tests: the next matching reading, or a health state. */
import type { Driver, DriverHealth, HealthState } from '../../drivers/driver.js';

export function nextReading<R>(driver: Driver<R>, match: (reading: R) => boolean = () => true): Promise<R> {
  return new Promise((resolve) => {
    const listener = (reading: R): void => {
      if (!match(reading)) return;
      driver.off('reading', listener);
      resolve(reading);
    };
    driver.on('reading', listener);
  });
}

export function healthState<R>(driver: Driver<R>, state: HealthState): Promise<DriverHealth> {
  if (driver.health().state === state) return Promise.resolve(driver.health());
  return new Promise((resolve) => {
    const listener = (health: DriverHealth): void => {
      if (health.state !== state) return;
      driver.off('health', listener);
      resolve(health);
    };
    driver.on('health', listener);
  });
}
