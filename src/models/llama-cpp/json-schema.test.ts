import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { toGbnfJsonSchema } from './json-schema.js';
import { getSharedLlama } from './model.js';

describe('toGbnfJsonSchema', () => {
  it('converts a zod-generated object schema', () => {
    const schema = z.toJSONSchema(
      z.object({
        name: z.string().max(5),
        kind: z.enum(['a', 'b']),
        when: z.string().datetime().optional(),
        n: z.number().int().min(0),
        tags: z.array(z.string()).max(3),
        maybe: z.string().nullable(),
      }),
    );
    expect(toGbnfJsonSchema(schema as never)).toEqual({
      type: 'object',
      properties: {
        name: { type: 'string', maxLength: 5 },
        kind: { enum: ['a', 'b'] },
        when: { type: 'string', format: 'date-time' },
        n: { type: 'integer' },
        tags: { type: 'array', items: { type: 'string' }, maxItems: 3 },
        maybe: { oneOf: [{ type: 'string' }, { type: 'null' }] },
      },
      required: ['name', 'kind', 'when', 'n', 'tags', 'maybe'],
    });
  });

  it('rewrites definitions refs, anyOf and allOf', () => {
    const out = toGbnfJsonSchema({
      type: 'object',
      properties: {
        a: { $ref: '#/definitions/A' },
        b: { anyOf: [{ type: 'string' }, { type: 'boolean' }] },
      },
      definitions: {
        A: {
          allOf: [
            { type: 'object', properties: { x: { const: 1 } } },
            { properties: { y: { type: 'null' } } },
          ],
        },
      },
    });
    expect(out).toEqual({
      type: 'object',
      properties: {
        a: { $ref: '#/$defs/A' },
        b: { oneOf: [{ type: 'string' }, { type: 'boolean' }] },
      },
      required: ['a', 'b'],
      $defs: {
        A: {
          type: 'object',
          properties: { x: { const: 1 }, y: { type: 'null' } },
          required: ['x', 'y'],
        },
      },
    });
  });

  it('maps empty / true schemas to any JSON and keeps open objects open', () => {
    expect(toGbnfJsonSchema({})).toHaveProperty('oneOf');
    expect(toGbnfJsonSchema(true)).toHaveProperty('oneOf');
    expect(toGbnfJsonSchema({ type: 'object' })).toEqual({
      type: 'object',
      additionalProperties: true,
    });
  });

  // needs llama.cpp itself (a grammar is compiled without a model)
  it('produces schemas node-llama-cpp compiles into grammars', async () => {
    const llama = await getSharedLlama(false);
    for (const schema of [
      z.toJSONSchema(
        z.object({
          a: z.string().max(3),
          b: z.array(z.enum(['x', 'y'])).max(2),
          c: z.boolean().nullable(),
        }),
      ),
      {
        type: 'object',
        properties: { n: { $ref: '#/$defs/N' } },
        $defs: { N: { type: 'number' } },
      },
      {},
    ]) {
      await expect(
        llama.createGrammarForJsonSchema(toGbnfJsonSchema(schema as never) as never),
      ).resolves.toBeDefined();
    }
  });
});
