import { JobSealer, parseSecretKey } from './engine/job-secrets.js';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { createApp } from './api/app.js';
import { KeyRing } from './api/auth.js';
import type { Config } from './config.js';
import { InteractionEngine } from './engine/engine.js';
import { InteractionService } from './engine/interactions.js';
import { Scrubber, collectSecrets, environmentSecrets } from './engine/scrub.js';
import { EmbeddingRegistry } from './models/embeddings/registry.js';
import { ModelRegistry } from './models/registry.js';
import type { BackendEnvironment, BackendFactory, ModelEntry } from './models/types.js';
import { EventLog } from './store/event-log.js';
import { SqlStore } from './store/sql-store.js';
import { KeyStore } from './store/key-store.js';
import { UsageStore } from './store/usage-store.js';
import { LimitStore } from './store/limit-store.js';
import { Limiter, type LimitRejectedHook } from './api/limits.js';
import { createBlobStore } from './store/blob-store.js';
import {
  DEFAULT_DATABASE_URL,
  openDatabase,
  sqliteFilePath,
  type DatabaseHandle,
} from './store/database.js';
import { FileStore } from './store/file-store.js';
import { FileService } from './files/file-service.js';
import { UploadService } from './files/uploads.js';
import { FileSearchService } from './files/file-search-service.js';
import { FileSearchRetriever } from './files/file-search-retrieval.js';
import { createEmbeddingModels } from './files/embedding-models.js';
import { LocalIngestionRunner } from './files/ingestion-runner.js';
import { DocumentIngestor } from './files/ingestion.js';
import { createDocumentReader } from './files/document-reader.js';
import { createDocumentParser } from './documents/index.js';
import type { BlobStore } from './store/blob-store.js';
import { FileSearchStore } from './store/file-search-store.js';
import { createSearchIndex } from './store/search-index/index.js';
import type { Store } from './store/types.js';
import { createConfiguredTools } from './tools/registry.js';
import { AgentRegistry } from './agents/registry.js';
import { CustomAgents } from './agents/custom-agents.js';
import { WebhookStore } from './store/webhook-store.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';
import { SecretSealer } from './webhooks/secrets.js';
import { checkWebhookUri, WebhookService } from './webhooks/service.js';
import { AgentStore } from './store/agent-store.js';
import type { BuiltInTool } from './tools/types.js';
import { createUpstreamFetch } from './net/upstream-fetch.js';
import { countLimitRejection } from './metrics/index.js';
import { InProcessRunQueue, PgRunQueue, type RunQueue } from './engine/run-queue.js';
import { RunStore } from './store/run-store.js';
import { LocalWakeUps, PgWakeUps, type WakeUps } from './store/wake-ups.js';

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
  /** The Files API's clock in ms (tests move it forward to expire files). */
  clock?: () => number;
  /** Also called for each request a key or project limit refuses (the metrics count them anyway). */
  onLimitRejected?: LimitRejectedHook;
}

export interface Server {
  app: FastifyInstance;
  store: Store;
  engine: InteractionEngine;
  service: InteractionService;
  files: FileService;
  fileSearch: FileSearchService;
  /** The embedding models of `embedding_models:` (file search). */
  embeddings: EmbeddingRegistry;
  nodeId: string;
  listen(host?: string, port?: number): Promise<string>;
  /** Graceful stop: refuse new work, let runs finish within the grace period, flush, close. */
  close(graceMs?: number): Promise<void>;
}

export { DEFAULT_DATABASE_URL } from './store/database.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * Without API keys the server is open to whoever reaches it, so it listens only on a loopback
 * address. The CLI checks this before it downloads or opens anything; listen() checks it again.
 */
export function checkListenAddress(host: string, keys: Config['keys'], managedKeys = false): void {
  if ((keys ?? []).length === 0 && !managedKeys && !LOOPBACK.has(host)) {
    throw new Error(
      `refusing to listen on ${host} without API keys: configure keys:, create one with 'open-interactions keys create', or bind to 127.0.0.1`,
    );
  }
}

/** The Files API over the deployment's database: rows there, bytes beside SQLite or in PostgreSQL. */
function createFileService(
  database: DatabaseHandle,
  databaseUrl: string,
  settings: Config['files'],
  clock: (() => number) | undefined,
  log: Logger,
): { service: FileService; uploads: UploadService; store: FileStore; blobs: BlobStore } {
  const store = new FileStore(database);
  const blobs = createBlobStore(database, {
    dir: settings.dir,
    databaseFile: sqliteFilePath(databaseUrl),
  });
  log.info({ location: blobs.location }, 'file bytes are stored here');
  const ttlMs = settings.ttl_hours * 3_600_000;
  const uploads = new UploadService({ store, blobs, ttlMs, clock });
  const service = new FileService({
    store,
    blobs,
    uploads,
    clock,
    limits: {
      ttlMs,
      maxFileBytes: settings.max_file_bytes,
      maxProjectBytes: settings.max_project_bytes,
      maxProjectFiles: settings.max_project_files,
      maxInteractionBytes: settings.max_interaction_bytes,
    },
    onWarning: (obj, msg) => log.warn(obj, msg),
  });
  return { service, uploads, store, blobs };
}

