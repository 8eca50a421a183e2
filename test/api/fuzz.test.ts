import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoScript } from '../support/fake-upstream.js';
import { startHarness, type Harness } from '../support/harness.js';

/**
 * Property-based fuzzing of the create body (and of ids/query on get). Whatever arrives, the
 * server answers 200 or a 4xx with the JSON error envelope and a non-empty message — never a 5xx
 * — and keeps serving afterwards. The seed is fixed so a failure reproduces in CI; set
 * FUZZ_SEED to explore other inputs locally.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20_260_520);
const MODEL = 'gemini-3.5-flash';
const BASE = { model: MODEL, input: 'hi' };

const TOP_LEVEL = [
  'model',
  'agent',
  'input',
  'system_instruction',
  'tools',
  'response_format',
  'generation_config',
  'agent_config',
  'stream',
  'store',
  'background',
  'previous_interaction_id',
  'continuation_token',
  'environment',
  'labels',
  'safety_settings',
  'service_tier',
  'webhook_config',
  'response_mime_type',
  'response_modalities',
  'cached_content',
] as const;
const HOSTILE_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '',
  ' ',
];
const STEP_TYPES = [
  'user_input',
  'model_output',
  'thought',
  'function_call',
  'function_result',
  'code_execution_call',
  'code_execution_result',
  'google_search_call',
  'google_search_result',
  'url_context_call',
  'url_context_result',
  'file_search_call',
  'file_search_result',
  'google_maps_call',
  'google_maps_result',
  'mcp_server_tool_call',
  'mcp_server_tool_result',
  'retrieval_call',
  'retrieval_result',
  'processing_call',
  'processing_result',
];
const CONTENT_TYPES = ['text', 'image', 'audio', 'document', 'video'];
const TOOL_TYPES = [
  'function',
  'google_search',
  'code_execution',
  'url_context',
  'file_search',
  'mcp_server',
  'computer_use',
  'retrieval',
  'web_browser',
];
const ITEM_FIELDS = [
  'type',
  'id',
  'call_id',
  'name',
  'arguments',
  'result',
  'content',
  'summary',
  'text',
  'data',
  'uri',
  'mime_type',
  'signature',
  'is_error',
  'resolution',
  'sample_rate',
  'annotations',
  'role',
  'parts',
  ...HOSTILE_KEYS,
];
const GEN_FIELDS = [
  'max_output_tokens',
  'seed',
  'stop_sequences',
  'temperature',
  'top_p',
  'top_k',
  'thinking_level',
  'thinking_summaries',
  'tool_choice',
  'speech_config',
  'image_config',
  ...HOSTILE_KEYS,
];

// ── arbitraries ──────────────────────────────────────────────────────────────────────────────

const json = fc.jsonValue({ maxDepth: 4 });
const edgeNumber = fc.oneof(
  fc.constantFrom(
    0,
    -0,
    1,
    -1,
    0.5,
    2,
    2.0000001,
    1e308,
    -1e308,
    2 ** 31,
    2 ** 53,
    2 ** 53 + 2,
    5e-324,
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
);
const unicode = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom(
    '\u0000',
    '\uFEFF',
    '\uD800',
    '\u202E',
    'Ω≈ç√',
    '🙂‍↔️',
    '../../etc/passwd',
    '%00',
    '<script>',
    '${x}',
    'a\nb',
  ),
);
/** Values that look like what a field wants, mixed with anything. */
const plausible = fc.oneof(
  { weight: 3, arbitrary: json },
  { weight: 2, arbitrary: unicode },
  { weight: 2, arbitrary: edgeNumber },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      ...CONTENT_TYPES,
      ...STEP_TYPES,
      ...TOOL_TYPES,
      'auto',
      'any',
      'high',
      'text/plain',
      'application/json',
    ),
  },
);
const itemOf = (types: string[]) =>
  fc
    .tuple(
      fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(...types) },
        { weight: 1, arbitrary: plausible },
      ),
      fc.dictionary(fc.constantFrom(...ITEM_FIELDS), plausible, { maxKeys: 5 }),
    )
    .map(([type, fields]) => ({ ...fields, type }));
