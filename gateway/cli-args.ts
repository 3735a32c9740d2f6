/**
 * Command-line options parsed strictly (unknown options are errors), typed by their spec; a parse
 * error becomes GW_ERR_CLI_USAGE (exit 64), with the command's usage line when one is given.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GatewayError } from '../core/errors.js';

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = false, usage?: string) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (error) {
    throw new GatewayError('GW_ERR_CLI_USAGE', usage ? `${(error as Error).message}\n${usage}` : (error as Error).message, { cause: error });
  }
}
