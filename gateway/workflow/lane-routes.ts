/**
 * The lane API (JSON under /api/lanes), as a fastify plugin: what the registration system and the
 * lane operators do. Each route names its permission (checked before the body is read, see
 * http/auth-plugin.ts) and a schema that bounds its body: sizes, ranges, characters, no unknown
 * keys. The acting identity is the authenticated caller, never a body field. A refused step
 * answers 409 GW_ERR_WORKFLOW_STEP with the workflow's reason; docs/operations.md lists the routes.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { DIRECTIONS } from '../../config/schema.js';
import { parsePlateInput } from '../../core/plates.js';
import { allows, type Actor } from '../auth/roles.js';
import type { LaneConsole } from './lane-console.js';
import { summary } from './lane-view.js';
import { WorkflowError } from './lane-workflow.js';
import type { PostWorkflow } from './post-workflow.js';
import { UNFIT_CHAR_RANGES } from '../../core/device-text.js';
import { ID_PATTERN } from '../../core/identifiers.js';

/** What the routes need from the running post; null until the workflow runs (503 meanwhile). */
export interface LaneApiDeps {
  post: PostWorkflow;
  /** Device health by id, for the lane view. */
  deviceHealth: (deviceId: string) => unknown;
  /** The lane view, its standing alarms and pictures, and the changes the live feed pushes. */
  console: LaneConsole;
}

export interface LaneRoutesOptions {
  deps: () => LaneApiDeps | null;
}

/**
 * A character a person's text may hold: no C0 or C1 control characters (they forge log lines and
 * have no place in a reason or a name), and none of the invisible ones that reorder or hide the
 * text around them (bidi overrides and isolates, zero-width ones), which would make a reason read
 * differently in the console and the audit log than it was written: what devices' text is
 * stripped of (core/device-text.ts).
 */
const TEXT_CHAR = `[^${UNFIT_CHAR_RANGES}]`;
const PRINTABLE = `^${TEXT_CHAR}*$`;
export const reasonSchema = { type: 'string', minLength: 1, maxLength: 500, pattern: `^${TEXT_CHAR}*\\S${TEXT_CHAR}*$` } as const;
const plateSchema = { type: 'string', minLength: 1, maxLength: 32, pattern: PRINTABLE } as const;
const idSchema = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' } as const;
/** A weight is 0 < kg ≤ 200,000: no road vehicle weighs more. */
const weightSchema = { type: 'number', exclusiveMinimum: 0, maximum: 200_000 } as const;

const laneParams = { type: 'object', required: ['laneId'], properties: { laneId: { type: 'string', pattern: ID_PATTERN.source } } } as const;
const crossingParams = { type: 'object', required: ['laneId', 'crossingId'], properties: { ...laneParams.properties, crossingId: idSchema } } as const;

const body = (required: string[], properties: Record<string, unknown>): Record<string, unknown> => ({ type: 'object', additionalProperties: false, required, properties });

interface RegistrationBody {
  crossingId?: string;
  plate?: string;
  vehicleType?: string;
  direction: (typeof DIRECTIONS)[number];
  declaredWeightKg: number | null;
  documents?: string[];
  aeo?: boolean;
  previousVisits30d?: number | null;
}

const registrationBody = body(['direction', 'declaredWeightKg'], {
  crossingId: idSchema,
  plate: plateSchema,
  vehicleType: { type: 'string', maxLength: 32, pattern: '^[a-z-]*$' },
  direction: { type: 'string', enum: DIRECTIONS },
  declaredWeightKg: { anyOf: [weightSchema, { type: 'null' }] },
  documents: { type: 'array', maxItems: 20, items: { type: 'string', minLength: 1, maxLength: 64, pattern: PRINTABLE } },
  aeo: { type: 'boolean' },
  previousVisits30d: { anyOf: [{ type: 'integer', minimum: 0, maximum: 10_000 }, { type: 'null' }] },
});

type Params = { laneId: string; crossingId: string };

function plateOrThrow(raw: string): string {
  const parsed = parsePlateInput(raw);
  if (!parsed.ok) throw new BadRequest(`plate: ${parsed.reason}`);
  return parsed.text;
}

/** A body that passed its schema but is still no valid request (a plate that is no plate). */
export class BadRequest extends Error {
  readonly statusCode = 400;
  readonly code = 'GW_ERR_HTTP_BAD_REQUEST';
}

