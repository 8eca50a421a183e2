import { describe, expect, it } from 'vitest';
import {
  MAX_CACHED_VALIDATORS,
  cachedValidatorCount,
  compileResponseSchema,
} from './structured-output.js';

const schema = (tag: string) => ({
  type: 'object',
  properties: { [tag]: { type: 'string', pattern: '^[a-z]+$' } },
  required: [tag],
});

describe('compiled response schemas', () => {
  it('are cached per project: a repeated schema is one lookup, another project compiles its own', () => {
    const a1 = compileResponseSchema('team-a', schema('x'));
    const a2 = compileResponseSchema('team-a', schema('x'));
    const b = compileResponseSchema('team-b', schema('x'));
    expect(a2).toBe(a1);
    expect(b).not.toBe(a1);
    expect(b({ x: 'abc' })).toBe(true);
    expect(b({ x: 'ABC' })).toBe(false);
  });

  it('stay bounded however many distinct schemas arrive', () => {
    for (let i = 0; i < MAX_CACHED_VALIDATORS + 500; i++) {
      compileResponseSchema('team-a', schema(`p${i}`));
    }
    expect(cachedValidatorCount()).toBeLessThanOrEqual(MAX_CACHED_VALIDATORS);
    // An evicted schema compiles again, correctly.
    expect(compileResponseSchema('team-a', schema('p0'))({ p0: 'ok' })).toBe(true);
  });

  it('do not collide on $id, within a project or across projects', () => {
    const withId = { $id: 'https://example.com/s.json', type: 'integer' };
    expect(compileResponseSchema('team-a', withId)(1)).toBe(true);
    expect(compileResponseSchema('team-a', { ...withId, type: 'string' })('x')).toBe(true);
    expect(compileResponseSchema('team-b', withId)('x')).toBe(false);
  });
});
