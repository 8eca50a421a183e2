import type { EmbeddingModelV3, SharedV3ProviderOptions } from '@ai-sdk/provider';
import { z } from 'zod';
import { httpBackendEntryFields, type BackendEnvironment, type ModelEntry } from '../types.js';

/**
 * What a text is for. Retrieval models embed a question and the passages that answer it
 * differently: a prefix (`search_query: ` / `search_document: ` for nomic-embed) or a task type
 * (Gemini's `RETRIEVAL_QUERY` / `RETRIEVAL_DOCUMENT`).
 */
export type EmbeddingKind = 'document' | 'query';

/** How the texts of one kind are sent to the model. */
export interface EmbeddingRequest {
  /** Put in front of every text (`''` for none). */
  prefix: string;
  providerOptions?: SharedV3ProviderOptions;
}

/** How `embedAll` splits and schedules the calls of one model. */
export interface EmbeddingBatching {
  /** Texts per call (also bounded by the model's `maxEmbeddingsPerCall`). */
  maxTexts: number;
  /** UTF-8 bytes of text per call (a longer single text still goes, alone). */
  maxBytes: number;
  /** Calls in flight at once (1 when the model does not support parallel calls). */
  maxParallelCalls: number;
}

/** A configured embedding model, as the registry hands it out. */
export interface ResolvedEmbeddingModel {
  /**
   * The name a store remembers and shows as `embeddingModel`: `models/<name>` with the name the
   * client asked for, or the default entry's own name (see registry.ts).
   */
  publicName: string;
  /** The configured entry's `name` (a glob, maybe) that matched. */
  entryName: string;
  backend: string;
  model: EmbeddingModelV3;
  /** Known from the configuration (`dimensions:`); otherwise the first vectors tell. */
  dimensions?: number;
  request(kind: EmbeddingKind): EmbeddingRequest;
  batching: EmbeddingBatching;
}

/** What a backend factory builds from one entry. */
export interface EmbeddingBackend extends Omit<ResolvedEmbeddingModel, 'publicName' | 'entryName'> {
  /** Frees what the backend holds (a worker thread and native memory); called when the server stops. */
  dispose?(): Promise<void>;
}

export type EmbeddingBackendFactory = (
  entry: ModelEntry,
  env: BackendEnvironment,
) => EmbeddingBackend;

/** Entry fields every embedding backend shares (each backend adds its own). */
export const embeddingEntryFields = {
  name: z.string().min(1),
  /** Put in front of queries / documents; default: the prefixes the model is known to need (prefixes.ts). */
  query_prefix: z.string().optional(),
  document_prefix: z.string().optional(),
  /** Texts per call. */
  batch_size: z.number().int().min(1).max(2048).optional(),
  /** UTF-8 bytes of text per call. */
  max_batch_bytes: z.number().int().min(1024).optional(),
  /** Calls in flight at once, for backends that take parallel calls. */
  max_parallel_calls: z.number().int().min(1).max(32).optional(),
};

/** The fields of an HTTP embedding upstream: those of `models:` entries, less input modalities. */
const { input_modalities: _modalities, ...httpFields } = httpBackendEntryFields;
export const httpEmbeddingEntryFields = {
  ...httpFields,
  ...embeddingEntryFields,
  /** Vector length asked of the upstream (OpenAI `dimensions`, Gemini `outputDimensionality`). */
  dimensions: z.number().int().min(1).max(65536).optional(),
};

/** Defaults for HTTP upstreams: a few calls in flight, each well under the usual request limits. */
export const HTTP_BATCHING: EmbeddingBatching = {
  maxTexts: 64,
  maxBytes: 512 * 1024,
  maxParallelCalls: 2,
};

/** The batching of an entry: its settings over the backend's defaults. */
export function batchingOf(
  config: { batch_size?: number; max_batch_bytes?: number; max_parallel_calls?: number },
  defaults: EmbeddingBatching,
): EmbeddingBatching {
  return {
    maxTexts: config.batch_size ?? defaults.maxTexts,
    maxBytes: config.max_batch_bytes ?? defaults.maxBytes,
    maxParallelCalls: config.max_parallel_calls ?? defaults.maxParallelCalls,
  };
}
