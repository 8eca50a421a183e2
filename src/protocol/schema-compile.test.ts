import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.js';
import { compileTenantSchema } from './schema-compile.js';
import { MAX_SCHEMA_DEPTH, MAX_SCHEMA_NODES, MAX_SCHEMA_PATTERNS } from './schema-limits.js';

const PATH = 'response_format.schema';

/** The 400 message compiling `schema` throws. */
const refusal = (schema: object): string => {
  try {
    compileTenantSchema(schema, PATH);
  } catch (err) {
    expect(ApiError.isInstance(err)).toBe(true);
    expect((err as ApiError).code).toBe('invalid_request');
    return (err as Error).message;
  }
  throw new Error('the schema was accepted');
};

const properties = (n: number) =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, { type: 'string' }]));

describe('compiling tenant schemas', () => {
  it('enforces patterns and patternProperties with RE2', () => {
    const validate = compileTenantSchema(
      {
        type: 'object',
        properties: { code: { type: 'string', pattern: '^(a+)+$' } },
        patternProperties: { '^x-': { type: 'integer' } },
      },
      PATH,
    );
    expect(validate({ code: 'aaa', 'x-n': 1 })).toBe(true);
    expect(validate({ code: `${'a'.repeat(10_000)}!` })).toBe(false);
    expect(validate({ 'x-n': 'one' })).toBe(false);
  });

  it('names the field of a pattern the linear-time engine cannot run', () => {
    expect(
      refusal({ type: 'object', properties: { x: { type: 'string', pattern: '(a)\\1' } } }),
    ).toMatch(/^response_format\.schema\.properties\.x\.pattern: backreferences are not supported/);
    expect(refusal({ type: 'object', patternProperties: { '(?=a)': {} } })).toMatch(
      /^response_format\.schema\.patternProperties\["\(\?=a\)"\]: lookahead and lookbehind/,
    );
    expect(
      refusal({ anyOf: [{ type: 'string' }, { items: { propertyNames: { pattern: '\\Z' } } }] }),
    ).toMatch(/^response_format\.schema\.anyOf\[1\]\.items\.propertyNames\.pattern: not a valid/);
  });

  it('reads data keywords as data: a "pattern" inside const or enum is no pattern', () => {
    const validate = compileTenantSchema(
      { const: { pattern: '(a)\\1' }, examples: [{ pattern: '(?=x)' }] },
      PATH,
    );
    expect(validate({ pattern: '(a)\\1' })).toBe(true);
  });

  it('refuses schemas over the size, depth and pattern limits, naming where', () => {
    expect(refusal({ type: 'object', properties: properties(MAX_SCHEMA_NODES) })).toMatch(
      /^response_format\.schema\.properties: the request's schemas are too large/,
    );
    expect(refusal({ type: 'object', properties: properties(100_000) })).toMatch(/too large/);
    let deep: object = { type: 'string' };
    for (let i = 0; i < MAX_SCHEMA_DEPTH; i++) deep = { type: 'array', items: deep };
    expect(refusal(deep)).toMatch(
      /^response_format\.schema(\.items)+: schema nested more than 32 levels deep$/,
    );
    const patterns = Object.fromEntries(
      Array.from({ length: MAX_SCHEMA_PATTERNS + 1 }, (_, i) => [
        `p${i}`,
        { type: 'string', pattern: `^${i}$` },
      ]),
    );
    expect(refusal({ type: 'object', properties: patterns })).toMatch(/more than 40 patterns$/);
    const big = Object.fromEntries(
      Array.from({ length: 3 }, (_, i) => [
        `p${i}`,
        { type: 'string', pattern: `[a-z]{${990 + i}}` },
      ]),
    );
    expect(refusal({ type: 'object', properties: big })).toMatch(
      /^response_format\.schema\.properties\.p\d\.pattern: the request's patterns are too complex together/,
    );
  });

  it('accepts the largest schema within the limits', () => {
    // Each property is {type} (2 values); with the 5 values around them, 197 properties fit.
    const validate = compileTenantSchema(
      { type: 'object', properties: properties(197), required: ['p0'] },
      PATH,
    );
    expect(validate({ p0: 'x', p196: 'y' })).toBe(true);
    expect(validate({ p196: 'y' })).toBe(false);
    expect(() =>
      compileTenantSchema({ type: 'object', properties: properties(198), required: ['p0'] }, PATH),
    ).toThrow(/too large/);
  });

  it('shares no registry: the same $id compiles again, and a $ref to another schema is refused', () => {
    const a = {
      $id: 'https://tenant-a.example/secret.json',
      type: 'object',
      properties: { token: { type: 'string', pattern: '^SECRET-[0-9]+$' } },
    };
    compileTenantSchema(a, PATH);
    expect(compileTenantSchema(a, PATH)({ token: 'SECRET-1' })).toBe(true);
    const probe = refusal({ $ref: 'https://tenant-a.example/secret.json' });
    expect(probe).toMatch(
      /^response_format\.schema: \$ref 'https:\/\/tenant-a\.example\/secret\.json' cannot be resolved/,
    );
    expect(probe).not.toContain('SECRET');
  });

  it('resolves references within the schema itself', () => {
    const validate = compileTenantSchema(
      {
        $id: 'https://example.com/tree.json',
        $defs: {
          node: {
            type: 'object',
            properties: { kids: { type: 'array', items: { $ref: '#/$defs/node' } } },
          },
        },
        $ref: '#/$defs/node',
      },
      PATH,
    );
    expect(validate({ kids: [{ kids: [] }] })).toBe(true);
    expect(validate({ kids: [{ kids: 1 }] })).toBe(false);
  });

  it('refuses what is not a JSON Schema, naming the keyword', () => {
    expect(refusal({ type: 'strnig' })).toMatch(
      /^response_format\.schema\.type: not a valid JSON Schema/,
    );
    expect(refusal({ $schema: 'https://example.com/unknown', type: 'string' })).toMatch(
      /^response_format\.schema: not a JSON Schema this server can enforce/,
    );
  });
});
