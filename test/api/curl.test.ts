import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_A, parseSse, startHarness, type Harness } from '../support/harness.js';

const run = promisify(execFile);

/** The seed's REST examples, run with the real curl and jq, changed only by host and key. */
describe('curl examples (v1beta, Api-Revision, ?alt=sse, jq -r .id chaining)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store: 'sqlite' });
  });
  afterAll(async () => {
    await h.close();
  });

  const sh = async (script: string) =>
    (
      await run('bash', ['-euo', 'pipefail', '-c', script], {
        env: { ...process.env, BASE: h.baseUrl, GEMINI_API_KEY: KEY_A },
      })
    ).stdout;

  it('generates text', async () => {
    const out = await sh(`curl -s -X POST "$BASE/v1beta/interactions" \\
      -H "x-goog-api-key: $GEMINI_API_KEY" \\
      -H 'Content-Type: application/json' \\
      -H 'Api-Revision: 2026-05-20' \\
      -d '{"model": "gemini-3.5-flash", "input": "Explain how AI works in a few words"}'`);
    const body = JSON.parse(out) as { status: string; steps: { content: { text: string }[] }[] };
    expect(body.status).toBe('completed');
    expect(body.steps[0]!.content[0]!.text).toBe('echo: Explain how AI works in a few words');
  });

  it('streams with ?alt=sse (with and without "stream": true in the body)', async () => {
    for (const body of [
      '{"model": "gemini-3.5-flash", "input": "Stream this", "stream": true}',
      '{"model": "gemini-3.5-flash", "input": "Stream this"}',
    ]) {
      const out = await sh(`curl -s -N -X POST "$BASE/v1beta/interactions?alt=sse" \\
        -H "x-goog-api-key: $GEMINI_API_KEY" -H 'Content-Type: application/json' -H 'Api-Revision: 2026-05-20' \\
        -d '${body}'`);
      const messages = parseSse(out);
      expect(messages[0]!.event).toBe('interaction.created');
      expect(messages.at(-1)).toMatchObject({ event: 'done', data: '[DONE]' });
      const text = messages
        .filter((m) => m.event === 'step.delta')
        .map((m) => (JSON.parse(m.data) as { delta: { text?: string } }).delta.text ?? '')
        .join('');
      expect(text).toBe('echo: Stream this');
    }
  });

  it('chains a conversation with jq -r .id and previous_interaction_id', async () => {
    const out = await sh(`
      ID=$(curl -s -X POST "$BASE/v1beta/interactions" -H "x-goog-api-key: $GEMINI_API_KEY" -H 'Content-Type: application/json' \\
        -d '{"model": "gemini-3.5-flash", "input": "Hi, my name is Phil."}' | jq -r .id)
      curl -s -X POST "$BASE/v1beta/interactions" -H "x-goog-api-key: $GEMINI_API_KEY" -H 'Content-Type: application/json' \\
        -d "{\\"model\\": \\"gemini-3.5-flash\\", \\"input\\": \\"What is my name?\\", \\"previous_interaction_id\\": \\"$ID\\"}" \\
        | jq -r '.previous_interaction_id + " " + .status'
      curl -s "$BASE/v1beta/interactions/$ID" -H "x-goog-api-key: $GEMINI_API_KEY" | jq -r '.steps[0].type'`);
    const [chain, type] = out.trim().split('\n');
    expect(chain).toMatch(/^v1_[A-Za-z0-9_-]+ completed$/);
    expect(type).toBe('user_input');
    const last = h.upstream.requests.at(-1)!;
    expect(JSON.stringify(last.messages)).toContain('my name is Phil');
  });

  it('takes the key as ?key= and a body sent without a content-type (curl -d default)', async () => {
    const out = await sh(
      `curl -s "$BASE/v1beta/interactions?key=$GEMINI_API_KEY" -d '{"model":"gemini-3.5-flash","input":"plain"}' | jq -r .status`,
    );
    expect(out.trim()).toBe('completed');
  });
});
