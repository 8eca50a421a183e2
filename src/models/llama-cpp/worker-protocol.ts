/**
 * Messages between a llama-cpp model and the worker thread that runs it (see worker-model.ts).
 * Everything here crosses `postMessage`, so it is structured-cloneable data only.
 */
import type { LanguageModelV3CallOptions, LanguageModelV3StreamPart } from '@ai-sdk/provider';
import type { LlamaCppModelOptions, LlamaCppStats } from './model.js';

/** Model options that can cross a thread boundary (a chat wrapper is a class instance). */
export type WorkerModelOptions = Omit<LlamaCppModelOptions, 'chatWrapper'> & {
  /**
   * Generated text is handed to the server at most once per this many milliseconds (default
   * 100; 0 = every token). The first delta of a block and every other part leave at once, so
   * time to first token does not change and a slow model still streams token by token.
   */
  streamBatchMs?: number;
};

/** Call options without the abort signal, which travels as an `abort` message. */
export type WorkerCallOptions = Omit<LanguageModelV3CallOptions, 'abortSignal'>;

export type ToWorker =
  | { type: 'stream'; id: number; call: WorkerCallOptions }
  | { type: 'abort'; id: number }
  | { type: 'dispose' };

export type FromWorker =
  | { type: 'parts'; id: number; parts: LanguageModelV3StreamPart[] }
  | { type: 'end'; id: number }
  | { type: 'error'; id: number; error: SerializedError }
  | { type: 'stats'; stats: LlamaCppStats }
  | { type: 'disposed' };

/** An error as data: APICallError's fields survive, so the API still answers 503/400. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  statusCode?: number;
  isRetryable?: boolean;
  responseHeaders?: Record<string, string>;
  url?: string;
  /** A `LocalModelError` (its message is ours and may reach clients). */
  local?: boolean;
}