/** File Search stores over the Files API's rows and bytes, with this node's ingestion runner. */
function createFileSearch(
  database: DatabaseHandle,
  files: ReturnType<typeof createFileService>,
  registry: EmbeddingRegistry,
  config: Config,
  nodeId: string,
  clock: (() => number) | undefined,
  log: Logger,
): {
  service: FileSearchService;
  runner: LocalIngestionRunner;
  retriever: FileSearchRetriever;
  close(): Promise<void>;
} {
  const settings = config.file_search;
  // Its own parser pool: documents of File Search are larger than url_context's pages.
  const parser = createDocumentParser({
    workers: settings.parse_workers,
    queue: settings.ingestion_concurrency,
    timeoutMs: settings.parse_timeout_seconds * 1000,
    memoryMb: settings.parse_memory_mb,
    maxBytes: settings.max_document_bytes,
  });
  const ports = {
    reader: createDocumentReader(parser),
    embeddings: createEmbeddingModels(registry),
    index: createSearchIndex(database, {
      logger: { info: (obj, msg) => log.info(obj, msg) },
    }),
  };
  const store = new FileSearchStore(database, files.store);
  const ingestor = new DocumentIngestor({
    store,
    files: files.store,
    blobs: files.blobs,
    ...ports,
    limits: {
      maxDocumentChunks: settings.max_document_chunks,
      embedBatchChunks: settings.embed_batch_chunks,
    },
    clock,
    log,
  });
  const runner = new LocalIngestionRunner({
    store,
    ingestor,
    nodeId,
    concurrency: settings.ingestion_concurrency,
    leaseMs: settings.lease_seconds * 1000,
    maxAttempts: settings.max_attempts,
    pollMs: 2_000,
    retryMs: settings.retry_seconds * 1000,
    clock,
    log,
  });
  const service = new FileSearchService({
    store,
    files: files.store,
    blobs: files.blobs,
    uploads: files.uploads,
    ...ports,
    queue: runner,
    ingestor,
    limits: {
      maxDocumentBytes: settings.max_document_bytes,
      maxProjectBytes: config.files.max_project_bytes,
      uploadTtlMs: config.files.ttl_hours * 3_600_000,
    },
    clock,
    onWarning: (obj, msg) => log.warn(obj, msg),
  });
  return {
    service,
    runner,
    retriever: new FileSearchRetriever({ store, index: ports.index, embeddings: registry }),
    async close() {
      await runner.close();
      await parser.close();
    },
  };
}

