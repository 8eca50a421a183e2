import { foldEvents } from '../protocol/fold.js';
import type { EventInteraction, InteractionEvent, Step } from '../protocol/types.js';
import type { StoredEvent } from '../store/types.js';

/**
 * Where a background run taken over from a node that died continues (design §5): after its last
 * durable step. The events the store holds stay as they are (clients may have seen them); a step
 * the dead node left open is closed, and the model round that was in flight is asked again. What
 * the model is shown is the conversation up to the last finished round of server-run tools.
 */
export interface ResumePoint {
  /** The interaction as `interaction.created` announced it. */
  header: EventInteraction;
  /** Every output step the store holds (the fold of its events). */
  steps: Step[];
  /** The index of a step left without `step.stop`, closed before the run continues. */
  openStep: number | null;
  /** Output steps shown to the model again: up to the last result of a server-run tool. */
  kept: Step[];
  /** Tool rounds already done (they count against `tools.max_rounds`). */
  rounds: number;
  /**
   * The index of a server-run tool's call step (the last step, closed) whose result step was
   * never stored: its node stopped while the call ran, so it may or may not have had its
   * effect. The engine runs it again if the tool is safe to repeat, else the run fails.
   */
  pendingCall: number | null;
}

const isToolResult = (step: Step) =>
  step.type.endsWith('_result') && step.type !== 'function_result';
const isToolStep = (step: Step) =>
  (step.type.endsWith('_call') && step.type !== 'function_call') || isToolResult(step);

const isServerCall = (step: Step) => step.type.endsWith('_call') && step.type !== 'function_call';

export function findResumePoint(stored: StoredEvent[]): ResumePoint {
  const events = stored.map((e) => JSON.parse(e.data) as InteractionEvent);
  const created = events[0];
  if (created?.event_type !== 'interaction.created') {
    throw new Error('the stored events do not start with interaction.created');
  }
  let lastStart = -1;
  let lastStop = -1;
  for (const e of events) {
    if (e.event_type === 'step.start') lastStart = e.index;
    else if (e.event_type === 'step.stop') lastStop = e.index;
  }
  const steps = foldEvents(events).steps;
  let cut = -1;
  let rounds = 0;
  steps.forEach((step, i) => {
    if (!isToolResult(step)) return;
    cut = i;
    const next = steps[i + 1];
    if (!next || !isToolStep(next)) rounds += 1;
  });
  const openStep = lastStart > lastStop ? lastStart : null;
  const last = steps.length - 1;
  const pending = steps[last];
  return {
    header: created.interaction,
    steps,
    openStep,
    kept: steps.slice(0, cut + 1),
    rounds,
    // A call step still open was stored before its call ran (engine.ts), so nothing ran yet.
    pendingCall: pending && isServerCall(pending) && openStep !== last && last > cut ? last : null,
  };
}
