/**
 * Config-entry factory for the engine's model registry:
 *
 * ```yaml
 * models:
 *   - name: local
 *     backend: llama-cpp
 *     path: /models/Qwen3-1.7B-Q4_K_M.gguf   # default: the default model in the models dir
 *     context_size: 8192
 *     max_sequences: 2
 *     stream_batch_ms: 100   # text reaches the server at most every 100 ms (0 = every token)
 * ```
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { DEFAULT_MODEL, defaultModelsDir } from '../download/models.js';
import type { BackendFactory } from '../types.js';
import type { LlamaCppProviderOptions } from './model.js';
import { createLlamaCppWorkerModel } from './worker-model.js';
import { registerLocalModel } from '../../metrics/index.js';

export const llamaCppEntrySchema = z.strictObject({
  name: z.string().min(1),
  backend: z.literal('llama-cpp'),
  /** GGUF file; default: DEFAULT_MODEL's file in the models directory. */
  path: z.string().min(1).optional(),
  /** modelId reported by the backend; default: the file name. */
  model_id: z.string().min(1).optional(),
  context_size: z.number().int().min(256).optional(),
  max_sequences: z.number().int().min(1).max(64).optional(),
  max_queue: z.number().int().min(0).optional(),
  gpu: z.union([z.literal(false), z.literal('auto')]).optional(),
  threads: z.number().int().min(1).optional(),
  cache_bytes: z.number().int().min(0).optional(),
  /** Generated text reaches the server at most once per this many ms (default 100; 0 = per token). */
  stream_batch_ms: z.number().int().min(0).max(1000).optional(),
});

/**
 * The weights load lazily (on the first request), so a wrong path would only show then: check the
 * file at start-up. Thrown as a zod error so the registry names it `models[i] (name): path: …`.
 */
function checkModelFile(modelPath: string, given: boolean): void {
  if (statSync(modelPath, { throwIfNoEntry: false })?.isFile()) return;
  const message = given
    ? `no GGUF file at ${modelPath}`
    : `not set, and the default model is not at ${modelPath}: set path: to a GGUF file, or run ` +
      `open-interactions models pull ${DEFAULT_MODEL.ref}`;
  throw new z.ZodError([{ code: 'custom', path: ['path'], message, input: modelPath }]);
}

/** Thinking level → thought-token budget (undefined = the model's default). */
export const THOUGHT_BUDGETS: Record<string, number | undefined> = {
  minimal: 0,
  low: 1024,
  medium: 4096,
  high: undefined,
};

export const createLlamaCppBackend: BackendFactory = (entry) => {
  const config = llamaCppEntrySchema.parse(entry);
  const modelPath = config.path ?? join(defaultModelsDir(), DEFAULT_MODEL.fileName);
  checkModelFile(modelPath, config.path !== undefined);
  // On its own thread, so the server's work never sits between two tokens (worker-model.ts).
  const model = createLlamaCppWorkerModel({
    modelPath,
    ...(config.model_id ? { modelId: config.model_id } : {}),
    ...(config.context_size ? { contextSize: config.context_size } : {}),
    ...(config.max_sequences ? { maxSequences: config.max_sequences } : {}),
    ...(config.max_queue !== undefined ? { maxQueue: config.max_queue } : {}),
    gpu: config.gpu ?? 'auto',
    ...(config.threads ? { threads: config.threads } : {}),
    ...(config.cache_bytes !== undefined ? { cacheBytes: config.cache_bytes } : {}),
    ...(config.stream_batch_ms !== undefined ? { streamBatchMs: config.stream_batch_ms } : {}),
  });
  const unregister = registerLocalModel(config.name, () => model.stats());
  return {
    backend: 'llama-cpp',
    model,
    inputModalities: new Set(['text']),
    ...(config.context_size ? { inputTokenLimit: config.context_size } : {}),
    dispose: () => {
      unregister();
      return model.dispose();
    },
    admit: () => model.admit(),
    providerOptions: ({ thinkingLevel }): Record<string, Record<string, number>> => {
      const budget = thinkingLevel ? THOUGHT_BUDGETS[thinkingLevel] : undefined;
      if (budget === undefined) return {};
      const options = { thoughtBudget: budget } satisfies LlamaCppProviderOptions;
      return { 'llama-cpp': options };
    },
  };
};
