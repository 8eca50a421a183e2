import { z } from 'zod';

/**
 * Request schemas of the Interactions API. Objects are strict: an unknown field is an error that
 * names the field. Union members (steps, content, tools) are chosen by `type` first, so an error
 * names the exact path (`input[2].call_id`) instead of "no union member matched".
 */

const finite = () => z.number().refine(Number.isFinite, 'must be a finite number');

export const CONTENT_TYPES = ['text', 'image', 'audio', 'document', 'video'] as const;
export type ContentType = (typeof CONTENT_TYPES)[number];

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

const annotation = z.looseObject({ type: z.string() });

const textContent = z.strictObject({
  type: z.literal('text'),
  text: z.string(),
  annotations: z.array(annotation).optional(),
});

const mediaFields = {
  data: z.string().regex(BASE64, 'must be base64').optional(),
  uri: z.string().min(1).optional(),
  mime_type: z.string().min(1).optional(),
};

const mediaContent = {
  image: z.strictObject({
    type: z.literal('image'),
    ...mediaFields,
    resolution: z.enum(['low', 'medium', 'high', 'ultra_high']).optional(),
  }),
  audio: z.strictObject({
    type: z.literal('audio'),
    ...mediaFields,
    sample_rate: z.number().int().positive().optional(),
    channels: z.number().int().positive().optional(),
  }),
  document: z.strictObject({ type: z.literal('document'), ...mediaFields }),
  video: z.strictObject({
    type: z.literal('video'),
    ...mediaFields,
    resolution: z.string().optional(),
    name: z.string().optional(),
    processing: z.union([z.string(), z.looseObject({ type: z.string() })]).optional(),
  }),
};

export const contentSchemas: Record<ContentType, z.ZodType> = {
  text: textContent,
  ...mediaContent,
};

export const STEP_TYPES = [
  'user_input',
  'model_output',
  'thought',
  'function_call',
  'function_result',
  'code_execution_call',
  'code_execution_result',
  'google_search_call',
  'google_search_result',
  'url_context_call',
  'url_context_result',
  'file_search_call',
  'file_search_result',
  'google_maps_call',
  'google_maps_result',
  'mcp_server_tool_call',
  'mcp_server_tool_result',
  'retrieval_call',
  'retrieval_result',
  'processing_call',
  'processing_result',
] as const;
export type InputStepType = (typeof STEP_TYPES)[number];

/** Content lists are validated item by item (see validate.ts), so here they are plain arrays. */
const contentList = z.array(z.unknown());

const builtInCall = z.looseObject({
  type: z.string(),
  id: z.string().min(1),
  signature: z.string().optional(),
});
const builtInResult = z.looseObject({
  type: z.string(),
  call_id: z.string().min(1),
  is_error: z.boolean().optional(),
  signature: z.string().optional(),
});

export const stepSchemas: Record<InputStepType, z.ZodType> = {
  user_input: z.strictObject({ type: z.literal('user_input'), content: contentList.optional() }),
  model_output: z.strictObject({
    type: z.literal('model_output'),
    content: contentList.optional(),
    error: z.looseObject({}).optional(),
  }),
  thought: z.strictObject({
    type: z.literal('thought'),
    signature: z.string().optional(),
    summary: contentList.optional(),
  }),
  function_call: z.strictObject({
    type: z.literal('function_call'),
    id: z.string().min(1),
    name: z.string().min(1),
    arguments: z.record(z.string(), z.unknown()),
    signature: z.string().optional(),
  }),
  function_result: z.strictObject({
    type: z.literal('function_result'),
    call_id: z.string().min(1),
    result: z.union([z.string(), z.array(z.unknown()), z.record(z.string(), z.unknown())], {
      error: 'must be a string, an object or a list of content items',
    }),
    name: z.string().optional(),
    is_error: z.boolean().optional(),
    signature: z.string().optional(),
  }),
  code_execution_call: builtInCall,
  code_execution_result: builtInResult,
  google_search_call: builtInCall,
  google_search_result: builtInResult,
  url_context_call: builtInCall,
  url_context_result: builtInResult,
  file_search_call: builtInCall,
  file_search_result: builtInResult,
  google_maps_call: builtInCall,
  google_maps_result: builtInResult,
  mcp_server_tool_call: builtInCall.extend({ name: z.string(), server_name: z.string() }),
  mcp_server_tool_result: builtInResult,
  retrieval_call: builtInCall,
  retrieval_result: builtInResult,
  processing_call: builtInCall,
  processing_result: builtInResult,
};

export const FUNCTION_NAME = /^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$/;

export const BUILT_IN_TOOL_TYPES = [
  'google_search',
  'code_execution',
  'url_context',
  'file_search',
  'google_maps',
  'mcp_server',
  'computer_use',
  'retrieval',
] as const;
export type BuiltInToolType = (typeof BUILT_IN_TOOL_TYPES)[number];

