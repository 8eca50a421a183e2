import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalid } from '../../protocol/errors.js';
import type { InteractionService } from '../../engine/interactions.js';
import type { InteractionEngine } from '../../engine/engine.js';
import { writeSse } from '../sse.js';
import type { Limiter, RunPermit } from '../limits.js';

type Query = Record<string, string | string[] | undefined>;

function queryBool(query: Query, name: string): boolean | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw invalid(`${name}: expected true or false`);
}

function queryString(query: Query, name: string): string | undefined {
  const value = query[name];
  if (Array.isArray(value)) throw invalid(`${name}: given more than once`);
  return value;
}

function interactionId(request: FastifyRequest): string {
  const id = (request.params as { id: string }).id;
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(id))
    throw invalid(`id: '${id.slice(0, 80)}' is not a valid interaction id`);
  return id;
}

export interface InteractionRoutesOptions {
  service: InteractionService;
  engine: InteractionEngine;
  keepAliveMs?: number;
  limiter?: Limiter;
}

/** §1.2 operation map: create, get, delete, cancel. Mounted under /v1 and /v1beta. */
export function interactionRoutes(app: FastifyInstance, opts: InteractionRoutesOptions): void {
  const { service, engine } = opts;

  app.post('/interactions', async (request: FastifyRequest, reply: FastifyReply) => {
    const query = request.query as Query;
    const alt = queryString(query, 'alt');
    if (alt !== undefined && alt !== 'sse' && alt !== 'json')
      throw invalid(`alt: expected sse or json`);
    // Limits first: a refused request stores nothing.
    const permit: RunPermit | undefined =
      opts.limiter && request.principal
        ? await opts.limiter.admitRun(request.principal)
        : undefined;
    const result = await service
      .create(request.project, request.body, {
        forceStream: alt === 'sse',
        requestId: request.id,
        apiKeyId: request.principal?.keyId ?? null,
      })
      .catch((err: unknown) => {
        permit?.release();
        throw err;
      });
    if (permit) void result.ran.finally(() => permit.release());
    request.interactionId = result.handle.id;
    if (result.stream) {
      await writeSse(reply, service.tail(result.handle.id, 0), {
        keepAliveMs: opts.keepAliveMs,
        // a stored run keeps going without its client; an unstored one has no reader left.
        onDisconnect: () => {
          if (!result.persist) engine.abort(result.handle.id, 'client_gone');
        },
      });
      return reply;
    }
    if (!result.background) await result.handle.done;
    return service.createResponse(result.handle, result.background);
  });

  app.get('/interactions/:id', async (request: FastifyRequest, reply: FastifyReply) => {
    const id = interactionId(request);
    request.interactionId = id;
    const query = request.query as Query;
    const stream = queryBool(query, 'stream') ?? false;
    const includeInput = queryBool(query, 'include_input') ?? false;
    const header = request.headers['last-event-id'];
    const lastEventId =
      queryString(query, 'last_event_id') ?? (typeof header === 'string' ? header : undefined);
    if (!stream) {
      if (queryString(query, 'last_event_id') !== undefined) {
        throw invalid('last_event_id: requires stream=true');
      }
      return service.get(request.project, id, includeInput);
    }
    const source = await service.openEvents(request.project, id, lastEventId);
    await writeSse(reply, source, { keepAliveMs: opts.keepAliveMs });
    return reply;
  });

  app.delete('/interactions/:id', async (request: FastifyRequest) => {
    const id = interactionId(request);
    request.interactionId = id;
    await service.delete(request.project, id);
    return {};
  });

  app.post('/interactions/:id/cancel', async (request: FastifyRequest) => {
    const id = interactionId(request);
    request.interactionId = id;
    return service.cancel(request.project, id);
  });
}
