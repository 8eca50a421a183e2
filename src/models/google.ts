import { createGoogleGenerativeAI } from '@ai-sdk/google';
import type {
  LanguageModelV3,
  LanguageModelV3StreamPart,
  SharedV3ProviderOptions,
} from '@ai-sdk/provider';
import { z } from 'zod';
import { httpBackendEntryFields, type BackendFactory } from './types.js';

export const googleEntrySchema = z.strictObject({
  ...httpBackendEntryFields,
  // api_key is sent as `x-goog-api-key`; without it the provider reads GOOGLE_GENERATIVE_AI_API_KEY.
  backend: z.literal('google'),
  base_url: z.url().default('https://generativelanguage.googleapis.com/v1beta'),
  /**
   * How `thinking_level` is sent: `level` (`thinkingLevel`, Gemini 3 and later), `budget`
   * (`thinkingBudget`, Gemini 2.5) or `none` (models without thinking: no `thinkingConfig`).
   * Derived from the model id when absent.
   */
  thinking: z.enum(['level', 'budget', 'none']).optional(),
});

/** `thinkingBudget` per `thinking_level` for Gemini 2.5 models. */
export const GOOGLE_THINKING_BUDGETS: Record<string, number> = {
  minimal: 512,
  low: 2048,
  medium: 8192,
  high: 24576,
};

function thinkingStyle(model: string): 'level' | 'budget' | 'none' {
  if (/(^|\/)gemini-2\.5(?:[.-]|$)/i.test(model)) return 'budget';
  if (/(^|\/)(gemini-(1|2)(?:[.-]|$)|gemini-pro|gemma-)/i.test(model)) return 'none';
  return 'level';
}

/** The Gemini API (generateContent) as an upstream, through the AI SDK's Google provider. */
export const createGoogleBackend: BackendFactory = (entry, env) => {
  const config = googleEntrySchema.parse(entry);
  const provider = createGoogleGenerativeAI({
    baseURL: config.base_url,
    apiKey: config.api_key,
    headers: config.headers,
    fetch: env.fetch,
  });
  const style = config.thinking ?? thinkingStyle(config.model);
  return {
    backend: 'google',
    model: withOrderedReasoning(provider.chat(config.model)),
    inputModalities: new Set(
      config.input_modalities ?? ['text', 'image', 'audio', 'video', 'document'],
    ),
    providerOptions: ({ thinkingLevel }): SharedV3ProviderOptions => {
      if (style === 'none') return {};
      // Thought summaries are asked for always; `thinking_summaries: none` is applied by the engine.
      const thinkingConfig: Record<string, string | number | boolean> = { includeThoughts: true };
      if (thinkingLevel && style === 'level') thinkingConfig.thinkingLevel = thinkingLevel;
      const budget = thinkingLevel ? GOOGLE_THINKING_BUDGETS[thinkingLevel] : undefined;
      if (budget !== undefined && style === 'budget') thinkingConfig.thinkingBudget = budget;
      return { google: { thinkingConfig } };
    },
  };
};

/**
 * The Google provider closes a reasoning block only when text follows it or at the end of the
 * stream, so thought → function call arrives as reasoning-start, reasoning-delta…,
 * tool-input-start…, tool-call, reasoning-end. Steps are sequential (a thought step is closed,
 * with its signature, on reasoning-end), so this wrapper moves the reasoning-end in front of the
 * first part of another kind.
 */
function withOrderedReasoning(model: LanguageModelV3): LanguageModelV3 {
  return {
    specificationVersion: 'v3',
    provider: model.provider,
    modelId: model.modelId,
    get supportedUrls() {
      return model.supportedUrls;
    },
    doGenerate: (options) => model.doGenerate(options),
    doStream: async (options) => {
      const result = await model.doStream(options);
      const open = new Set<string>();
      const closeOpen = (
        controller: TransformStreamDefaultController<LanguageModelV3StreamPart>,
      ) => {
        for (const id of open) controller.enqueue({ type: 'reasoning-end', id });
        open.clear();
      };
      const stream = result.stream.pipeThrough(
        new TransformStream<LanguageModelV3StreamPart, LanguageModelV3StreamPart>({
          transform(part, controller) {
            switch (part.type) {
              case 'reasoning-start':
                open.add(part.id);
                break;
              case 'reasoning-delta':
                break;
              case 'reasoning-end':
                if (!open.delete(part.id)) return; // already closed here
                break;
              case 'tool-input-start':
              case 'tool-call':
              case 'text-start':
              case 'text-delta':
              case 'file':
                closeOpen(controller);
                break;
              default:
                break;
            }
            controller.enqueue(part);
          },
        }),
      );
      return { ...result, stream };
    },
  };
}
