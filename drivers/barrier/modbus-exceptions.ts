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

/** A request that got no answer in time: modbus-serial's own timeout or the driver's. */
export function isModbusTimeout(error: unknown): boolean {
  const { name, cause } = (error ?? {}) as { name?: unknown; cause?: unknown };
  // modbus-serial's TransactionTimedOutError is not an Error: toError() wraps it as the cause.
  return name === 'TransactionTimedOutError' || name === 'TimeoutError' || (cause !== undefined && cause !== error && isModbusTimeout(cause));
}

// modbus-serial (index.js, _onReceive) rejects a reply it cannot match with these messages: the
// frame length differs from the one the request implies, the CRC (added by the TCP port from the
// MBAP length) fails, or the unit id or function code is not the one asked.
const MALFORMED_REPLY = /^(Data length error|CRC error|Unexpected data error)/;

/** Why modbus-serial found a reply malformed, or null for any other error. */
export function malformedReplyReason(error: unknown): string | null {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' && MALFORMED_REPLY.test(message) ? message : null;
}
