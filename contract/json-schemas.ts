/**
 * JSON Schemas of the event contract, generated from the catalogue: docs/schemas/cloudevent.json
 * for the envelope and docs/schemas/{type}.json for each event type (envelope + its `data`).
 * The VMC team validates against these files; a test checks they match the code.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { PACKAGE_ROOT } from '../core/package-info.js';
import { EVENT_TYPES, eventDataSchemas, type EventType } from './catalogue.js';
import { ID_RULE } from '../core/identifiers.js';
import { SOURCE_PATTERN_SOURCE } from './envelope.js';

export const EVENT_SCHEMA_DIR = join(PACKAGE_ROOT, 'docs', 'schemas');

const SCHEMA_BASE = 'https://github.com/border-gateway/border-gateway/docs/schemas';

/** The CloudEvents 1.0 envelope as the gateway emits it (`data` checked per type). */
export function envelopeJsonSchema(): Record<string, unknown> {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: `${SCHEMA_BASE}/cloudevent.json`,
    title: 'border-gateway CloudEvent envelope',
    type: 'object',
    required: ['specversion', 'id', 'source', 'type', 'time', 'datacontenttype', 'data', 'seq'],
    additionalProperties: false,
    properties: {
      specversion: { const: '1.0' },
      id: { type: 'string', format: 'uuid', description: 'UUIDv7: unique, sorts by creation time' },
      source: { type: 'string', pattern: SOURCE_PATTERN_SOURCE, description: `/border/{postId}/{laneId}, each ${ID_RULE}` },
      type: { enum: EVENT_TYPES },
      time: { type: 'string', format: 'date-time', pattern: 'Z$', description: 'RFC 3339 UTC with milliseconds' },
      subject: { type: 'string', description: 'The crossing id, where there is one' },
      datacontenttype: { const: 'application/json' },
      data: { type: 'object' },
      seq: { type: 'integer', minimum: 1, description: 'Gateway-wide sequence number, never reused' },
      replayed: { const: true, description: 'Present when sent from the backlog (after an outage or restart); may be a duplicate' },
    },
  };
}

export function eventJsonSchema(type: EventType): Record<string, unknown> {
  const data = z.toJSONSchema(eventDataSchemas[type], { target: 'draft-2020-12' });
  delete (data as { $schema?: unknown }).$schema;
  const envelope = envelopeJsonSchema();
  return {
    ...envelope,
    $id: `${SCHEMA_BASE}/${type}.json`,
    title: `border-gateway event ${type}`,
    properties: { ...(envelope.properties as object), type: { const: type }, data },
  };
}

export function writeEventSchemas(dir = EVENT_SCHEMA_DIR): string[] {
  const files: string[] = [];
  const write = (name: string, schema: unknown): void => {
    const file = join(dir, name);
    writeFileSync(file, `${JSON.stringify(schema, null, 2)}\n`);
    files.push(file);
  };
  write('cloudevent.json', envelopeJsonSchema());
  for (const type of EVENT_TYPES) write(`${type}.json`, eventJsonSchema(type));
  return files;
}
