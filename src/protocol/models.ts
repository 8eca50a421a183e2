/**
 * Wire types of the Models API (`GET /{v}/models`, `GET /{v}/models/{name}`): Google's `Model`
 * resource in camelCase (proto3 JSON), as `@google/genai` reads it, plus `inputModalities`
 * (the content types this server accepts for the model; Google's resource has no such field).
 */
import { z } from 'zod';

export const modelResourceSchema = z.object({
  /** `models/{name}`; a configured glob is shown as configured (`models/gemini-*`). */
  name: z.string(),
  /** The configured name without `models/` (for an alias: the alias). */
  baseModelId: z.string(),
  displayName: z.string().optional(),
  description: z.string().optional(),
  inputTokenLimit: z.number().int().optional(),
  outputTokenLimit: z.number().int().optional(),
  /** Methods of this API the model serves (the SDK calls them `supportedActions`). */
  supportedGenerationMethods: z.array(z.string()),
  inputModalities: z.array(z.string()),
});

export const listModelsResponseSchema = z.object({
  models: z.array(modelResourceSchema).optional(),
  nextPageToken: z.string().optional(),
});

export type ModelResource = z.infer<typeof modelResourceSchema>;
export type ListModelsResponse = z.infer<typeof listModelsResponseSchema>;
