import { GoogleGenAI } from '@google/genai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildServer, writeConfig, type ChildServer } from '../support/child-server.js';
import {
  startFakeUpstream,
  type ChatRequest,
  type FakeUpstream,
} from '../support/fake-upstream.js';
import {
  KEY_A,
  KEY_B,
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

// Generous: each run may start a sandbox process on a busy machine (not an assertion).
describe(
  'code_execution through the tool loop (Python in a WASM sandbox)',
  { timeout: 180_000 },
  () => {
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

    // The memory bomb is in the suite below, where only memory can end it.
    it('kills an infinite loop at the time limit; the server keeps serving', async () => {
      const loop = await run('while True:\n    pass');
      expect(loop.is_error).toBe(true);
      expect(loop.result).toMatch(/timed out after 3 s/);
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
        delta: {
          type: 'code_execution_call',
          arguments: { language: 'python', code: 'print(6*7)' },
        },
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
  },
);

type ResultStep = { type: string; result: string; is_error: boolean };

/** Resident memory of a process, in MB (Linux). */
function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

const FFI = 'from pyodide.ffi import to_js\nArray = to_js([]).constructor\n';

/** What the attack on the old in-process sandbox ran (issue 9, points 1 and 2). */
const ATTACKS: Record<string, string> = {
  'a loop of JS arrays': `${FFI}kept = []\nwhile True:\n    kept.append(Array.new(10**7))`,
  'one Array.new(10**8)': `${FFI}x = Array.new(10**8)\nprint("allocated", x.length)`,
  'ArrayBuffers outside the wasm heap': [
    'from pyodide.ffi import to_js',
    'ArrayBuffer = to_js(memoryview(bytearray(8))).buffer.constructor',
    'kept = []',
    'while True:',
    '    kept.append(ArrayBuffer.new(10**8))',
  ].join('\n'),
  'the JS bridge behind the import block': [
    'import sys',
    'sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_Blocked"]',
    'import _pyodide_core',
    '_pyodide_core.to_js([]).constructor.new(10**8)',
  ].join('\n'),
  'a Python memory bomb': 'x = []\nwhile True:\n    x.append("a" * 10**7)',
};

/**
 * A real server process (the CLI from source) with a time limit far beyond these tests, so only
 * memory, a refusal or a cancel can end a program, however busy the machine is.
 */
describe('hostile programs against a server process', () => {
  let upstream: FakeUpstream;
  let server: ChildServer;
  let dir: string;
  const client = (key: string) =>
    new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: server.baseUrl } });

  beforeAll(async () => {
    upstream = await startFakeUpstream(runThenReport);
    dir = mkdtempSync(join(tmpdir(), 'oi-sandbox-'));
    const config = writeConfig(dir, {
      models: [
        { name: 'gemini-*', backend: 'openai-compatible', base_url: upstream.url, model: 'm' },
      ],
      keys: [
        { key: KEY_A, project: 'team-a' },
        { key: KEY_B, project: 'team-b' },
      ],
      tools: { code_execution: { timeout_seconds: 3600, memory_mb: 256, max_concurrent: 2 } },
    });
    server = await startChildServer(['--config', config, '--db', `sqlite:${join(dir, 'oi.db')}`]);
  }, 120_000);
  afterAll(async () => {
    server?.process.kill('SIGTERM');
    await server?.exited;
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  const create = (key: string, code: string, background = false) =>
    client(key).interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: [{ type: 'text', text: code }],
        tools: [{ type: 'code_execution' }],
        background,
      },
      noRetry,
    );
  const resultOf = (steps: unknown[] | undefined) =>
    steps?.find((s) => (s as ResultStep).type === 'code_execution_result') as
      ResultStep | undefined;

  it('ends every FFI allocation attack, the ArrayBuffer bypass and a memory bomb as a failed tool result while another project is served; the server stays the same process with bounded memory', async () => {
    const pid = server.process.pid!;
    // The first run makes the interpreter snapshot, which the server keeps (~20 MB).
    const warm = await create(KEY_B, 'print("warm")');
    expect(resultOf(warm.steps)).toMatchObject({ result: 'warm\n', is_error: false });
    const before = rssMb(pid);

    const attacks = (async () => {
      const results: Record<string, ResultStep | undefined> = {};
      for (const [name, code] of Object.entries(ATTACKS)) {
        const r = await create(KEY_A, code);
        expect(r.status, name).toBe('completed');
        results[name] = resultOf(r.steps);
      }
      return results;
    })();
    const other: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await create(KEY_B, `print("b", ${i})`);
      other.push(resultOf(r.steps)!.result);
    }
    const results = await attacks;

    expect(other).toEqual(['b 0\n', 'b 1\n', 'b 2\n']);
    for (const [name, result] of Object.entries(results)) {
      expect(result?.is_error, name).toBe(true);
    }
    // The lockdown stops the FFI routes at the import, or at the bridge when that is bypassed.
    expect(results['a loop of JS arrays']!.result).toMatch(
      /ImportError: module 'pyodide' is not available in the sandbox\n$/,
    );
    expect(results['the JS bridge behind the import block']!.result).toMatch(
      /the JavaScript bridge, which is closed in the sandbox/,
    );
    expect(results['a Python memory bomb']!.result).toMatch(/MemoryError\n$/);

    expect(server.process.exitCode).toBeNull();
    expect(server.process.signalCode).toBeNull();
    expect(server.process.pid).toBe(pid);
    expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
    // The old in-process sandbox grew the server by ~650 MB (or ended it) on these programs.
    expect(rssMb(pid) - before).toBeLessThan(150);
  }, 600_000);

  it("gives another project a slot while one project's endless programs run", async () => {
    const loop = 'while True:\n    pass';
    const a1 = await create(KEY_A, loop, true);
    const a2 = await create(KEY_A, loop, true);
    // One of A's two programs is refused for its project's share; the other keeps a slot.
    let refused: ResultStep | undefined;
    let running = '';
    for (let i = 0; i < 600 && !refused; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (const id of [a1.id, a2.id]) {
        const step = resultOf((await client(KEY_A).interactions.get(id, undefined, noRetry)).steps);
        if (step) refused = step;
        else running = id;
      }
    }
    expect(refused).toMatchObject({
      is_error: true,
      result:
        'code execution is at capacity for this project (1 of 1 programs per project running); try again later\n',
    });
    const b = await create(KEY_B, 'print("b is served")');
    expect(resultOf(b.steps)).toMatchObject({ result: 'b is served\n', is_error: false });
    const cancelled = await client(KEY_A).interactions.cancel(running, undefined, noRetry);
    expect(cancelled.status).toBe('cancelled');
    // The cancelled program's slot is free again.
    const again = await create(KEY_A, 'print("a again")');
    expect(resultOf(again.steps)).toMatchObject({ result: 'a again\n', is_error: false });
  }, 600_000);
});
