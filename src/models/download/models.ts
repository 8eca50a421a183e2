/**
 * Model references, the local models directory and the default model.
 */
import { readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_DOWNLOAD_TIMEOUTS,
  PullError,
  pullModel,
  type DownloadTimeouts,
  type ProgressCallback,
} from './pull.js';

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';

/** The Hugging Face endpoint: `OI_HF_ENDPOINT`, else `HF_ENDPOINT` (huggingface_hub's own), else huggingface.co. */
export function hubEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  const value = env.OI_HF_ENDPOINT?.trim() || env.HF_ENDPOINT?.trim() || DEFAULT_HF_ENDPOINT;
  return value.replace(/\/+$/, '');
}

/** The environment variables that set the download timeouts (seconds). */
export const TIMEOUT_VARIABLES = {
  connectMs: 'OI_DOWNLOAD_CONNECT_TIMEOUT_SECONDS',
  idleMs: 'OI_DOWNLOAD_IDLE_TIMEOUT_SECONDS',
} as const;

/** Download timeouts from the environment (seconds), else the defaults. */
export function downloadTimeouts(env: NodeJS.ProcessEnv = process.env): DownloadTimeouts {
  const timeouts = { ...DEFAULT_DOWNLOAD_TIMEOUTS };
  for (const key of ['connectMs', 'idleMs'] as const) {
    const name = TIMEOUT_VARIABLES[key];
    const raw = env[name]?.trim();
    if (!raw) continue;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0)
      throw new Error(`${name}: '${raw}' is not a positive number of seconds`);
    timeouts[key] = value * 1000;
  }
  return timeouts;
}

export interface DefaultModelInfo {
  /** Short name. */
  name: string;
  /** Reference accepted by `resolveModelRef` / `open-interactions models pull`. */
  ref: string;
  fileName: string;
  /** Where it comes from (with the default Hugging Face endpoint). */
  url: string;
  /** Model card. */
  homepage: string;
  license: string;
  /** Size of the file in bytes. */
  bytes: number;
  /** Pinned SHA-256: the download must match it, whatever the hub's headers say. */
  sha256: string;
  notes: string;
  /** The config list whose llama-cpp entries can name a GGUF file instead (default `models`). */
  configList?: 'models' | 'embedding_models';
}

/**
 * Qwen3 1.7B, 4-bit (Q4_K_M) GGUF: small enough for CPU-only machines
 * (about 1.1 GB on disk), Apache-2.0, with native tool calling and a
 * thinking mode that node-llama-cpp's QwenChatWrapper understands
 * (selected automatically from the GGUF's chat template).
 */
export const DEFAULT_MODEL: DefaultModelInfo = {
  name: 'qwen3-1.7b-q4_k_m',
  ref: 'unsloth/Qwen3-1.7B-GGUF/Qwen3-1.7B-Q4_K_M.gguf',
  fileName: 'Qwen3-1.7B-Q4_K_M.gguf',
  url: `${DEFAULT_HF_ENDPOINT}/unsloth/Qwen3-1.7B-GGUF/resolve/main/Qwen3-1.7B-Q4_K_M.gguf`,
  homepage: `${DEFAULT_HF_ENDPOINT}/unsloth/Qwen3-1.7B-GGUF`,
  license: 'Apache-2.0',
  bytes: 1_107_409_472,
  // The SHA-256 Hugging Face lists for this file (its LFS object id on `main`). Pinned so that a
  // changed or substituted file is refused instead of trusted on first use.
  sha256: 'b139949c5bd74937ad8ed8c8cf3d9ffb1e99c866c823204dc42c0d91fa181897',
  notes:
    'Quantized by Unsloth from Qwen/Qwen3-1.7B (Apache-2.0). Tool calling and thinking via the ' +
    'Qwen chat template. The download is checked against the SHA-256 pinned here.',
};

/**
 * The embedding model file search uses when no `embedding_models:` entry is configured:
 * BAAI's bge-small-en-v1.5 (MIT), 8-bit, as converted by llama.cpp's own maintainers (ggml-org).
 *
 * Why this one: 33M parameters and 384 dimensions. On a CPU-only machine it embeds about four
 * times faster than nomic-embed-text-v1.5 (137M, 768 dimensions) and every stored vector is half
 * the size (the exact-scan fallback of PostgreSQL reads every vector), for retrieval quality close
 * to it on the MTEB retrieval tasks; all-MiniLM-L6-v2 is smaller still but retrieves clearly
 * worse there. A recent conversion carries the pooling type and tokenizer metadata llama.cpp
 * expects. Context: 512 tokens (longer chunks are cut to it).
 */
