import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { z } from 'zod';
import { httpBackendEntryFields, type BackendFactory } from './types.js';

export const openAICompatibleEntrySchema = z.strictObject({
  ...httpBackendEntryFields,
  backend: z.literal('openai-compatible'),
  base_url: z.url(),
  /** Whether the server enforces JSON schemas itself (vLLM, llama.cpp server and OpenAI do). */
  structured_outputs: z.boolean().optional(),
});

/** Any OpenAI-compatible chat-completions server: vLLM, Ollama, llama.cpp server, LM Studio, … */
export const createOpenAICompatibleBackend: BackendFactory = (entry, env) => {
  const config = openAICompatibleEntrySchema.parse(entry);
  const provider = createOpenAICompatible({
    name: 'upstream',
    baseURL: config.base_url,
    apiKey: config.api_key,
    headers: config.headers,
    includeUsage: true,
    supportsStructuredOutputs: config.structured_outputs ?? true,
    fetch: env.fetch,
  });
  return {
    backend: 'openai-compatible',
    model: provider.chatModel(config.model),
    inputModalities: new Set(config.input_modalities ?? ['text', 'image']),
    providerOptions: ({ thinkingLevel }): Record<string, Record<string, string>> => {
      if (!thinkingLevel) return {};
      // OpenAI-style servers know low/medium/high; 'minimal' maps to the lowest.
      const reasoningEffort = thinkingLevel === 'minimal' ? 'low' : thinkingLevel;
      return { openaiCompatible: { reasoningEffort } };
    },
  };
};