const stepItem = itemOf(STEP_TYPES);
const contentItem = itemOf(CONTENT_TYPES);
const inputValue = fc.oneof(
  unicode,
  contentItem,
  stepItem,
  fc.array(contentItem, { maxLength: 4 }),
  fc.array(stepItem, { maxLength: 4 }),
  fc.array(fc.oneof(contentItem, stepItem, json), { maxLength: 4 }),
  // Steps whose content is made of content items (closer to valid).
  fc.array(
    fc.record({
      type: fc.constant('user_input'),
      content: fc.array(contentItem, { maxLength: 3 }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
);
const toolValue = fc.array(
  fc.oneof(
    itemOf(TOOL_TYPES),
    fc.record(
      {
        type: fc.constant('function'),
        name: fc.oneof(fc.constantFrom('f', 'get_weather', 'a.b-c', 'x'.repeat(64)), unicode),
        description: unicode,
        parameters: fc.oneof(
          json,
          fc.record({ type: fc.constantFrom('object', 'string'), properties: json }),
        ),
      },
      { requiredKeys: ['type'] },
    ),
  ),
  { maxLength: 4 },
);
const generationConfig = fc.dictionary(fc.constantFrom(...GEN_FIELDS), plausible, { maxKeys: 5 });
const responseFormat = fc.oneof(
  json,
  fc.record(
    {
      type: fc.constantFrom('text', 'image', 'audio', 'video', 'json'),
      mime_type: plausible,
      schema: json,
    },
    { requiredKeys: ['type'] },
  ),
);
const fieldValue: Record<string, fc.Arbitrary<unknown>> = {
  input: inputValue,
  tools: toolValue,
  generation_config: generationConfig,
  response_format: responseFormat,
  labels: fc.dictionary(
    fc.oneof(fc.constantFrom(...HOSTILE_KEYS, 'env', 'Env'), unicode),
    plausible,
    { maxKeys: 3 },
  ),
};

/** 1. One known top-level field (or a hostile key) holds an arbitrary JSON value. */
const oneFieldAnything = fc
  .tuple(fc.constantFrom(...TOP_LEVEL, ...HOSTILE_KEYS), fc.oneof(json, plausible))
  // A computed `__proto__` key is an own property, so it goes over the wire as a real key.
  .map(([key, value]) => serialize({ ...BASE, [key]: value }));

/** 2. Objects made of the known keys (and hostile keys) with random values, some shaped. */
const knownKeysRandomValues = fc
  .dictionary(fc.constantFrom(...TOP_LEVEL, ...HOSTILE_KEYS), fc.constant(null), { maxKeys: 8 })
  .chain((keys) =>
    fc.record(
      Object.fromEntries(
        Object.keys(keys).map((k) => [
          k,
          Object.hasOwn(fieldValue, k) ? fieldValue[k]! : plausible,
        ]),
      ) as Record<string, fc.Arbitrary<unknown>>,
    ),
  )
  .map((body) => serialize(body));

/** 3. Mostly valid bodies with one shaped-but-random part: the paths validation walks deepest. */
const nearlyValid = fc
  .record(
    {
      model: fc.oneof(
        { weight: 5, arbitrary: fc.constant(MODEL) },
        { weight: 1, arbitrary: unicode },
      ),
      input: inputValue,
      tools: toolValue,
      generation_config: generationConfig,
      response_format: responseFormat,
      stream: fc.boolean(),
      background: fc.boolean(),
      store: fc.boolean(),
    },
    { requiredKeys: ['model', 'input'] },
  )
  .map((body) => serialize(body));

/** 3b. Well-formed bodies with random but valid-looking values: these reach the engine. */
const fnName = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,10}$/);
const schemaType = fc.constantFrom(
  'string',
  'number',
  'integer',
  'boolean',
  'array',
  'object',
  'null',
);
const jsonSchema = fc.letrec<{ schema: Record<string, unknown> }>((tie) => ({
  schema: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ type: schemaType }),
    fc.record(
      {
        type: fc.constant('object'),
        properties: fc.dictionary(fnName, tie('schema'), { maxKeys: 3 }),
        required: fc.array(fnName, { maxLength: 2 }),
      },
      { requiredKeys: ['type'] },
    ),
    fc.record(
      {
        type: fc.constant('array'),
        items: tie('schema'),
        minItems: fc.nat(3),
        maxItems: fc.nat(5),
      },
      { requiredKeys: ['type'] },
    ),
    fc.record({
      enum: fc.array(fc.oneof(fc.string(), fc.integer()), { minLength: 1, maxLength: 3 }),
    }),
    fc.record({ anyOf: fc.array(tie('schema'), { minLength: 1, maxLength: 2 }) }),
    fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 3 }),
  ),
})).schema;
const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 });
const conversation = fc
  .tuple(
    text,
    text,
    fc.option(fc.string({ minLength: 1, maxLength: 20 })),
    fnName,
    fc.dictionary(fnName, json, { maxKeys: 3 }),
    fc.oneof(text, fc.dictionary(fnName, json, { maxKeys: 3 })),
  )
  .map(([question, answer, signature, name, args, result]) => [
    { type: 'user_input', content: [{ type: 'text', text: question }] },
    ...(signature
      ? [{ type: 'thought', signature, summary: [{ type: 'text', text: 'thinking' }] }]
      : []),
    { type: 'model_output', content: [{ type: 'text', text: answer }] },
    { type: 'function_call', id: 'call_1', name, arguments: args },
    { type: 'function_result', call_id: 'call_1', name, result },
    { type: 'user_input', content: [{ type: 'text', text: question }] },
  ]);
