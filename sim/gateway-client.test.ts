/**
 * The simulated registration desk tells a gateway that could not answer (worth retrying, and
 * whether the request may have taken effect) from one that refused, over real HTTP against a
 * stand-in lane API.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../test/helpers/free-port.js';
import { DeskUnavailable, deskUnavailable, GatewayDeskClient } from './gateway-client.js';

const CREDENTIALS = { registrationToken: 'sim-registration.s3cret', supervisor: { name: 'sim-inspector', password: 'pw' } };
const REGISTRATION = { plate: 'GE-123-AB', direction: 'import', declaredWeightKg: 18_000 };

describe('GatewayDeskClient', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  async function gateway(handle: (request: IncomingMessage, response: ServerResponse, body: string) => void): Promise<GatewayDeskClient> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => handle(request, response, Buffer.concat(chunks).toString('utf8')));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    return new GatewayDeskClient(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, CREDENTIALS);
  }

  const failure = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => new Error('resolved'), (error: unknown) => error);

  it('a gateway not listening (restarting) is unavailable, and the request was not applied', async () => {
    const client = new GatewayDeskClient(`http://127.0.0.1:${await freePort()}`, CREDENTIALS);
    const error = await failure(client.register('lane-1', REGISTRATION));
    expect(error).toBeInstanceOf(DeskUnavailable);
    expect(error).toMatchObject({ maybeApplied: false, message: expect.stringContaining('ECONNREFUSED') as unknown });
    // The supervisor's login is retried the same way.
    expect(await failure(client.crossing('lane-1', 'c-1'))).toMatchObject({ maybeApplied: false });
  });

  it('a connection broken after the request was read is a lost answer: maybe applied', async () => {
    const client = await gateway((_request, response) => response.socket?.destroy());
    expect(await failure(client.register('lane-1', REGISTRATION))).toMatchObject({ name: 'DeskUnavailable', maybeApplied: true });
  });

  it('503 and 429 were not applied, another 5xx may have been; a 409 is a refusal, not retried', async () => {
    let status = 503;
    const client = await gateway((_request, response) => response.writeHead(status, { 'content-type': 'application/json' }).end('{"code":"GW_ERR_WORKFLOW_STEP","message":"no"}'));
    expect(await failure(client.register('lane-1', REGISTRATION))).toMatchObject({ maybeApplied: false });
    status = 429;
    expect(await failure(client.register('lane-1', REGISTRATION))).toMatchObject({ maybeApplied: false });
    status = 500;
    expect(await failure(client.register('lane-1', REGISTRATION))).toMatchObject({ maybeApplied: true });
    status = 409;
    const refused = await failure(client.register('lane-1', REGISTRATION));
    expect(refused).not.toBeInstanceOf(DeskUnavailable);
    expect(deskUnavailable(refused)).toBeNull();
    expect((refused as Error).message).toMatch(/^POST \/api\/lanes\/lane-1\/registrations: 409/);
  });

  it('registers with the client token and lists open crossings as the supervisor, logging in again when the session expired', async () => {
    const seen: string[] = [];
    let sessions = 0;
    const client = await gateway((request, response, body) => {
      seen.push(`${request.method} ${request.url} ${request.headers.authorization ?? '-'}`);
      if (request.url === '/api/session') {
        expect(JSON.parse(body)).toEqual({ name: 'sim-inspector', password: 'pw', bearer: true });
        sessions += 1;
        return void response.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `session-${sessions}` }));
      }
      if (request.url === '/api/lanes/lane-1/registrations') return void response.writeHead(201, { 'content-type': 'application/json' }).end('{"crossingId":"c-1","state":"registered","channel":null}');
      // The first session has expired by the time it is used.
      if (request.headers.authorization === 'Bearer session-1') return void response.writeHead(401).end();
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify([{ crossingId: 'c-1', laneId: 'lane-1', state: 'registered', plate: 'GE123AB', direction: 'import', declaredWeightKg: 18_000, channel: null, risk: null, milestones: { arrived: '2026-12-01T09:10:00.000Z', registered: '2026-12-01T10:02:00.000Z' } }]));
    });
    expect(await client.register('lane-1', REGISTRATION)).toEqual({ crossingId: 'c-1', state: 'registered', channel: null });
    expect(await client.openCrossings('lane-1')).toEqual([{ crossingId: 'c-1', state: 'registered', channel: null, plate: 'GE123AB', direction: 'import', declaredWeightKg: 18_000, registeredAt: '2026-12-01T10:02:00.000Z' }]);
    expect(seen).toEqual([
      'POST /api/lanes/lane-1/registrations Bearer sim-registration.s3cret',
      'POST /api/session -',
      'GET /api/lanes/lane-1 Bearer session-1',
      'POST /api/session -',
      'GET /api/lanes/lane-1 Bearer session-2',
    ]);
  });

  it('many calls at once without a session log in once, and once again after it expired', async () => {
    let sessions = 0;
    /** The one session the stand-in gateway knows; null once it has expired. */
    let valid: string | null = null;
    const client = await gateway((request, response) => {
      if (request.url === '/api/session') {
        sessions += 1;
        // Answered a little later, as a password check takes: the other calls arrive meanwhile.
        return void setImmediate(() => {
          valid = `session-${sessions}`;
          response.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ token: valid }));
        });
      }
      if (request.headers.authorization !== `Bearer ${valid}`) return void response.writeHead(401).end();
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"crossingId":"c-1","state":"weighed","channel":null}');
    });
    const views = await Promise.all(Array.from({ length: 12 }, () => client.crossing('lane-1', 'c-1')));
    expect(views.every((view) => view?.state === 'weighed')).toBe(true);
    expect(sessions).toBe(1);
    // The session expires: every call refused with it waits for the same new login.
    valid = null;
    const again = await Promise.all(Array.from({ length: 12 }, () => client.crossing('lane-1', 'c-1')));
    expect(again.every((view) => view?.state === 'weighed')).toBe(true);
    expect(sessions).toBe(2);
  });
});
