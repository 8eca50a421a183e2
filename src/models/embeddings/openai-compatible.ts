import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { z } from 'zod';
import { prefixesOf } from './prefixes.js';
import {
  batchingOf,
  HTTP_BATCHING,
  httpEmbeddingEntryFields,
  type EmbeddingBackendFactory,
} from './types.js';

export const openAICompatibleEmbeddingEntrySchema = z.strictObject({
  ...httpEmbeddingEntryFields,
  backend: z.literal('openai-compatible'),
  /** http(s) only: `localhost:11434/v1` would otherwise pass as a URL of scheme `localhost:`. */
  base_url: z.url({ protocol: /^https?$/ }),
});

/** Any OpenAI-style `/embeddings` server: OpenAI, Ollama, vLLM, llama.cpp server, LM Studio, TEI, … */
export const createOpenAICompatibleEmbeddingBackend: EmbeddingBackendFactory = (entry, env) => {
  const config = openAICompatibleEmbeddingEntrySchema.parse(entry);
  const provider = createOpenAICompatible({
    name: 'upstream',
    baseURL: config.base_url,
    apiKey: config.api_key,
    headers: config.headers,
    fetch: env.fetch,
  });
  const prefixes = prefixesOf(config.model, config);
  const providerOptions =
    config.dimensions === undefined
      ? undefined
      : { openaiCompatible: { dimensions: config.dimensions } };
  return {
    backend: 'openai-compatible',
    model: provider.embeddingModel(config.model),
    ...(config.dimensions !== undefined ? { dimensions: config.dimensions } : {}),
    request: (kind) => ({
      prefix: prefixes[kind],
      ...(providerOptions ? { providerOptions } : {}),
    }),
    batching: batchingOf(config, HTTP_BATCHING),
  };
};