const validish = fc
  .record(
    {
      model: fc.constantFrom(MODEL, 'test-model', 'gemini-2.0-pro'),
      input: fc.oneof(
        text,
        fc.array(fc.record({ type: fc.constant('text'), text }), { minLength: 1, maxLength: 3 }),
        fc.record({
          type: fc.constant('image'),
          uri: fc.constant('https://example.com/cat.png'),
          mime_type: fc.constant('image/png'),
        }),
        conversation,
      ),
      system_instruction: text,
      tools: fc.uniqueArray(fnName, { maxLength: 3 }).chain((names) =>
        fc.tuple(
          ...names.map((name) =>
            fc.record(
              {
                type: fc.constant('function'),
                name: fc.constant(name),
                description: text,
                parameters: fc.record({
                  type: fc.constant('object'),
                  properties: fc.dictionary(fnName, jsonSchema, { maxKeys: 3 }),
                }),
              },
              { requiredKeys: ['type', 'name'] },
            ),
          ),
        ),
      ),
      generation_config: fc.record(
        {
          temperature: fc.double({ min: 0, max: 2, noNaN: true }),
          top_p: fc.double({ min: 0, max: 1, noNaN: true }),
          top_k: fc.integer({ min: 1, max: 1000 }),
          max_output_tokens: fc.integer({ min: 1, max: 2 ** 31 }),
          seed: fc.integer(),
          stop_sequences: fc.array(fc.string({ minLength: 1, maxLength: 5 }), { maxLength: 16 }),
          thinking_level: fc.constantFrom('minimal', 'low', 'medium', 'high'),
          thinking_summaries: fc.constantFrom('auto', 'none'),
          tool_choice: fc.oneof(
            fc.constantFrom('auto', 'any', 'none', 'validated'),
            fc.record({
              allowed_tools: fc.record(
                {
                  mode: fc.constantFrom('auto', 'any', 'none', 'validated'),
                  tools: fc.array(fnName, { maxLength: 2 }),
                },
                { requiredKeys: [] },
              ),
            }),
          ),
        },
        { requiredKeys: [] },
      ),
      response_format: fc.oneof(
        fc.record({
          type: fc.constant('text'),
          mime_type: fc.constant('application/json'),
          schema: jsonSchema,
        }),
        fc.record({
          type: fc.constant('text'),
          mime_type: fc.constantFrom('text/plain', 'application/json'),
        }),
        jsonSchema,
      ),
      response_mime_type: fc.constantFrom('text/plain', 'application/json'),
      stream: fc.boolean(),
      background: fc.boolean(),
      labels: fc.dictionary(
        fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/),
        fc.stringMatching(/^[a-z0-9_-]{0,10}$/),
        { maxKeys: 3 },
      ),
      service_tier: fc.constantFrom('flex', 'standard', 'priority', 'deferred'),
      safety_settings: fc.array(
        fc.record({
          type: fc.constantFrom('HARM_CATEGORY_HARASSMENT', 'x'),
          threshold: fc.constantFrom('BLOCK_NONE', 'y'),
        }),
        { maxLength: 2 },
      ),
      webhook_config: fc.record(
        {
          uris: fc.array(fc.webUrl(), { maxLength: 1 }),
          user_metadata: fc.dictionary(fnName, json, { maxKeys: 2 }),
        },
        { requiredKeys: [] },
      ),
      environment: fc.constantFrom('remote', 'env_1'),
      cached_content: fc.string({ maxLength: 10 }),
    },
    { requiredKeys: ['model', 'input'] },
  )
  .map((body) => serialize(body));

/** 4. Random strings (and mangled JSON) as raw bodies. */
const rawBodies = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: 'grapheme-ascii', maxLength: 200 }),
  fc.json({ maxDepth: 3 }),
  fc
    .tuple(fc.json({ maxDepth: 3 }), fc.nat(), fc.string({ maxLength: 5 }))
    .map(([text, at, junk]) => {
      const i = text.length === 0 ? 0 : at % text.length;
      return text.slice(0, i) + junk + text.slice(i + 1);
    }),
  fc.constantFrom(
    '',
    'null',
    '[]',
    '{}',
    '""',
    '0',
    '-',
    '{"model":',
    '\uFEFF{}',
    '{"a":1}{"a":2}',
    'NaN',
    'Infinity',
    '{"model":"gemini-3.5-flash","input":"hi",}',
  ),
);

