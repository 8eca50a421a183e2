import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfigFile, parseConfig, type Config } from '../config.js';
import {
  DEFAULT_MODEL,
  ModelNotAvailableError,
  createProgressBar,
  defaultModelsDir,
  ensureDefaultModel,
  formatBytes,
  listModels,
  pullModel,
  resolveModelRef,
} from '../models/download/index.js';
import { createServer } from '../server.js';

const HELP = `open-interactions — the Gemini Interactions API on your own models

Usage:
  open-interactions serve [--config FILE] [--host HOST] [--port PORT] [--db URL] [--offline]
  open-interactions models pull <owner>/<repo>/<file>.gguf | <https URL> [--sha256 HEX] [--dir DIR]
  open-interactions models list [--dir DIR]
  open-interactions help

With no models configured, serve runs the embedded default: ${DEFAULT_MODEL.name} (GGUF, run by
llama.cpp on this machine), downloaded on first start into the models directory ($OI_MODELS_DIR,
else ~/.local/share/open-interactions/models) unless --offline is given.

serve options:
  --config FILE   YAML configuration (default: ./open-interactions.yaml when present)
  --host HOST     listen address (default 127.0.0.1)
  --port PORT     listen port (default 8080)
  --db URL        sqlite:PATH (default sqlite:open-interactions.db) or postgres://user@host/db
  --offline       never download; fail with instructions when the default model is missing
`;

function loadConfig(path: string | undefined): Config {
  if (path) return loadConfigFile(path);
  if (existsSync('open-interactions.yaml')) return loadConfigFile('open-interactions.yaml');
  return parseConfig({});
}

async function serve(args: string[]): Promise<number> {
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
      throw new Error(`--port: '${values.port}' is not a port`);
    config.server.port = port;
  }
  if (values.host !== undefined) config.server.host = values.host;
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
    if (err instanceof ModelNotAvailableError) throw new Error(err.message);
    throw err;
  } finally {
    bar.stop();
  }
}

async function models(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    options: { sha256: { type: 'string' }, dir: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const dir = values.dir ?? defaultModelsDir();
  if (sub === 'list') {
    const found = await listModels(dir);
    if (found.length === 0) process.stdout.write(`no models in ${dir}\n`);
    for (const m of found)
      process.stdout.write(`${m.fileName}\t${formatBytes(m.size)}\t${m.path}\n`);
    return 0;
  }
  if (sub === 'pull') {
    const ref = positionals[0];
    if (!ref) throw new Error('models pull: give <owner>/<repo>/<file>.gguf or an https URL');
    const { url, fileName } = resolveModelRef(ref);
    const bar = createProgressBar({ label: fileName });
    let result;
    try {
      result = await pullModel({
        url,
        destDir: dir,
        fileName,
        onProgress: bar.onProgress,
        ...(values.sha256 ? { sha256: values.sha256 } : {}),
      });
    } finally {
      bar.stop();
    }
    const how = result.alreadyPresent ? 'already present' : 'downloaded';
    process.stdout.write(
      `${how}: ${result.path} (${formatBytes(result.bytes)}, sha256 ${result.sha256}, verified: ${result.verified})\n`,
    );
    return 0;
  }
  process.stderr.write(`unknown models command '${sub ?? ''}'\n\n${HELP}`);
  return 2;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'models':
      return models(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
    default:
      process.stderr.write(`unknown command '${command}'\n\n${HELP}`);
      return 2;
  }
}