export const functionToolSchema = z.strictObject({
  type: z.literal('function'),
  name: z.string({ error: 'required: a function needs a name' }).regex(FUNCTION_NAME, {
    error: 'must match ^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$',
  }),
  description: z.string().optional(),
  parameters: z
    .looseObject({ type: z.string().optional() })
    .refine((p) => p.type === undefined || p.type === 'object', {
      error: "must be a JSON Schema with type 'object'",
    })
    .optional(),
});
export type FunctionTool = z.infer<typeof functionToolSchema>;

export const THINKING_LEVELS = ['minimal', 'low', 'medium', 'high'] as const;
const toolChoiceMode = z.enum(['auto', 'any', 'none', 'validated']);

/**
 * `generation_config.thinking_summaries` when the request has none: Google returns only the final
 * output by default and shows thought summaries when asked with `auto` (its thinking guide; its
 * recorded answers carry thought steps with a signature and no summary). Spec Q-8.
 */
export const THINKING_SUMMARIES_DEFAULT = 'none';

export const generationConfigSchema = z.strictObject({
  max_output_tokens: z.number().int().min(1).optional(),
  seed: z.number().int().optional(),
  stop_sequences: z.array(z.string().min(1)).max(16).optional(),
  temperature: finite().min(0).max(2).optional(),
  top_p: finite().min(0).max(1).optional(),
  /** Not in the SDK's type; accepted as an extension for backends that sample with top-k. */
  top_k: z.number().int().min(1).optional(),
  thinking_level: z.enum(THINKING_LEVELS).optional(),
  thinking_summaries: z.enum(['auto', 'none']).optional(),
  tool_choice: z
    .union([
      toolChoiceMode,
      z.strictObject({
        allowed_tools: z.strictObject({
          mode: toolChoiceMode.optional(),
          tools: z.array(z.string()).optional(),
        }),
      }),
    ])
    .optional(),
  speech_config: z.unknown().optional(),
  transcription_config: z.looseObject({}).optional(),
  video_config: z.looseObject({}).optional(),
  image_config: z.looseObject({}).optional(),
});
export type GenerationConfig = z.infer<typeof generationConfigSchema>;

const LABEL = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
export const LABEL_KEY_RULE =
  'label keys: lowercase letters, digits, _ and -, starting with a letter, at most 63 characters';

/**
 * Names stored in plain text columns (`model`, `agent`): PostgreSQL text cannot hold NUL, and
 * control characters or unpaired surrogates are never part of a real name.
 */
const PLAIN_TEXT = /^[^\p{Cc}\p{Cs}]*$/u;
const storedName = () =>
  z
    .string()
    .min(1)
    .max(256)
    .regex(PLAIN_TEXT, { error: 'must not contain control characters or unpaired surrogates' });

/** Interaction ids are URL-path safe (the same rule as ids in the path). */
export const INTERACTION_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** The top-level create body; `input`, `tools` and `response_format` are checked in validate.ts. */
export const createBodySchema = z.strictObject({
  model: storedName().optional(),
  agent: storedName().optional(),
  input: z.unknown().optional(),
  system_instruction: z.string().optional(),
  tools: z.array(z.unknown()).optional(),
  response_format: z.unknown().optional(),
  generation_config: generationConfigSchema.optional(),
  agent_config: z.looseObject({ type: z.string() }).optional(),
  stream: z.boolean().optional(),
  store: z.boolean().optional(),
  background: z.boolean().optional(),
  previous_interaction_id: z
    .string()
    .regex(INTERACTION_ID, { error: 'not a valid interaction id' })
    .optional(),
  continuation_token: z.string().min(1).optional(),
  environment: z.union([z.string(), z.looseObject({})]).optional(),
  labels: z
    .record(
      // zod skips a `__proto__` key here; validate.ts rejects it with the same rule.
      z.string().regex(LABEL, { error: LABEL_KEY_RULE }),
      z.string().regex(LABEL_VALUE, {
        error: 'label values: lowercase letters, digits, _ and -, at most 63 characters',
      }),
    )
    .optional(),
  safety_settings: z
    .array(
      z.strictObject({
        type: z.string().min(1),
        threshold: z.string().min(1),
        method: z.string().optional(),
      }),
    )
    .optional(),
  service_tier: z.enum(['flex', 'standard', 'priority', 'deferred']).optional(),
  webhook_config: z
    .strictObject({
      uris: z.array(z.url()).optional(),
      user_metadata: z.looseObject({}).optional(),
    })
    .optional(),
  response_mime_type: z.string().optional(),
  response_modalities: z.array(z.enum(['text', 'image', 'audio', 'video', 'document'])).optional(),
  cached_content: z.string().optional(),
});
export type CreateBody = z.infer<typeof createBodySchema>;

export const RESPONSE_FORMAT_TYPES = ['text', 'image', 'audio', 'video'] as const;

export const textResponseFormatSchema = z.strictObject({
  type: z.literal('text'),
  mime_type: z.enum(['text/plain', 'application/json']).optional(),
  schema: z.looseObject({}).optional(),
});
