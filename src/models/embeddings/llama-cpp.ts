/**
 * Config-entry factory for local GGUF embedding models:
 *
 * ```yaml
 * embedding_models:
 *   - name: "*"
 *     backend: llama-cpp
 *     path: /models/nomic-embed-text-v1.5.Q8_0.gguf   # default: the default embedding model
 *     context_size: 2048
 *     threads: 2
 * ```
 */
import { statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { DEFAULT_EMBEDDING_MODEL, defaultModelsDir } from '../download/models.js';
import { createLlamaCppWorkerEmbeddingModel } from './llama-cpp-worker.js';
import { prefixesOf } from './prefixes.js';
import { batchingOf, embeddingEntryFields, type EmbeddingBackendFactory } from './types.js';

export const llamaCppEmbeddingEntrySchema = z.strictObject({
  ...embeddingEntryFields,
  backend: z.literal('llama-cpp'),
  /** GGUF file; default: DEFAULT_EMBEDDING_MODEL's file in the models directory. */
  path: z.string().min(1).optional(),
  /** modelId reported by the backend (and matched for known prefixes); default: the file name. */
  model_id: z.string().min(1).optional(),
  /** Tokens per text (default: the model's training context, at most 2048). */
  context_size: z.number().int().min(16).optional(),
  gpu: z.union([z.literal(false), z.literal('auto')]).optional(),
  threads: z.number().int().min(1).optional(),
});

/**
 * The weights load lazily (on the first call), so a wrong path would only show then: check the
 * file at start-up. Thrown as a zod error so the registry names it `embedding_models[i].path`.
 */
function checkModelFile(modelPath: string, given: boolean): void {
  if (statSync(modelPath, { throwIfNoEntry: false })?.isFile()) return;
  const message = given
    ? `no GGUF file at ${modelPath}`
    : `not set, and the default embedding model is not at ${modelPath}: set path: to a GGUF ` +
      `file, or run open-interactions models pull ${DEFAULT_EMBEDDING_MODEL.ref}`;
  throw new z.ZodError([{ code: 'custom', path: ['path'], message, input: modelPath }]);
}

export const createLlamaCppEmbeddingBackend: EmbeddingBackendFactory = (entry) => {
  const config = llamaCppEmbeddingEntrySchema.parse(entry);
  // without path: where `serve` downloads the default embedding model
  const modelPath = config.path ?? join(defaultModelsDir(), DEFAULT_EMBEDDING_MODEL.fileName);
  checkModelFile(modelPath, config.path !== undefined);
  const batching = batchingOf(config, {
    // Small calls: progress moves and an abort is honoured within a few texts.
    maxTexts: 16,
    maxBytes: 256 * 1024,
    maxParallelCalls: 1,
  });
  const model = createLlamaCppWorkerEmbeddingModel({
    modelPath,
    ...(config.model_id ? { modelId: config.model_id } : {}),
    ...(config.context_size ? { contextSize: config.context_size } : {}),
    gpu: config.gpu ?? 'auto',
    ...(config.threads ? { threads: config.threads } : {}),
    maxEmbeddingsPerCall: batching.maxTexts,
  });
  const prefixes = prefixesOf(config.model_id ?? basename(modelPath), config);
  return {
    backend: 'llama-cpp',
    model,
    request: (kind) => ({ prefix: prefixes[kind] }),
    batching,
    dispose: () => model.dispose(),
  };
};
