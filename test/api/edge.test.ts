import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_A, noRetry, startHarness, type Harness } from '../support/harness.js';

describe('logs, CORS, health and generation_config mapping', () => {
  let h: Harness;
  const lines: string[] = [];
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    h = await startHarness({ store: 'sqlite', logger: pino({ level: 'info' }, sink) });
  });
  afterAll(async () => {
    await h.close();
  });

  it('writes one structured line per request with request id, interaction id, project and latency — never a key', async () => {
    const body = JSON.stringify({ model: 'gemini-3.5-flash', input: 'log me' });
    await fetch(`${h.baseUrl}/v1beta/interactions?key=${KEY_A}`, { method: 'POST', body });
    await fetch(`${h.baseUrl}/v1beta/interactions`, {
      method: 'POST',
      body,
      headers: { authorization: `Bearer ${KEY_A}` },
    });
    const r = await h
      .client()
      .interactions.create({ model: 'gemini-3.5-flash', input: 'x' }, noRetry);
    await fetch(`${h.baseUrl}/v1beta/interactions`, {
      method: 'POST',
      body,
      headers: { 'x-goog-api-key': 'wrong-key-123456' },
    });
    const text = lines.join('');
    expect(text).not.toContain(KEY_A);
    expect(text).not.toContain('wrong-key-123456');
    expect(text).not.toContain('upstream-secret');
    const requests = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'request');
    const mine = requests.find((l) => l.interaction_id === r.id)!;
    expect(mine).toMatchObject({ method: 'POST', status: 200, project: 'team-a' });
    expect(typeof mine.reqId).toBe('string');
    expect(typeof mine.latency_ms).toBe('number');
    expect(requests.some((l) => String(l.url).includes('key=***'))).toBe(true);
  });

  it('answers CORS preflights with the headers the browser SDK sends', async () => {
    const res = await fetch(`${h.baseUrl}/v1beta/interactions`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:5173',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-goog-api-key,x-goog-api-client',
      },
    });
    expect(res.status).toBeLessThan(300);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(res.headers.get('access-control-allow-headers')).toMatch(/x-goog-api-key/);
    expect(res.headers.get('access-control-allow-methods')).toMatch(/DELETE/);
  });

  it('serves /healthz and /readyz', async () => {
    expect(await (await fetch(`${h.baseUrl}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${h.baseUrl}/readyz`)).json()).toEqual({ status: 'ready' });
  });

  it('maps generation_config and system_instruction onto the upstream request', async () => {
    await h.client().interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'configured',
        system_instruction: 'Be brief.',
        generation_config: {
          temperature: 0.3,
          top_p: 0.9,
          max_output_tokens: 64,
          stop_sequences: ['END'],
          seed: 42,
          thinking_level: 'high',
        },
      },
      noRetry,
    );
    const sent = h.upstream.requests.at(-1)!;
    expect(sent).toMatchObject({
      model: 'upstream-model',
      temperature: 0.3,
      top_p: 0.9,
      max_tokens: 64,
      stop: ['END'],
      seed: 42,
      reasoning_effort: 'high',
      stream: true,
    });
    expect(sent.messages[0]).toEqual({ role: 'system', content: 'Be brief.' });
  });

  it('turns reasoning into a thought step: one summary item with thinking_summaries auto, none by default (as Google)', async () => {
    h.upstream.script = () => ({ reasoning: ['Let me ', 'think.'], text: ['42'] });
    const ask = (generation_config?: { thinking_summaries: 'auto' | 'none' }) =>
      h.client().interactions.create(
        {
          model: 'gemini-3.5-flash',
          input: 'q',
          ...(generation_config ? { generation_config } : {}),
        },
        noRetry,
      );
    const withSummary = await ask({ thinking_summaries: 'auto' });
    expect(withSummary.steps?.[0]).toEqual({
      type: 'thought',
      summary: [{ type: 'text', text: 'Let me think.' }],
      signature: expect.any(String),
    });
    expect(withSummary.output_text).toBe('42');
    for (const quiet of [await ask(), await ask({ thinking_summaries: 'none' })]) {
      expect(quiet.steps?.[0]).toEqual({ type: 'thought', signature: expect.any(String) });
      expect(quiet.output_text).toBe('42');
    }
  });
});
