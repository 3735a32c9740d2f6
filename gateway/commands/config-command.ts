/** `border-gateway config check FILE [--secrets] | config schema`: a post's configuration, checked or described. */
import { checkSecrets } from '../../config/check-secrets.js';
import { loadConfigFile } from '../../config/load-config.js';
import { parseForm, selectForm, unknownForm } from '../../core/command-line.js';
import { counted } from '../../core/counted.js';
import { EXIT_CODES } from '../../core/errors.js';
import { CONFIG, CONFIG_CHECK_FORM, CONFIG_SCHEMA_FORM } from './command-specs.js';

export async function configCommand(args: string[]): Promise<number> {
  const selected = selectForm(CONFIG, args);
  if (selected?.form === CONFIG_SCHEMA_FORM) {
    parseForm(CONFIG_SCHEMA_FORM, selected.rest);
    // The schema is built from zod only when asked for: `config check` does not need it.
    const { postConfigJsonSchema } = await import('../../config/json-schema.js');
    process.stdout.write(postConfigJsonSchema());
    return EXIT_CODES.ok;
  }
  if (selected?.form !== CONFIG_CHECK_FORM) throw unknownForm(CONFIG, args);
  const { values, positionals } = parseForm(CONFIG_CHECK_FORM, selected.rest);
  const file = positionals[0] as string;
  const config = loadConfigFile(file);
  const read = values.secrets === true ? checkSecrets(config) : null;
  const devices = config.lanes.reduce((sum, lane) => sum + lane.devices.length, 0);
  const secrets = read === null ? '' : `; ${counted(read, 'secret or TLS file', 'secrets and TLS files')} read`;
  process.stdout.write(`${file}: ok (post ${config.post.id}, ${counted(config.lanes.length, 'lane')}, ${counted(devices, 'device')}${secrets})\n`);
  return EXIT_CODES.ok;
}
