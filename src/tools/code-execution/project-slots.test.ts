import { describe, expect, it } from 'vitest';
import { ProjectSlots, defaultPerProject } from './project-slots.js';

describe('ProjectSlots', () => {
  it('gives each project at most its share and everyone at most the total', () => {
    const slots = new ProjectSlots(3, 2);
    const a1 = slots.acquire('a');
    const a2 = slots.acquire('a');
    expect('release' in a1 && 'release' in a2).toBe(true);
    expect(slots.acquire('a')).toEqual({
      refused:
        'code execution is at capacity for this project (2 of 2 programs per project running); try again later',
    });
    expect('release' in slots.acquire('b')).toBe(true);
    expect(slots.acquire('c')).toEqual({
      refused: 'code execution is at capacity (3 of 3 programs running); try again later',
    });
    expect(slots.running).toBe(3);
  });

  it('frees a slot once, however often it is released', () => {
    const slots = new ProjectSlots(2, 1);
    const first = slots.acquire('a');
    if (!('release' in first)) throw new Error(first.refused);
    first.release();
    first.release();
    expect(slots.running).toBe(0);
    expect('release' in slots.acquire('a')).toBe(true);
    expect('release' in slots.acquire('b')).toBe(true);
    expect('refused' in slots.acquire('c')).toBe(true);
  });

  it('defaults to half of the slots per project, at least one', () => {
    expect([1, 2, 3, 4, 9].map(defaultPerProject)).toEqual([1, 1, 1, 2, 4]);
  });
});
