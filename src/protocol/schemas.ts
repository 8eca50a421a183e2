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

/** Any JSON value (tool arguments, results, free-form fields of tool steps). */
export const jsonValueSchema = z.json();

/** A citation over `[start_index, end_index)` of a text; the other fields depend on `type`. */
const annotation = z
  .object({
    type: z.string(),
    start_index: z.number().int().optional(),
    end_index: z.number().int().optional(),
  })
  .catchall(jsonValueSchema);

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

/** Content items of a request are validated one by one (see validate.ts): anything here. */
const requestContentItem = z.unknown();

/** One content item of a response (text, or media by `data` or `uri`). */
export const contentSchema = z.discriminatedUnion('type', [
  textContent,
  mediaContent.image,
  mediaContent.audio,
  mediaContent.document,
  mediaContent.video,
]);

const BUILT_IN_CALL_STEPS = [
  'code_execution_call',
  'google_search_call',
  'url_context_call',
  'file_search_call',
  'google_maps_call',
  'retrieval_call',
  'processing_call',
] as const;
const BUILT_IN_RESULT_STEPS = [
  'code_execution_result',
  'google_search_result',
  'url_context_result',
  'file_search_result',
  'google_maps_result',
  'mcp_server_tool_result',
  'retrieval_result',
  'processing_result',
] as const;

/** A built-in tool's call step: its id, and the tool's own fields (free-form JSON). */
const builtInCall = <T extends string>(type: T) =>
  z
    .object({ type: z.literal(type), id: z.string().min(1), signature: z.string().optional() })
    .catchall(jsonValueSchema);
/** A built-in tool's result step: the call it answers, and the tool's own fields. */
const builtInResult = <T extends string>(type: T) =>
  z
    .object({
      type: z.literal(type),
      call_id: z.string().min(1),
      is_error: z.boolean().optional(),
      signature: z.string().optional(),
    })
    .catchall(jsonValueSchema);

/**
 * The steps, once for requests and responses: `content` is the item of content lists (a
 * request's items are validated one by one for exact error paths; a response's are `Content`).
 */
function defineSteps<C extends z.ZodType>(content: C) {
  const list = z.array(content);
  const calls = Object.fromEntries(BUILT_IN_CALL_STEPS.map((t) => [t, builtInCall(t)])) as {
    [T in (typeof BUILT_IN_CALL_STEPS)[number]]: ReturnType<typeof builtInCall<T>>;
  };
  const results = Object.fromEntries(BUILT_IN_RESULT_STEPS.map((t) => [t, builtInResult(t)])) as {
    [T in (typeof BUILT_IN_RESULT_STEPS)[number]]: ReturnType<typeof builtInResult<T>>;
  };
  return {
    user_input: z.strictObject({ type: z.literal('user_input'), content: list.optional() }),
    model_output: z.strictObject({
      type: z.literal('model_output'),
      content: list.optional(),
      error: z
        .object({ code: z.number().optional(), message: z.string().optional() })
        .catchall(jsonValueSchema)
        .optional(),
    }),
    thought: z.strictObject({
      type: z.literal('thought'),
      signature: z.string().optional(),
      summary: list.optional(),
    }),
    function_call: z.strictObject({
      type: z.literal('function_call'),
      id: z.string().min(1),
      name: z.string().min(1),
      arguments: z.record(z.string(), jsonValueSchema),
      signature: z.string().optional(),
    }),
    function_result: z.strictObject({
      type: z.literal('function_result'),
      call_id: z.string().min(1),
      result: z.union([z.string(), list, z.record(z.string(), jsonValueSchema)], {
        error: 'must be a string, an object or a list of content items',
      }),
      name: z.string().optional(),
      is_error: z.boolean().optional(),
      signature: z.string().optional(),
    }),
    ...calls,
    ...results,
    mcp_server_tool_call: builtInCall('mcp_server_tool_call').extend({
      name: z.string(),
      server_name: z.string(),
    }),
  };
}

/** Request steps by type (validate.ts picks one by `type`, so errors name the exact field). */
export const stepSchemas: Record<InputStepType, z.ZodType> = defineSteps(requestContentItem);

