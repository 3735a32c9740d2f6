/**
 * The lane API under /api/ (JSON): what the registration system and the lane operators do, and
 * the model reload. Every refused step answers 409 (or 400 for a malformed request) with the code
 * GW_ERR_WORKFLOW_STEP and a message naming what was wrong; docs/operations.md lists the routes.
 */
import { z } from 'zod';
import { DIRECTIONS } from '../../config/schema.js';
import type { ApiHandler } from '../http/health-server.js';
import { WorkflowError, type Crossing } from './lane-workflow.js';
import type { PostWorkflow } from './post-workflow.js';

const operator = { operatorId: z.string().min(1) };
const reason = z.string().trim().min(1, 'a reason is required');

const schemas = {
  registration: z.strictObject({
    ...operator,
    crossingId: z.string().optional(),
    plate: z.string().min(1).optional(),
    vehicleType: z.string().optional(),
    direction: z.enum(DIRECTIONS),
    declaredWeightKg: z.number().positive().nullable(),
    documents: z.array(z.string()).default([]),
    aeo: z.boolean().default(false),
    previousVisits30d: z.number().int().min(0).nullable().default(null),
  }),
  plate: z.strictObject({ ...operator, plate: z.string().min(1), reason }),
  weight: z.strictObject({ ...operator, weightKg: z.number().positive(), reason }),
  channel: z.strictObject({ ...operator, channel: z.enum(['green', 'orange', 'red']), reason }),
  inspection: z.strictObject({ ...operator, outcome: z.enum(['cleared', 'irregularity', 'refused']) }),
  release: z.strictObject({ ...operator, reason }),
};

type Answer = { status: number; body: unknown };

const refused = (status: number, message: string): Answer => ({ status, body: { code: 'GW_ERR_WORKFLOW_STEP', message } });

function parseBody<T extends z.ZodType>(schema: T, body: Buffer): z.infer<T> {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8') || '{}');
  } catch (error) {
    throw new RequestError(`body is not JSON: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new RequestError(parsed.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; '));
  return parsed.data;
}

class RequestError extends Error {}

export function summary(crossing: Crossing): Record<string, unknown> {
  return {
    crossingId: crossing.crossingId,
    laneId: crossing.laneId,
    state: crossing.state,
    plate: crossing.plate,
    vehicleType: crossing.vehicleType,
    direction: crossing.declaration?.direction ?? null,
    weightKg: crossing.weightKg,
    channel: crossing.risk?.channel ?? null,
    risk: crossing.risk,
    scan: crossing.scan,
    milestones: Object.fromEntries(Object.entries(crossing.wallMs).map(([m, ms]) => [m, new Date(ms).toISOString()])),
  };
}

export interface LaneApiOptions {
  post: PostWorkflow;
  /** Device health by id, for the lane view. */
  deviceHealth: (deviceId: string) => unknown;
  /** Reloads the models from their manifests; answers the versions now loaded. */
  reloadModels: () => Promise<Record<string, unknown>>;
}

export function createLaneApi(options: LaneApiOptions): ApiHandler {
  const { post } = options;
  return async (method, path, body) => {
    const parts = path.split('/').filter(Boolean).slice(1); // drop "api"
    try {
      if (method === 'GET' && parts.length === 1 && parts[0] === 'lanes') {
        return {
          status: 200,
          body: [...post.lanes.values()].map((lane) => ({
            laneId: lane.config.id,
            devices: lane.config.devices.map((device) => ({ id: device.id, driver: device.driver, role: device.role, health: options.deviceHealth(device.id) ?? null })),
            barrier: lane.cycle,
            crossings: lane.workflow.open().map(summary),
          })),
        };
      }
      if (method === 'POST' && parts.join('/') === 'models/reload') return { status: 200, body: await options.reloadModels() };
      if (parts[0] !== 'lanes' || parts[1] === undefined) return refused(404, `no route ${method} ${path}`);
      const lane = post.lane(parts[1]);
      if (method === 'GET' && parts.length === 2) return { status: 200, body: lane.workflow.open().map(summary) };
      if (method === 'GET' && parts[2] === 'crossings' && parts[3] && parts.length === 4) return { status: 200, body: summary(lane.workflow.get(parts[3])) };
      if (method !== 'POST') return refused(404, `no route ${method} ${path}`);
      if (parts[2] === 'registrations' && parts.length === 3) {
        const request = parseBody(schemas.registration, body);
        const crossing = post.register(lane.config.id, {
          crossingId: request.crossingId,
          plate: request.plate,
          operatorId: request.operatorId,
          vehicleType: request.vehicleType,
          declaration: { direction: request.direction, declaredWeightKg: request.declaredWeightKg, documents: request.documents, aeo: request.aeo, previousVisits30d: request.previousVisits30d },
        });
        return { status: 201, body: summary(crossing) };
      }
      const crossingId = parts[3];
      if (parts[2] !== 'crossings' || !crossingId || parts.length !== 5) return refused(404, `no route ${method} ${path}`);
      const { workflow } = lane;
      switch (parts[4]) {
        case 'plate': {
          const request = parseBody(schemas.plate, body);
          workflow.setPlate(crossingId, request.plate, request.operatorId, request.reason);
          break;
        }
        case 'weight': {
          const request = parseBody(schemas.weight, body);
          await workflow.weighManually(crossingId, request.weightKg, request.operatorId, request.reason);
          break;
        }
        case 'channel': {
          const request = parseBody(schemas.channel, body);
          workflow.overrideChannel(crossingId, request.channel, request.operatorId, request.reason);
          break;
        }
        case 'inspection': {
          const request = parseBody(schemas.inspection, body);
          workflow.inspectionCompleted(crossingId, request.outcome);
          break;
        }
        case 'release': {
          const request = parseBody(schemas.release, body);
          workflow.forceRelease(crossingId, request.operatorId, request.reason);
          break;
        }
        default:
          return refused(404, `no route ${method} ${path}`);
      }
      const crossing = workflow.open().find((c) => c.crossingId === crossingId);
      return { status: 200, body: crossing ? summary(crossing) : { crossingId, state: 'closed' } };
    } catch (error) {
      if (error instanceof RequestError) return refused(400, error.message);
      if (error instanceof WorkflowError) return refused(409, error.message);
      throw error;
    }
  };
}
