import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfigFile, parseConfig, type Config } from '../config.js';
import {
  DEFAULT_EMBEDDING_MODEL,
  DEFAULT_MODEL,
  ModelNotAvailableError,
  createProgressBar,
  ensureDefaultModel,
  type DefaultModelInfo,
} from '../models/download/index.js';
import { checkListenAddress, createServer } from '../server.js';
import { UsageError } from './usage-error.js';
import { KeyStore } from '../store/key-store.js';
import { DEFAULT_DATABASE_URL, openDatabase, sqliteFilePath } from '../store/database.js';

function loadConfig(path: string | undefined): Config {
  if (path) return loadConfigFile(path);
  if (existsSync('open-interactions.yaml')) return loadConfigFile('open-interactions.yaml');
  return parseConfig({});
}

export async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      host: { type: 'string' },
      port: { type: 'string', short: 'p' },
      db: { type: 'string' },
      offline: { type: 'boolean' },
    },
    strict: true,
  });
  const config = loadConfig(values.config);
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError(`--port: '${values.port}' is not a port`);
    config.server.port = port;
  }
  if (values.host !== undefined) config.server.host = values.host;
  // Before anything is downloaded: an open server on a public address is refused anyway.
  checkListenAddress(
    config.server.host,
    config.keys,
    (config.keys ?? []).length === 0 && (await hasManagedKeys(config, values.db)),
  );
  const offline = values.offline === true;
  if (config.models.length === 0)
    config.models = [
      { name: '*', backend: 'llama-cpp', path: await fetchDefault(DEFAULT_MODEL, offline) },
    ];
  // File search needs an embedding model; without an entry, the default local one.
  if (fileSearchEnabled(config.tools) && config.embedding_models.length === 0) {
    const path = await fetchDefault(DEFAULT_EMBEDDING_MODEL, offline);
    config.embedding_models = [{ name: '*', backend: 'llama-cpp', path }];
  }
  const server = await createServer({ config, databaseUrl: values.db });
  const address = await server.listen();
  server.app.log.info(
    {
      address,
      node_id: server.nodeId,
      models: config.models.map((m) => m.name),
      embedding_models: config.embedding_models.map((m) => m.name),
      agents: config.agents.map((a) => a.name),
    },
    'listening',
  );

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      server.app.log.info({ signal }, 'shutting down: draining running interactions');
      server.close().then(resolve, (err) => {
        server.app.log.error({ err }, 'shutdown failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

/** Whether the database holds managed keys (then the server is not open even without keys:). */
async function hasManagedKeys(config: Config, db: string | undefined): Promise<boolean> {
  const url = db ?? config.database?.url ?? DEFAULT_DATABASE_URL;
  // A database that does not exist yet holds no keys: don't create it just to look.
  const file = sqliteFilePath(url);
  if (file !== undefined && !existsSync(file)) return false;
  const database = openDatabase(url);
  try {
    return await new KeyStore(database).any();
  } catch {
    return false; // not migrated yet (no api_keys table): no managed keys
  } finally {
    await database.db.destroy();
  }
}

/** `tools.file_search` is configured and not switched off (`false` or `enabled: false`). */
function fileSearchEnabled(tools: Config['tools']): boolean {
  const setting: unknown = (tools as Record<string, unknown>).file_search;
  if (setting === undefined || setting === null || setting === false) return false;
  return !(typeof setting === 'object' && (setting as { enabled?: unknown }).enabled === false);
}

/**
 * The local path of a default model (no entry configured: every name is served by it),
 * downloaded first unless it is there or `--offline` was given.
 */
async function fetchDefault(model: DefaultModelInfo, offline: boolean): Promise<string> {
  const bar = createProgressBar({ label: `downloading ${model.fileName}` });
  try {
    return await ensureDefaultModel({ model, offline, onProgress: bar.onProgress });
  } catch (err) {
    // the message is the whole story (what happened, what to do); no stack trace
    if (err instanceof ModelNotAvailableError) throw new Error(err.message);
    throw err;
  } finally {
    bar.stop();
  }
}
