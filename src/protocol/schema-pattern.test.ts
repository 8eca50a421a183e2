import { describe, expect, it } from 'vitest';
import {
  MAX_PATTERN_LENGTH,
  MAX_PATTERN_SIZE,
  UnsupportedPatternError,
  compilePattern,
  estimatePatternSize,
} from './schema-pattern.js';

const reason = (pattern: string): string => {
  try {
    compilePattern(pattern);
  } catch (err) {
    expect(err).toBeInstanceOf(UnsupportedPatternError);
    return (err as Error).message;
  }
  throw new Error(`${pattern} was accepted`);
};

describe('schema patterns in RE2', () => {
  it.each([
    ['^[a-z]+$', 'abc', true],
    ['^[a-z]+$', 'aBc', false],
    ['\\d{4}-\\d{2}', 'on 2026-05-20', true], // unanchored search, as JSON Schema specifies
    ['^\\u0041\\/b$', 'A/b', true],
    ['^(?<year>\\d{4})$', '2026', true],
    ['^\\p{Lu}+$', 'ÄB', true],
    ['^\\p{Lu}+$', 'äb', false],
    ['^.$', '😀', true], // code points, as with the u flag
  ])('%s on %s → %s', (pattern, input, expected) => {
    expect(compilePattern(pattern).test(input)).toBe(expected);
  });

  it('runs the classic catastrophic pattern in linear time', () => {
    // With a backtracking engine this is 2^5000 steps; the test would never finish.
    expect(compilePattern('^(a+)+$').test(`${'a'.repeat(5000)}!`)).toBe(false);
    expect(compilePattern('(x+x+)+y').test('x'.repeat(100_000))).toBe(false);
    expect(compilePattern('^(a|a)*$').test('a'.repeat(100_000))).toBe(true);
  });

  it('refuses backreferences and lookaround with the reason', () => {
    expect(reason('(a)\\1')).toMatch(/^backreferences are not supported/);
    expect(reason('(?<x>a)\\k<x>')).toMatch(/^backreferences are not supported/);
    expect(reason('a(?=b)')).toMatch(/^lookahead and lookbehind are not supported/);
    expect(reason('a(?!b)')).toMatch(/^lookahead and lookbehind are not supported/);
    expect(reason('(?<=a)b')).toMatch(/^lookahead and lookbehind are not supported/);
  });

  it('refuses what is not ECMA-262 rather than reading it differently', () => {
    // RE2 would accept these (with another meaning); JSON Schema patterns are ECMA-262.
    expect(reason('\\Z')).toMatch(/^not a valid regular expression/);
    expect(reason('(?i)a')).toMatch(/^not a valid regular expression/);
    expect(reason('a{2,1}')).toMatch(/^not a valid regular expression/);
    expect(reason('[')).toMatch(/^not a valid regular expression/);
  });

  it('refuses patterns whose compiled program would be too large', () => {
    expect(reason(`(?:${'abcdefghij'.repeat(40)}){1000}`)).toMatch(/^too complex/);
    expect(reason('(((a{10}){10}){10}){3}')).toMatch(/^too complex/);
    expect(reason('x'.repeat(MAX_PATTERN_LENGTH + 1))).toMatch(/^longer than/);
    expect(compilePattern('[a-z]{1000}').test('a'.repeat(1000))).toBe(true);
    expect(compilePattern('\\p{L}{1000}').test('b'.repeat(999))).toBe(false);
  });

  it('estimates sizes as an upper bound of what repeats expand to', () => {
    expect(estimatePatternSize('abc')).toBe(3);
    expect(estimatePatternSize('a{1000}')).toBeGreaterThanOrEqual(1000);
    expect(estimatePatternSize('(ab){10}')).toBeGreaterThanOrEqual(20);
    expect(estimatePatternSize('((a{10}){10}){10}')).toBeGreaterThanOrEqual(1000);
    expect(estimatePatternSize('((a{10}){10}){10}')).toBeLessThanOrEqual(MAX_PATTERN_SIZE);
    expect(estimatePatternSize('[{]{5}')).toBeLessThan(10);
    expect(estimatePatternSize('\\p{L}{5}')).toBeLessThan(10);
  });
});
