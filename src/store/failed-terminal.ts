import { foldEvents } from '../protocol/fold.js';
import type { InteractionError, InteractionEvent } from '../protocol/types.js';
import { isTerminalEventData, serializeEvent } from './event-data.js';
import { classifyStoreError } from './store-errors.js';
import type { EventBatch, Store, StoredEvent } from './types.js';

const isoNow = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * The terminal state of a run that cannot finish itself: an `error` event and
 * `interaction.completed` with status `failed`, numbered after `events` (what the store holds),
 * with the row update that goes with them.
 */
export function failedTail(
  id: string,
  events: StoredEvent[],
  error: InteractionError,
  updated = isoNow(),
): EventBatch {
  const fold = foldEvents(events.map((e) => JSON.parse(e.data) as InteractionEvent));
  const head = fold.interaction;
  const lastSeq = events.at(-1)?.seq ?? 0;
  const tail = [
    serializeEvent({ event_type: 'error', error }, lastSeq + 1),
    serializeEvent(
      {
        event_type: 'interaction.completed',
        interaction: {
          id,
          object: 'interaction',
          status: 'failed',
          ...(head?.model ? { model: head.model } : {}),
          ...(head?.created ? { created: head.created } : {}),
          updated,
          service_tier: 'standard',
          ...(fold.usage ? { usage: fold.usage } : {}),
        },
      },
      lastSeq + 2,
    ),
  ];
  return {
    interactionId: id,
    events: tail.map(({ data }, i) => ({ seq: lastSeq + 1 + i, data })),
    update: {
      status: 'failed',
      updated,
      outputSteps: fold.steps,
      errors: [...fold.errors, error],
    },
  };
}

/**
 * Gives an unfinished interaction its failed terminal state after whatever the store holds.
 * Safe against other writers: the event ids are the primary key, so when two nodes try at once
 * one insert fails, that one reads again and finds the log finished. Throws when the store is
 * unavailable (the caller tries again later).
 */
export async function writeFailedTerminal(
  store: Store,
  id: string,
  error: InteractionError,
): Promise<'written' | 'finished' | 'deleted'> {
  for (let attempt = 1; ; attempt++) {
    const stored = await store.listEvents(id);
    // Every stored interaction has its first events; none means the rows were deleted.
    if (stored.length === 0) return 'deleted';
    if (isTerminalEventData(stored.at(-1)!.data)) return 'finished';
    try {
      await store.appendEvents([failedTail(id, stored, error)]);
      return 'written';
    } catch (err) {
      const fault = classifyStoreError(err);
      if (fault === 'missing_interaction') return 'deleted';
      // Another writer appended after our read: look again (a few times at most).
      if (fault !== 'duplicate' || attempt >= 5) throw err;
    }
  }
}
