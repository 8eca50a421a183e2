import { describe, expect, it } from 'vitest';
import { ApiError } from '../protocol/errors.js';
import { JsonShapeScanner } from './json-shape.js';

const LIMITS = { maxDepth: 5, maxValues: 20 };

/** Feeds `text` in chunks of `size` bytes; returns the 400 message, or undefined when it passed. */
function scan(text: string, size = 1, limits = LIMITS): string | undefined {
  const scanner = new JsonShapeScanner(limits);
  const bytes = Buffer.from(text);
  try {
    for (let i = 0; i < bytes.length; i += size) scanner.push(bytes.subarray(i, i + size));
  } catch (err) {
    expect(ApiError.isInstance(err)).toBe(true);
    return (err as Error).message;
  }
  return undefined;
}

describe('JsonShapeScanner', () => {
  it.each([1, 2, 3, 7, 1000])('gives the same answers in chunks of %i bytes', (size) => {
    expect(scan('{"a":[1,2,3],"b":{"c":"x"}}', size)).toBeUndefined();
    expect(scan('{"a":[[[[[1]]]]]}', size)).toBe('a[0][0][0]: nested more than 5 levels deep');
    expect(scan(`{"input":[${'1,'.repeat(30)}1]}`, size)).toMatch(
      /^input\[18\]: the body holds more than 20 JSON values/,
    );
  });

  it('ignores brackets, commas and quotes inside strings, escaped ones too', () => {
    const tricky = JSON.stringify({ s: '[[[[[[{{{{{,,,,,,,,,,,,,,,,,,,,,,,,,"\\"\\\\' });
    expect(scan(tricky)).toBeUndefined();
    expect(scan(tricky, 5)).toBeUndefined();
    expect(scan('{"k\\"[[[[[[":1}')).toBeUndefined();
  });

  it('names keys with escapes and non-ASCII characters, and indices', () => {
    expect(scan('{"é \\"x":{"b":[0,[[[1]]]]}}')).toBe(
      '["é \\\\\\"x"].b[1][0]: nested more than 5 levels deep',
    );
    expect(scan('[1,2,{"a":[[[[]]]]}]', 4)).toBe('[2].a[0][0]: nested more than 5 levels deep');
  });

  it('counts values across the whole body, not per container', () => {
    const body = JSON.stringify(Array.from({ length: 5 }, () => [1, 2, 3]));
    expect(scan(body, 3, { maxDepth: 5, maxValues: 100 })).toBeUndefined();
    expect(scan(body, 3, { maxDepth: 5, maxValues: 15 })).toMatch(/more than 15 JSON values/);
  });

  it('accepts a 1 MB string in 64 KB chunks', () => {
    expect(scan(JSON.stringify({ input: 'x'.repeat(1_000_000) }), 65536)).toBeUndefined();
  });
});