/** 5. Deep nesting of arrays/objects at a random place. */
const deeplyNested = fc
  .tuple(
    fc.constantFrom(
      'input',
      'tools',
      'labels',
      'environment',
      'generation_config',
      'speech',
      'arguments',
      'result',
      'schema',
      'unknown',
    ),
    // Around the limit (the value still reaches the engine) and far beyond it.
    fc.oneof(fc.integer({ min: 1, max: 120 }), fc.integer({ min: 120, max: 60_000 })),
    fc.boolean(),
  )
  .map(([where, depth, objects]) => {
    const nest = objects
      ? '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
      : '['.repeat(depth) + ']'.repeat(depth);
    switch (where) {
      case 'speech':
        return `{"model":"${MODEL}","input":"hi","generation_config":{"speech_config":${nest}}}`;
      case 'arguments':
        return `{"model":"${MODEL}","input":[{"type":"function_call","id":"c","name":"f","arguments":{"x":${nest}}}]}`;
      case 'result':
        return `{"model":"${MODEL}","input":[{"type":"function_call","id":"c","name":"f","arguments":{}},{"type":"function_result","call_id":"c","result":{"x":${nest}}}]}`;
      case 'schema':
        return `{"model":"${MODEL}","input":"hi","tools":[{"type":"function","name":"f","parameters":{"type":"object","properties":${nest}}}]}`;
      case 'unknown':
        return `{"model":"${MODEL}","input":"hi","zz":${nest}}`;
      default:
        return `{"model":"${MODEL}","input":"hi","${where}":${nest}}`;
    }
  });

/** 6. Huge (bounded) strings in a random field, with unicode. */
const hugeStrings = fc
  .tuple(
    fc.constantFrom(
      'input',
      'model',
      'system_instruction',
      'previous_interaction_id',
      'continuation_token',
      'key',
      'type',
      'tool name',
      'label',
    ),
    fc.integer({ min: 10_000, max: 2_000_000 }),
    fc.constantFrom('x', 'é', '🙂', '\u0000', '/', '"'),
  )
  .map(([where, length, unit]) => {
    const big = unit.repeat(Math.ceil(length / unit.length));
    switch (where) {
      case 'input':
        return serialize({ model: MODEL, input: big.slice(0, 200_000), store: false });
      case 'key':
        return serialize({ ...BASE, [big]: 1 });
      case 'type':
        return serialize({ ...BASE, input: [{ type: big }] });
      case 'tool name':
        return serialize({ ...BASE, tools: [{ type: 'function', name: big }] });
      case 'label':
        return serialize({ ...BASE, labels: { env: big } });
      case 'model':
        return serialize({ ...BASE, model: `gemini/${big}` });
      default:
        return serialize({ ...BASE, [where]: big });
    }
  });

function serialize(value: unknown): string {
  return JSON.stringify(value);
}

/** A request body that prints shortened in fast-check's counterexample report. */
class Body {
  constructor(readonly text: string) {}
  [fc.toStringMethod](): string {
    return this.text.length > 400
      ? `${JSON.stringify(this.text.slice(0, 400))}… (${this.text.length} chars)`
      : JSON.stringify(this.text);
  }
}

// ── the property ─────────────────────────────────────────────────────────────────────────────

interface Outcome {
  status: number;
  text: string;
}

function assertWellFormed(body: string, res: Outcome, contentType: string | null): void {
  const context = `request ${body.slice(0, 200)}${body.length > 200 ? '…' : ''} → ${res.status} ${res.text.slice(0, 300)}`;
  if (res.status === 200) {
    expect(contentType, context).toMatch(/^(application\/json|text\/event-stream)/);
    if (contentType?.startsWith('application/json')) JSON.parse(res.text);
    else expect(res.text, context).toContain('data: [DONE]');
    // A run may fail for a reason it reports (the echo model is not JSON), but never from a bug.
    expect(res.text, context).not.toContain('"internal_error"');
    return;
  }
  expect(res.status, context).toBeGreaterThanOrEqual(400);
  expect(res.status, context).toBeLessThan(500);
  expect(contentType, context).toMatch(/^application\/json/);
  const parsed = JSON.parse(res.text) as {
    error?: { code?: unknown; status?: unknown; message?: unknown };
  };
  expect(typeof parsed.error?.code, context).toBe('string');
  expect(typeof parsed.error?.status, context).toBe('string');
  expect(typeof parsed.error?.message, context).toBe('string');
  expect((parsed.error!.message as string).length, context).toBeGreaterThan(0);
  // Messages echo at most a bounded slice of what was sent.
  expect(res.text.length, context).toBeLessThan(4096);
}

