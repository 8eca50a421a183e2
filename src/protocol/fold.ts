import type {
  Content,
  Delta,
  EventInteraction,
  InteractionError,
  InteractionEvent,
  InteractionStatus,
  JsonObject,
  JsonValue,
  Step,
  Usage,
} from './types.js';

/** What the event log of one interaction folds to. */
export interface FoldedInteraction {
  interaction?: EventInteraction;
  status: InteractionStatus;
  steps: Step[];
  usage?: Usage;
  errors: InteractionError[];
  updated?: string;
}

export function emptyFold(): FoldedInteraction {
  return { status: 'in_progress', steps: [], errors: [] };
}

/** Pure fold of one event into the state. Returns the same object, mutated, for speed. */
export function applyEvent(state: FoldedInteraction, event: InteractionEvent): FoldedInteraction {
  switch (event.event_type) {
    case 'interaction.created':
      state.interaction = { ...event.interaction };
      state.status = event.interaction.status;
      state.updated = event.interaction.updated;
      break;
    case 'interaction.status_update':
      state.status = event.status;
      break;
    case 'step.start':
      state.steps[event.index] = structuredClone(event.step);
      break;
    case 'step.delta': {
      const step = state.steps[event.index];
      if (step) applyDelta(step, event.delta);
      break;
    }
    case 'step.stop': {
      const step = state.steps[event.index];
      if (step?.type === 'function_call') finishArguments(step);
      if (event.usage) state.usage = event.usage;
      break;
    }
    case 'interaction.completed':
      state.status = event.interaction.status;
      if (event.interaction.usage) state.usage = event.interaction.usage;
      if (event.interaction.updated) state.updated = event.interaction.updated;
      state.interaction = { ...state.interaction, ...event.interaction };
      break;
    case 'error':
      state.errors.push(event.error);
      break;
  }
  return state;
}

export function foldEvents(events: Iterable<InteractionEvent>): FoldedInteraction {
  const state = emptyFold();
  for (const event of events) applyEvent(state, event);
  for (const step of state.steps) if (step.type === 'function_call') finishArguments(step);
  return state;
}

// Partial argument text of a function call, kept off the wire shape until step.stop.
const pendingArguments = new WeakMap<object, string>();

function finishArguments(step: Step): void {
  const text = pendingArguments.get(step);
  if (text === undefined) return;
  pendingArguments.delete(step);
  try {
    const parsed = JSON.parse(text) as JsonValue;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      (step as { arguments: JsonObject }).arguments = parsed;
    }
  } catch {
    // An unterminated call (stream cut mid-arguments) keeps the arguments it started with.
  }
}

function lastContent(list: Content[] | undefined): Content | undefined {
  return list && list.length > 0 ? list[list.length - 1] : undefined;
}

function applyDelta(step: Step, delta: Delta): void {
  switch (delta.type) {
    case 'text': {
      if (step.type !== 'model_output') return;
      const content = (step.content ??= []);
      const last = lastContent(content);
      if (last?.type === 'text') last.text += String(delta.text ?? '');
      else content.push({ type: 'text', text: String(delta.text ?? '') });
      return;
    }
    case 'text_annotation_delta': {
      if (step.type !== 'model_output') return;
      const last = lastContent(step.content);
      if (last?.type === 'text' && Array.isArray(delta.annotations)) {
        (last.annotations ??= []).push(...(delta.annotations as never[]));
      }
      return;
    }
    case 'image':
    case 'audio':
    case 'video':
    case 'document': {
      if (step.type !== 'model_output') return;
      (step.content ??= []).push({ ...(delta as JsonObject), type: delta.type } as Content);
      return;
    }
    case 'thought_summary': {
      if (step.type !== 'thought' || !delta.content) return;
      (step.summary ??= []).push(delta.content as unknown as Content);
      return;
    }
    case 'thought_signature': {
      if (step.type !== 'thought') return;
      if (typeof delta.signature === 'string') step.signature = delta.signature;
      return;
    }
    case 'arguments_delta': {
      if (step.type !== 'function_call') return;
      pendingArguments.set(
        step,
        (pendingArguments.get(step) ?? '') + String(delta.arguments ?? ''),
      );
      return;
    }
    default:
      mergeToolDelta(step, delta);
  }
}

/** Built-in tool deltas carry the step's own fields: merge them (results concatenate). */
function mergeToolDelta(step: Step, delta: Delta): void {
  if (delta.type !== step.type) return;
  const target = step as unknown as Record<string, JsonValue | undefined>;
  for (const [key, value] of Object.entries(delta)) {
    if (key === 'type' || value === undefined) continue;
    const existing = target[key];
    if (key === 'result' && Array.isArray(existing) && Array.isArray(value)) {
      target[key] = [...existing, ...value];
    } else if (key === 'result' && typeof existing === 'string' && typeof value === 'string') {
      target[key] = existing + value;
    } else {
      target[key] = value;
    }
  }
}

/** Delta types whose consecutive pieces concatenate into one string field. */
const CONCATENATING_DELTAS: Readonly<Record<string, string>> = {
  text: 'text',
  arguments_delta: 'arguments',
};

/**
 * Joins two consecutive deltas of one step into a single delta that folds to the same step, or
 * returns null when they cannot be joined (different types, or fields beyond the text).
 */
export function joinDeltas(a: Delta, b: Delta): Delta | null {
  const field = CONCATENATING_DELTAS[a.type];
  if (field === undefined || b.type !== a.type) return null;
  const x = a[field];
  const y = b[field];
  if (typeof x !== 'string' || typeof y !== 'string') return null;
  if (Object.keys(a).length !== 2 || Object.keys(b).length !== 2) return null;
  return { type: a.type, [field]: x + y };
}

/** Whether `d` carries nothing but its type and `field` (no allocation: this runs per token). */
function onlyField(d: Delta, field: string): boolean {
  for (const key in d) if (key !== 'type' && key !== field) return false;
  return true;
}

/**
 * Extends `joined` (a delta returned by `joinDeltas`, owned by the caller) by `next` in place
 * when `joinDeltas` would join them; returns false (and leaves it) otherwise. A long burst of
 * tokens then costs one string append per token, not a new delta object each.
 */
export function extendJoinedDelta(joined: Delta, next: Delta): boolean {
  const field = CONCATENATING_DELTAS[joined.type];
  if (field === undefined || next.type !== joined.type) return false;
  const target = joined as Record<string, unknown>;
  const y = (next as Record<string, unknown>)[field];
  if (typeof y !== 'string' || typeof target[field] !== 'string' || !onlyField(next, field))
    return false;
  target[field] = (target[field] as string) + y;
  return true;
}
