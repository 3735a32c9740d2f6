/**
 * Regenerates the schema files from the code: the post configuration's JSON Schema and one JSON
 * Schema per event type in docs/schemas/. Tests fail when the committed files are stale.
 */
import { writePostConfigJsonSchema } from '../config/json-schema.js';
import { writeEventSchemas } from '../contract/json-schemas.js';

writePostConfigJsonSchema();
const files = writeEventSchemas();
process.stdout.write(`wrote config/post-config.schema.json and ${files.length} event schemas in docs/schemas/\n`);
