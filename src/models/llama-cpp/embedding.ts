/**
 * Embeddings from a GGUF model through node-llama-cpp, behind the AI SDK's EmbeddingModelV3
 * interface, on the thread that calls it. The server runs it on a worker thread
 * (models/embeddings/llama-cpp-worker.ts): tokenising and the JavaScript around each text must not
 * sit on the event loop while a store ingests thousands of chunks.
 *
 * - The model loads on first use; texts are embedded one after another on one sequence.
 * - A text longer than the context is cut to the context (a warning says how many were): an
 *   embedding model sees a bounded window, and a chunker that counted tokens with another
 *   tokenizer must not fail a whole document for a few tokens over.
 * - A text with no tokens at all (empty, or only what the tokenizer drops) gets a zero vector of
 *   the model's size, so every vector of a call has the same length.
 */
import { basename } from 'node:path';
import type { EmbeddingModelV3, EmbeddingModelV3Result, SharedV3Warning } from '@ai-sdk/provider';
import type { LlamaEmbeddingContext, LlamaModel } from 'node-llama-cpp';
import { getSharedLlama } from './model.js';

export interface LlamaCppEmbeddingOptions {
  /** A GGUF model; embedding models (e.g. bge, nomic-embed) give useful vectors. */
  modelPath: string;
  modelId?: string;
  /** Tokens the model sees per text (default: the model's training context, at most 2048). */
  contextSize?: number;
  gpu?: false | 'auto';
  /** CPU threads (default: the machine's math cores; node-llama-cpp alone would use 6). */
  threads?: number;
  /** Texts embedded per call (the AI SDK splits larger batches). */
  maxEmbeddingsPerCall?: number;
}

/** One call's vectors as Float32Array (cheap to move between threads) plus what it cost. */
export interface LlamaCppEmbedResult {
  embeddings: Float32Array[];
  tokens: number;
  /** Says how many texts were cut to the context, if any were. */
  warnings: SharedV3Warning[];
}

export type LlamaCppEmbeddingModel = EmbeddingModelV3 & {
  /** Same as doEmbed, in Float32Array form. */
  embed(values: string[], abortSignal?: AbortSignal): Promise<LlamaCppEmbedResult>;
  dispose(): Promise<void>;
};

const DEFAULT_EMBEDDING_CONTEXT = 2048;

/** Room for the begin/end tokens node-llama-cpp adds, and its `length < contextSize` rule. */
const SPECIAL_TOKENS = 3;

export function createLlamaCppEmbeddingModel(
  options: LlamaCppEmbeddingOptions,
): LlamaCppEmbeddingModel {
  let loading:
    Promise<{ model: LlamaModel; context: LlamaEmbeddingContext; contextSize: number }> | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  const load = () =>
    (loading ??= (async () => {
      const gpu = options.gpu ?? 'auto';
      const llama = await getSharedLlama(gpu);
      const model = await llama.loadModel({
        modelPath: options.modelPath,
        ...(gpu === false ? { gpuLayers: 0 } : {}),
      });
      const contextSize = Math.min(
        options.contextSize ?? DEFAULT_EMBEDDING_CONTEXT,
        model.trainContextSize,
      );
      const context = await model.createEmbeddingContext({
        contextSize,
        // the whole text in one batch: encoder models (BERT) cannot split one input
        batchSize: contextSize,
        threads: options.threads ?? Math.max(1, llama.cpuMathCores),
      });
      return { model, context, contextSize };
    })());

  const embed = async (values: string[], abortSignal?: AbortSignal) => {
    abortSignal?.throwIfAborted();
    const { model, context, contextSize } = await load();
    const run = queue.then(async (): Promise<LlamaCppEmbedResult> => {
      const embeddings: Float32Array[] = [];
      let tokens = 0;
      let truncated = 0;
      const limit = Math.max(1, contextSize - SPECIAL_TOKENS);
      for (const value of values) {
        abortSignal?.throwIfAborted();
        let input = model.tokenize(value);
        if (input.length > limit) {
          input = input.slice(0, limit);
          truncated++;
        }
        tokens += input.length;
        if (input.length === 0) {
          embeddings.push(new Float32Array(model.embeddingVectorSize));
          continue;
        }
        const { vector } = await context.getEmbeddingFor(input);
        embeddings.push(Float32Array.from(vector));
      }
      return { embeddings, tokens, warnings: truncationWarnings(truncated, contextSize) };
    });
    queue = run.catch(() => {});
    return run;
  };

  return {
    specificationVersion: 'v3',
    provider: 'llama-cpp',
    modelId: options.modelId ?? basename(options.modelPath).replace(/\.gguf$/i, ''),
    maxEmbeddingsPerCall: options.maxEmbeddingsPerCall ?? 64,
    supportsParallelCalls: false,
    embed,
    async doEmbed({ values, abortSignal }): Promise<EmbeddingModelV3Result> {
      const result = await embed(values, abortSignal);
      return {
        embeddings: result.embeddings.map((e) => Array.from(e)),
        usage: { tokens: result.tokens },
        warnings: result.warnings,
      };
    },
    async dispose() {
      if (!loading) return;
      const pending = loading;
      loading = undefined;
      const { model, context } = await pending;
      await context.dispose();
      await model.dispose();
    },
  };
}

function truncationWarnings(truncated: number, contextSize: number): SharedV3Warning[] {
  if (truncated === 0) return [];
  return [
    {
      type: 'other',
      message: `${truncated} text(s) were longer than the embedding context (${contextSize} tokens) and were cut to it`,
    },
  ];
}
