import { createAnthropic } from '@ai-sdk/anthropic';
import type {
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3Prompt,
  SharedV3ProviderOptions,
} from '@ai-sdk/provider';
import { z } from 'zod';
import { httpBackendEntryFields, type BackendFactory } from './types.js';

export const anthropicEntrySchema = z.strictObject({
  ...httpBackendEntryFields,
  // api_key is sent as `x-api-key`; without it the provider reads ANTHROPIC_API_KEY at call time.
  backend: z.literal('anthropic'),
  base_url: z.url().default('https://api.anthropic.com/v1'),
  /**
   * `max_tokens` when the request has no `max_output_tokens` (Anthropic requires one). Without
   * it the provider uses the model's maximum output (4096 for model ids it does not know).
   */
  max_output_tokens_default: z.number().int().positive().optional(),
});

/** Extended-thinking budgets per `thinking_level` (Anthropic's minimum budget is 1024). */
export const ANTHROPIC_THINKING_BUDGETS: Record<string, number> = {
  minimal: 1024,
  low: 2048,
  medium: 8192,
  high: 16384,
};

/** Anthropic's Messages API (Claude), through the AI SDK's Anthropic provider. */
export const createAnthropicBackend: BackendFactory = (entry, env) => {
  const config = anthropicEntrySchema.parse(entry);
  const provider = createAnthropic({
    baseURL: config.base_url,
    apiKey: config.api_key,
    headers: config.headers,
    fetch: env.fetch,
  });
  return {
    backend: 'anthropic',
    model: withCallDefaults(provider.messages(config.model), config.max_output_tokens_default),
    inputModalities: new Set(config.input_modalities ?? ['text', 'image', 'document']),
    providerOptions: ({ thinkingLevel }): SharedV3ProviderOptions => {
      const budgetTokens = thinkingLevel ? ANTHROPIC_THINKING_BUDGETS[thinkingLevel] : undefined;
      if (budgetTokens === undefined) return {};
      return { anthropic: { thinking: { type: 'enabled', budgetTokens } } };
    },
  };
};

/**
 * Wraps the provider's model to adjust each call:
 * - fills `maxOutputTokens` from `max_output_tokens_default` when the request has none;
 * - turns extended thinking off when the call continues a tool-use cycle whose thinking block
 *   cannot be replayed. Anthropic requires the thinking block (with its signature) that preceded
 *   the `tool_use` blocks to be sent back verbatim while thinking is enabled, and rejects the
 *   request with HTTP 400 otherwise. Thought steps made by this backend carry the signature
 *   (see engine/provider-signature.ts), so this only triggers for histories whose thinking came
 *   from elsewhere (another backend, or a client that dropped the thought steps); such a
 *   continuation runs without thinking instead of failing.
 */
function withCallDefaults(
  model: LanguageModelV3,
  maxOutputTokensDefault?: number,
): LanguageModelV3 {
  const adjust = (options: LanguageModelV3CallOptions): LanguageModelV3CallOptions => {
    let adjusted = options;
    if (adjusted.maxOutputTokens === undefined && maxOutputTokensDefault !== undefined) {
      adjusted = { ...adjusted, maxOutputTokens: maxOutputTokensDefault };
    }
    const anthropic = adjusted.providerOptions?.anthropic;
    if (anthropic?.thinking !== undefined && continuesUnsignedToolCycle(adjusted.prompt)) {
      const { thinking: _dropped, ...rest } = anthropic;
      adjusted = { ...adjusted, providerOptions: { ...adjusted.providerOptions, anthropic: rest } };
    }
    return adjusted;
  };
  return {
    specificationVersion: 'v3',
    provider: model.provider,
    modelId: model.modelId,
    get supportedUrls() {
      return model.supportedUrls;
    },
    doGenerate: (options) => model.doGenerate(adjust(options)),
    doStream: (options) => model.doStream(adjust(options)),
  };
}

/** Whether the messages after the last user message hold a tool call with no signed reasoning. */
function continuesUnsignedToolCycle(prompt: LanguageModelV3Prompt): boolean {
  let lastUser = -1;
  prompt.forEach((message, i) => {
    if (message.role === 'user') lastUser = i;
  });
  let toolCall = false;
  let signedReasoning = false;
  for (const message of prompt.slice(lastUser + 1)) {
    if (message.role !== 'assistant') continue;
    for (const part of message.content) {
      if (part.type === 'tool-call' && !part.providerExecuted) toolCall = true;
      const meta = part.providerOptions?.anthropic;
      if (part.type === 'reasoning' && (meta?.signature != null || meta?.redactedData != null)) {
        signedReasoning = true;
      }
    }
  }
  return toolCall && !signedReasoning;
}
