/**
 * Messages between a llama-cpp embedding model and the worker thread that runs it
 * (llama-cpp-worker.ts). Everything here crosses `postMessage`: structured-cloneable data only.
 */
import type { SharedV3Warning } from '@ai-sdk/provider';
import type { LlamaCppEmbeddingOptions } from '../llama-cpp/embedding.js';
import type { SerializedError } from '../llama-cpp/worker-protocol.js';

export type EmbeddingWorkerOptions = LlamaCppEmbeddingOptions;

export type ToEmbeddingWorker =
  | { type: 'embed'; id: number; values: string[] }
  | { type: 'abort'; id: number }
  | { type: 'dispose' };

export type FromEmbeddingWorker =
  | {
      type: 'result';
      id: number;
      /** Their buffers are transferred, not copied. */
      embeddings: Float32Array[];
      tokens: number;
      warnings: SharedV3Warning[];
    }
  | { type: 'error'; id: number; error: SerializedError }
  | { type: 'disposed' };
