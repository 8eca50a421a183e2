import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatRequest } from '../support/fake-upstream.js';
import {
  interactionEvents,
  noRetry,
  parseSse,
  startHarness,
  type Harness,
} from '../support/harness.js';

/** Round 1: the model runs the code given as the user's input; round 2: it repeats the output. */
function runThenReport(body: ChatRequest) {
  const result = body.messages.find((m) => m.role === 'tool');
  if (!result) {
    const content = body.messages.at(-1)!.content;
    const code = typeof content === 'string' ? content : (content as { text: string }[])[0]!.text;
    return { toolCalls: [{ name: 'code_execution', arguments: JSON.stringify({ code }) }] };
  }
  return { text: [`Output: ${String(result.content).slice(0, 200)}`] };
}

describe('code_execution through the tool loop (Python in a WASM sandbox)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      store: 'sqlite',
      config: { tools: { code_execution: { timeout_seconds: 3, memory_mb: 256 } } },
    });
    h.upstream.script = runThenReport;
  });
  afterAll(async () => {
    await h.close();
  });

  const run = async (code: string) => {
    const r = await h.client().interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: [{ type: 'text', text: code }],
        tools: [{ type: 'code_execution' }],
      },
      noRetry,
    );
    expect(r.status).toBe('completed');
    expect(r.steps?.map((s) => s.type)).toEqual([
      'code_execution_call',
      'code_execution_result',
      'model_output',
    ]);
    expect(r.steps?.[0]).toMatchObject({ arguments: { language: 'python', code } });
    return r.steps![1] as unknown as { result: string; is_error: boolean; call_id: string };
  };

  it('runs prints and reports the output', async () => {
    expect(await run('print(2**10)')).toMatchObject({ result: '1024\n', is_error: false });
  });

  it('reports an exception as an error result the model can react to', async () => {
    const result = await run('1/0');
    expect(result.is_error).toBe(true);
    expect(result.result).toMatch(/ZeroDivisionError/);
  });

  it('kills an infinite loop at the time limit and a memory bomb at the memory limit; the server keeps serving', async () => {
    const loop = await run('while True:\n    pass');
    expect(loop.is_error).toBe(true);
    expect(loop.result).toMatch(/timed out/);
    const bomb = await run('x = []\nwhile True:\n    x.append("a" * 10**7)');
    expect(bomb.is_error).toBe(true);
    expect(bomb.result).toMatch(/MemoryError|memory/i);
    expect((await run('print("still here")')).result).toBe('still here\n');
    expect((await fetch(`${h.baseUrl}/healthz`)).status).toBe(200);
  });

  it('cannot open a socket or read /etc/passwd', async () => {
    const socket = await run(
      'import socket\nsocket.create_connection(("127.0.0.1", 80), timeout=1)',
    );
    expect(socket.is_error).toBe(true);
    const passwd = await run('print(open("/etc/passwd").read())');
    expect(passwd.is_error).toBe(true);
    expect(passwd.result).toMatch(/FileNotFoundError|No such file/);
  });

  it('streams the call and result steps as spec §5.5 (e)', async () => {
    const res = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({
        model: 'gemini-3.5-flash',
        input: [{ type: 'text', text: 'print(6*7)' }],
        tools: [{ type: 'code_execution' }],
        stream: true,
      }),
    });
    const events = interactionEvents(parseSse(await res.text()));
    expect(events[2]).toMatchObject({
      event_type: 'step.start',
      index: 0,
      step: { type: 'code_execution_call', signature: '' },
    });
    expect(events[3]).toMatchObject({
      event_type: 'step.delta',
      delta: { type: 'code_execution_call', arguments: { language: 'python', code: 'print(6*7)' } },
    });
    expect(events[5]).toMatchObject({
      event_type: 'step.start',
      index: 1,
      step: { type: 'code_execution_result' },
    });
    expect(events[6]).toMatchObject({
      event_type: 'step.delta',
      delta: { type: 'code_execution_result', result: '42\n', is_error: false },
    });
    expect(events.at(-1)).toMatchObject({
      event_type: 'interaction.completed',
      interaction: { status: 'completed' },
    });
  });
});