export const DEFAULT_EMBEDDING_MODEL: DefaultModelInfo = {
  name: 'bge-small-en-v1.5-q8_0',
  // Pinned to the commit whose file has the SHA-256 below.
  ref: 'ggml-org/bge-small-en-v1.5-Q8_0-GGUF@f2068edd9b54f2a369549ccc71f70ed273a2a801/bge-small-en-v1.5-q8_0.gguf',
  fileName: 'bge-small-en-v1.5-q8_0.gguf',
  url: `${DEFAULT_HF_ENDPOINT}/ggml-org/bge-small-en-v1.5-Q8_0-GGUF/resolve/f2068edd9b54f2a369549ccc71f70ed273a2a801/bge-small-en-v1.5-q8_0.gguf`,
  homepage: `${DEFAULT_HF_ENDPOINT}/ggml-org/bge-small-en-v1.5-Q8_0-GGUF`,
  license: 'MIT',
  bytes: 36_685_152,
  // The file's LFS SHA-256 at that commit, as published with the same size by several unrelated
  // projects that pin this exact file.
  sha256: 'f046db1dc724cf4f6f0a0c5917e922823b73eb1d27b8f9a9c2797f7866974804',
  notes:
    'BAAI/bge-small-en-v1.5 (MIT), Q8_0, converted by ggml-org. English; 384 dimensions; ' +
    'queries get the instruction "Represent this sentence for searching relevant passages: ".',
  configList: 'embedding_models',
};

/** The SHA-256 pinned in the code for a reference (the default models'), if any. */
export function pinnedSha256(ref: string): string | undefined {
  return [DEFAULT_MODEL, DEFAULT_EMBEDDING_MODEL].find((m) => m.ref === ref)?.sha256;
}

export interface ResolvedModelRef {
  url: string;
  fileName: string;
  source: 'url' | 'huggingface';
  /** `owner/repo` for Hugging Face references. */
  repo?: string;
  revision?: string;
}

/**
 * Accepts:
 * - `https://…/x.gguf` (or http://)
 * - `<owner>/<repo>/<path/to/file>.gguf` → `<endpoint>/<owner>/<repo>/resolve/main/<path>`
 * - `<owner>/<repo>@<revision>/<file>.gguf` and an optional `hf:` / `hf://` prefix
 *
 * The Hugging Face endpoint is `hubEndpoint(env)`.
 */
export function resolveModelRef(
  ref: string,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedModelRef {
  const trimmed = ref.trim();
  if (/^https?:\/\//i.test(trimmed)) {
    const url = new URL(trimmed);
    const fileName = decodeURIComponent(url.pathname.split('/').filter(Boolean).pop() ?? '');
    if (!fileName) throw new Error(`Model URL has no file name: ${ref}`);
    return { url: url.toString(), fileName, source: 'url' };
  }
  const bare = trimmed.replace(/^hf:(\/\/)?/i, '');
  const parts = bare.split('/').filter((p) => p !== '');
  const owner = parts[0];
  const repoPart = parts[1];
  const fileParts = parts.slice(2);
  if (
    owner === undefined ||
    repoPart === undefined ||
    fileParts.length === 0 ||
    !/\.gguf$/i.test(bare)
  ) {
    throw new Error(
      `Unrecognised model reference "${ref}". Use a URL (https://…/model.gguf) or a Hugging Face ` +
        'reference <owner>/<repo>/<file>.gguf, e.g. ' +
        DEFAULT_MODEL.ref,
    );
  }
  if (fileParts.some((p) => p === '..' || p === '.'))
    throw new Error(`Invalid model reference "${ref}"`);
  const [repo, revision = 'main'] = repoPart.split('@') as [string, string | undefined];
  const endpoint = hubEndpoint(env);
  const path = fileParts.map(encodeURIComponent).join('/');
  return {
    url: `${endpoint}/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/resolve/${encodeURIComponent(revision)}/${path}`,
    fileName: fileParts[fileParts.length - 1] as string,
    source: 'huggingface',
    repo: `${owner}/${repo}`,
    revision,
  };
}

/**
 * `$OI_MODELS_DIR`, else `$XDG_DATA_HOME/open-interactions/models`, else
 * `~/.local/share/open-interactions/models`.
 */
export function defaultModelsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OI_MODELS_DIR?.trim()) return env.OI_MODELS_DIR.trim();
  const dataHome =
    env.XDG_DATA_HOME?.trim() || join(env.HOME?.trim() || homedir(), '.local', 'share');
  return join(dataHome, 'open-interactions', 'models');
}

export interface LocalModel {
  /** File name without `.gguf`. */
  name: string;
  fileName: string;
  path: string;
  size: number;
  modifiedAt: Date;
}

/** GGUF files in `dir` (not partial downloads), sorted by name; [] when the directory does not exist. */
export async function listModels(dir: string = defaultModelsDir()): Promise<LocalModel[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const models: LocalModel[] = [];
  for (const fileName of entries.sort()) {
    if (!/\.gguf$/i.test(fileName)) continue;
    const path = join(dir, fileName);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) continue;
    models.push({
      name: fileName.replace(/\.gguf$/i, ''),
      fileName,
      path,
      size: st.size,
      modifiedAt: st.mtime,
    });
  }
  return models;
}

