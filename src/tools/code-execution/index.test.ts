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

/** Tests that start sandbox processes: generous, the machine may be busy (not an assertion). */
const SPAWN_TIMEOUT = 180_000;

/** Tool for most tests: a generous time limit (the limit itself is tested with `fast`). */
let tool: CodeExecutionTool;
let session: ToolSession;
/** Short time limit, one program at a time. */
let fast: CodeExecutionTool;
let fastSession: ToolSession;

beforeAll(async () => {
  tool = createCodeExecutionTool({ timeoutMs: 20_000, memoryMb: 128, maxConcurrent: 2 });
  fast = createCodeExecutionTool({ timeoutMs: 3000, maxConcurrent: 1 });
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
    const defaults = createCodeExecutionToolFromConfig({});
    expect(defaults.limits).toMatchObject({
      timeoutMs: 10_000,
      memoryMb: 256,
      maxOutputBytes: 64 * 1024,
      maxConcurrent: 2,
      maxConcurrentPerProject: 1,
    });
    expect(defaults.processMemoryMb).toBe(256 + 256);
    const perProject = createCodeExecutionToolFromConfig({
      max_concurrent: 8,
      max_concurrent_per_project: 3,
    });
    expect(perProject.limits).toMatchObject({ maxConcurrent: 8, maxConcurrentPerProject: 3 });
    expect(createCodeExecutionToolFromConfig({ max_concurrent: 8 }).limits).toMatchObject({
      maxConcurrentPerProject: 4,
    });
    expect(() =>
      createCodeExecutionToolFromConfig({ max_concurrent: 2, max_concurrent_per_project: 3 }),
    ).toThrow('code_execution.max_concurrent_per_project (3) must not exceed max_concurrent (2)');
    await Promise.all([configured.close(), defaults.close(), perProject.close()]);
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

describe('running Python', { timeout: SPAWN_TIMEOUT }, () => {
  it('prints', async () => {
    const outcome = await run('print(2**10)');
    expect(outcome.call).toEqual({ arguments: { language: 'python', code: 'print(2**10)' } });
    expect(outcome.result).toEqual({ result: '1024\n', is_error: false });
    expect(outcome.modelOutput).toBe('1024\n');
  });

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

describe('sandbox boundaries', { timeout: SPAWN_TIMEOUT }, () => {
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
    // Nothing arrived, not even late: the child is gone once the result is back.
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
    expect(resultOf(evalAttempt).text).toMatch(/Code generation from strings disallowed/);
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
  });

  it('closes the routes from Python into JavaScript', async () => {
    const code = [
      attempt,
      'attempt("pyodide.ffi", lambda: exec("from pyodide.ffi import to_js"))',
      'attempt("js", lambda: exec("import js"))',
      'attempt("run_js", lambda: exec("from pyodide.code import run_js"))',
      'attempt("_pyodide_core", lambda: exec("import _pyodide_core"))',
      'import gc',
      'attempt("gc.get_objects", gc.get_objects)',
    ].join('\n');
    expect(
      resultOf(await run(code))
        .text.trimEnd()
        .split('\n'),
    ).toEqual([
      'pyodide.ffi blocked ImportError',
      'js blocked ImportError',
      'run_js blocked ImportError',
      '_pyodide_core blocked ImportError',
      'gc.get_objects blocked RuntimeError',
    ]);
  });

  it('stops a program that gets past the import block at the JS bridge', async () => {
    const outcome = await run(
      [
        'import sys',
        'sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_Blocked"]',
        'import _pyodide_core',
        'print("imported")',
        'Array = _pyodide_core.to_js([]).constructor',
        'Array.new(10**8)',
        'print("allocated")',
      ].join('\n'),
    );
    const { text, isError } = resultOf(outcome);
    expect(isError).toBe(true);
    expect(text.startsWith('imported\n')).toBe(true);
    expect(text).not.toContain('allocated');
    expect(text.trimEnd().split('\n').at(-1)).toMatch(
      /^the Python runtime stopped: the program used the JavaScript bridge, which is closed in the sandbox \(\w+\)$/,
    );
    expect((await run('print("alive")')).result).toEqual({ result: 'alive\n', is_error: false });
  });
});

/** Resident memory of this process (the "server" of these tests), in MB. */
const rssMb = () => process.memoryUsage().rss / 1024 / 1024;

describe('process limits (the Python lockdown off, as if it had been bypassed)', () => {
  // Only memory can end these programs: the time limit is far beyond the test's.
  let open: CodeExecutionTool;
  let openSession: ToolSession;
  beforeAll(async () => {
    open = createCodeExecutionTool({
      timeoutMs: 3_600_000,
      memoryMb: 128,
      warmWorkers: 0,
      sandbox: { lockdown: false },
    });
    openSession = await open.open({ type: 'code_execution' }, 0);
  });
  afterAll(() => open?.close());

  const ffi = 'from pyodide.ffi import to_js\nArray = to_js([]).constructor\n';

  it.each([
    [
      'a loop of JS arrays (Array.new(10**7))',
      `${ffi}kept = []\nwhile True:\n    kept.append(Array.new(10**7))`,
    ],
    ['one Array.new(10**8)', `${ffi}x = Array.new(10**8)\nx.fill(0)\nprint("allocated")`],
  ])(
    '%s ends the child at its memory limit; the server is untouched',
    async (_, code) => {
      const before = rssMb();
      const outcome = await run(code, never, openSession);
      const { text, isError } = resultOf(outcome);
      expect(isError).toBe(true);
      expect(text).not.toContain('allocated');
      expect(text).toMatch(
        /the program exceeded the 128 MB memory limit \(the sandbox process was stopped\)\n$/,
      );
      // The old in-process design grew the server by ~650 MB here, or ended it.
      expect(rssMb() - before).toBeLessThan(100);
      expect((await run('print("next")', never, openSession)).result).toEqual({
        result: 'next\n',
        is_error: false,
      });
    },
    300_000,
  );

  it('caps ArrayBuffers made through the FFI (outside the wasm heap) at the process limit', async () => {
    const before = rssMb();
    const outcome = await run(
      [
        'from pyodide.ffi import to_js',
        'ArrayBuffer = to_js(memoryview(bytearray(8))).buffer.constructor',
        'kept = []',
        'while True:',
        '    buffer = ArrayBuffer.new(10**7)',
        '    to_js(memoryview(bytearray(1))).constructor.new(buffer).fill(1)',
        '    kept.append(buffer)',
        '    print(len(kept) * 10)',
      ].join('\n'),
      never,
      openSession,
    );
    const { text, isError } = resultOf(outcome);
    expect(isError).toBe(true);
    expect(text).toMatch(/Array buffer allocation failed|exceeded the 128 MB memory limit/);
    const allocatedMb = Math.max(
      ...text
        .split('\n')
        .filter((l) => /^\d+$/.test(l))
        .map(Number),
    );
    expect(allocatedMb).toBeGreaterThan(0);
    expect(allocatedMb).toBeLessThanOrEqual(open.processMemoryMb);
    expect(rssMb() - before).toBeLessThan(100);
  }, 300_000);
});

describe('limits and cancellation', { timeout: SPAWN_TIMEOUT }, () => {
  it('kills an infinite loop at the time limit, keeping what it printed', async () => {
    const outcome = await run('print("started")\nwhile True:\n    pass', never, fastSession);
    const { text, isError } = resultOf(outcome);
    expect(isError).toBe(true);
    expect(text).toBe('started\nexecution timed out after 3 s\n');
    expect(outcome.modelOutput).toEqual({ output: text, error: 'execution timed out after 3 s' });
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

  it('kills the child when the signal aborts', async () => {
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

  it('reports a child killed from outside as a failed run; the next run works', async () => {
    const pids: number[] = [];
    const own = createCodeExecutionTool({
      timeoutMs: 3_600_000,
      warmWorkers: 0,
      sandbox: { onProgramStart: (pid) => pids.push(pid) },
    });
    try {
      const ownSession = await own.open({ type: 'code_execution' }, 0);
      const pending = run('while True:\n    pass', never, ownSession);
      await Promise.race([until(() => pids.length === 1), pending]);
      process.kill(pids[0]!, 'SIGKILL');
      expect(resultOf(await pending)).toEqual({
        text: 'the sandbox process was killed by SIGKILL before the program finished\n',
        isError: true,
      });
      expect(resultOf(await run('print(7)', never, ownSession))).toEqual({
        text: '7\n',
        isError: false,
      });
    } finally {
      await own.close();
    }
  });

  it("shares slots fairly: one project's endless programs leave a slot for another", async () => {
    const started: number[] = [];
    const shared = createCodeExecutionTool({
      timeoutMs: 3_600_000,
      maxConcurrent: 2,
      sandbox: { onProgramStart: (pid) => started.push(pid) },
    });
    expect(shared.limits.maxConcurrentPerProject).toBe(1);
    const a = await shared.open({ type: 'code_execution' }, 0, { project: 'a' });
    const b = await shared.open({ type: 'code_execution' }, 0, { project: 'b' });
    const stop = new AbortController();
    try {
      const loop = run('while True:\n    pass', stop.signal, a);
      await Promise.race([until(() => started.length === 1), loop]);
      const second = resultOf(await run('while True:\n    pass', stop.signal, a));
      expect(second).toEqual({
        text: 'code execution is at capacity for this project (1 of 1 programs per project running); try again later\n',
        isError: true,
      });
      expect(resultOf(await run('print("b runs")', never, b))).toEqual({
        text: 'b runs\n',
        isError: false,
      });
      stop.abort();
      expect(resultOf(await loop).text).toBe('execution was cancelled\n');
    } finally {
      stop.abort();
      await shared.close();
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
