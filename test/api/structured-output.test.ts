import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_A, KEY_B, noRetry, startHarness, type Harness } from '../support/harness.js';

type Case = { name: string; schema: object; good: unknown; bad: unknown };

const obj = (properties: object, required: string[]) => ({ type: 'object', properties, required });

/** 20 schemas: nested objects, enums, arrays, required fields, unions — each with a conforming and a non-conforming answer. */
const CASES: Case[] = [
  {
    name: 'flat object',
    schema: obj({ name: { type: 'string' } }, ['name']),
    good: { name: 'x' },
    bad: { name: 1 },
  },
  {
    name: 'required missing',
    schema: obj({ a: { type: 'string' }, b: { type: 'number' } }, ['a', 'b']),
    good: { a: 'x', b: 1 },
    bad: { a: 'x' },
  },
  {
    name: 'string enum',
    schema: obj({ mood: { type: 'string', enum: ['happy', 'sad'] } }, ['mood']),
    good: { mood: 'sad' },
    bad: { mood: 'angry' },
  },
  {
    name: 'integer',
    schema: obj({ n: { type: 'integer' } }, ['n']),
    good: { n: 3 },
    bad: { n: 3.5 },
  },
  {
    name: 'number range',
    schema: obj({ p: { type: 'number', minimum: 0, maximum: 1 } }, ['p']),
    good: { p: 0.5 },
    bad: { p: 2 },
  },
  {
    name: 'boolean',
    schema: obj({ ok: { type: 'boolean' } }, ['ok']),
    good: { ok: true },
    bad: { ok: 'yes' },
  },
  {
    name: 'array of strings',
    schema: obj({ tags: { type: 'array', items: { type: 'string' } } }, ['tags']),
    good: { tags: ['a', 'b'] },
    bad: { tags: ['a', 2] },
  },
  {
    name: 'maxItems enforced',
    schema: obj({ xs: { type: 'array', items: { type: 'string' }, maxItems: 3 } }, ['xs']),
    good: { xs: ['a', 'b', 'c'] },
    bad: { xs: ['a', 'b', 'c', 'd'] },
  },
  {
    name: 'minItems enforced',
    schema: obj({ xs: { type: 'array', items: { type: 'number' }, minItems: 2 } }, ['xs']),
    good: { xs: [1, 2] },
    bad: { xs: [1] },
  },
  {
    name: 'nested object',
    schema: obj(
      { user: obj({ name: { type: 'string' }, age: { type: 'integer' } }, ['name', 'age']) },
      ['user'],
    ),
    good: { user: { name: 'a', age: 3 } },
    bad: { user: { name: 'a' } },
  },
  {
    name: 'deeply nested',
    schema: obj({ a: obj({ b: obj({ c: { type: 'string', enum: ['x'] } }, ['c']) }, ['b']) }, [
      'a',
    ]),
    good: { a: { b: { c: 'x' } } },
    bad: { a: { b: { c: 'y' } } },
  },
  {
    name: 'array of objects',
    schema: obj({ items: { type: 'array', items: obj({ id: { type: 'integer' } }, ['id']) } }, [
      'items',
    ]),
    good: { items: [{ id: 1 }, { id: 2 }] },
    bad: { items: [{ id: 1 }, {}] },
  },
  {
    name: 'recipe (A.5)',
    schema: obj(
      {
        name: { type: 'string' },
        ingredients: { type: 'array', items: { type: 'string' }, maxItems: 3 },
      },
      ['name', 'ingredients'],
    ),
    good: { name: 'soup', ingredients: ['water'] },
    bad: { name: 'soup' },
  },
  {
    name: 'top-level array',
    schema: { type: 'array', items: { type: 'integer' } },
    good: [1, 2, 3],
    bad: { not: 'an array' },
  },
  {
    name: 'top-level enum string',
    schema: { type: 'string', enum: ['yes', 'no'] },
    good: 'yes',
    bad: 'maybe',
  },
  {
    name: 'nullable via type list',
    schema: obj({ v: { type: ['string', 'null'] } }, ['v']),
    good: { v: null },
    bad: { v: 5 },
  },
  {
    name: 'anyOf',
    schema: obj({ v: { anyOf: [{ type: 'string' }, { type: 'integer' }] } }, ['v']),
    good: { v: 7 },
    bad: { v: [] },
  },
  {
    name: 'no extra properties',
    schema: { ...obj({ a: { type: 'string' } }, ['a']), additionalProperties: false },
    good: { a: 'x' },
    bad: { a: 'x', b: 'y' },
  },
  {
    name: 'ignored maxLength (spec §2.4), enforced type',
    schema: obj({ s: { type: 'string', maxLength: 2 } }, ['s']),
    good: { s: 'longer than two' },
    bad: { s: 12 },
  },
  {
    name: 'enum of numbers in array',
    schema: obj({ dice: { type: 'array', items: { type: 'integer', enum: [1, 2, 3, 4, 5, 6] } } }, [
      'dice',
    ]),
    good: { dice: [1, 6] },
    bad: { dice: [7] },
  },
];

