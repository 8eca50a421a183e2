/**
 * Embeds any number of texts with one configured model: batches, a bounded number of calls in
 * flight, retries of transient upstream failures, progress, unit-length Float32Array vectors.
 *
 * Why not the AI SDK's `embedMany` (package `ai`): it batches by count only (no byte budget, and
 * a document's chunks can be long), reports no progress, returns number[][], and would add the
 * whole `ai` package for one function. Its retry policy is reused (provider-utils).
 */
import { APICallError, type EmbeddingModelV3 } from '@ai-sdk/provider';
import {
  EXPERIMENTAL_EMBEDDING_MODEL_MAX_INPUT_BYTES_PER_CALL as MAX_INPUT_BYTES_PER_CALL,
  retryWithExponentialBackoff,
} from '@ai-sdk/provider-utils';
import { LocalModelError } from '../errors.js';
import type { EmbeddingKind, ResolvedEmbeddingModel } from './types.js';

export interface EmbedAllOptions {
  kind: EmbeddingKind;
  signal?: AbortSignal;
  /** After each finished call: texts embedded so far, of `total`. */
  onProgress?: (done: number, total: number) => void;
  /** Retries of a retryable upstream failure (429, 5xx), per call; default 2. */
  maxRetries?: number;
  /** Wait before the first retry, doubled for each next one; default 1000 ms. */
  retryDelayMs?: number;
}

const BRAND = Symbol.for('open-interactions.embedding-error');

/** The model answered, but not with what was asked for (count or length of vectors). */
export class EmbeddingError extends Error {
  readonly [BRAND] = true;
  override readonly name = 'EmbeddingError';

  static isInstance(value: unknown): value is EmbeddingError {
    return typeof value === 'object' && value !== null && BRAND in value;
  }
}

/** Consecutive runs of texts, each within `maxTexts` and `maxBytes` (a longer text goes alone). */
export function planBatches(texts: string[], maxTexts: number, maxBytes: number): number[][] {
  const batches: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  texts.forEach((text, i) => {
    const size = Buffer.byteLength(text, 'utf8');
    if (current.length > 0 && (current.length >= maxTexts || bytes + size > maxBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(i);
    bytes += size;
  });
  if (current.length > 0) batches.push(current);
  return batches;
}

/** The vector scaled to unit length (a zero vector stays zero): dot product = cosine. */
function normalized(values: number[]): Float32Array {
  const vector = Float32Array.from(values);
  let sum = 0;
  for (const v of vector) sum += v * v;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < vector.length; i++) vector[i]! /= norm;
  return vector;
}

function describe(model: EmbeddingModelV3): string {
  return `embedding model ${model.provider}/${model.modelId}`;
}

/**
 * Embeds `texts` in order. Each text gets the model's prefix for `kind` (and its provider
 * options, e.g. a Gemini task type). Every vector has the same length (`target.dimensions` when
 * configured) and unit length. The first failure aborts the calls still running and is thrown.
 */
export async function embedAll(
  target: Pick<ResolvedEmbeddingModel, 'model' | 'request' | 'batching' | 'dimensions'>,
  texts: string[],
  options: EmbedAllOptions,
): Promise<Float32Array[]> {
  const { model } = target;
  options.signal?.throwIfAborted();
  if (texts.length === 0) return [];
  const { prefix, providerOptions } = target.request(options.kind);
  const values = prefix === '' ? texts : texts.map((t) => prefix + t);

  const modelMaxTexts = (await model.maxEmbeddingsPerCall) ?? Infinity;
  const modelMaxBytes =
    (model as { [MAX_INPUT_BYTES_PER_CALL]?: number })[MAX_INPUT_BYTES_PER_CALL] ?? Infinity;
  const batches = planBatches(
    values,
    Math.max(1, Math.min(target.batching.maxTexts, modelMaxTexts)),
    Math.min(target.batching.maxBytes, modelMaxBytes),
  );
  const parallel = (await model.supportsParallelCalls)
    ? Math.max(1, target.batching.maxParallelCalls)
    : 1;

  // One failure stops the others; the caller's signal stops them all.
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const retry = retryWithExponentialBackoff({
    maxRetries: options.maxRetries ?? 2,
    initialDelayInMs: options.retryDelayMs ?? 1000,
    abortSignal: signal,
    // a local model's refusals (disposed) are not an upstream's passing trouble
    shouldRetry: (error) =>
      APICallError.isInstance(error) && error.isRetryable && !LocalModelError.isInstance(error),
    // the upstream's own error, not a summary of the attempts
    createRetryError: ({ errors }) => errors[errors.length - 1],
  });

  const results = new Array<Float32Array>(texts.length);
  let dimensions = target.dimensions;
  let done = 0;
  let next = 0;
  const runner = async () => {
    while (next < batches.length) {
      const batch = batches[next++]!;
      const { embeddings } = await retry(() =>
        model.doEmbed({
          values: batch.map((i) => values[i]!),
          abortSignal: signal,
          ...(providerOptions ? { providerOptions } : {}),
        }),
      );
      if (embeddings.length !== batch.length) {
        throw new EmbeddingError(
          `${describe(model)} returned ${embeddings.length} vectors for ${batch.length} texts`,
        );
      }
      embeddings.forEach((embedding, j) => {
        if (embedding.length === 0)
          throw new EmbeddingError(`${describe(model)} returned an empty vector`);
        dimensions ??= embedding.length;
        if (embedding.length !== dimensions) {
          throw new EmbeddingError(
            `${describe(model)} returned a vector of ${embedding.length} dimensions where ` +
              `${dimensions} were expected`,
          );
        }
        results[batch[j]!] = normalized(embedding);
      });
      done += batch.length;
      options.onProgress?.(done, texts.length);
    }
  };
  try {
    await Promise.all(
      Array.from({ length: Math.min(parallel, batches.length) }, () =>
        runner().catch((err: unknown) => {
          stop.abort(err);
          throw err;
        }),
      ),
    );
  } catch (err) {
    // The caller's abort wins over the errors it caused in the calls.
    options.signal?.throwIfAborted();
    throw err;
  }
  return results;
}