export class ModelNotAvailableError extends Error {
  override readonly name = 'ModelNotAvailableError';
  constructor(
    message: string,
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface EnsureDefaultModelOptions {
  /** Never download: throw ModelNotAvailableError with instructions instead. */
  offline?: boolean;
  modelsDir?: string;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /** Default: from the environment (`downloadTimeouts`). */
  timeouts?: Partial<DownloadTimeouts>;
  env?: NodeJS.ProcessEnv;
  /** Default: DEFAULT_MODEL (tests pin a fake). */
  model?: DefaultModelInfo;
}

/** "about 1.1 GB" / "about 37 MB". */
function approximateSize(bytes: number): string {
  return bytes >= 1e9
    ? `about ${Math.round(bytes / 1e8) / 10} GB`
    : `about ${Math.round(bytes / 1e6)} MB`;
}

/** Where a GGUF file you already have goes instead: `path:` in an entry of this list. */
function entryOf(model: DefaultModelInfo): string {
  return model.configList === 'embedding_models'
    ? 'a llama-cpp entry of `embedding_models:`'
    : 'a llama-cpp model entry';
}

/** Text telling a user how to get a model (used by the offline error and the CLI). */
export function howToGetAModel(path: string, model: DefaultModelInfo = DEFAULT_MODEL): string {
  const what = model.configList === 'embedding_models' ? 'embedding model' : 'model';
  return (
    `No local ${what} found at ${path}.\n` +
    `To download the default ${what} (` +
    `${model.name}, ${model.license}, ${approximateSize(model.bytes)}), run:\n` +
    `  open-interactions models pull ${model.ref}\n` +
    `or use a GGUF file you already have by setting \`path:\` to it in ${entryOf(model)} of your config, e.g.\n` +
    '  path: /path/to/model.gguf'
  );
}

/**
 * What a user can do after a failed download, one line each. `defaultModel` adds the ways around
 * the start-up download (`--offline`, `models pull`, `path:`).
 */
export function howToRecoverFromDownload(
  err: PullError,
  context: { defaultModel?: { ref: string; path: string; info?: DefaultModelInfo } } = {},
): string {
  const lines: string[] = [];
  if (err.code === 'timeout' || err.code === 'unreachable' || err.code === 'interrupted')
    lines.push('run it again: a broken download resumes where it stopped');
  if (err.code === 'timeout')
    lines.push(
      `on a slow link, allow more time: ${TIMEOUT_VARIABLES.connectMs} (default ` +
        `${DEFAULT_DOWNLOAD_TIMEOUTS.connectMs / 1000}) and ${TIMEOUT_VARIABLES.idleMs} ` +
        `(default ${DEFAULT_DOWNLOAD_TIMEOUTS.idleMs / 1000})`,
    );
  if (err.code === 'checksum')
    lines.push(
      'if OI_HF_ENDPOINT or HF_ENDPOINT points at a mirror, check that it serves this file',
    );
  else if (err.code !== 'aborted' && err.code !== 'invalid')
    lines.push(
      'download through a Hugging Face mirror: set OI_HF_ENDPOINT (or HF_ENDPOINT) to its URL',
    );
  const model = context.defaultModel;
  if (model) {
    lines.push(
      `fetch the model separately: open-interactions models pull ${model.ref} ` +
        `(or put the file at ${model.path})`,
      `use a GGUF file you already have: \`path:\` in ${entryOf(model.info ?? DEFAULT_MODEL)} of your config`,
      'start without downloading anything: serve --offline',
    );
  }
  return lines.length === 0 ? '' : `\nWhat to do:\n${lines.map((l) => `  - ${l}`).join('\n')}`;
}

/** Returns the default model's local path, downloading it first unless offline. */
export async function ensureDefaultModel(options: EnsureDefaultModelOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  const model = options.model ?? DEFAULT_MODEL;
  const dir = options.modelsDir ?? defaultModelsDir(env);
  const path = join(dir, model.fileName);
  const st = await stat(path).catch(() => undefined);
  if (st?.isFile()) return path;
  if (options.offline) throw new ModelNotAvailableError(howToGetAModel(path, model), path);
  const { url } = resolveModelRef(model.ref, env);
  try {
    const res = await pullModel({
      url,
      destDir: dir,
      fileName: model.fileName,
      sha256: model.sha256,
      timeouts: options.timeouts ?? downloadTimeouts(env),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return res.path;
  } catch (err) {
    if (!(err instanceof PullError)) throw err;
    throw new ModelNotAvailableError(
      `Could not download the default model ${model.fileName}: ${err.message}` +
        howToRecoverFromDownload(err, { defaultModel: { ref: model.ref, path, info: model } }),
      path,
      { cause: err },
    );
  }
}
