/**
 * Wire types of the Interactions API, revision 2026-05-20 ("steps").
 * Field names follow @google/genai's dist/genai.d.ts. These types describe what goes over the
 * wire; request validation lives in ./schemas.ts and produces these shapes.
 */

export const API_REVISION = '2026-05-20';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };
export type JsonObject = { [k: string]: JsonValue };

export type InteractionStatus =
  | 'queued'
  | 'in_progress'
  | 'requires_action'
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'incomplete'
  | 'budget_exceeded'
  | 'requires_continuation';

export const TERMINAL_STATUSES: ReadonlySet<InteractionStatus> = new Set([
  'requires_action',
  'completed',
  'failed',
  'cancelled',
  'incomplete',
  'budget_exceeded',
  'requires_continuation',
]);

export function isTerminalStatus(status: string): boolean {
  return TERMINAL_STATUSES.has(status as InteractionStatus);
}

export interface Annotation {
  type: string;
  start_index?: number;
  end_index?: number;
  [k: string]: JsonValue | undefined;
}

export interface TextContent {
  type: 'text';
  text: string;
  annotations?: Annotation[];
}

export interface MediaContent {
  type: 'image' | 'audio' | 'video' | 'document';
  data?: string;
  uri?: string;
  mime_type?: string;
  [k: string]: JsonValue | undefined;
}

export type Content = TextContent | MediaContent;

/** A step as stored and returned. `type` discriminates; tool steps carry free-form fields. */
export type Step =
  | { type: 'user_input'; content?: Content[] }
  | { type: 'model_output'; content?: Content[]; error?: { code?: number; message?: string } }
  | { type: 'thought'; signature?: string; summary?: Content[] }
  | { type: 'function_call'; id: string; name: string; arguments: JsonObject; signature?: string }
  | {
      type: 'function_result';
      call_id: string;
      result: JsonValue;
      name?: string;
      is_error?: boolean;
      signature?: string;
    }
  | ToolStep;

export type BuiltInStepType =
  | 'code_execution_call'
  | 'code_execution_result'
  | 'google_search_call'
  | 'google_search_result'
  | 'url_context_call'
  | 'url_context_result'
  | 'file_search_call'
  | 'file_search_result'
  | 'google_maps_call'
  | 'google_maps_result'
  | 'mcp_server_tool_call'
  | 'mcp_server_tool_result'
  | 'retrieval_call'
  | 'retrieval_result'
  | 'processing_call'
  | 'processing_result';

/** Built-in tool call/result steps (`google_search_call`, `code_execution_result`, …). */
export interface ToolStep {
  type: BuiltInStepType;
  id?: string;
  call_id?: string;
  [k: string]: JsonValue | undefined;
}

export type StepType = Step['type'];

export interface Usage {
  total_input_tokens?: number;
  total_output_tokens?: number;
  total_thought_tokens?: number;
  total_cached_tokens?: number;
  total_tool_use_tokens?: number;
  total_tokens?: number;
  input_tokens_by_modality?: { modality: string; tokens: number }[];
  grounding_tool_count?: { type: string; count: number }[];
}

export interface InteractionError {
  code?: string;
  message?: string;
}

export interface Interaction {
  id: string;
  object: 'interaction';
  model?: string;
  agent?: string;
  status: InteractionStatus;
  created: string;
  updated: string;
  steps: Step[];
  usage?: Usage;
  previous_interaction_id?: string;
  service_tier?: string;
  errors?: InteractionError[];
  [k: string]: unknown;
}

/** Partial interaction carried by lifecycle events. */
export interface EventInteraction {
  id: string;
  object: 'interaction';
  status: InteractionStatus;
  model?: string;
  agent?: string;
  created?: string;
  updated?: string;
  service_tier?: string;
  usage?: Usage;
  previous_interaction_id?: string;
}

export type Delta = { type: string; [k: string]: JsonValue | undefined };

export type InteractionEvent =
  | { event_type: 'interaction.created'; event_id: string; interaction: EventInteraction }
  | {
      event_type: 'interaction.status_update';
      event_id: string;
      interaction_id: string;
      status: InteractionStatus;
    }
  | { event_type: 'step.start'; event_id: string; index: number; step: Step }
  | { event_type: 'step.delta'; event_id: string; index: number; delta: Delta }
  | { event_type: 'step.stop'; event_id: string; index: number; usage?: Usage }
  | { event_type: 'interaction.completed'; event_id: string; interaction: EventInteraction }
  | { event_type: 'error'; event_id: string; error: InteractionError };

export type EventType = InteractionEvent['event_type'];

/** An event before the log assigns its id. */
export type NewEvent = InteractionEvent extends infer E
  ? E extends InteractionEvent
    ? Omit<E, 'event_id'>
    : never
  : never;
