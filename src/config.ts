import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isScalar, parse as parseYaml, parseDocument, Scalar, visit } from 'yaml';
import { z } from 'zod';
import { formatPath } from './protocol/errors.js';

const REFERENCE = /\$?\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** `${NAME}` and `${NAME:-default}` are replaced from the environment; `$${` escapes. */
export function interpolateEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return text.replace(REFERENCE, (match, name: string, fallback?: string) => {
    if (match.startsWith('$$')) return match.slice(1);
    const value = env[name];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    throw new Error(`config: environment variable ${name} is not set`);
  });
}

/**
 * Parses the YAML configuration and replaces the `${…}` references in its values.
 *
 * Why not replace them in the text first: a reference that comes out empty must make the
 * setting absent (`api_key: ${KEY:-}` with KEY unset means "no api_key", not an empty string that
 * fails validation), and a value must not change the YAML around it (a `#` or `: ` in a
 * secret). So each reference is first swapped for a placeholder that is valid anywhere in YAML
 * (also inside `{…}` / `[…]`), the YAML is parsed, and then each scalar is resolved:
 * - a value made only of references that all come out empty is removed (from its map or list);
 * - an unquoted value is typed as YAML would type the text (`port: ${PORT:-8080}` is a number);
 * - quoted and block values stay strings. References in comments are never resolved.
 */
export function parseConfigYaml(text: string, env: NodeJS.ProcessEnv = process.env): unknown {
  const tag = `oienv${randomBytes(6).toString('hex')}x`;
  const references: string[] = [];
  const masked = text.replace(REFERENCE, (match) => `${tag}${references.push(match) - 1}x`);
  const placeholders = new RegExp(`${tag}(\\d+)x`, 'g');
  const resolve = (value: string) =>
    value.replace(placeholders, (_, i: string) => interpolateEnv(references[Number(i)]!, env));
  const holdsReference = (node: Scalar): node is Scalar<string> =>
    typeof node.value === 'string' && node.value.includes(tag);
  const comesOutEmpty = (node: Scalar) =>
    holdsReference(node) &&
    node.value.replace(placeholders, '') === '' &&
    resolve(node.value) === '';

  const doc = parseDocument(masked);
  if (doc.errors[0]) throw doc.errors[0];
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.value) && comesOutEmpty(pair.value)) return visit.REMOVE;
    },
    Scalar(key, node) {
      if (!holdsReference(node)) return;
      if (typeof key === 'number' && comesOutEmpty(node)) return visit.REMOVE;
      const value = resolve(node.value);
      (node as Scalar).value =
        key !== 'key' && node.type === Scalar.PLAIN ? typedAsYaml(value) : value;
    },
  });
  return doc.toJS();
}

/** A number or boolean when YAML would read `text` as one, else the text itself. */
function typedAsYaml(text: string): unknown {
  try {
    const value: unknown = parseYaml(text);
    if (typeof value === 'number' || typeof value === 'boolean') return value;
  } catch {
    // not a YAML scalar on its own: a string
  }
  return text;
}

/** Limits of a key or a project (src/api/limits.ts); absent = unlimited. */
const usageLimitFields = {
  rpm: z.number().int().positive().optional(),
  tpm: z.number().int().positive().optional(),
  concurrent_runs: z.number().int().positive().optional(),
  stored_bytes: z.number().int().positive().optional(),
};

const modelEntry = z.looseObject({
  name: z.string().min(1),
  backend: z.string().min(1),
  aliases: z.array(z.string().min(1)).optional(),
});

