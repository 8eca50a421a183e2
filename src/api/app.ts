import cors from '@fastify/cors';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { randomUUID } from 'node:crypto';
import type { InteractionEngine } from '../engine/engine.js';
import type { InteractionService } from '../engine/interactions.js';
import { ApiError, ERROR_CODES, invalid, type ErrorCode } from '../protocol/errors.js';
import { API_REVISION } from '../protocol/types.js';
import { MAX_BODY_VALUES, MAX_DEPTH } from '../protocol/validate.js';
import type { Store } from '../store/types.js';
import type { KeyRing } from './auth.js';
import type { Limiter } from './limits.js';
import { playgroundRoutes } from './playground.js';
import { adminRoutes, type AdminRoutesOptions } from './routes/admin.js';
import { errorEnvelope, fromFrameworkError } from './errors.js';
import { fileSearchRoutes } from './routes/file-search-stores.js';
import { fileRoutes } from './routes/files.js';
import { checkJsonShape, JsonShapeScanner } from './json-shape.js';
import { interactionRoutes } from './routes/interactions.js';
import { agentRoutes } from './routes/agents.js';
import { webhookRoutes } from './routes/webhooks.js';
import type { WebhookService } from '../webhooks/service.js';
import type { CustomAgents } from '../agents/custom-agents.js';
import { uploadRoutes } from './routes/uploads.js';
import { modelRoutes } from './routes/models.js';
import { metricsRoute } from './routes/metrics.js';
import { API_VERSIONS } from './versions.js';
import { openApiDocument } from './openapi.js';
import { DOCS_PAGE } from './docs-page.js';
import { countHttpRequest } from '../metrics/index.js';
import type { Logger } from 'pino';
import type { ModelRegistry } from '../models/registry.js';
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
  /** Limits of a connection (config `server:`); Node's defaults when absent. */
  connection?: ConnectionLimits;
  /** Set while draining: new creates get 503. */
  isDraining?: () => boolean;
  /** The Files API (§9.2) and its upload protocol (§9.1). */
  files?: { service: FileService; uploads: UploadService };
  /** Custom agents (§10.2). */
  agents?: CustomAgents;
  /** File Search stores, documents and operations (§9.3). */
  fileSearch?: FileSearchService;
  /** Webhooks (§10.4). */
  webhooks?: WebhookService;
  /** Limits of keys and projects (src/api/limits.ts). */
  limiter?: Limiter;
  /** The admin API (`/admin/usage`), when an admin token is configured. */
  admin?: AdminRoutesOptions;
  /** The Models API (`GET /{v}/models`) lists these. */
  models?: ModelRegistry;
  /** `GET /metrics` (config `metrics:`); off when absent. */
  metrics?: MetricsOptions;
}

export interface MetricsOptions {
  /** When set, `/metrics` needs `Authorization: Bearer <token>` (it is not behind the API keys). */
  token?: string;
}

export interface ConnectionLimits {
  /** A JSON body must arrive within this time after its headers, or it is answered 408. */
  requestTimeoutMs: number;
  /** The headers must arrive within this time, or the request is answered 408. */
  headersTimeoutMs: number;
  /** A keep-alive connection without a request in flight is closed after this time. */
  idleTimeoutMs: number;
}

export { API_VERSIONS };

/** The routes each app registered (method, full path): the OpenAPI test checks the document against them. */
const routesOf = new WeakMap<FastifyInstance, { method: string; url: string }[]>();

export function registeredRoutes(app: FastifyInstance): { method: string; url: string }[] {
  return routesOf.get(app) ?? [];
}

/** Sockets whose current request was answered before its body had arrived (see clientError). */
const answeredEarly = new WeakSet<object>();

const SHAPE_LIMITS = { maxDepth: MAX_DEPTH, maxValues: MAX_BODY_VALUES };
/** Bodies that arrived whole before parsing began, up to this size, are scanned in one piece. */
const SCAN_WHOLE_BYTES = 64 * 1024;
/** Requests whose body is scanned when parsed (not while arriving). */
const scanWhenParsed = new WeakSet<object>();