export async function createServer(options: ServerOptions): Promise<Server> {
  const { config } = options;
  const logger =
    options.logger === undefined
      ? pino({ redact: ['req.headers["x-goog-api-key"]', 'req.headers.authorization'] })
      : options.logger;
  const log = logger || pino({ enabled: false });
  const nodeId = config.server.node_id ?? `${hostname()}:${config.server.port}`;
  const storeRetryMs = config.server.store_retry_seconds * 1000;
  const databaseUrl = options.databaseUrl ?? config.database?.url ?? DEFAULT_DATABASE_URL;
  const database = openDatabase(databaseUrl, {
    // One store operation waits at most a part of the retry window, so the event log can retry
    // within it. SQLite waits for a lock synchronously (the event loop stands still): briefly.
    busyTimeoutMs: Math.min(250, storeRetryMs / 4),
    connectTimeoutMs: Math.min(10_000, storeRetryMs / 2),
    checkpointInBackground: true,
  });
  const store = SqlStore.over(database);
  await store.migrate();
  const keyStore = new KeyStore(database);
  const limitStore = new LimitStore(database);
  // Leases of runs this node held before it restarted: those runs are gone.
  await limitStore.releaseNode(nodeId);
  const files = createFileService(database, databaseUrl, config.files, options.clock, log);

  // Cross-node wake-ups: PostgreSQL LISTEN/NOTIFY (polling stays the fallback).
  let wakeUps: WakeUps = new LocalWakeUps();
  if (database.kind === 'postgres' && config.server.notify) {
    const pgWakeUps = new PgWakeUps({
      connectionString: databaseUrl,
      onError: (err) => log.warn({ err }, 'wake-up connection error (polling meanwhile)'),
    });
    await pgWakeUps.start();
    wakeUps = pgWakeUps;
  }
  const eventLog = new EventLog(store, {
    batchWindowMs: config.server.event_batch_ms,
    retryWindowMs: storeRetryMs,
    logger: log,
    // Only other nodes need telling: readers here follow the live log.
    onDurable:
      wakeUps instanceof PgWakeUps
        ? (ids) => {
            for (const id of ids) wakeUps.publish('events', id);
          }
        : undefined,
  });
  // Model upstreams are called through `undici.request` rather than the global fetch (CPU per
  // interaction: see src/net/upstream-fetch.ts), unless the caller injects its own fetch.
  const models = new ModelRegistry(
    config.models as ModelEntry[],
    { fetch: createUpstreamFetch(), ...options.backendEnv },
    options.backends,
  );
  const embeddings = new EmbeddingRegistry(
    config.embedding_models as ModelEntry[],
    options.backendEnv,
  );
  const fileSearch = createFileSearch(
    database,
    files,
    embeddings,
    config,
    nodeId,
    options.clock,
    log,
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
    // Every key, token and header value of the configuration, and provider keys from the env.
    scrubber: new Scrubber(collectSecrets(config, { secrets: environmentSecrets(), hosts: [] })),
  });
  const tools = new Map<string, BuiltInTool>();
  for (const tool of [
    ...createConfiguredTools(config.tools, { fileSearch: fileSearch.retriever }),
    ...(options.tools ?? []),
  ]) {
    tools.set(tool.type, tool);
  }
  const configuredTools = new Set(tools.keys());
  const agentStore = new AgentStore(database);
  const agents = new AgentRegistry({
    entries: config.agents,
    models,
    configuredTools,
    store: agentStore,
  });
  // Webhooks (docs/webhooks.md): deliveries on pg-boss (PostgreSQL) or an in-process worker.
  const webhookPolicy = {
    allowPrivate: config.webhooks.allow_private,
    allowedHosts: config.webhooks.allowed_hosts,
  };
  const webhookStore = new WebhookStore(database);
  const webhookSealer = new SecretSealer(config.signature_secret);
  const webhookDispatcher = new WebhookDispatcher({
    store: webhookStore,
    settings: config.webhooks,
    sealer: webhookSealer,
    ...(database.kind === 'postgres' ? { pg: { connectionString: databaseUrl } } : {}),
    onError: (err, message) => log.warn({ err }, message),
  });
  const webhooks = new WebhookService({
    store: webhookStore,
    dispatcher: webhookDispatcher,
    sealer: webhookSealer,
    policy: webhookPolicy,
  });
  const runQueue: RunQueue =
    database.kind === 'postgres'
      ? new PgRunQueue({
          connectionString: databaseUrl,
          concurrency: config.run_queue.concurrency,
          pollMs: config.run_queue.poll_ms,
          // pg-boss's own limit only backs up ours (the claim counts attempts and fails first).
          retryLimit: config.run_queue.max_attempts + 2,
          // A last resort when no node noticed the owner died: longer than any run may take.
          expireInSeconds:
            Math.max(config.limits.unary_deadline_seconds, config.limits.stream_deadline_seconds) +
            300,
          onError: (err) => log.warn({ err }, 'run queue error'),
        })
      : new InProcessRunQueue();
  const service = new InteractionService({
    store,
    eventLog,
    engine,
    models,
    tools,
    tailPollMs: options.pollMs,
    files: files.service,
    agents,
    runQueue,
    runs: new RunStore(database),
    nodeId,
    maxRunAttempts: config.run_queue.max_attempts,
    jobSealer: new JobSealer(
      config.run_queue.secret_key !== undefined
        ? parseSecretKey(config.run_queue.secret_key)
        : undefined,
    ),
    onWarning: (obj, msg) => log.warn(obj, msg),
    wakeUps,
    checkWebhookUris: async (uris) => {
      for (const [i, uri] of uris.entries())
        await checkWebhookUri(uri, `webhook_config.uris[${i}]`, webhookPolicy);
    },
  });
  // A cancel (or delete) asked on another node stops the run here at once.
  wakeUps.on('cancel', (id) => engine.abort(id, 'cancelled'));

  // Runs this node left behind when it died: background runs go back to the queue (another node,
  // or this one, continues them); the others get a terminal state before we serve anything.
  const heartbeatAt = () => new Date().toISOString();
  const staleMs = config.server.node_stale_seconds * 1000;
  const staleBefore = () => new Date(Date.now() - staleMs).toISOString();
  // The queue first: giving runs back to it needs it started.
  await runQueue.start((job) => service.runQueued(job));
  await webhookDispatcher.start();
  const retaken = await service
    .retakeOrphans({ staleBefore: staleBefore(), deadNode: nodeId })
    .catch((err: unknown) => {
      // The periodic sweep tries again.
      log.warn({ err }, 'could not give interrupted background runs back to the queue');
      return 0;
    });
  if (retaken > 0)
    log.warn({ count: retaken }, 'gave interrupted background runs back to the queue');
  const recovered = await service.recover({ ownerNode: nodeId });
  if (recovered > 0) log.warn({ count: recovered }, 'marked interrupted interactions as failed');
  await store.heartbeat(nodeId, heartbeatAt());
  // Documents this node was ingesting when it died are taken again (ingestion-runner.ts).
  await fileSearch.runner.start();
  let lastRetentionSweep = 0;
  let lastFileSweep = 0;
  let sweepingFiles = false;
  const heartbeat = setInterval(() => {
    if (Date.now() - lastFileSweep > 60_000 && !sweepingFiles) {
      // Expired files go every minute; bytes a crash left without a row, hourly.
      const orphans = Date.now() - lastRetentionSweep > 3_600_000;
      lastFileSweep = Date.now();
      sweepingFiles = true;
      Promise.all([
        files.service.sweep(),
        orphans ? files.service.sweepOrphans() : 0,
        orphans ? fileSearch.service.sweepOrphans() : 0,
      ])
        .then(
          ([expired, orphanedFiles, orphanedDocuments]) =>
            (expired > 0 || orphanedFiles + orphanedDocuments > 0) &&
            log.info(
              { expired, orphaned: orphanedFiles + orphanedDocuments },
              'deleted expired files and orphaned file bytes',
            ),
        )
        .catch((err) => log.warn({ err }, 'file sweep failed'))
        .finally(() => (sweepingFiles = false));
    }
    store.heartbeat(nodeId, heartbeatAt()).catch((err) => log.warn({ err }, 'heartbeat failed'));
    // Request counters of past minutes are no longer read.
    limitStore
      .sweepWindows(Math.floor(Date.now() / 60_000) - 1)
      .catch((err) => log.warn({ err }, 'limit counter sweep failed'));
    // Runs of nodes that stopped heartbeating are noticed by whoever looks first: background
    // runs go back to the queue and continue elsewhere; the others fail with the reason.
    const stale = staleBefore();
    service
      .retakeOrphans({ staleBefore: stale })
      .then((n) => n > 0 && log.warn({ count: n }, 'took over background runs of a stopped node'))
      .then(() => service.recover({ staleBefore: stale }))
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
  }, config.server.heartbeat_seconds * 1000);
  heartbeat.unref();

  let draining = false;
  const keys = new KeyRing(config.keys, keyStore);
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
    files,
    agents: new CustomAgents({ registry: agents, store: agentStore, configuredTools }),
    fileSearch: fileSearch.service,
    webhooks,
    ...(config.admin.token
      ? { admin: { token: config.admin.token, usage: new UsageStore(database) } }
      : {}),
    limiter: new Limiter({
      store: limitStore,
      projects: config.projects,
      nodeId,
      onRejected: (kind, project, scope) => {
        countLimitRejection(kind);
        options.onLimitRejected?.(kind, project, scope);
      },
      clock: options.clock,
    }),
    models,
    ...(config.metrics.enabled ? { metrics: { token: config.metrics.token } } : {}),
  });

  return {
    app,
    store,
    engine,
    service,
    files: files.service,
    fileSearch: fileSearch.service,
    embeddings,
    nodeId,
    async listen(host = config.server.host, port = config.server.port) {
      checkListenAddress(host, config.keys, !(await keys.isOpen()));
      return app.listen({ host, port });
    },
    async close(graceMs = config.server.shutdown_grace_seconds * 1000) {
      draining = true;
      clearInterval(heartbeat);
      await runQueue.stop().catch((err) => log.warn({ err }, 'run queue stop failed'));
      if (runQueue.durable) {
        // Background runs continue on another node at once instead of holding up the restart.
        const handed = await service
          .handOffRuns()
          .catch((err: unknown) => (log.warn({ err }, 'could not hand back background runs'), 0));
        if (handed > 0) log.info({ count: handed }, 'handed background runs back to the queue');
      }
      const deadline = Date.now() + graceMs;
      while (engine.activeRuns > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      await engine.abortAll('shutdown');
      await runQueue.close().catch((err) => log.warn({ err }, 'run queue close failed'));
      await fileSearch.close();
      await eventLog.close();
      // After the event log: terminal states flushed at close still get their deliveries queued.
      await webhookDispatcher
        .close()
        .catch((err) => log.warn({ err }, 'webhook dispatcher close failed'));
      await app.close();
      await models.dispose();
      await embeddings.dispose();
      await Promise.all([...tools.values()].map((t) => t.close?.()));
      await wakeUps.close();
      await store.close();
    },
  };
}
