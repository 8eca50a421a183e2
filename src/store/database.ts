import { Kysely, PostgresDialect, SqliteDialect, type LogEvent, type SqliteDatabase } from 'kysely';
import Database from 'better-sqlite3';
import pg from 'pg';
import * as sqliteVec from 'sqlite-vec';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { BACKSTOP_CHECKPOINT_PAGES, startWalCheckpointer } from './wal-checkpointer.js';

export interface InteractionsTable {
  id: string;
  project: string;
  parent_id: string | null;
  status: string;
  model: string | null;
  agent: string | null;
  created: string;
  updated: string;
  background: number;
  owner_node: string | null;
  input_steps: string;
  output_steps: string | null;
  request: string;
  usage: string | null;
  errors: string | null;
  cancel_requested: number;
  /** The API key that created the interaction (`key_…` managed, `yaml:…` configured); null when open. */
  api_key_id?: string | null;
}

export interface ApiKeysTable {
  id: string;
  project: string;
  name: string | null;
  /** Hex SHA-256 of the key: the key itself is never stored. */
  key_hash: string;
  /** The first characters of the key, to recognise it in listings. */
  key_prefix: string;
  /** JSON of the key's limits (rpm, tpm, concurrent_runs, stored_bytes). */
  limits: string;
  created: string;
  expires: string | null;
  revoked: string | null;
}

export interface LimitWindowsTable {
  scope: string;
  window_start: number | string;
  requests: number | string;
}

export interface RunLeasesTable {
  id: string;
  project: string;
  api_key_id: string | null;
  node_id: string;
  started: string;
}

export interface EventsTable {
  interaction_id: string;
  seq: number;
  data: string;
}

export interface NodesTable {
  node_id: string;
  heartbeat: string;
}

/** A project's count of deletions of interactions (see migrations.ts, 0009). */
export interface HistoryGenerationsTable {
  project: string;
  generation: number | string;
}

export interface DatabaseSchema {
  interactions: InteractionsTable;
  history_generations: HistoryGenerationsTable;
  events: EventsTable;
  nodes: NodesTable;
  api_keys: ApiKeysTable;
  limit_windows: LimitWindowsTable;
  run_leases: RunLeasesTable;
}

export type DatabaseKind = 'sqlite' | 'postgres';

/** The database `serve` and the operator commands open when none is configured. */
export const DEFAULT_DATABASE_URL = 'sqlite:open-interactions.db';

export interface DatabaseHandle {
  kind: DatabaseKind;
  db: Kysely<DatabaseSchema>;
}

export interface OpenOptions {
  /** Called with the SQL of every executed query (tests count round trips with it). */
  onQuery?: (sql: string) => void;
  /**
   * SQLite: how long a statement waits for a lock another connection holds (default 5000 ms).
   * better-sqlite3 waits synchronously, blocking the event loop, so the server keeps this short
   * and lets the event log retry with back-off instead.
   */
  busyTimeoutMs?: number;
  /**
   * PostgreSQL: how long an operation waits for a connection — connecting, or a free one in the
   * pool — before it fails (default 10000 ms), so that a store that does not answer is noticed.
   */
  connectTimeoutMs?: number;
  /**
   * SQLite file: checkpoint the write-ahead log on a worker thread (wal-checkpointer.ts) rather
   * than inside the commits of this connection. For the server; short-lived commands need not.
   */
  checkpointInBackground?: boolean;
}

const OPTIMIZE_EVERY_MS = 4 * 60 * 60 * 1000;

const isPostgresUrl = (url: string) => /^postgres(ql)?:\/\//.test(url);

/** The file a `sqlite:PATH` URL (or bare path) names; undefined for PostgreSQL and `:memory:`. */
export function sqliteFilePath(url: string): string | undefined {
  if (isPostgresUrl(url)) return undefined;
  const path = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  return path === ':memory:' ? undefined : resolve(path);
}

/** Opens `sqlite:PATH` (or a bare path / `:memory:`) or `postgres://…`. */
export function openDatabase(url: string, options: OpenOptions = {}): DatabaseHandle {
  const log = options.onQuery
    ? (event: LogEvent) => {
        if (event.level === 'query') options.onQuery!(event.query.sql);
      }
    : undefined;
  if (isPostgresUrl(url)) {
    const pool = new pg.Pool({
      connectionString: url,
      max: 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    });
    // A pool error (e.g. the server restarting) must not crash the process; neither may a
    // connection that breaks while checked out (pg reports it on the client, where no pool
    // listener is attached then; the query in flight fails on its own).
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    return {
      kind: 'postgres',
      db: new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool }), log }),
    };
  }
  const path = sqliteFilePath(url);
  if (path !== undefined) mkdirSync(dirname(path), { recursive: true });
  const sqlite = new Database(path ?? ':memory:');
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma(`busy_timeout = ${Math.max(0, Math.round(options.busyTimeoutMs ?? 5000))}`);
  sqlite.pragma('foreign_keys = ON');
  // SQLite gathers no planner statistics by itself. The queries that matter fix their plans in
  // SQL (history-query.ts); for the rest, statistics are refreshed on open and every few hours,
  // bounded so that a large file never stalls the event loop long (SQLite's advice for
  // long-lived connections: `optimize=0x10002` on open, plain `optimize` periodically).
  sqlite.pragma('analysis_limit = 400');
  const optimize = (pragma: string) => {
    try {
      sqlite.pragma(pragma);
    } catch {
      // another connection holds the write lock (or this one is closing): statistics are an
      // optimisation, the next round tries again
    }
  };
  optimize('optimize = 0x10002');
  const optimizer = setInterval(() => optimize('optimize'), OPTIMIZE_EVERY_MS);
  optimizer.unref();
  const checkpointer =
    options.checkpointInBackground && path !== undefined ? startWalCheckpointer(path) : undefined;
  if (checkpointer) sqlite.pragma(`wal_autocheckpoint = ${BACKSTOP_CHECKPOINT_PAGES}`);
  // The File Search index's vectors live in sqlite-vec's vec0 tables: every connection to the
  // file must be able to read and delete them.
  sqliteVec.load(sqlite);
  return {
    kind: 'sqlite',
    db: new Kysely<DatabaseSchema>({
      dialect: new SqliteDialect({
        database: withStatementCache(sqlite, () => {
          clearInterval(optimizer);
          checkpointer?.close();
        }),
      }),
      log,
    }),
  };
}

/**
 * better-sqlite3 behind a cache of prepared statements. Kysely prepares every query anew, and
 * for the event log's small writes (a few per streamed interaction, each inside BEGIN/COMMIT)
 * preparing costs about as much as running. Kysely runs one query at a time on this single
 * connection, so reusing a statement is safe.
 */
function withStatementCache(
  sqlite: Database.Database,
  onClose: () => void,
  size = 256,
): SqliteDatabase {
  const cache = new Map<string, Database.Statement>();
  return {
    prepare(sql: string) {
      let statement = cache.get(sql);
      if (statement !== undefined) {
        cache.delete(sql); // most recently used last
      } else {
        statement = sqlite.prepare(sql);
        if (cache.size >= size) cache.delete(cache.keys().next().value!);
      }
      cache.set(sql, statement);
      return statement;
    },
    close: () => {
      onClose();
      sqlite.close();
    },
  };
}
