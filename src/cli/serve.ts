import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfigFile, parseConfig, type Config } from '../config.js';
import {
  DEFAULT_MODEL,
  ModelNotAvailableError,
  createProgressBar,
  ensureDefaultModel,
} from '../models/download/index.js';
import { checkListenAddress, createServer } from '../server.js';
import { UsageError } from './usage-error.js';

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
  // Before anything is downloaded or opened: an open server on a public address is refused anyway.
  checkListenAddress(config.server.host, config.keys);
  if (config.models.length === 0)
    config.models = [await embeddedDefaultModel(values.offline === true)];
  const server = await createServer({ config, databaseUrl: values.db });
  const address = await server.listen();
  server.app.log.info(
    { address, node_id: server.nodeId, models: config.models.map((m) => m.name) },
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

/** No models configured: every model name is served by the default local GGUF model. */
async function embeddedDefaultModel(offline: boolean): Promise<Config['models'][number]> {
  const bar = createProgressBar({ label: `downloading ${DEFAULT_MODEL.fileName}` });
  try {
    const path = await ensureDefaultModel({ offline, onProgress: bar.onProgress });
    return { name: '*', backend: 'llama-cpp', path };
  } catch (err) {
    // the message is the whole story (what happened, what to do); no stack trace
    if (err instanceof ModelNotAvailableError) throw new Error(err.message);
    throw err;
  } finally {
    bar.stop();
  }
}
