import { expect } from 'vitest';

/** One SSE message of a replay (`parseSse`), `[DONE]` already left out. */
export interface ReplayMessage {
  id?: string;
  data: string;
}

/**
 * Asserts that a full replay (`?stream=true&last_event_id=0`) tells one story: event ids 1..n
 * without a gap, every step opened and closed in order (indexes 0, 1, …), deltas only inside
 * the open step, and exactly one terminal `interaction.completed`, the last event. Returns the
 * parsed events.
 */
export function expectOneStory(replay: readonly ReplayMessage[]) {
  expect(replay.map((m) => Number(m.id))).toEqual(replay.map((_, i) => i + 1));
  const events = replay.map((m) => JSON.parse(m.data) as { event_type: string; index?: number });
  let open: number | null = null;
  let next = 0;
  for (const e of events) {
    if (e.event_type === 'step.start') {
      expect(open).toBeNull();
      expect(e.index).toBe(next++);
      open = e.index!;
    } else if (e.event_type === 'step.delta') {
      expect(e.index).toBe(open);
    } else if (e.event_type === 'step.stop') {
      expect(e.index).toBe(open);
      open = null;
    }
  }
  expect(events.filter((e) => e.event_type === 'interaction.completed')).toHaveLength(1);
  expect(events.at(-1)!.event_type).toBe('interaction.completed');
  return events;
}
