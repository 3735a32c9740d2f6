/** Modbus exception codes (Modbus Application Protocol v1.1b3, section 7) by name. */
export const MODBUS_EXCEPTIONS: Record<number, string> = {
  0x01: 'ILLEGAL FUNCTION',
  0x02: 'ILLEGAL DATA ADDRESS',
  0x03: 'ILLEGAL DATA VALUE',
  0x04: 'SERVER DEVICE FAILURE',
  0x05: 'ACKNOWLEDGE',
  0x06: 'SERVER DEVICE BUSY',
  0x07: 'NEGATIVE ACKNOWLEDGE',
  0x08: 'MEMORY PARITY ERROR',
  0x0a: 'GATEWAY PATH UNAVAILABLE',
  0x0b: 'GATEWAY TARGET DEVICE FAILED TO RESPOND',
};

/** The exception code of a modbus-serial error, or null for a transport error. */
export function modbusExceptionCode(error: unknown): number | null {
  const code = (error as { modbusCode?: unknown } | null)?.modbusCode;
  return typeof code === 'number' ? code : null;
}

export function describeModbusException(code: number): string {
  const name = MODBUS_EXCEPTIONS[code] ?? 'UNKNOWN EXCEPTION';
  return `Modbus exception 0x${code.toString(16).padStart(2, '0')} ${name}`;
}
