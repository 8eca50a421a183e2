import { describe, expect, it } from 'vitest';
import { METADATA_FILTER_LIMITS, parseMetadataFilter } from '../../src/files/metadata-filter.js';
import { ApiError } from '../../src/protocol/errors.js';

const PATH = 'tools[0].metadata_filter';
const parse = (text: string) => parseMetadataFilter(text, PATH);

describe('metadata_filter parser', () => {
  it('parses comparisons, membership and the boolean operators with AIP-160 precedence', () => {
    expect(parse('author = "Robert Graves" AND year > 2020')).toEqual({
      op: 'and',
      args: [
        { op: 'compare', key: 'author', comparator: '=', value: 'Robert Graves' },
        { op: 'compare', key: 'year', comparator: '>', value: 2020 },
      ],
    });
    // OR binds tighter than AND; NOT tighter than both.
    expect(parse('a = 1 AND b = 2 OR NOT c = 3')).toEqual({
      op: 'and',
      args: [
        { op: 'compare', key: 'a', comparator: '=', value: 1 },
        {
          op: 'or',
          args: [
            { op: 'compare', key: 'b', comparator: '=', value: 2 },
            { op: 'not', arg: { op: 'compare', key: 'c', comparator: '=', value: 3 } },
          ],
        },
      ],
    });
    expect(parse('(a = 1 AND b = 2) OR c = 3')).toEqual({
      op: 'or',
      args: [
        {
          op: 'and',
          args: [
            { op: 'compare', key: 'a', comparator: '=', value: 1 },
            { op: 'compare', key: 'b', comparator: '=', value: 2 },
          ],
        },
        { op: 'compare', key: 'c', comparator: '=', value: 3 },
      ],
    });
    expect(parse('tags:"rome"')).toEqual({ op: 'has', key: 'tags', values: ['rome'] });
    expect(parse('x!=1 AND y<=2 AND z>=-3.5e2 AND w<.5')).toEqual({
      op: 'and',
      args: [
        { op: 'compare', key: 'x', comparator: '!=', value: 1 },
        { op: 'compare', key: 'y', comparator: '<=', value: 2 },
        { op: 'compare', key: 'z', comparator: '>=', value: -350 },
        { op: 'compare', key: 'w', comparator: '<', value: 0.5 },
      ],
    });
  });

  it('reads quoted strings with escapes, bare words, quoted keys, and blank as no filter', () => {
    expect(parse(String.raw`a = "say \"hi\"\\ \n\t"`)).toEqual({
      op: 'compare',
      key: 'a',
      comparator: '=',
      value: 'say "hi"\\ \n\t',
    });
    expect(parse(String.raw`a = 'it\'s "fine"'`)).toMatchObject({ value: `it's "fine"` });
    expect(parse('genre = drama')).toMatchObject({ value: 'drama' });
    expect(parse('version = 1.2.3')).toMatchObject({ value: '1.2.3' });
    expect(parse('doc.year = "2020"')).toMatchObject({ key: 'doc.year', value: '2020' });
    expect(parse('"my key" = "AND"')).toMatchObject({ key: 'my key', value: 'AND' });
    expect(parse('')).toBeUndefined();
    expect(parse('  \n ')).toBeUndefined();
  });

  const MALFORMED: Array<[string, string]> = [
    ['author = "x" )', `unexpected ')' at 14`],
    ['author =', `expected a value after '=' at 8, found end of filter`],
    [
      'author "x"',
      'expected a comparator (=, !=, <, <=, >, >=, :) after the key at 1, found string at 8',
    ],
    ['(author = "x"', `expected ')' to close '(' at 1, found end of filter`],
    ['author = "x', 'unterminated string starting at 10'],
    ['a = "x\\', 'unterminated string starting at 5'],
    [
      'author = "x" and year > 1',
      `expected AND or OR before 'and' at 14 (AND, OR and NOT are upper case)`,
    ],
    ['author = "x" year > 1', `expected AND or OR before 'year' at 14`],
    ['AND author = "x"', `expected a metadata key, found 'AND' at 1`],
    ['a = 1 OR', 'expected a metadata key, found end of filter'],
    ['= 1', `expected a metadata key, found '=' at 1`],
    ['author ! "x"', `unexpected '!' at 8`],
    ['a = "\\q"', `unknown escape '\\q' at 6`],
    ['a = 1e999', 'number out of range at 5'],
    ['"" = 1', 'empty metadata key at 1'],
    ['a = = 1', `expected a value after '=' at 3, found '=' at 5`],
    ['a = NOT', `expected a value after '=' at 3, found 'NOT' at 5`],
    ['()', `expected a metadata key, found ')' at 2`],
    ['NOT NOT a = 1', `expected a metadata key, found 'NOT' at 5`],
  ];

  it.each(MALFORMED)('%j is a 400 naming the field: %s', (text, message) => {
    let error: unknown;
    try {
      parse(text);
    } catch (err) {
      error = err;
    }
    expect(ApiError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ code: 'invalid_request', message: `${PATH}: ${message}` });
    expect((error as ApiError).httpStatus).toBe(400);
  });

  it('bounds length, nesting and size, without exhausting the stack', () => {
    const { maxDepth, maxLength, maxRestrictions } = METADATA_FILTER_LIMITS;
    const nested = (n: number) => `${'('.repeat(n)}a = 1${')'.repeat(n)}`;
    expect(parse(nested(maxDepth))).toEqual({ op: 'compare', key: 'a', comparator: '=', value: 1 });
    expect(() => parse(nested(maxDepth + 1))).toThrow(
      `${PATH}: nested deeper than ${maxDepth} levels at ${maxDepth + 1}`,
    );
    expect(() => parse('('.repeat(maxLength))).toThrow(`nested deeper than ${maxDepth} levels`);
    expect(() => parse(`${'NOT ('.repeat(maxDepth)}a = 1${')'.repeat(maxDepth)}`)).toThrow(
      /nested deeper/,
    );
    expect(() => parse(`a = "${'x'.repeat(maxLength)}"`)).toThrow(
      `${PATH}: longer than ${maxLength} characters (${maxLength + 6})`,
    );
    const many = (n: number) => Array.from({ length: n }, (_, i) => `k${i} = ${i}`).join(' OR ');
    expect(parse(many(maxRestrictions))).toMatchObject({ op: 'or' });
    expect(() => parse(many(maxRestrictions + 1))).toThrow(
      `${PATH}: more than ${maxRestrictions} comparisons`,
    );
  });
});
