import { basename } from 'node:path';
import type { EmbeddingModelV3, EmbeddingModelV3Result } from '@ai-sdk/provider';
import type { LlamaEmbeddingContext, LlamaModel } from 'node-llama-cpp';
import { getSharedLlama } from './model.js';

export interface LlamaCppEmbeddingOptions {
  /** A GGUF model; embedding models (e.g. nomic-embed, bge) give useful vectors. */
  modelPath: string;
  modelId?: string;
  contextSize?: number;
  gpu?: false | 'auto';
  threads?: number;
  /** Texts embedded per call (the AI SDK splits larger batches). */
  maxEmbeddingsPerCall?: number;
}

export type LlamaCppEmbeddingModel = EmbeddingModelV3 & { dispose(): Promise<void> };

/**
 * Embeddings from a GGUF model through node-llama-cpp, behind the AI SDK's EmbeddingModelV3
 * interface (the file-search index uses it). The model loads on first use; calls are serialised
 * on one embedding context.
 */
export function createLlamaCppEmbeddingModel(
  options: LlamaCppEmbeddingOptions,
): LlamaCppEmbeddingModel {
  let loading: Promise<{ model: LlamaModel; context: LlamaEmbeddingContext }> | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  const load = () =>
    (loading ??= (async () => {
      const gpu = options.gpu ?? 'auto';
      const llama = await getSharedLlama(gpu);
      const model = await llama.loadModel({
        modelPath: options.modelPath,
        ...(gpu === false ? { gpuLayers: 0 } : {}),
      });
      const context = await model.createEmbeddingContext({
        ...(options.contextSize
          ? { contextSize: Math.min(options.contextSize, model.trainContextSize) }
          : {}),
        ...(options.threads ? { threads: options.threads } : {}),
      });
      return { model, context };
    })());

  return {
    specificationVersion: 'v3',
    provider: 'llama-cpp',
    modelId: options.modelId ?? basename(options.modelPath),
    maxEmbeddingsPerCall: options.maxEmbeddingsPerCall ?? 64,
    supportsParallelCalls: false,
    async doEmbed({ values, abortSignal }): Promise<EmbeddingModelV3Result> {
      const { model, context } = await load();
      const run = queue.then(async () => {
        const embeddings: number[][] = [];
        let tokens = 0;
        for (const value of values) {
          abortSignal?.throwIfAborted();
          tokens += model.tokenize(value).length;
          const embedding = await context.getEmbeddingFor(value);
          embeddings.push([...embedding.vector]);
        }
        return { embeddings, usage: { tokens }, warnings: [] };
      });
      queue = run.catch(() => {});
      return run;
    },
    async dispose() {
      if (!loading) return;
      const { model, context } = await loading;
      await context.dispose();
      await model.dispose();
      loading = undefined;
    },
  };
}
