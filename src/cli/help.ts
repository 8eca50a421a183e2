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

const COMMON = `  -h, --help          show this help
      --version       show the version
`;

export const HELP = {
  main: `open-interactions — the Gemini Interactions API on your own models

Usage:
  open-interactions serve [options]                 run the server
  open-interactions models pull <ref> [options]     download a GGUF model
  open-interactions models list [options]           list downloaded models
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
} as const;

export type HelpTopic = keyof typeof HELP;
