/**
 * Wire types of the Interactions API, revision 2026-05-20 ("steps").
 * Field names follow @google/genai's dist/genai.d.ts. These types describe what goes over the
 * wire; request validation lives in ./schemas.ts and produces these shapes.
 */
import type { z } from 'zod';
import type {
  contentSchema,
  deltaSchema,
  eventInteractionSchema,
  interactionErrorSchema,
  interactionEventSchema,
  interactionSchema,
  interactionStatusSchema,
  jsonValueSchema,
  stepSchema,
  usageSchema,
} from './schemas.js';

export const API_REVISION = '2026-05-20';

export type JsonValue = z.infer<typeof jsonValueSchema>;
export type JsonObject = { [k: string]: JsonValue };

export type InteractionStatus = z.infer<typeof interactionStatusSchema>;

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

export type Content = z.infer<typeof contentSchema>;
export type TextContent = Extract<Content, { type: 'text' }>;
export type MediaContent = Exclude<Content, TextContent>;
export type Annotation = NonNullable<TextContent['annotations']>[number];

/** A step as stored and returned. `type` discriminates; tool steps carry free-form fields. */
export type Step = z.infer<typeof stepSchema>;
export type StepType = Step['type'];

/** Built-in tool call/result steps (`google_search_call`, `code_execution_result`, …). */
export type ToolStep = Exclude<
  Step,
  { type: 'user_input' | 'model_output' | 'thought' | 'function_call' | 'function_result' }
>;
export type BuiltInStepType = ToolStep['type'];

export type Usage = z.infer<typeof usageSchema>;
export type InteractionError = z.infer<typeof interactionErrorSchema>;
/** An interaction as this server returns it: always with its `id`. */
export type Interaction = z.infer<typeof interactionSchema> & { id: string };

/** Partial interaction carried by lifecycle events. */
export type EventInteraction = z.infer<typeof eventInteractionSchema>;

export type Delta = z.infer<typeof deltaSchema>;

/** An event as this server sends it: always with its `event_id`. */
export type InteractionEvent = z.infer<typeof interactionEventSchema> & { event_id: string };

export type EventType = InteractionEvent['event_type'];

/** An event before the log assigns its id. */
export type NewEvent = InteractionEvent extends infer E
  ? E extends InteractionEvent
    ? Omit<E, 'event_id'>
    : never
  : never;
