/**
 * The admin API, for operators (not tenants): `GET /admin/usage`. Off unless `admin.token` is
 * configured; every request must carry it as `Authorization: Bearer <token>` (API keys do not
 * open it: a key belongs to one project, the report spans them all).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, invalid } from '../../protocol/errors.js';
import { UsageStore, parseUsageTime, totalUsage, usageCsv } from '../../store/usage-store.js';

const digest = (v: string) => createHash('sha256').update(v).digest();

export interface AdminRoutesOptions {
  token: string;
  usage: UsageStore;
}

type Query = Record<string, string | string[] | undefined>;

function single(query: Query, name: string): string | undefined {
  const value = query[name];
  if (Array.isArray(value)) throw invalid(`${name}: given more than once`);
  return value;
}

function timeParam(query: Query, name: string): string | undefined {
  const text = single(query, name);
  if (text === undefined) return undefined;
  const time = parseUsageTime(text);
  if (time === undefined)
    throw invalid(
      `${name}: '${text.slice(0, 40)}' is not a day (2026-12-01), a time or a span (7d)`,
    );
  return time;
}

export function adminRoutes(app: FastifyInstance, opts: AdminRoutesOptions): void {
  const expected = digest(opts.token);
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const auth = request.headers.authorization;
    const given = typeof auth === 'string' ? /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim() : undefined;
    if (given === undefined)
      throw new ApiError('unauthenticated', 'authorization: the admin token is missing (Bearer)');
    if (!timingSafeEqual(digest(given), expected))
      throw new ApiError('unauthenticated', 'authorization: the admin token is not valid');
  });

  app.get('/usage', async (request, reply) => {
    const query = request.query as Query;
    const format = single(query, 'format') ?? 'json';
    if (format !== 'json' && format !== 'csv') throw invalid(`format: expected json or csv`);
    const rows = await opts.usage.report({
      project: single(query, 'project'),
      since: timeParam(query, 'since'),
      until: timeParam(query, 'until'),
    });
    if (format === 'csv') return reply.type('text/csv; charset=utf-8').send(usageCsv(rows));
    return { rows, total: totalUsage(rows) };
  });
}
