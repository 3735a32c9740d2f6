/**
 * The JSON Schema of a post configuration, for editors (YAML language servers read it through a
 * `# yaml-language-server: $schema=...` comment). Generated from the zod schema; a test keeps
 * the committed file in step. Run `npm run schema` to rewrite it.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { postConfigSchema } from './schema.js';

export const POST_CONFIG_SCHEMA_FILE = fileURLToPath(new URL('./post-config.schema.json', import.meta.url));

export function postConfigJsonSchema(): string {
  const schema = z.toJSONSchema(postConfigSchema, { io: 'input', unrepresentable: 'any' });
  return `${JSON.stringify({ ...schema, title: 'border-gateway post configuration' }, null, 2)}\n`;
}

export function writePostConfigJsonSchema(file = POST_CONFIG_SCHEMA_FILE): void {
  writeFileSync(file, postConfigJsonSchema());
}
