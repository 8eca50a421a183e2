import { existsSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../protocol/errors.js';
import type { ToolCallOutcome, ToolSession } from '../types.js';
import {
  TRUNCATION_MARKER,
  codeExecutionConfigSchema,
  createCodeExecutionTool,
  createCodeExecutionToolFromConfig,
  renderOutcome,
  type CodeExecutionTool,
} from './index.js';
import type { RunOutcome } from './sandbox.js';

const never = new AbortController().signal;

/** Tool for most tests: a generous time limit (the limit itself is tested with `fast`). */
let tool: CodeExecutionTool;
let session: ToolSession;
/** Short time limit, one program at a time. */
let fast: CodeExecutionTool;
let fastSession: ToolSession;

beforeAll(async () => {
  tool = createCodeExecutionTool({ timeoutMs: 20_000, memoryMb: 128, maxConcurrent: 2 });
  fast = createCodeExecutionTool({ timeoutMs: 1500, maxConcurrent: 1 });
  session = await tool.open({ type: 'code_execution' }, 0);
  fastSession = await fast.open({ type: 'code_execution' }, 0);
});

afterAll(async () => {
  await Promise.all([tool?.close(), fast?.close()]);
});

function run(code: string, signal = never, s = session): Promise<ToolCallOutcome> {
  return s.execute('code_execution', { code }, signal);
}

function resultOf(outcome: ToolCallOutcome): { text: string; isError: boolean } {
  const { result, is_error } = outcome.result as { result: string; is_error: boolean };
  return { text: result, isError: is_error };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('tool shape and validation', () => {
  it('declares one function and the code_execution step types', async () => {
    expect(tool.type).toBe('code_execution');
    expect(session.type).toBe('code_execution');
    expect(session.steps).toEqual({
      call: 'code_execution_call',
      result: 'code_execution_result',
    });
    expect(session.declarations).toHaveLength(1);
    const [declaration] = session.declarations;
    expect(declaration!.name).toBe('code_execution');
    expect(declaration!.description).toMatch(/^Runs Python 3 code in a sandbox/);
    expect(declaration!.parameters).toEqual({
      type: 'object',
      properties: { code: { type: 'string', description: expect.any(String) } },
      required: ['code'],
    });
  });

  it('rejects unknown fields of the tool entry, naming tools[index].<field>', async () => {
    const error = await tool.open({ type: 'code_execution', language: 'bash' }, 3).catch((e) => e);
    expect(ApiError.isInstance(error)).toBe(true);
    expect((error as ApiError).code).toBe('invalid_request');
    expect((error as ApiError).message).toBe('tools[3].language: unknown field');
    const wrongType = await tool.open({ type: 'url_context' }, 1).catch((e) => e);
    expect((wrongType as ApiError).code).toBe('invalid_request');
    expect((wrongType as ApiError).message).toMatch(/^tools\[1\]\.type: /);
  });

  it('maps the operator config', async () => {
    expect(() => codeExecutionConfigSchema.parse({ timeout_seconds: 5, cpu: 1 })).toThrow();
    expect(() => codeExecutionConfigSchema.parse({ memory_mb: 8 })).toThrow();
    const configured = createCodeExecutionToolFromConfig({
      timeout_seconds: 2.5,
      memory_mb: 128,
      max_output_bytes: 1000,
      max_concurrent: 3,
    });
    expect(configured.limits).toMatchObject({
      timeoutMs: 2500,
      memoryMb: 128,
      maxOutputBytes: 1000,
      maxConcurrent: 3,
    });
    expect(createCodeExecutionToolFromConfig({}).limits).toMatchObject({
      timeoutMs: 10_000,
      memoryMb: 256,
      maxOutputBytes: 64 * 1024,
      maxConcurrent: 2,
    });
    await configured.close();
  });

  it('refuses a non-string program and throws on an unknown function', async () => {
    const outcome = await session.execute('code_execution', { code: 42 }, never);
    expect(resultOf(outcome).isError).toBe(true);
    expect(resultOf(outcome).text).toMatch(/must be a string/);
    await expect(session.execute('run_bash', { code: 'ls' }, never)).rejects.toThrow(
      /no function named 'run_bash'/,
    );
  });
});

describe('running Python', () => {
  it('prints', async () => {
    const outcome = await run('print(2**10)');
    expect(outcome.call).toEqual({ arguments: { language: 'python', code: 'print(2**10)' } });
    expect(outcome.result).toEqual({ result: '1024\n', is_error: false });
    expect(outcome.modelOutput).toBe('1024\n');
  }, 60_000);

  it('reports an exception with the traceback ending in its last line', async () => {
    const outcome = await run('x = 1\nprint("before")\n1/0');
    const { text, isError } = resultOf(outcome);
    expect(isError).toBe(true);
    expect(text.startsWith('before\nTraceback (most recent call last):\n')).toBe(true);
    expect(text).toContain('File "<code>", line 3');
    expect(text.trimEnd().split('\n').at(-1)).toBe('ZeroDivisionError: division by zero');
    expect(outcome.modelOutput).toEqual({
      output: text,
      error: 'ZeroDivisionError: division by zero',
    });
  });

  it('returns stdout, then stderr; sys.exit sets the status', async () => {
    const ok = await run('import sys\nprint("err", file=sys.stderr)\nprint("out")\nsys.exit(0)');
    expect(ok.result).toEqual({ result: 'out\nerr\n', is_error: false });
    const failed = await run('import sys\nprint("partial")\nsys.exit(3)');
    expect(resultOf(failed)).toEqual({
      text: 'partial\nthe program exited with status 3\n',
      isError: true,
    });
  });

  it('has no stdin and no threads, but has the standard library', async () => {
    const outcome = await run(
      [
        'import json, re, math, fractions, statistics, datetime, decimal',
        'print(json.dumps({"mean": statistics.mean([1, 2, 3, 4])}))',
        'try:\n    input()\nexcept EOFError:\n    print("stdin: EOF")',
        'import threading',
        'try:\n    threading.Thread(target=print).start()\nexcept RuntimeError:\n    print("threads: no")',
      ].join('\n'),
    );
    expect(outcome.result).toEqual({
      result: '{"mean": 2.5}\nstdin: EOF\nthreads: no\n',
      is_error: false,
    });
  });

  it('starts every run from a fresh interpreter and file system', async () => {
    await run('import builtins\nbuiltins.leftover = 1\nopen("/tmp/state.txt", "w").write("x")');
    const outcome = await run(
      'import builtins, os\nprint(hasattr(builtins, "leftover"), os.path.exists("/tmp/state.txt"))',
    );
    expect(outcome.result).toEqual({ result: 'False False\n', is_error: false });
  });

  it('caps the output and marks the cut', async () => {
    const outcome = await run('print("x" * 10_000_000)');
    const { text, isError } = resultOf(outcome);
    expect(isError).toBe(false);
    expect(text.endsWith(TRUNCATION_MARKER)).toBe(true);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(64 * 1024 + TRUNCATION_MARKER.length);
    expect(Buffer.byteLength(text)).toBeGreaterThan(60 * 1024);
  });

  it('keeps the exception line when the output overflows', async () => {
    const outcome = await run('print("y" * 10_000_000)\nraise ValueError("late")');
    const { text, isError } = resultOf(outcome);
    expect(isError).toBe(true);
    expect(text).toContain(TRUNCATION_MARKER);
    expect(text.trimEnd().split('\n').at(-1)).toBe('ValueError: late');
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(64 * 1024 + TRUNCATION_MARKER.length);
  });
});

describe('sandbox boundaries', () => {
  let tcp: TcpServer;
  let http: HttpServer;
  let tcpConnections = 0;
  let httpRequests = 0;
  let tcpPort = 0;
  let httpPort = 0;

  beforeAll(async () => {
    tcp = createTcpServer((socket) => {
      tcpConnections++;
      socket.destroy();
    });
    http = createHttpServer((_, res) => {
      httpRequests++;
      res.end('reached');
    });
    http.on('connection', () => httpRequests++);
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    tcpPort = (tcp.address() as { port: number }).port;
    httpPort = (http.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => tcp.close(resolve));
    await new Promise((resolve) => http.close(resolve));
  });

  const attempt = [
    'def attempt(label, fn):',
    '    try:',
    '        fn()',
    '        print(label, "reached")',
    '    except BaseException as error:',
    '        print(label, "blocked", type(error).__name__)',
  ].join('\n');

  it('has no network: sockets, urllib, js.fetch and pyodide.http all fail', async () => {
    const code = [
      attempt,
      'import socket, urllib.request',
      `attempt("socket", lambda: socket.create_connection(("127.0.0.1", ${tcpPort}), timeout=2))`,
      `attempt("socket-http", lambda: socket.create_connection(("127.0.0.1", ${httpPort}), timeout=2))`,
      `attempt("urllib", lambda: urllib.request.urlopen("http://127.0.0.1:${httpPort}/", timeout=2))`,
      'attempt("from-js-import-fetch", lambda: exec("from js import fetch"))',
      'attempt("pyodide_js", lambda: exec("import pyodide_js"))',
      'attempt("pyodide.http", lambda: exec("from pyodide.http import pyfetch"))',
      'def through_ffi():',
      '    from pyodide.ffi import to_js',
      '    make_function = to_js([]).constructor.constructor',
      `    make_function("return fetch('http://127.0.0.1:${httpPort}/')")()`,
      'attempt("ffi-function", through_ffi)',
    ].join('\n');
    const outcome = await run(code);
    const { text, isError } = resultOf(outcome);
    expect(isError).toBe(false);
    const lines = text.trimEnd().split('\n');
    expect(lines.map((line) => line.split(' ').slice(0, 2).join(' '))).toEqual([
      'socket blocked',
      'socket-http blocked',
      'urllib blocked',
      'from-js-import-fetch blocked',
      'pyodide_js blocked',
      'pyodide.http blocked',
      'ffi-function blocked',
    ]);
    // Nothing arrived, not even late: the worker is gone once the result is back.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(tcpConnections).toBe(0);
    expect(httpRequests).toBe(0);
  });

  it('has no host file system: only the in-memory one', async () => {
    const hostPath = join(tmpdir(), `oi-sandbox-${randomUUID()}.txt`);
    const code = [
      attempt,
      'import os',
      'attempt("passwd", lambda: open("/etc/passwd").read())',
      `attempt("host-cwd", lambda: os.listdir(${JSON.stringify(process.cwd())}))`,
      `with open(${JSON.stringify(hostPath)}, "w") as f:`,
      '    f.write("inside")',
      `print("read back", open(${JSON.stringify(hostPath)}).read())`,
      'print(sorted(os.listdir("/")))',
    ].join('\n');
    const outcome = await run(code);
    const { text, isError } = resultOf(outcome);
    expect(isError).toBe(false);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('passwd blocked FileNotFoundError');
    expect(lines[1]).toBe('host-cwd blocked FileNotFoundError');
    expect(lines[2]).toBe('read back inside');
    expect(lines[3]).toBe("['dev', 'home', 'lib', 'proc', 'tmp']");
    expect(existsSync(hostPath)).toBe(false);
  });

  it('cannot start processes or run JS', async () => {
    const marker = join(tmpdir(), `oi-sandbox-${randomUUID()}`);
    const code = [
      attempt,
      'import os, subprocess',
      `attempt("os.system", lambda: os.system("touch ${marker}"))`,
      `attempt("subprocess", lambda: subprocess.run(["touch", "${marker}"]))`,
      'attempt("import-js", lambda: exec("import js"))',
    ].join('\n');
    const outcome = await run(code);
    expect(resultOf(outcome).text.trimEnd().split('\n')).toEqual([
      'os.system blocked OSError',
      'subprocess blocked OSError',
      'import-js blocked ImportError',
    ]);
    // emscripten_run_script would eval JS; eval is disabled, which stops the interpreter.
    const evalAttempt = await run(
      `import ctypes\nctypes.CDLL(None).emscripten_run_script(b"require('fs').writeFileSync('${marker}', '')")`,
    );
    expect(resultOf(evalAttempt).isError).toBe(true);
    expect(resultOf(evalAttempt).text).toMatch(/eval is disabled in the sandbox/);
    expect(existsSync(marker)).toBe(false);
    expect((await run('print("still serving")')).result).toEqual({
      result: 'still serving\n',
      is_error: false,
    });
  });

  it('ends a memory bomb with MemoryError and keeps serving', async () => {
    const outcome = await run(
      [
        'try:',
        '    s = "a" * (10**9)',
        'except MemoryError:',
        '    print("big string: MemoryError")',
        'blocks = []',
        'while True:',
        '    blocks.append(bytearray(10**6))',
      ].join('\n'),
    );
    const { text, isError } = resultOf(outcome);
    expect(isError).toBe(true);
    expect(text.startsWith('big string: MemoryError\n')).toBe(true);
    expect(text.trimEnd().split('\n').at(-1)).toBe('MemoryError');
    expect((await run('print(sum(range(10)))')).result).toEqual({
      result: '45\n',
      is_error: false,
    });
  }, 60_000);

  it('ends a JS-heap bomb (the worker hits its heap limit) and keeps serving', async () => {
    const outcome = await run(
      'from pyodide.ffi import to_js\nkept = []\nwhile True:\n    kept.append(to_js(list(range(10**6))))',
    );
    const { text, isError } = resultOf(outcome);
    expect(isError).toBe(true);
    expect(text).toMatch(/out of memory|MemoryError/);
    expect((await run('print("alive")')).result).toEqual({ result: 'alive\n', is_error: false });
  }, 60_000);
});

describe('limits and cancellation', () => {
  it('kills an infinite loop at the time limit, keeping what it printed', async () => {
    const outcome = await run('print("started")\nwhile True:\n    pass', never, fastSession);
    const { text, isError } = resultOf(outcome);
    expect(isError).toBe(true);
    expect(text).toBe('started\nexecution timed out after 1.5 s\n');
    expect(outcome.modelOutput).toEqual({ output: text, error: 'execution timed out after 1.5 s' });
  });

  it('refuses a run beyond maxConcurrent at once instead of queueing it', async () => {
    let firstDone = false;
    const first = run('while True:\n    pass', never, fastSession).then((outcome) => {
      firstDone = true;
      return outcome;
    });
    await until(() => fast.stats().running === 1);
    const second = await run('print(1)', never, fastSession);
    expect(firstDone).toBe(false);
    expect(resultOf(second).isError).toBe(true);
    expect(resultOf(second).text).toMatch(/^code execution is at capacity/);
    expect(resultOf(await first).text).toMatch(/timed out/);
  });

  it('terminates the worker when the signal aborts', async () => {
    const controller = new AbortController();
    const pending = run('print("spinning")\nwhile True:\n    pass', controller.signal);
    await until(() => tool.stats().running === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    controller.abort();
    const outcome = await pending;
    expect(resultOf(outcome).isError).toBe(true);
    expect(resultOf(outcome).text).toMatch(/execution was cancelled\n$/);
    expect(tool.stats().running).toBe(0);
  });

  it('does not start a run whose signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const outcome = await run('print(1)', controller.signal);
    expect(resultOf(outcome)).toEqual({ text: 'execution was cancelled\n', isError: true });
  });

  it('throws unavailable when no sandbox can start', async () => {
    const broken = createCodeExecutionTool({ startupTimeoutMs: 1, warmWorkers: 0 });
    try {
      const own = await broken.open({ type: 'code_execution' }, 0);
      const error = await run('print(1)', never, own).catch((e: unknown) => e);
      expect(ApiError.isInstance(error)).toBe(true);
      expect((error as ApiError).code).toBe('unavailable');
      expect((error as ApiError).message).toMatch(/did not start within/);
      expect(broken.stats().running).toBe(0);
    } finally {
      await broken.close();
    }
  });

  it('session close cancels its runs in progress', async () => {
    const own = await tool.open({ type: 'code_execution' }, 0);
    const pending = run('while True:\n    pass', never, own);
    await until(() => tool.stats().running === 1);
    await own.close!();
    expect(resultOf(await pending).text).toBe('execution was cancelled\n');
  });
});

describe('renderOutcome', () => {
  const base: RunOutcome = {
    status: 'exited',
    exitStatus: 0,
    stdout: new Uint8Array(),
    stderr: new Uint8Array(),
    overflow: false,
  };

  it('cuts at a UTF-8 character boundary', () => {
    const stdout = Buffer.from('é'.repeat(10)); // 20 bytes
    const rendered = renderOutcome({ ...base, stdout, overflow: true }, 5);
    expect(rendered.text).toBe(`éé${TRUNCATION_MARKER}`);
    expect(rendered.isError).toBe(false);
  });

  it('puts stdout before stderr and the reason last', () => {
    const rendered = renderOutcome(
      {
        ...base,
        status: 'timeout',
        exitStatus: 1,
        stdout: Buffer.from('a'),
        stderr: Buffer.from('b\n'),
        message: 'execution timed out after 2 s',
      },
      1000,
    );
    expect(rendered).toEqual({
      text: 'ab\nexecution timed out after 2 s\n',
      isError: true,
      error: 'execution timed out after 2 s',
    });
  });
});