describe('create-body fuzzing (sqlite)', () => {
  let h: Harness;
  let sent = 0;
  beforeAll(async () => {
    // JSON mode gets a JSON answer, so structured-output checks run against random schemas.
    h = await startHarness({
      store: 'sqlite',
      script: (body, index) =>
        body.response_format ? { text: ['{"ok":', 'true}'] } : echoScript(body, index),
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  async function post(body: string, path = '/v1/interactions'): Promise<void> {
    sent++;
    const res = await h.fetch(path, { method: 'POST', body });
    const outcome = { status: res.status, text: await res.text() };
    assertWellFormed(body, outcome, res.headers.get('content-type'));
  }

  const run = (arb: fc.Arbitrary<string>, numRuns: number) =>
    fc.assert(
      fc.asyncProperty(
        arb.map((text) => new Body(text)),
        (body) => post(body.text),
      ),
      { seed: SEED, numRuns, endOnFailure: true },
    );

  it('one top-level field holding any JSON value', async () => {
    await run(oneFieldAnything, 800);
  });

  it('known and hostile keys with random values', async () => {
    await run(knownKeysRandomValues, 800);
  });

  it('nearly valid bodies with random inputs, tools and configs', async () => {
    await run(nearlyValid, 800);
  });

  it('well-formed bodies with random values that reach the model', async () => {
    await run(validish, 500);
  });

  it('random strings and mangled JSON as the raw body', async () => {
    await run(rawBodies, 600);
  });

  it('deep nesting', async () => {
    await run(deeplyNested, 150);
  });

  it('huge strings and unicode', async () => {
    await run(hugeStrings, 60);
  });

  it('prototype-pollution keys do not leak into the server', async () => {
    const bodies = [
      '{"model":"gemini-3.5-flash","input":"hi","__proto__":{"polluted":true}}',
      '{"model":"gemini-3.5-flash","input":"hi","constructor":{"prototype":{"polluted":true}}}',
      '{"model":"gemini-3.5-flash","input":"hi","generation_config":{"__proto__":{"polluted":true}}}',
      '{"model":"gemini-3.5-flash","input":"hi","labels":{"__proto__":{"polluted":"x"}}}',
      '{"model":"gemini-3.5-flash","input":[{"type":"function_call","id":"c","name":"f","arguments":{"__proto__":{"polluted":true}}},{"type":"function_result","call_id":"c","result":{"__proto__":{"polluted":true}}}]}',
      '{"model":"gemini-3.5-flash","input":{"type":"__proto__"}}',
      '{"model":"gemini-3.5-flash","input":[{"type":"hasOwnProperty"}]}',
      '{"model":"gemini-3.5-flash","input":"hi","tools":[{"type":"constructor"}]}',
      '{"model":"gemini-3.5-flash","input":"hi","response_format":{"type":"__proto__"}}',
    ];
    for (const body of bodies) await post(body);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('random ids and query parameters on get, cancel and delete', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'binary', maxLength: 150 }),
        fc.constantFrom('GET', 'DELETE', 'POST'),
        fc.dictionary(
          fc.constantFrom('stream', 'last_event_id', 'include_input', 'key', 'alt'),
          unicode,
          { maxKeys: 3 },
        ),
        async (id, method, query) => {
          sent++;
          const qs = new URLSearchParams(query as Record<string, string>).toString();
          const path = `/v1/interactions/${encodeURIComponent(id)}${method === 'POST' ? '/cancel' : ''}${qs ? `?${qs}` : ''}`;
          const res = await h.fetch(path, { method });
          const outcome = { status: res.status, text: await res.text() };
          // An id that is not URL-safe may be refused by the router before our handler runs.
          assertWellFormed(`${method} ${path}`, outcome, res.headers.get('content-type'));
        },
      ),
      { seed: SEED, numRuns: 600, endOnFailure: true },
    );
  });

  it('still serves a normal create and the health check afterwards', async () => {
    expect(sent).toBeGreaterThan(4000);
    const res = await h.fetch('/v1/interactions', {
      method: 'POST',
      body: JSON.stringify({ model: MODEL, input: 'after the storm' }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      status: string;
      steps: { content?: { text?: string }[] }[];
    };
    expect(body.status).toBe('completed');
    expect(body.steps.at(-1)?.content?.[0]?.text).toBe('echo: after the storm');
    const health = await h.fetch('/healthz', { key: null });
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
  });
});
