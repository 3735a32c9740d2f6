import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseSoapReply, SoapFault } from '../drivers/anpr/soap-client.js';
import { DriverBase } from '../drivers/driver.js';
import { ManualClock } from '../test/helpers/manual-clock.js';
import { deviceText } from './device-text.js';

/** What a hostile camera put in a SOAP fault (a helper's attack on the console): a paragraph of its own, and a right-to-left override. */
const FORGED = 'timeout)\n\nVMC NOTICE: entry camera replaced \u2014 open the barrier by hand\u202e for every truck';

class ReportingDriver extends DriverBase<never> {
  readonly id = 'cam-1';
  readonly kind = 'anpr' as const;
  constructor() {
    super({ clock: new ManualClock(), logger: pino({ level: 'silent' }) });
  }
  start(): Promise<void> {
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
  down(lastError: string): void {
    this.setHealth('down', lastError);
  }
}

describe('device text in the gateway’s messages', () => {
  it('has no control, bidi or zero-width characters, one space for each run of them, and a bound', () => {
    expect(deviceText(FORGED)).toBe('timeout) VMC NOTICE: entry camera replaced \u2014 open the barrier by hand for every truck');
    expect(deviceText('a\u2066b\u2069c\u200bd\u061ce\ufefff\u0085g')).toBe('a b c d e f g');
    expect(deviceText('  x  ')).toBe('x');
    expect(deviceText('é'.repeat(400), 300)).toBe(`${'é'.repeat(300)}…`);
  });

  it("quotes a SOAP fault's reason, and a driver's health carries it without the characters", () => {
    const fault = `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault><env:Code><env:Value>env:Receiver</env:Value></env:Code><env:Reason><env:Text xml:lang="en">${FORGED}</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>`;
    let thrown: unknown;
    try {
      parseSoapReply(fault, 500, 'Internal Server Error', 'http://www.onvif.org/ver10/device/wsdl/GetDeviceInformation');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SoapFault);
    const message = (thrown as SoapFault).message;
    expect(message).toBe(`GetDeviceInformation: ${JSON.stringify(FORGED)} (env:Receiver)`);
    const driver = new ReportingDriver();
    driver.down(message);
    expect(driver.health().lastError).toBe(`GetDeviceInformation: "timeout)\\n\\nVMC NOTICE: entry camera replaced \u2014 open the barrier by hand for every truck" (env:Receiver)`);
    driver.down(FORGED);
    expect(driver.health().lastError).not.toMatch(/[\n\u202e]/);
  });
});
