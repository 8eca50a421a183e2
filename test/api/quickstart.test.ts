import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_KINDS } from '../support/databases.js';
import { noRetry, startHarness, type Harness } from '../support/harness.js';

describe.each(STORE_KINDS)('seed quickstart with the official SDK (%s)', (store) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store });
  });
  afterAll(async () => {
    await h.close();
  });

  it('generates text', async () => {
    const ai = h.client();
    const interaction = await ai.interactions.create(
      { model: 'gemini-3.5-flash', input: 'Tell me a short joke about programming.' },
      noRetry,
    );
    expect(interaction.status).toBe('completed');
    expect(interaction.output_text).toBe('echo: Tell me a short joke about programming.');
    expect(interaction.id).toMatch(/^v1_[A-Za-z0-9_-]{20,}$/);
    expect(interaction.steps?.map((s) => s.type)).toEqual(['model_output']);
    const usage = interaction.usage!;
    expect(usage.total_tokens).toBe(
      usage.total_input_tokens! + usage.total_output_tokens! + usage.total_thought_tokens!,
    );
  });

  it('streams text', async () => {
    const ai = h.client();
    const stream = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'Explain quantum entanglement in simple terms.',
        stream: true,
      },
      noRetry,
    );
    let text = '';
    const types: string[] = [];
    for await (const event of stream) {
      types.push(event.event_type);
      if (event.event_type === 'step.delta' && event.delta.type === 'text')
        text += event.delta.text;
    }
    expect(text).toBe('echo: Explain quantum entanglement in simple terms.');
    expect(types[0]).toBe('interaction.created');
    expect(types.at(-1)).toBe('interaction.completed');
  });

  it('continues a conversation with previous_interaction_id', async () => {
    const ai = h.client();
    const turn1 = await ai.interactions.create(
      { model: 'gemini-3.5-flash', input: 'Hi, my name is Phil.' },
      noRetry,
    );
    const turn2 = await ai.interactions.create(
      { model: 'gemini-3.5-flash', input: 'What is my name?', previous_interaction_id: turn1.id },
      noRetry,
    );
    expect(turn2.status).toBe('completed');
    expect(turn2.previous_interaction_id).toBe(turn1.id);
    const sent = h.upstream.requests.at(-1)!;
    expect(sent.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(JSON.stringify(sent.messages[0])).toContain('my name is Phil');
    expect(JSON.stringify(sent.messages[1])).toContain('echo: Hi, my name is Phil.');

    const got = await ai.interactions.get(turn2.id, undefined, noRetry);
    expect(got.steps?.map((s) => s.type)).toEqual(['user_input', 'model_output']);
    expect(got.output_text).toBe(turn2.output_text);
  });
});
