/**
 * `GET /api/trs?date=YYYY-MM-DD&interval=10` (`lanes.read`): the TRS indicators of the crossings
 * that exited on one of the post's days (crossing-log.ts says which day is whose), in the JSON of
 * `trs report --format json`, with the day and its time zone beside it. Default: today, 10-minute
 * intervals.
 */
import type { FastifyPluginAsync } from 'fastify';
import { isCalendarDay, type CrossingLog } from './crossing-log.js';
import { trsReport } from '../../contract/trs-report.js';

export interface TrsRoutesOptions {
  log: CrossingLog;
  /** The post's clock now (what "today" is). */
  now: () => number;
  utcOffsetMin: number;
}

export const trsRoutes: FastifyPluginAsync<TrsRoutesOptions> = (app, options) => {
  app.get<{ Querystring: { date?: string; interval?: string } }>(
    '/api/trs',
    {
      config: { access: 'lanes.read' },
      schema: {
        // Query values stay strings (no coercion anywhere): checked here, converted below.
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { date: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' }, interval: { type: 'string', pattern: '^[1-9][0-9]{0,2}$' } },
        },
      },
    },
    (request, reply) => {
      const date = request.query.date ?? options.log.dayOf(options.now());
      if (!isCalendarDay(date)) return reply.code(400).send({ code: 'GW_ERR_HTTP_BAD_REQUEST', message: `querystring/date ${date} is no calendar day` });
      const intervalMin = Number(request.query.interval ?? '10');
      const offset = options.utcOffsetMin;
      const zone = `UTC${offset < 0 ? '-' : '+'}${String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0')}:${String(Math.abs(offset) % 60).padStart(2, '0')}`;
      return reply.send({ date, timeZone: zone, utcOffsetMin: offset, intervalMin, ...trsReport(options.log.day(date), intervalMin) });
    },
  );
  return Promise.resolve();
};