/** A complete HTTP response in our error envelope, for sockets no route answers. */
function rawErrorResponse(status: 400 | 408, code: ErrorCode, message: string): string {
  const body = JSON.stringify({ error: { code, status: ERROR_CODES[code].status, message } });
  const reason = status === 408 ? 'Request Timeout' : 'Bad Request';
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

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
    ...(options.connection
      ? {
          keepAliveTimeout: options.connection.idleTimeoutMs,
          // Bodies have their own deadline where they are read (JSON: json-shape.ts), not a
          // server-wide one, which would also cut off a long upload; headers have this one.
          requestTimeout: 0,
          http: {
            requestTimeout: 0,
            headersTimeout: options.connection.headersTimeoutMs,
            // Node checks it on this interval (default 30 s, far coarser than the timeout).
            connectionsCheckingInterval: Math.min(1000, options.connection.headersTimeoutMs / 4),
          },
        }
      : {}),
    // Requests the HTTP parser rejects, or that arrive too slowly, never reach a route; answer
    // them in our envelope as well, then close the connection.
    clientErrorHandler: (error, socket) => {
      const code = (error as { code?: string }).code;
      if (socket.destroyed || code === 'ECONNRESET') return;
      // A request already answered (e.g. 401 before its body) gets no second response.
      if (!socket.writable || answeredEarly.has(socket)) {
        socket.destroy();
        return;
      }
      const response =
        code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? rawErrorResponse(
              408,
              'request_timeout',
              'request: the request headers did not arrive within the time limit',
            )
          : rawErrorResponse(
              400,
              'invalid_request',
              `request: malformed HTTP (${code ?? 'parse error'})`,
            );
      socket.end(response, () => socket.destroy());
    },
  });

  const routes: { method: string; url: string }[] = [];
  routesOf.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
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
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    if (scanWhenParsed.has(request.raw)) {
      try {
        new JsonShapeScanner(SHAPE_LIMITS).push(Buffer.from(text));
      } catch (err) {
        return done(err as Error, undefined);
      }
    }
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(invalid(`body: invalid JSON (${(err as Error).message})`), undefined);
    }
  });

  // The hooks every request passes are synchronous (callback style): an async hook costs a
  // promise and a microtask hop per request for work that never waits.
  app.addHook('onRequest', (request, reply, done) => {
    answeredEarly.delete(request.raw.socket);
    reply.header('x-request-id', request.id);
    done();
  });

  // An error answered before the body arrived (401, 404, 413 …): close the connection rather
  // than keep reading a body nobody wants (a client trickling it would hold the socket).
  app.addHook('onSend', (request, reply, payload, done) => {
    if (reply.statusCode >= 400 && !request.raw.complete) {
      reply.header('connection', 'close');
      answeredEarly.add(request.raw.socket);
    }
    done(null, payload);
  });

  app.addHook('onResponse', (request, reply, done) => {
    countHttpRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode);
    // The record is built only when it is written (Fastify's logger when logging is off has no
    // isLevelEnabled and writes nothing).
    if ((request.log as Partial<Logger>).isLevelEnabled?.('info') === true)
      logRequest(request, reply);
    done();
  });

  function logRequest(request: FastifyRequest, reply: FastifyReply): void {
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
  }

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

  const metrics = options.metrics;
  if (metrics) app.get('/metrics', (request, reply) => metricsRoute(metrics, request, reply));
  app.get('/openapi.json', async () => openApiDocument());
  app.get('/docs', async (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(DOCS_PAGE),
  );
  app.get('/healthz', async () => ({ status: 'ok' }));
  playgroundRoutes(app);
  app.get('/readyz', async (_request, reply) => {
    if (options.isDraining?.()) return reply.code(503).send({ status: 'draining' });
    try {
      await options.store.ping();
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ status: 'store unavailable' });
    }
  });

  // Upload requests are authenticated in their own scope; they count against rpm all the same.
  const uploadKeys = {
    authorize: async (request: FastifyRequest) => {
      const project = await options.keys.authorize(request);
      if (options.limiter) await options.limiter.checkRequest(request.principal!);
      return project;
    },
  };
  const admin = options.admin;
  if (admin) await app.register(async (scope) => adminRoutes(scope, admin), { prefix: '/admin' });

  for (const version of API_VERSIONS) {
    await app.register(
      async (scope) => {
        scope.decorateRequest('project', '');
        // JSON bodies are measured while they arrive (values, depth) and refused before parsing
        // when over the limits, so parsing and validating one never blocks the event loop for
        // long; a body that does not arrive within the request timeout gets 408.
        scope.addHook('preParsing', (request, _reply, payload, done) => {
          const { 'content-length': length, 'transfer-encoding': chunked } = request.headers;
          if ((length === undefined || length === '0') && chunked === undefined) {
            return done(null, payload);
          }
          // A small body already here whole (it came with the headers, as most do) has no
          // deadline left to keep and is scanned in one go when parsed: a stream per request
          // costs more than the scan.
          const buffered = request.raw.readableLength;
          if (
            chunked === undefined &&
            buffered <= SCAN_WHOLE_BYTES &&
            buffered === Number(length) &&
            request.raw.readableFlowing === null
          ) {
            scanWhenParsed.add(request.raw);
            return done(null, payload);
          }
          done(
            null,
            checkJsonShape(payload, {
              ...SHAPE_LIMITS,
              timeoutMs: options.connection?.requestTimeoutMs,
            }),
          );
        });
        scope.addHook('onRequest', async (request) => {
          checkRevision(request.headers['api-revision']);
          await options.keys.authorize(request);
          if (options.limiter) await options.limiter.checkRequest(request.principal!);
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
          limiter: options.limiter,
        });
        if (options.files) fileRoutes(scope, { files: options.files.service, version });
        if (options.agents) agentRoutes(scope, { agents: options.agents });
        if (options.webhooks) webhookRoutes(scope, { webhooks: options.webhooks });
        if (options.fileSearch) fileSearchRoutes(scope, { fileSearch: options.fileSearch });
        if (options.models) modelRoutes(scope, { models: options.models });
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
            keys: uploadKeys,
            version,
            fileSearch: options.fileSearch,
          }),
        { prefix: `/upload/${version}` },
      );
    }
  }
  return app;
}
