import { describe, expect, it } from 'vitest';
import type { NewEvent } from '../protocol/types.js';
import { serializeEvent } from '../store/event-log.js';
import { findResumePoint } from './resume-point.js';

const header = {
  id: 'v1_x',
  object: 'interaction',
  model: 'm',
  status: 'in_progress',
  created: '2026-01-01T00:00:00Z',
  updated: '2026-01-01T00:00:00Z',
};

function stored(events: NewEvent[]) {
  return [{ event_type: 'interaction.created', interaction: header } as NewEvent, ...events].map(
    (e, i) => {
      const { data } = serializeEvent(e, i + 1);
      return { seq: i + 1, data };
    },
  );
}

const step = (index: number, s: object, delta?: object): NewEvent[] => [
  { event_type: 'step.start', index, step: s } as NewEvent,
  ...(delta ? [{ event_type: 'step.delta', index, delta } as NewEvent] : []),
  { event_type: 'step.stop', index } as NewEvent,
];

const call = (index: number, id: string) =>
  step(
    index,
    { type: 'mcp_server_tool_call', id, signature: '' },
    { type: 'mcp_server_tool_call', name: 'charge', server_name: 'pay', arguments: { amount: 5 } },
  );
const result = (index: number, id: string) =>
  step(
    index,
    { type: 'mcp_server_tool_result', call_id: id, signature: '' },
    { type: 'mcp_server_tool_result', result: 'ok', name: 'charge', server_name: 'pay' },
  );

describe('findResumePoint', () => {
  it('names a stored call step without its result as the pending call', () => {
    const point = findResumePoint(stored([...call(0, 'c1'), ...result(1, 'c1'), ...call(2, 'c2')]));
    expect(point.pendingCall).toBe(2);
    expect(point.kept.map((s) => s.type)).toEqual([
      'mcp_server_tool_call',
      'mcp_server_tool_result',
    ]);
    expect(point.rounds).toBe(0);
    expect(point.openStep).toBeNull();
  });

  it('has no pending call when every call has its result, or the call step was left open', () => {
    expect(findResumePoint(stored([...call(0, 'c1'), ...result(1, 'c1')])).pendingCall).toBeNull();
    const open = findResumePoint(
      stored([
        {
          event_type: 'step.start',
          index: 0,
          step: { type: 'mcp_server_tool_call', id: 'c1', signature: '' },
        } as NewEvent,
      ]),
    );
    expect(open.pendingCall).toBeNull();
    expect(open.openStep).toBe(0);
  });

  it('a function call is the client’s, never pending', () => {
    const point = findResumePoint(
      stored(step(0, { type: 'function_call', id: 'f1', name: 'f', arguments: {} })),
    );
    expect(point.pendingCall).toBeNull();
  });
});
