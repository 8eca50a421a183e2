import { describe, expect, it } from 'vitest';
import { extendJoinedDelta, joinDeltas } from './fold.js';
import type { Delta } from './types.js';

describe('joining deltas of a burst', () => {
  it('extends a joined text delta in place, leaving the pieces it was given untouched', () => {
    const a: Delta = { type: 'text', text: 'Hel' };
    const b: Delta = { type: 'text', text: 'lo' };
    const joined = joinDeltas(a, b)!;
    const c: Delta = { type: 'text', text: ', world' };
    expect(extendJoinedDelta(joined, c)).toBe(true);
    expect(joined).toEqual({ type: 'text', text: 'Hello, world' });
    expect([a, b, c]).toEqual([
      { type: 'text', text: 'Hel' },
      { type: 'text', text: 'lo' },
      { type: 'text', text: ', world' },
    ]);
  });

  it('extends arguments deltas, and refuses another type or a delta with more than its text', () => {
    const joined = joinDeltas(
      { type: 'arguments_delta', arguments: '{"a"' },
      { type: 'arguments_delta', arguments: ':' },
    )!;
    expect(extendJoinedDelta(joined, { type: 'arguments_delta', arguments: '1}' })).toBe(true);
    expect(joined).toEqual({ type: 'arguments_delta', arguments: '{"a":1}' });
    expect(extendJoinedDelta(joined, { type: 'text', text: 'x' })).toBe(false);
    const text = joinDeltas({ type: 'text', text: 'a' }, { type: 'text', text: 'b' })!;
    const annotated = { type: 'text', text: 'c', annotations: [] } as unknown as Delta;
    expect(extendJoinedDelta(text, annotated)).toBe(false);
    expect(text).toEqual({ type: 'text', text: 'ab' });
    expect(extendJoinedDelta({ type: 'thought_signature', signature: 's' }, text)).toBe(false);
  });
});
