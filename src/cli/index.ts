import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfigFile, parseConfig, type Config } from '../config.js';
import { createServer } from '../server.js';

const HELP = `open-interactions — the Gemini Interactions API on your own models

Usage:
  open-interactions serve [--config FILE] [--host HOST] [--port PORT] [--db URL]
  open-interactions help

serve options:
  --config FILE   YAML configuration (default: ./open-interactions.yaml when present)
  --host HOST     listen address (default 127.0.0.1)
  --port PORT     listen port (default 8080)
  --db URL        sqlite:PATH (default sqlite:open-interactions.db) or postgres://user@host/db
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
  if (config.models.length === 0) {
    throw new Error(
      'no models configured: add a models: section to the config (see README "Configuration")',
    );
  }
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

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
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
