import { createGoogleGenerativeAI } from '@ai-sdk/google';
import { z } from 'zod';
import {
  batchingOf,
  HTTP_BATCHING,
  httpEmbeddingEntryFields,
  type EmbeddingBackendFactory,
} from './types.js';

export const googleEmbeddingEntrySchema = z.strictObject({
  ...httpEmbeddingEntryFields,
  // api_key is sent as `x-goog-api-key`; without it the provider reads GOOGLE_GENERATIVE_AI_API_KEY.
  backend: z.literal('google'),
  base_url: z
    .url({ protocol: /^https?$/ })
    .default('https://generativelanguage.googleapis.com/v1beta'),
});

/**
 * Gemini embedding models (`gemini-embedding-001`, …) through the AI SDK's Google provider
 * (`batchEmbedContents`). Queries and documents are told apart by task type, not by prefix.
 */
export const createGoogleEmbeddingBackend: EmbeddingBackendFactory = (entry, env) => {
  const config = googleEmbeddingEntrySchema.parse(entry);
  const provider = createGoogleGenerativeAI({
    baseURL: config.base_url,
    apiKey: config.api_key,
    headers: config.headers,
    fetch: env.fetch,
  });
  // The provider builds `models/{id}` itself.
  const modelId = config.model.replace(/^models\//, '');
  const dimensions =
    config.dimensions === undefined ? {} : { outputDimensionality: config.dimensions };
  return {
    backend: 'google',
    model: provider.embeddingModel(modelId),
    ...(config.dimensions !== undefined ? { dimensions: config.dimensions } : {}),
    request: (kind) => ({
      prefix: (kind === 'query' ? config.query_prefix : config.document_prefix) ?? '',
      providerOptions: {
        google: {
          taskType: kind === 'query' ? 'RETRIEVAL_QUERY' : 'RETRIEVAL_DOCUMENT',
          ...dimensions,
        },
      },
    }),
    batching: batchingOf(config, HTTP_BATCHING),
  };
};
