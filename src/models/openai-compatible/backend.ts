import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { z } from 'zod';
import { upstreamTransport } from '../../net/upstream-fetch.js';
import { httpBackendEntryFields, type BackendFactory } from '../types.js';
import { DirectOpenAICompatibleChatModel } from './chat-model.js';

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
  // The server's own upstream fetch: streamed calls go straight to undici (chat-model.ts); an
  // injected fetch (a proxy, a test's) is the provider's to call.
  const transport = upstreamTransport(env.fetch);
  const chatModel = provider.chatModel(config.model);
  return {
    backend: 'openai-compatible',
    model: transport
      ? new DirectOpenAICompatibleChatModel(chatModel, transport.dispatcher)
      : chatModel,
    inputModalities: new Set(config.input_modalities ?? ['text', 'image']),
    providerOptions: ({ thinkingLevel }): Record<string, Record<string, string>> => {
      if (!thinkingLevel) return {};
      // OpenAI-style servers know low/medium/high; 'minimal' maps to the lowest.
      const reasoningEffort = thinkingLevel === 'minimal' ? 'low' : thinkingLevel;
      return { openaiCompatible: { reasoningEffort } };
    },
  };
};