/** A `models:` entry: its backend's fields plus what `GET /{v}/models` shows of it. */
const chatModelEntry = modelEntry.extend({
  display_name: z.string().min(1).optional(),
  description: z.string().optional(),
  input_token_limit: z.number().int().positive().optional(),
  output_token_limit: z.number().int().positive().optional(),
});

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
      body_limit_bytes: z
        .number()
        .int()
        .positive()
        .default(32 * 1024 * 1024),
      cors_origins: z.union([z.boolean(), z.array(z.string())]).default(true),
      node_id: z.string().optional(),
      keepalive_seconds: z.number().positive().default(15),
      /**
       * A request's JSON body must arrive within this many seconds after its headers, and the
       * headers within `headers_timeout_seconds` (slower: 408, and the connection is closed).
       */
      request_timeout_seconds: z.number().positive().max(3600).default(60),
      headers_timeout_seconds: z.number().positive().max(3600).default(10),
      /** A keep-alive connection with no request in flight is closed after this many seconds. */
      idle_timeout_seconds: z.number().positive().max(3600).default(72),
      shutdown_grace_seconds: z.number().nonnegative().default(30),
      /** Token deltas of a stream are written (and sent) in batches at most this often. */
      event_batch_ms: z.number().int().min(0).max(1000).default(20),
      /**
       * How long event writes are retried while the store is unavailable; beyond it the runs
       * whose events could not be stored fail (their clients get an SSE `error`).
       */
      store_retry_seconds: z.number().positive().max(3600).default(30),
      /** Each node writes its heartbeat this often (the liveness other nodes judge it by). */
      heartbeat_seconds: z.number().positive().max(3600).default(10),
      /**
       * A node whose heartbeat is older than this is taken for dead: its background runs go back
       * to the run queue (PostgreSQL) and continue on another node; its other runs fail.
       */
      node_stale_seconds: z.number().positive().max(86400).default(60),
      /**
       * PostgreSQL: tell other nodes through LISTEN/NOTIFY about new events and cancels (one
       * extra connection per node); polling stays the fallback either way.
       */
      notify: z.boolean().default(true),
    })
    .prefault({}),
  /** Background runs (spec §8.1) on a job queue: pg-boss on PostgreSQL, in-process on SQLite. */
  run_queue: z
    .strictObject({
      /** Background runs one node executes at once (more wait in the queue). */
      concurrency: z.number().int().min(1).max(10_000).default(64),
      /** How often an idle node asks the queue for runs. */
      poll_ms: z.number().int().min(50).max(60_000).default(1000),
      /** Times a run may be taken (a takeover counts) before it fails as poisoned. */
      max_attempts: z.number().int().min(1).max(100).default(3),
      /**
       * Key (32 bytes: 64 hex digits or base64; the same on every node) sealing the credentials
       * of a queued run (MCP `headers`) in the job table. Unset: they are not kept there, and a
       * run carrying them cannot be taken over by another node (src/engine/job-secrets.ts).
       */
      secret_key: z.string().min(1).optional(),
    })
    .prefault({}),
  database: z.strictObject({ url: z.string().min(1) }).optional(),
  models: z.array(chatModelEntry).default([]),
  /**
   * Embedding models for file search, same entry fields as `models:` (each backend's own are
   * checked by the registry, src/models/embeddings/registry.ts). The first entry is the default.
   */
  embedding_models: z.array(modelEntry).default([]),
  /**
   * Agents clients call with `agent` (spec §10.1): each names a recipe and the `models:` entry it
   * reasons with; the entries' own settings are checked by src/agents/config.ts.
   */
  agents: z.array(z.looseObject({ name: z.string().min(1) })).default([]),
  keys: z
    .array(
      z.strictObject({
        key: z.string().min(8),
        project: z.string().min(1),
        name: z.string().min(1).optional(),
        ...usageLimitFields,
      }),
    )
    .optional(),
  /**
   * Limits per project (docs/operations.md): `"*"` applies to every project not named. Keys
   * carry their own limits (`keys:` entries, `keys create --rpm …`); a request must pass both.
   */
  projects: z.record(z.string().min(1), z.strictObject(usageLimitFields)).default({}),
  /** The admin API (`/admin/usage`): off unless a token is set; sent as `Authorization: Bearer`. */
  admin: z.strictObject({ token: z.string().min(16).optional() }).prefault({}),
  limits: z
    .strictObject({
      unary_deadline_seconds: z.number().positive().default(600),
      stream_deadline_seconds: z.number().positive().default(1200),
    })
    .prefault({}),
  /** Built-in tools run by the server; see src/tools/registry.ts for each tool's settings. */
  tools: z
    .looseObject({
      max_rounds: z.number().int().min(1).max(100).default(10),
    })
    .prefault({}),
  /** The Files API (spec §9.2): where uploaded bytes live, how long files live, how many a project may hold. */
  files: z
    .strictObject({
      /** Files (and unfinished uploads) are deleted this long after they were created. */
      ttl_hours: z.number().positive().default(48),
      max_file_bytes: z
        .number()
        .int()
        .positive()
        .default(2 * 1024 ** 3),
      max_project_bytes: z
        .number()
        .int()
        .positive()
        .default(20 * 1024 ** 3),
      max_project_files: z.number().int().positive().default(10_000),
      /** Bytes of stored files one interaction may send to the model (they are loaded into memory). */
      max_interaction_bytes: z
        .number()
        .int()
        .positive()
        .default(100 * 1024 ** 2),
      /** SQLite only: the directory holding the bytes (default: `<database file>.files` beside it). */
      dir: z.string().min(1).optional(),
    })
    .prefault({}),
  /** File Search (spec §9.3): ingestion of documents into stores; see docs/file-search.md. */
  file_search: z
    .strictObject({
      /** Bytes of one document, uploaded or imported (413 above it). */
      max_document_bytes: z
        .number()
        .int()
        .positive()
        .default(100 * 1024 ** 2),
      /** Chunks one document may make; a longer one ends STATE_FAILED. */
      max_document_chunks: z.number().int().positive().default(20_000),
      /** Documents ingested at once on each node. */
      ingestion_concurrency: z.number().int().min(1).max(64).default(2),
      /** Passages per embedding request. */
      embed_batch_chunks: z.number().int().min(1).max(2048).default(64),
      /** A node's hold on a document it ingests; another node takes it over after this long. */
      lease_seconds: z.number().positive().default(60),
      /** Attempts per document (interrupted or failed for a passing reason) before it fails. */
      max_attempts: z.number().int().min(1).max(100).default(3),
      /** First wait before a passing failure (embedding backend down) is retried; doubles. */
      retry_seconds: z.number().nonnegative().default(10),
      /** The document parser of ingestion: time and memory caps per document, processes. */
      parse_timeout_seconds: z.number().positive().default(300),
      parse_memory_mb: z.number().int().min(64).max(65_536).default(1024),
      parse_workers: z.number().int().min(1).max(32).default(2),
    })
    .prefault({}),
  /** Webhooks (docs/webhooks.md): signed deliveries of interaction events, retried with back-off. */
  webhooks: z
    .strictObject({
      /** Deliver to loopback/private addresses (the url_context policy otherwise refuses them). */
      allow_private: z.boolean().default(false),
      /** Hosts that may resolve to private addresses (`host`, `host:port`, `*.suffix`). */
      allowed_hosts: z.array(z.string().min(1)).default([]),
      /** A delivery is retried until it is this old, then given up. */
      max_age_hours: z.number().positive().max(720).default(24),
      /**
       * Wait before the first retry; each later one waits twice as long (with jitter on
       * PostgreSQL, where pg-boss schedules retries in whole seconds).
       */
      initial_backoff_ms: z.number().int().min(10).max(3_600_000).default(5000),
      /** The longest wait between two attempts (SQLite; pg-boss caps its own at ~9 h). */
      max_backoff_ms: z.number().int().min(10).default(3_600_000),
      /** Failed attempts in a row after which a webhook is `disabled_due_to_failed_deliveries`. */
      max_failures: z.number().int().min(1).max(10_000).default(15),
      /** One attempt's deadline (connect, send, answer). */
      timeout_seconds: z.number().positive().max(300).default(10),
      /** How often a node looks for new events and due deliveries. */
      poll_ms: z.number().int().min(20).max(60_000).default(1000),
      /** Deliveries one node attempts at once. */
      concurrency: z.number().int().min(1).max(256).default(8),
      /**
       * Signs deliveries to a request's `webhook_config.uris` (`whsec_…`); they carry no
       * `webhook-signature` without it (Google signs those with its own JWT keys).
       */
      request_signing_secret: z
        .string()
        .regex(/^whsec_[A-Za-z0-9+/]{16,}={0,2}$/, {
          error: 'must be whsec_ followed by base64 (at least 12 bytes)',
        })
        .optional(),
    })
    .prefault({}),
  /** `GET /metrics` (Prometheus text), outside the API keys; see README "Deploy". */
  metrics: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** When set, scrapers must send `Authorization: Bearer <token>`. */
      token: z.string().min(16).optional(),
    })
    .prefault({}),
  retention_days: z.number().positive().default(55),
  signature_secret: z.string().min(16).optional(),
});

export type Config = z.infer<typeof configSchema>;

export function parseConfig(value: unknown): Config {
  const result = configSchema.safeParse(value ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const path =
      issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : issue.path;
    throw new Error(
      `config: ${formatPath(path) || '(root)'}: ${issue.code === 'unrecognized_keys' ? 'unknown setting' : issue.message}`,
    );
  }
  return result.data;
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  return parseConfig(parseConfigYaml(readFileSync(path, 'utf8'), env));
}
