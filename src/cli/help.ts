/**
 * The command's help texts and version: one text per command, printed by `--help` on that command.
 */
import { existsSync, readFileSync } from 'node:fs';
import {
  DEFAULT_DOWNLOAD_TIMEOUTS,
  DEFAULT_HF_ENDPOINT,
  DEFAULT_EMBEDDING_MODEL,
  DEFAULT_MODEL,
  TIMEOUT_VARIABLES,
} from '../models/download/index.js';

/** The package's version, from the package.json above this file (src/cli, dist/cli or another build). */
export function packageVersion(): string {
  for (let depth = 1; depth <= 5; depth++) {
    const path = new URL(`${'../'.repeat(depth)}package.json`, import.meta.url);
    if (!existsSync(path)) continue;
    const pkg = JSON.parse(readFileSync(path, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'open-interactions' && pkg.version) return pkg.version;
  }
  return 'unknown';
}

const ENVIRONMENT = `Environment:
  OI_MODELS_DIR                        models directory (default ~/.local/share/open-interactions/models)
  OI_HF_ENDPOINT, HF_ENDPOINT          Hugging Face endpoint or mirror (default ${DEFAULT_HF_ENDPOINT})
  ${TIMEOUT_VARIABLES.connectMs}  seconds to connect and get response headers (default ${DEFAULT_DOWNLOAD_TIMEOUTS.connectMs / 1000})
  ${TIMEOUT_VARIABLES.idleMs}     seconds a download may send no data (default ${DEFAULT_DOWNLOAD_TIMEOUTS.idleMs / 1000})
`;

const DATABASE = `  -c, --config FILE       YAML configuration whose database: is used (default ./open-interactions.yaml)
      --db URL            sqlite:PATH or postgres://… (default: the config's, else sqlite:open-interactions.db)
`;

const COMMON = `  -h, --help          show this help
      --version       show the version
`;

export const HELP = {
  main: `open-interactions — the Gemini Interactions API on your own models

Usage:
  open-interactions serve [options]                 run the server
  open-interactions models pull <ref> [options]     download a GGUF model
  open-interactions models list [options]           list downloaded models
  open-interactions keys create --project P [...]   create a managed API key
  open-interactions keys list [options]             list managed API keys
  open-interactions keys revoke <id>...             revoke managed API keys
  open-interactions usage [options]                 tokens and tool calls per project, key, model, day
  open-interactions help [command]                  this text, or a command's
  open-interactions --version

Run 'open-interactions <command> --help' for a command's options.
`,

  serve: `Usage: open-interactions serve [--config FILE] [--host HOST] [--port PORT] [--db URL] [--offline]

Runs the server. With no models configured, every model name is served by the embedded default
model, ${DEFAULT_MODEL.name} (GGUF, run by llama.cpp on this machine), downloaded on first start
(about ${Math.round(DEFAULT_MODEL.bytes / 1e8) / 10} GB, SHA-256 checked) into the models directory unless --offline is given.
Likewise, with tools.file_search on and no embedding_models, file search embeds with
${DEFAULT_EMBEDDING_MODEL.name} (about ${Math.round(DEFAULT_EMBEDDING_MODEL.bytes / 1e6)} MB).

Options:
  -c, --config FILE   YAML configuration (default: ./open-interactions.yaml when present)
      --host HOST     listen address (default 127.0.0.1; another address needs keys: in the config)
  -p, --port PORT     listen port (default 8080)
      --db URL        sqlite:PATH (default sqlite:open-interactions.db) or postgres://user@host/db
      --offline       never download; fail with instructions when the default model is missing
${COMMON}
${ENVIRONMENT}`,

  models: `Usage:
  open-interactions models pull <ref> [--sha256 HEX] [--dir DIR]   download a GGUF model
  open-interactions models list [--dir DIR]                        list downloaded models

Run 'open-interactions models <command> --help' for details.
`,

  'models pull': `Usage: open-interactions models pull <ref> [--sha256 HEX] [--dir DIR]

Downloads a GGUF model, resumably, and checks its SHA-256. <ref> is
  <owner>/<repo>/<file>.gguf          a file in a Hugging Face repository (also <owner>/<repo>@<revision>/…)
  https://…/<file>.gguf               any URL
e.g. ${DEFAULT_MODEL.ref} (the default model).

Options:
      --sha256 HEX    expected SHA-256 (default: the one pinned for the default model, else the
                      digest the hub announces)
      --dir DIR       models directory (default $OI_MODELS_DIR, else ~/.local/share/open-interactions/models)
${COMMON}
${ENVIRONMENT}`,

  'models list': `Usage: open-interactions models list [--dir DIR]

Lists the GGUF files in the models directory.

Options:
      --dir DIR       models directory (default $OI_MODELS_DIR, else ~/.local/share/open-interactions/models)
${COMMON}`,

  keys: `Usage:
  open-interactions keys create --project P [--name N] [--rpm N] [--tpm N] [--expires D]
  open-interactions keys list [--project P] [--all] [--format table|json]
  open-interactions keys revoke <id>...

Managed API keys live in the database (every node sharing it accepts them; a revoked key is
refused by all of them at once). Keys in the config file's keys: keep working beside them.
Run 'open-interactions keys <command> --help' for details.
`,

  'keys create': `Usage: open-interactions keys create --project P [options]

Creates an API key for project P and prints it once: the database keeps only its SHA-256.

Options:
      --project P         the project the key acts for (required)
      --name N            a name to recognise the key by
      --rpm N             requests per minute
      --tpm N             tokens per minute (input + output + thought, from the stored usage)
      --concurrent-runs N interactions running at once
      --stored-bytes N    bytes of stored interactions
      --expires D         a date (2027-01-31), a time (2027-01-31T12:00:00Z) or a duration (30d, 12h)
      --format F          text (default) or json
${DATABASE}${COMMON}`,

  'keys list': `Usage: open-interactions keys list [options]

Lists managed API keys (id, project, name, the key's first characters, limits, status).

Options:
      --project P         only this project's keys
      --all               revoked keys too
      --format F          table (default) or json
${DATABASE}${COMMON}`,

  'keys revoke': `Usage: open-interactions keys revoke <id>... [options]

Revokes keys by id (key_…, from 'keys list'). Every node refuses them from the next request on.
Exits 1 when an id names no active key.

Options:
${DATABASE}${COMMON}`,

  usage: `Usage: open-interactions usage [--project P] [--since D] [--until D] [--format table|json|csv]

Tokens (input, output, cached, thought) and tool calls per day, project, key and model, summed
from the stored interactions' usage (exact; interactions created with store: false are not kept
and not counted). Days are UTC days of creation.

Options:
      --project P         only this project
      --since D           from this day (2026-12-01) or this long ago (7d); default: everything
      --until D           before this day (exclusive)
      --format F          table (default), json or csv
${DATABASE}${COMMON}`,
} as const;

export type HelpTopic = keyof typeof HELP;