const responseSteps = defineSteps(contentSchema);
/** A step as stored and returned. */
export const stepSchema = z.discriminatedUnion(
  'type',
  Object.values(responseSteps) as unknown as [
    (typeof responseSteps)[keyof typeof responseSteps],
    ...(typeof responseSteps)[keyof typeof responseSteps][],
  ],
);

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

// ---- Responses: the interaction resource and its events (types.ts infers the types from these).

export const INTERACTION_STATUSES = [
  'queued',
  'in_progress',
  'requires_action',
  'completed',
  'failed',
  'cancelled',
  'incomplete',
  'budget_exceeded',
  'requires_continuation',
] as const;
export const interactionStatusSchema = z.enum(INTERACTION_STATUSES);

const modalityTokens = z.array(z.object({ modality: z.string(), tokens: z.number().int() }));

export const usageSchema = z.object({
  total_input_tokens: z.number().int().optional(),
  total_output_tokens: z.number().int().optional(),
  total_thought_tokens: z.number().int().optional(),
  total_cached_tokens: z.number().int().optional(),
  total_tool_use_tokens: z.number().int().optional(),
  total_tokens: z.number().int().optional(),
  input_tokens_by_modality: modalityTokens.optional(),
  /** Sent by Google; this server does not count tool-use tokens by modality. */
  tool_use_tokens_by_modality: modalityTokens.optional(),
  grounding_tool_count: z.array(z.object({ type: z.string(), count: z.number().int() })).optional(),
});

export const interactionErrorSchema = z.object({
  code: z.string().optional(),
  message: z.string().optional(),
});

/** The fields of an interaction that lifecycle events carry. */
const interactionHeaderFields = {
  id: z.string(),
  object: z.literal('interaction'),
  status: interactionStatusSchema,
  model: z.string().optional(),
  agent: z.string().optional(),
  created: z.string().optional(),
  updated: z.string().optional(),
  service_tier: z.string().optional(),
  usage: usageSchema.optional(),
  previous_interaction_id: z.string().optional(),
};

/** The partial interaction of `interaction.created` / `interaction.completed`. */
export const eventInteractionSchema = z.object(interactionHeaderFields);

/**
 * The interaction resource (create, get). Further echoed request fields may follow. Google omits
 * `id` on an interaction created with `store: false` (recorded); this server always sends one.
 */
export const interactionSchema = z.looseObject({
  ...interactionHeaderFields,
  id: z.string().optional(),
  created: z.string(),
  updated: z.string(),
  steps: z.array(stepSchema),
  errors: z.array(interactionErrorSchema).optional(),
});

/** What a `step.delta` adds to the open step: `type` says which field it extends. */
export const deltaSchema = z.object({ type: z.string() }).catchall(jsonValueSchema);

/**
 * SSE payloads. This server always sends `event_id` (also as the SSE `id:`); the schema marks it
 * optional because Google's recorded streams carry it only as the SSE `id:` line.
 */
const eventId = z.string().optional();
export const interactionEventSchema = z.discriminatedUnion('event_type', [
  z.object({
    event_type: z.literal('interaction.created'),
    event_id: eventId,
    interaction: eventInteractionSchema,
  }),
  z.object({
    event_type: z.literal('interaction.status_update'),
    event_id: eventId,
    interaction_id: z.string(),
    status: interactionStatusSchema,
  }),
  z.object({
    event_type: z.literal('step.start'),
    event_id: eventId,
    index: z.number().int(),
    step: stepSchema,
  }),
  z.object({
    event_type: z.literal('step.delta'),
    event_id: eventId,
    index: z.number().int(),
    delta: deltaSchema,
  }),
  z.object({
    event_type: z.literal('step.stop'),
    event_id: eventId,
    index: z.number().int(),
    usage: usageSchema.optional(),
  }),
  z.object({
    event_type: z.literal('interaction.completed'),
    event_id: eventId,
    interaction: eventInteractionSchema,
  }),
  z.object({ event_type: z.literal('error'), event_id: eventId, error: interactionErrorSchema }),
]);

/** The error envelope of every non-2xx answer (Google's). */
export const errorEnvelopeSchema = z.object({
  // `code`: the HTTP status on RPC-shaped routes (Files, Models …), our error code elsewhere.
  error: z.object({
    code: z.union([z.number().int(), z.string()]),
    status: z.string(),
    message: z.string(),
  }),
});
