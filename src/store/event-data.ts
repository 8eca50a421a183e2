import type { InteractionEvent, NewEvent } from '../protocol/types.js';

export function isTerminalEventData(data: string): boolean {
  return data.startsWith('{"event_type":"interaction.completed"');
}

/** Serialises an event with `event_type` first and `event_id` second: the bytes that are stored and sent. */
export function serializeEvent(
  event: NewEvent,
  seq: number,
): { event: InteractionEvent; data: string } {
  const { event_type, ...rest } = event;
  const full = { event_type, event_id: String(seq), ...rest } as InteractionEvent;
  return { event: full, data: JSON.stringify(full) };
}
