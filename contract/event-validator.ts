/**
 * Checks that a received value is an event of the contract: the CloudEvents envelope of
 * docs/schemas/cloudevent.json and the `data` schema of its type from the catalogue. For whoever
 * consumes the events (the VMC): the answer names what was wrong, never throws.
 */
import { z } from 'zod';
import { EVENT_TYPES, eventDataSchemas, type EventType } from './catalogue.js';
import { SOURCE_PATTERN, type CloudEvent } from './envelope.js';

/** The envelope, `data` left for the type's own schema. Mirrors envelopeJsonSchema(). */
const envelopeSchema = z.strictObject({
  specversion: z.literal('1.0'),
  id: z.uuid(),
  source: z.string().regex(SOURCE_PATTERN),
  type: z.enum(EVENT_TYPES as [EventType, ...EventType[]]),
  time: z.iso.datetime({ offset: false }),
  subject: z.string().optional(),
  datacontenttype: z.literal('application/json'),
  data: z.record(z.string(), z.unknown()),
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  replayed: z.literal(true).optional(),
});

export type EventCheck = { ok: true; event: CloudEvent } | { ok: false; reason: 'envelope' | 'data'; problem: string };

function firstProblem(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  return `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`;
}

export function checkEvent(value: unknown): EventCheck {
  const envelope = envelopeSchema.safeParse(value);
  if (!envelope.success) return { ok: false, reason: 'envelope', problem: firstProblem(envelope.error) };
  const data = eventDataSchemas[envelope.data.type].safeParse(envelope.data.data);
  if (!data.success) return { ok: false, reason: 'data', problem: `${envelope.data.type} data.${firstProblem(data.error)}` };
  return { ok: true, event: value as CloudEvent };
}

/** Post and lane of an event, read from its `source` (`/border/{postId}/{laneId}`). */
export function postAndLaneOf(event: Pick<CloudEvent, 'source'>): { postId: string; laneId: string } {
  const [, , postId = '', laneId = ''] = event.source.split('/');
  return { postId, laneId };
}