export const laneRoutes: FastifyPluginAsync<LaneRoutesOptions> = (app, options) => {
  const deps = (reply: FastifyReply): LaneApiDeps | null => {
    const current = options.deps();
    if (!current) void reply.code(503).send({ code: 'GW_ERR_WORKFLOW_STEP', message: 'the lane workflow is not running' });
    return current;
  };
  const actor = (request: { actor: Actor | null }): Actor => request.actor as Actor;

  app.get('/api/lanes', { config: { access: 'lanes.read' } }, async (_request, reply) => {
    const d = deps(reply);
    if (!d) return reply;
    // The same view the live feed (GET /api/live) pushes as its `lanes` event.
    return d.console.lanes();
  });

  app.get<{ Params: Params }>('/api/lanes/:laneId', { config: { access: 'lanes.read' }, schema: { params: laneParams } }, async (request, reply) => {
    const d = deps(reply);
    return d ? d.post.lane(request.params.laneId).workflow.open().map(summary) : reply;
  });

  app.get<{ Params: Params }>('/api/lanes/:laneId/crossings/:crossingId', { config: { access: 'lanes.read' }, schema: { params: crossingParams } }, async (request, reply) => {
    const d = deps(reply);
    return d ? summary(d.post.lane(request.params.laneId).workflow.get(request.params.crossingId)) : reply;
  });

  app.post<{ Params: Params; Body: RegistrationBody }>(
    '/api/lanes/:laneId/registrations',
    { config: { access: 'crossing.register' }, schema: { params: laneParams, body: registrationBody } },
    async (request, reply) => {
      const d = deps(reply);
      if (!d) return reply;
      const by = actor(request);
      const { aeo = false, previousVisits30d = null } = request.body;
      // AEO status and visit history lower a vehicle's risk: only the registration system's word counts.
      if ((aeo || previousVisits30d !== null) && !allows(by.role, 'registration.trusted')) {
        return reply.code(403).send({ code: 'GW_ERR_AUTH_FORBIDDEN', message: `${by.id} (${by.role}) may not declare AEO status or visit history: only the registration system may` });
      }
      const crossing = d.post.register(request.params.laneId, {
        crossingId: request.body.crossingId,
        plate: request.body.plate === undefined ? undefined : plateOrThrow(request.body.plate),
        actor: by,
        vehicleType: request.body.vehicleType,
        declaration: { direction: request.body.direction, declaredWeightKg: request.body.declaredWeightKg, documents: request.body.documents ?? [], aeo, previousVisits30d },
      });
      await d.post.actionsRecorded();
      return reply.code(201).send(summary(crossing));
    },
  );

  /** One operator step on a crossing: the answer is the crossing as it is now (or closed). */
  const step = <B>(name: string, access: 'crossing.plate' | 'crossing.weight' | 'crossing.inspection' | 'crossing.channel' | 'crossing.release', schema: Record<string, unknown>, act: (d: LaneApiDeps, params: Params, body: B, by: Actor) => unknown) =>
    app.post<{ Params: Params; Body: B }>(`/api/lanes/:laneId/crossings/:crossingId/${name}`, { config: { access }, schema: { params: crossingParams, body: schema } }, async (request, reply) => {
      const d = deps(reply);
      if (!d) return reply;
      await act(d, request.params, request.body as B, actor(request));
      await d.post.actionsRecorded();
      const crossing = d.post.lane(request.params.laneId).workflow.open().find((c) => c.crossingId === request.params.crossingId);
      return crossing ? summary(crossing) : { crossingId: request.params.crossingId, state: 'closed' };
    });

  step<{ plate: string; reason: string }>('plate', 'crossing.plate', body(['plate', 'reason'], { plate: plateSchema, reason: reasonSchema }), (d, p, b, by) =>
    d.post.lane(p.laneId).workflow.setPlate(p.crossingId, plateOrThrow(b.plate), by, b.reason),
  );
  step<{ weightKg: number; reason: string }>('weight', 'crossing.weight', body(['weightKg', 'reason'], { weightKg: weightSchema, reason: reasonSchema }), (d, p, b, by) =>
    d.post.lane(p.laneId).workflow.weighManually(p.crossingId, b.weightKg, by, b.reason),
  );
  step<{ outcome: 'cleared' | 'irregularity' | 'refused'; reason?: string }>(
    'inspection',
    'crossing.inspection',
    body(['outcome'], { outcome: { type: 'string', enum: ['cleared', 'irregularity', 'refused'] }, reason: reasonSchema }),
    (d, p, b, by) => d.post.lane(p.laneId).workflow.inspectionCompleted(p.crossingId, b.outcome, by, b.reason),
  );
  step<{ channel: 'green' | 'orange' | 'red'; reason: string }>(
    'channel',
    'crossing.channel',
    body(['channel', 'reason'], { channel: { type: 'string', enum: ['green', 'orange', 'red'] }, reason: reasonSchema }),
    (d, p, b, by) => d.post.lane(p.laneId).workflow.overrideChannel(p.crossingId, b.channel, by, b.reason),
  );
  step<{ reason: string }>('release', 'crossing.release', body(['reason'], { reason: reasonSchema }), (d, p, b, by) => d.post.lane(p.laneId).workflow.forceRelease(p.crossingId, by, b.reason));

  app.post<{ Params: Params; Body: { command: 'open' | 'close'; reason: string } }>(
    '/api/lanes/:laneId/barrier',
    { config: { access: 'barrier.manual' }, schema: { params: laneParams, body: body(['command', 'reason'], { command: { type: 'string', enum: ['open', 'close'] }, reason: reasonSchema }) } },
    async (request, reply) => {
      const d = deps(reply);
      if (!d) return reply;
      const position = await d.post.operateBarrier(request.params.laneId, request.body.command, actor(request), request.body.reason);
      await d.post.actionsRecorded();
      return { laneId: request.params.laneId, command: request.body.command, position };
    },
  );
  return Promise.resolve();
};

export { WorkflowError, summary };