describe('structured output (response_format with a JSON schema)', () => {
  let h: Harness;
  let answer = '';
  beforeAll(async () => {
    h = await startHarness({ store: 'sqlite' });
    h.upstream.script = () => ({ text: [answer.slice(0, 3), answer.slice(3)] });
  });
  afterAll(async () => {
    await h.close();
  });

  const ask = (schema: object) =>
    h.client().interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'Answer as JSON.',
        response_format: { type: 'text', mime_type: 'application/json', schema: schema as never },
      },
      noRetry,
    );

  it.each(CASES)(
    '$name: conforming output is accepted, non-conforming fails the interaction',
    async ({ schema, good, bad }) => {
      answer = JSON.stringify(good);
      const ok = await ask(schema);
      expect(ok.status).toBe('completed');
      expect(JSON.parse(ok.output_text!)).toEqual(good);
      const sent = h.upstream.requests.at(-1)!;
      expect(sent.response_format).toMatchObject({ type: 'json_schema' });

      answer = JSON.stringify(bad);
      const failed = await ask(schema);
      expect(failed.status).toBe('failed');
      const got = await h.client().interactions.get(failed.id, undefined, noRetry);
      expect(got.errors?.[0]).toMatchObject({ code: 'invalid_model_output' });
      expect(got.errors?.[0]?.message).toMatch(
        /^response_format: the model output does not match the schema/,
      );
    },
  );

  it('fails when the output is not JSON at all, and accepts the bare-schema form', async () => {
    answer = 'Sure! Here is your JSON: {';
    const notJson = await ask({ type: 'object' });
    expect(notJson.status).toBe('failed');
    answer = '{"a":"x"}';
    const bare = await h.client().interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'x',
        response_format: obj({ a: { type: 'string' } }, ['a']) as never,
      },
      noRetry,
    );
    expect(bare.status).toBe('completed');
  });

  it('rejects a schema it cannot enforce with 400 naming response_format.schema', async () => {
    const res = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({
        model: 'gemini-3.5-flash',
        input: 'x',
        response_format: {
          type: 'text',
          mime_type: 'application/json',
          schema: { type: 'object', properties: { a: { $ref: '#/nowhere' } } },
        },
      }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /^response_format\.schema:/,
    );
  });
});

describe('hostile response schemas', () => {
  let h: Harness;
  let answer = '';
  beforeAll(async () => {
    h = await startHarness({ store: 'sqlite' });
    h.upstream.script = () => ({ text: [answer] });
  });
  afterAll(async () => {
    await h.close();
  });

  const create = (body: object, key?: string) =>
    h.fetch('/v1beta/interactions', {
      method: 'POST',
      ...(key ? { key } : {}),
      body: JSON.stringify({ model: 'gemini-3.5-flash', input: 'x', ...body }),
    });
  const errorOf = async (res: Response) => {
    expect(res.status).toBe(400);
    return ((await res.json()) as { error: { code: string; message: string } }).error;
  };

  it('checks a catastrophic pattern against long output without blocking (RE2)', async () => {
    // A backtracking engine needs 2^200 steps here; the request would never finish.
    answer = JSON.stringify({ code: `${'a'.repeat(200)}!` });
    const schema = {
      type: 'object',
      properties: { code: { type: 'string', pattern: '^(a+)+$' } },
      required: ['code'],
    };
    const failed = (await (await create({ response_format: schema })).json()) as {
      id: string;
      status: string;
    };
    expect(failed.status).toBe('failed');
    const got = await h.client().interactions.get(failed.id, undefined, noRetry);
    expect(got.errors?.[0]?.message).toMatch(
      /does not match the schema: \/code must match pattern/,
    );
    answer = JSON.stringify({ code: 'a'.repeat(200) });
    const ok = (await (await create({ response_format: schema })).json()) as { status: string };
    expect(ok.status).toBe('completed');
  });

  it('refuses patterns RE2 cannot run with 400 naming the field', async () => {
    const error = await errorOf(
      await create({
        response_format: {
          type: 'text',
          mime_type: 'application/json',
          schema: { type: 'object', properties: { x: { type: 'string', pattern: '(a)\\1' } } },
        },
      }),
    );
    expect(error.code).toBe('invalid_request');
    expect(error.message).toMatch(
      /^response_format\.schema\.properties\.x\.pattern: backreferences are not supported/,
    );
    // Function parameters are compiled (and so checked) when the server validates calls.
    const tool = await errorOf(
      await create({
        generation_config: { tool_choice: 'validated' },
        tools: [
          { type: 'function', name: 'f' },
          {
            type: 'function',
            name: 'g',
            parameters: {
              type: 'object',
              properties: { y: { type: 'string', pattern: 'a(?!b)' } },
            },
          },
        ],
      }),
    );
    expect(tool.message).toMatch(
      /^tools\[1\]\.parameters\.properties\.y\.pattern: lookahead and lookbehind are not supported/,
    );
  });

  it('refuses schemas over the limits with 400 before anything runs', async () => {
    const seen = h.upstream.requests.length;
    const huge = Object.fromEntries(
      Array.from({ length: 5_000 }, (_, i) => [`p${i}`, { type: 'string' }]),
    );
    const error = await errorOf(
      await create({ response_format: { type: 'object', properties: huge } }),
    );
    expect(error.message).toMatch(
      /^response_format\.properties: the request's schemas are too large/,
    );
    expect(h.upstream.requests.length).toBe(seen);
  });

  it('keeps each request’s $id to itself: reuse works, a $ref to another request’s $id is 400', async () => {
    answer = JSON.stringify({ token: 'SECRET-42' });
    const secret = {
      $id: 'https://tenant-a.example/secret.json',
      type: 'object',
      properties: { token: { type: 'string', pattern: '^SECRET-[0-9]+$' } },
    };
    for (const key of [KEY_A, KEY_A, KEY_B]) {
      const res = await create({ response_format: secret }, key);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { status: string }).status).toBe('completed');
    }
    const probe = await errorOf(
      await create({ response_format: { $ref: 'https://tenant-a.example/secret.json' } }, KEY_B),
    );
    expect(probe.message).toMatch(/^response_format(\.schema)?: \$ref '.*' cannot be resolved/);
    expect(probe.message).not.toContain('SECRET');
  });
});
