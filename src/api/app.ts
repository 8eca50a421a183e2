import cors from '@fastify/cors';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
} from 'fastify';
import { randomUUID } from 'node:crypto';
import type { InteractionEngine } from '../engine/engine.js';
import type { InteractionService } from '../engine/interactions.js';
import { ApiError, invalid } from '../protocol/errors.js';
import { API_REVISION } from '../protocol/types.js';
import type { Store } from '../store/types.js';
import type { KeyRing } from './auth.js';
import { errorEnvelope, fromFrameworkError } from './errors.js';
import { fileSearchRoutes } from './routes/file-search-stores.js';
import { fileRoutes } from './routes/files.js';
import { interactionRoutes } from './routes/interactions.js';
import { uploadRoutes } from './routes/uploads.js';
import type { FileSearchService } from '../files/file-search-service.js';
import type { FileService } from '../files/file-service.js';
import type { UploadService } from '../files/uploads.js';

declare module 'fastify' {
  interface FastifyRequest {
    project: string;
    interactionId?: string;
  }
}

export interface AppOptions {
  service: InteractionService;
  engine: InteractionEngine;
  store: Store;
  keys: KeyRing;
  bodyLimit: number;
  corsOrigins: string[] | boolean;
  logger: FastifyBaseLogger | false;
  keepAliveMs?: number;
  /** Set while draining: new creates get 503. */
  isDraining?: () => boolean;
  /** The Files API (§9.2) and its upload protocol (§9.1). */
  files?: { service: FileService; uploads: UploadService };
  /** File Search stores, documents and operations (§9.3). */
  fileSearch?: FileSearchService;
}

export const API_VERSIONS = ['v1', 'v1beta'] as const;

/** Removes the `key` query parameter so URLs can be logged. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]key=)[^&]*/gi, '$1***');
}

function checkRevision(value: string | string[] | undefined): void {
  if (value === undefined) return;
  const time =
    typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value)
      ? Date.parse(`${value}T00:00:00Z`)
      : NaN;
  // Date.parse rolls impossible days over (2026-02-30 → March 2): require a round trip.
  const valid = !Number.isNaN(time) && new Date(time).toISOString().startsWith(value as string);
  if (!valid) throw invalid('api-revision: expected a date like 2026-05-20');
  if (value < API_REVISION) {
    throw invalid(
      `api-revision: revision ${value} (the legacy outputs schema) is not supported; this server speaks ${API_REVISION}`,
    );
  }
}

export async function createApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: options.bodyLimit,
    // Fastify's own per-request lines would log the raw URL (with ?key=); we log our own line.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    },
    routerOptions: { maxParamLength: 512 },
    // Router-level failures (bad percent-encoding, over-long path parameters) get our envelope too.
    frameworkErrors: (error, request, reply) => {
      const { status, body } = errorEnvelope(fromFrameworkError(error), request.url);
      void (reply as FastifyReply).code(status).type('application/json').send(body);
    },
    // Requests the HTTP parser rejects never reach a route; answer them in our envelope as well.
    clientErrorHandler: (error, socket) => {
      if (!socket.writable) return;
      const body = JSON.stringify({
        error: {
          code: 'invalid_request',
          status: 'INVALID_ARGUMENT',
          message: `request: malformed HTTP (${(error as { code?: string }).code ?? 'parse error'})`,
        },
      });
      socket.end(
        `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
  });

  await app.register(cors, {
    origin: options.corsOrigins,
    methods: ['GET', 'POST', 'DELETE', 'PATCH'],
    allowedHeaders: [
      'content-type',
      'x-goog-api-key',
      'x-goog-api-client',
      'api-revision',
      'authorization',
      'last-event-id',
      'x-goog-upload-protocol',
      'x-goog-upload-command',
      'x-goog-upload-offset',
      'x-goog-upload-header-content-length',
      'x-goog-upload-header-content-type',
      'x-goog-upload-file-name',
    ],
    exposedHeaders: [
      'x-request-id',
      'x-goog-upload-url',
      'x-goog-upload-status',
      'x-goog-upload-size-received',
    ],
  });

  // Every body is parsed as JSON whatever its content-type (curl -d sends form encoding);
  // an empty body (cancel) is no body. Parse errors become 400s that say so.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(invalid(`body: invalid JSON (${(err as Error).message})`), undefined);
    }
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        url: redactUrl(request.url),
        status: reply.statusCode,
        latency_ms: Math.round(reply.elapsedTime),
        ...(request.interactionId ? { interaction_id: request.interactionId } : {}),
        ...(request.project ? { project: request.project } : {}),
      },
      'request',
    );
  });

  app.setErrorHandler((error, request, reply) => {
    const err = ApiError.isInstance(error) ? error : fromFrameworkError(error as never);
    if (err.code === 'internal_error') request.log.error({ err: error }, 'unhandled error');
    const { status, body } = errorEnvelope(err, request.url);
    if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter));
    return reply.code(status).type('application/json').send(body);
  });

  app.setNotFoundHandler((request, reply) => {
    const err = new ApiError(
      'not_found',
      `${request.method} ${redactUrl(request.url).split('?')[0]}: no such route`,
    );
    const { status, body } = errorEnvelope(err, request.url);
    return reply.code(status).type('application/json').send(body);
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (options.isDraining?.()) return reply.code(503).send({ status: 'draining' });
    try {
      await options.store.ping();
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ status: 'store unavailable' });
    }
  });

  for (const version of API_VERSIONS) {
    await app.register(
      async (scope) => {
        scope.decorateRequest('project', '');
        scope.addHook('onRequest', async (request) => {
          checkRevision(request.headers['api-revision']);
          request.project = options.keys.authenticate(request);
          if (
            options.isDraining?.() &&
            request.method === 'POST' &&
            request.url.split('?')[0]!.endsWith('/interactions')
          ) {
            throw new ApiError('unavailable', 'the server is shutting down', { retryAfter: 1 });
          }
        });
        interactionRoutes(scope, {
          service: options.service,
          engine: options.engine,
          keepAliveMs: options.keepAliveMs,
        });
        if (options.files) fileRoutes(scope, { files: options.files.service, version });
        if (options.fileSearch) fileSearchRoutes(scope, { fileSearch: options.fileSearch });
      },
      { prefix: `/${version}` },
    );
    const files = options.files;
    if (files) {
      // Upload bodies are raw bytes, streamed: this scope has its own body handling and auth.
      await app.register(
        (scope) =>
          uploadRoutes(scope, {
            files: files.service,
            uploads: files.uploads,
            keys: options.keys,
            version,
            fileSearch: options.fileSearch,
          }),
        { prefix: `/upload/${version}` },
      );
    }
  }
  return app;
}
