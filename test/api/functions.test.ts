import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { STORE_KINDS } from '../support/databases.js';
import { echoScript, type ChatRequest } from '../support/fake-upstream.js';
import { noRetry, startHarness, type Harness } from '../support/harness.js';

const weatherTool = {
  type: 'function' as const,
  name: 'get_current_temperature',
  description: 'Gets the current temperature for a given location.',
  parameters: {
    type: 'object',
    properties: { location: { type: 'string', description: 'The city name, e.g. San Francisco' } },
    required: ['location'],
  },
};

function getCurrentTemperature(location: string) {
  return { location, temperature: location === 'London' ? '15C' : '25C' };
}

/** Answers tool calls on the first turn, then a text that repeats the tool results it was given. */
function weatherScript(cities: string[]) {
  return (body: ChatRequest) => {
    const results = body.messages.filter((m) => m.role === 'tool');
    if (results.length === 0) {
      return {
        toolCalls: cities.map((c) => ({
          name: 'get_current_temperature',
          arguments: JSON.stringify({ location: c }),
          argumentChunks: ['{"location":', JSON.stringify(c), '}'],
        })),
      };
    }
    return { text: [`It is ${results.map((r) => String(r.content)).join(' and ')}.`] };
  };
}

describe.each(STORE_KINDS)('client functions (%s)', (store) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store });
  });
  afterAll(async () => {
    await h.close();
  });
  beforeEach(() => {
    h.upstream.script = echoScript;
  });

  it("runs the seed's function-calling example end to end (non-streaming)", async () => {
    h.upstream.script = weatherScript(['London']);
    const ai = h.client();
    // --- the seed's code, unchanged except for the client's baseUrl
    const interaction = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: "What's the temperature in London?",
        tools: [weatherTool],
      },
      noRetry,
    );
    expect(interaction.status).toBe('requires_action');
    let answer: string | undefined;
    for (const step of interaction.steps ?? []) {
      if (step.type === 'function_call') {
        expect(step.id).toMatch(/^[a-z0-9]{8}$/);
        const result = getCurrentTemperature((step.arguments as { location: string }).location);
        const next = await ai.interactions.create(
          {
            model: 'gemini-3.5-flash',
            previous_interaction_id: interaction.id,
            tools: [weatherTool],
            input: [{ type: 'function_result', name: step.name, call_id: step.id, result }],
          },
          noRetry,
        );
        answer = next.output_text;
        const got = await ai.interactions.get(next.id, undefined, noRetry);
        expect(got.steps?.[0]).toMatchObject({ type: 'function_result', call_id: step.id });
      }
    }
    expect(answer).toBe('It is {"location":"London","temperature":"15C"}.');
    // the upstream saw the call and its result, matched by id
    const last = h.upstream.requests.at(-1)!;
    const assistant = last.messages.find((m) => m.role === 'assistant')!;
    const tool = last.messages.find((m) => m.role === 'tool')!;
    const callId = (assistant.tool_calls![0] as { id: string }).id;
    expect(tool.tool_call_id).toBe(callId);
    expect(
      JSON.parse(
        (assistant.tool_calls![0] as { function: { arguments: string } }).function.arguments,
      ),
    ).toEqual({ location: 'London' });
  });

  it('runs the same example streaming; parallel calls are all answered in one turn', async () => {
    h.upstream.script = weatherScript(['London', 'Paris']);
    const ai = h.client();
    const stream = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'Temperature in London and Paris?',
        tools: [weatherTool],
        stream: true,
      },
      noRetry,
    );
    const calls: { id: string; name: string; args: string }[] = [];
    let id = '';
    let status = '';
    for await (const event of stream) {
      if (event.event_type === 'interaction.created') id = event.interaction.id;
      if (event.event_type === 'step.start' && event.step.type === 'function_call') {
        expect(event.step.arguments).toEqual({});
        calls.push({ id: event.step.id, name: event.step.name, args: '' });
      }
      if (event.event_type === 'step.delta' && event.delta.type === 'arguments_delta')
        calls.at(-1)!.args += event.delta.arguments;
      if (event.event_type === 'interaction.completed') status = event.interaction.status;
    }
    expect(status).toBe('requires_action');
    expect(calls.map((c) => JSON.parse(c.args).location)).toEqual(['London', 'Paris']);
    expect(new Set(calls.map((c) => c.id)).size).toBe(2);
    const next = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        previous_interaction_id: id,
        input: calls.map((c) => ({
          type: 'function_result' as const,
          call_id: c.id,
          result: getCurrentTemperature(JSON.parse(c.args).location),
        })),
        stream: true,
      },
      noRetry,
    );
    let text = '';
    for await (const event of next)
      if (event.event_type === 'step.delta' && event.delta.type === 'text')
        text += event.delta.text;
    expect(text).toContain('15C');
    expect(text).toContain('25C');
  });

  it('accepts string, object and content-list results, and is_error', async () => {
    const ai = h.client();
    const results: unknown[] = [
      'plain string result',
      { items: [1, 2, 3] },
      [
        { type: 'text', text: 'a screenshot follows' },
        { type: 'image', data: 'iVBORw0KGgo=', mime_type: 'image/png' },
      ],
    ];
    for (const [i, result] of results.entries()) {
      h.upstream.script = weatherScript(['Oslo']);
      const t1 = await ai.interactions.create(
        { model: 'gemini-3.5-flash', input: 'Oslo?', tools: [weatherTool] },
        noRetry,
      );
      const call = t1.steps!.find((s) => s.type === 'function_call') as { id: string };
      const t2 = await ai.interactions.create(
        {
          model: 'gemini-3.5-flash',
          previous_interaction_id: t1.id,
          input: [
            {
              type: 'function_result',
              call_id: call.id,
              result: result as never,
              is_error: i === 0,
            },
          ],
        },
        noRetry,
      );
      expect(t2.status).toBe('completed');
      const sentTool = h.upstream.requests.at(-1)!.messages.find((m) => m.role === 'tool')!;
      expect(String(sentTool.content)).toContain(
        i === 1 ? '"items":[1,2,3]' : i === 0 ? 'plain string result' : 'a screenshot follows',
      );
    }
  });

  it('rejects a missing, unknown or duplicate call_id with 400 naming the field', async () => {
    h.upstream.script = weatherScript(['Rome', 'Oslo']);
    const t1 = await h
      .client()
      .interactions.create(
        { model: 'gemini-3.5-flash', input: 'x', tools: [weatherTool] },
        noRetry,
      );
    const [a, b] = t1.steps!.filter((s) => s.type === 'function_call') as { id: string }[];
    const send = (input: object[]) =>
      h.fetch('/v1beta/interactions', {
        method: 'POST',
        body: JSON.stringify({ model: 'gemini-3.5-flash', previous_interaction_id: t1.id, input }),
      });
    const cases: [object[], RegExp][] = [
      [
        [{ type: 'function_result', call_id: a!.id, result: 'x' }],
        new RegExp(`^input: missing function_result for call_id '${b!.id}'`),
      ],
      [
        [{ type: 'function_result', call_id: 'nope1234', result: 'x' }],
        /^input\[0\]\.call_id: no function_call/,
      ],
      [
        [
          { type: 'function_result', call_id: a!.id, result: 'x' },
          { type: 'function_result', call_id: a!.id, result: 'y' },
        ],
        /^input\[1\]\.call_id: .* already answered/,
      ],
      [
        [
          { type: 'function_result', call_id: a!.id, name: 'other_fn', result: 'x' },
          { type: 'function_result', call_id: b!.id, result: 'x' },
        ],
        /^input\[0\]\.name/,
      ],
    ];
    for (const [input, message] of cases) {
      const res = await send(input);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
    }
  });

  it('maps tool_choice modes and allowed_tools onto the upstream request', async () => {
    const other = {
      type: 'function' as const,
      name: 'get_time',
      parameters: { type: 'object', properties: {} },
    };
    const cases: [unknown, unknown, string[]][] = [
      ['auto', 'auto', ['get_current_temperature', 'get_time']],
      ['any', 'required', ['get_current_temperature', 'get_time']],
      ['none', 'none', ['get_current_temperature', 'get_time']],
      [
        { allowed_tools: { mode: 'any', tools: ['get_time'] } },
        { type: 'function', function: { name: 'get_time' } },
        ['get_time'],
      ],
    ];
    for (const [choice, upstreamChoice, offered] of cases) {
      await h.client().interactions.create(
        {
          model: 'gemini-3.5-flash',
          input: 'x',
          tools: [weatherTool, other],
          generation_config: { tool_choice: choice as never },
        },
        noRetry,
      );
      const sent = h.upstream.requests.at(-1)!;
      expect(sent.tool_choice).toEqual(upstreamChoice);
      expect(sent.tools!.map((t) => t.function.name)).toEqual(offered);
    }
  });

  it('sends the same upstream prompt for a stored chain and the same conversation sent statelessly', async () => {
    h.upstream.script = weatherScript(['Lima']);
    const ai = h.client();
    const t1 = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'Weather in Lima?',
        tools: [weatherTool],
        system_instruction: 'Be brief.',
      },
      noRetry,
    );
    const call = t1.steps!.find((s) => s.type === 'function_call') as { id: string; name: string };
    const resultStep = {
      type: 'function_result' as const,
      call_id: call.id,
      name: call.name,
      result: { temperature: '19C' },
    };
    await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        previous_interaction_id: t1.id,
        input: [resultStep],
        tools: [weatherTool],
        system_instruction: 'Be brief.',
      },
      noRetry,
    );
    const stored = h.upstream.requests.at(-1)!;
    await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        store: false,
        tools: [weatherTool],
        system_instruction: 'Be brief.',
        input: [
          { type: 'user_input', content: [{ type: 'text', text: 'Weather in Lima?' }] },
          ...(t1.steps as never[]),
          resultStep,
        ],
      },
      noRetry,
    );
    const stateless = h.upstream.requests.at(-1)!;
    expect(stateless.messages).toEqual(stored.messages);
    expect(stateless.tools).toEqual(stored.tools);
  });

  it("tool_choice 'validated' fails a call whose arguments do not match the declared schema", async () => {
    const ask = () =>
      h.client().interactions.create(
        {
          model: 'gemini-3.5-flash',
          input: 'x',
          tools: [weatherTool],
          generation_config: { tool_choice: 'validated' },
        },
        noRetry,
      );
    h.upstream.script = () => ({
      toolCalls: [{ name: 'get_current_temperature', arguments: '{"location":"Bern"}' }],
    });
    expect((await ask()).status).toBe('requires_action');
    h.upstream.script = () => ({
      toolCalls: [{ name: 'get_current_temperature', arguments: '{"city":"Bern"}' }],
    });
    const bad = await ask();
    expect(bad.status).toBe('failed');
    const got = await h.client().interactions.get(bad.id, undefined, noRetry);
    expect(got.errors?.[0]?.code).toBe('invalid_model_output');
    expect(got.errors?.[0]?.message).toMatch(
      /do not match its parameters: \(root\) must have required property 'location'/,
    );
  });

  it('offers computer_use actions as client functions; calls come back as function_call steps', async () => {
    h.upstream.script = () => ({ toolCalls: [{ name: 'click_at', arguments: '{"x":10,"y":20}' }] });
    const r = await h.client().interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'Open the docs',
        tools: [
          {
            type: 'computer_use',
            environment: 'browser',
            excluded_predefined_functions: ['drag_and_drop'],
          },
        ],
      },
      noRetry,
    );
    expect(r.status).toBe('requires_action');
    expect(r.steps?.[0]).toMatchObject({
      type: 'function_call',
      name: 'click_at',
      arguments: { x: 10, y: 20 },
    });
    const offered = h.upstream.requests.at(-1)!.tools!.map((t) => t.function.name);
    expect(offered).toContain('click_at');
    expect(offered).toContain('type_text_at');
    expect(offered).not.toContain('drag_and_drop');
  });
});
