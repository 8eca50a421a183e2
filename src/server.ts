import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { createApp } from './api/app.js';
import { KeyRing } from './api/auth.js';
import type { Config } from './config.js';
import { InteractionEngine } from './engine/engine.js';
import { InteractionService } from './engine/interactions.js';
import { ModelRegistry } from './models/registry.js';
import type { BackendEnvironment, BackendFactory, ModelEntry } from './models/types.js';
import { EventLog } from './store/event-log.js';
import { SqlStore } from './store/sql-store.js';
import type { Store } from './store/types.js';
import { createConfiguredTools } from './tools/registry.js';
import type { BuiltInTool } from './tools/types.js';

export interface ServerOptions {
  config: Config;
  /** `sqlite:PATH` or `postgres://…`; overrides config.database.url. */
  databaseUrl?: string;
  logger?: Logger | false;
  backendEnv?: BackendEnvironment;
  backends?: Record<string, BackendFactory>;
  /** Poll interval of cross-node tails and cancels (tests shorten it). */
  pollMs?: number;
  /** Built-in tools added to (or replacing) the configured ones. */
  tools?: BuiltInTool[];
}

export interface Server {
  app: FastifyInstance;
  store: Store;
  engine: InteractionEngine;
  service: InteractionService;
  nodeId: string;
  listen(host?: string, port?: number): Promise<string>;
  /** Graceful stop: refuse new work, let runs finish within the grace period, flush, close. */
  close(graceMs?: number): Promise<void>;
}

export const DEFAULT_DATABASE_URL = 'sqlite:open-interactions.db';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export async function createServer(options: ServerOptions): Promise<Server> {
  const { config } = options;
  const logger =
    options.logger === undefined
      ? pino({ redact: ['req.headers["x-goog-api-key"]', 'req.headers.authorization'] })
      : options.logger;
  const log = logger || pino({ enabled: false });
  const nodeId = config.server.node_id ?? `${hostname()}:${config.server.port}`;
  const store = SqlStore.open(options.databaseUrl ?? config.database?.url ?? DEFAULT_DATABASE_URL);
  await store.migrate();

  const eventLog = new EventLog(
    store,
    (err) => log.error({ err }, 'event log write failed; retrying'),
    config.server.event_batch_ms,
  );
  const models = new ModelRegistry(
    config.models as ModelEntry[],
    options.backendEnv,
    options.backends,
  );
  const engine = new InteractionEngine({
    store,
    eventLog,
    nodeId,
    signatureSecret: config.signature_secret ?? randomBytes(32).toString('hex'),
    deadlines: {
      unaryMs: config.limits.unary_deadline_seconds * 1000,
      streamMs: config.limits.stream_deadline_seconds * 1000,
    },
    logger: log,
    cancelPollMs: options.pollMs,
    maxToolRounds: config.tools.max_rounds,
  });
  const tools = new Map<string, BuiltInTool>();
  for (const tool of [...createConfiguredTools(config.tools), ...(options.tools ?? [])]) {
    tools.set(tool.type, tool);
  }
  const service = new InteractionService({
    store,
    eventLog,
    engine,
    models,
    tools,
    tailPollMs: options.pollMs,
  });

  // Runs this node left behind when it died get a terminal state before we serve anything.
  const heartbeatAt = () => new Date().toISOString();
  const recovered = await service.recover({ ownerNode: nodeId });
  if (recovered > 0) log.warn({ count: recovered }, 'marked interrupted interactions as failed');
  await store.heartbeat(nodeId, heartbeatAt());
  let lastRetentionSweep = 0;
  const heartbeat = setInterval(() => {
    store.heartbeat(nodeId, heartbeatAt()).catch((err) => log.warn({ err }, 'heartbeat failed'));
    // Runs of nodes that stopped heartbeating for a minute are failed by whoever notices.
    const stale = new Date(Date.now() - 60_000).toISOString();
    service
      .recover({ staleBefore: stale })
      .catch((err) => log.warn({ err }, 'stale-run sweep failed'));
    if (Date.now() - lastRetentionSweep > 3_600_000) {
      lastRetentionSweep = Date.now();
      const cutoff = new Date(Date.now() - config.retention_days * 86_400_000).toISOString();
      store
        .deleteCreatedBefore(cutoff)
        .then(
          (n) =>
            n > 0 &&
            log.info(
              { count: n, retention_days: config.retention_days },
              'deleted expired interactions',
            ),
        )
        .catch((err) => log.warn({ err }, 'retention sweep failed'));
    }
  }, 10_000);
  heartbeat.unref();

  let draining = false;
  const keys = new KeyRing(config.keys);
  const app = await createApp({
    service,
    engine,
    store,
    keys,
    bodyLimit: config.server.body_limit_bytes,
    corsOrigins: config.server.cors_origins,
    logger: logger || false,
    keepAliveMs: config.server.keepalive_seconds * 1000,
    connection: {
      requestTimeoutMs: config.server.request_timeout_seconds * 1000,
      headersTimeoutMs: config.server.headers_timeout_seconds * 1000,
      idleTimeoutMs: config.server.idle_timeout_seconds * 1000,
    },
    isDraining: () => draining,
  });

  return {
    app,
    store,
    engine,
    service,
    nodeId,
    async listen(host = config.server.host, port = config.server.port) {
      if (keys.open && !LOOPBACK.has(host)) {
        throw new Error(
          `refusing to listen on ${host} without API keys: configure keys: or bind to 127.0.0.1`,
        );
      }
      return app.listen({ host, port });
    },
    async close(graceMs = config.server.shutdown_grace_seconds * 1000) {
      draining = true;
      clearInterval(heartbeat);
      const deadline = Date.now() + graceMs;
      while (engine.activeRuns > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      await engine.abortAll('shutdown');
      await eventLog.flush();
      await app.close();
      await models.dispose();
      await Promise.all([...tools.values()].map((t) => t.close?.()));
      await store.close();
    },
  };
}
