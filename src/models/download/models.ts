/**
 * Model references, the local models directory and the default model.
 */
import { readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pullModel, type ProgressCallback, type PullModelResult } from './pull.js';

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';

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
  /** Approximate download size. */
  approxBytes: number;
  /** Pinned SHA-256, when known; otherwise Hugging Face's x-linked-etag is checked. */
  sha256: string | undefined;
  notes: string;
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
  approxBytes: 1_100_000_000,
  sha256: undefined,
  notes:
    'Quantized by Unsloth from Qwen/Qwen3-1.7B (Apache-2.0). Tool calling and thinking via the ' +
    'Qwen chat template. The checksum is verified against the x-linked-etag Hugging Face sends.',
};

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
 * The Hugging Face endpoint is `OI_HF_ENDPOINT` or https://huggingface.co.
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
  const endpoint = (env.OI_HF_ENDPOINT?.trim() || DEFAULT_HF_ENDPOINT).replace(/\/+$/, '');
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
  ) {
    super(message);
  }
}

export interface EnsureDefaultModelOptions {
  /** Never download: throw ModelNotAvailableError with instructions instead. */
  offline?: boolean;
  modelsDir?: string;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  fetch?: typeof fetch;
  env?: NodeJS.ProcessEnv;
}

/** Text telling a user how to get a model (used by the offline error and the CLI). */
export function howToGetAModel(path: string): string {
  return (
    `No local model found at ${path}.\n` +
    'To download the default model (' +
    `${DEFAULT_MODEL.name}, ${DEFAULT_MODEL.license}, about ${Math.round(DEFAULT_MODEL.approxBytes / 1e8) / 10} GB), run:\n` +
    `  open-interactions models pull ${DEFAULT_MODEL.ref}\n` +
    'or use a GGUF file you already have by setting `path:` to it in the model entry of your config, e.g.\n' +
    '  path: /path/to/model.gguf'
  );
}

/** Returns the default model's local path, downloading it first unless offline. */
export async function ensureDefaultModel(options: EnsureDefaultModelOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  const dir = options.modelsDir ?? defaultModelsDir(env);
  const path = join(dir, DEFAULT_MODEL.fileName);
  const st = await stat(path).catch(() => undefined);
  if (st?.isFile()) return path;
  if (options.offline) throw new ModelNotAvailableError(howToGetAModel(path), path);
  const { url } = resolveModelRef(DEFAULT_MODEL.ref, env);
  const res: PullModelResult = await pullModel({
    url,
    destDir: dir,
    fileName: DEFAULT_MODEL.fileName,
    ...(DEFAULT_MODEL.sha256 ? { sha256: DEFAULT_MODEL.sha256 } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  return res.path;
}
