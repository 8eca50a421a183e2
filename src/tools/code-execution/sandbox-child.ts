/**
 * Entry of a sandbox child process: runs ONE Python program (Pyodide) and is then killed by the
 * server. sandbox-launch.ts starts it with the OS limits (memory, CPU time; where the host allows,
 * its own network namespace and death with the server), V8 flags (heap cap, no code generation
 * from strings, no native addons) and Node's permission model (reads only the files it needs; no
 * writes, no child processes, no workers); see docs/code-execution.md.
 *
 * Inside that, in order:
 *  1. Waits for the `start` message (sandbox-protocol.ts) and reads the interpreter snapshot
 *     that follows on stdin.
 *  2. Caps every WebAssembly memory at `memoryMb` (Python's heap lives in the wasm linear memory),
 *     so a memory bomb ends as `MemoryError`, and wraps the interpreter's JavaScript-bridge
 *     imports in a guard that throws while the user's program runs: whatever Python does, it
 *     cannot call or construct a JS function, create a JS value or wrap one (the FFI routes to
 *     allocation outside the capped wasm memory).
 *  3. Evaluates `pyodide.asm.js` (the emscripten runtime) itself, with its own `require`,
 *     `process` and `import()`: its file system fails every call, its `child_process` fails, there
 *     is no `ws` (so Python sockets cannot connect) and no way to import host modules.
 *  4. Loads Pyodide from node_modules (from a memory snapshot when given one) with an empty
 *     object as the `js` module. A snapshot child sends the snapshot and stops there.
 *  5. Installs the Python runner, closes the Python routes into JS (sandbox-python.ts) and
 *     hardens the JS realm: no `fetch`/`WebSocket`/`require`/`process` globals, and the Node
 *     modules the loader holds (fs, vm, net, …) lose every function.
 *  6. Sends `ready`; on `run`, runs the program, streaming its output (capped), sends `done` and
 *     waits to be killed.
 */
import { randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import path from 'node:path';
import url from 'node:url';
import { setFlagsFromString } from 'node:v8';
import vm from 'node:vm';
import type { loadPyodide as LoadPyodide } from 'pyodide';
import type { ChildStart, FromChild, ToChild } from './sandbox-protocol.js';

type Pyodide = Awaited<ReturnType<typeof LoadPyodide>>;

// Wasm code from the baseline compiler only. CPython's interpreter loop is one huge function:
// optimising it takes seconds of background compilation that a short-lived child competes with
// and rarely lives to use. Measured on 2 busy cores: ready from the snapshot in ~1.3–2.1 s
// instead of ~1.9–3.5 s, and a ~1 s CPU-bound program ran 2–3× faster. Set at run time (before
// any wasm is compiled) because an unknown flag here is ignored, not fatal.
setFlagsFromString('--liftoff-only');

const started = Date.now();
const require = createRequire(import.meta.url);
// Kept before the realm is hardened (the `process` global goes away).
const host = process;
const send = host.send?.bind(host);
const exit = host.exit.bind(host);
if (!send) throw new Error('a sandbox child needs an IPC channel to the server');
const post = (message: FromChild): void => {
  send(message);
};
// The server going away ends an idle child; a running one is ended by the parent-death signal
// (or, where that is not available, its CPU limit).
host.once('disconnect', () => exit(0));

function denied(what: string): () => never {
  return () => {
    const error = new Error(`${what} is not available in the sandbox`) as NodeJS.ErrnoException;
    error.code = 'EACCES';
    throw error;
  };
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

// 2a. Wasm linear memory never grows past the limit.
function capWasmMemory(memoryMb: number): void {
  const Original = WebAssembly.Memory;
  const maxPages = Math.max(16, Math.floor((memoryMb * 1024 * 1024) / 65536));
  const Memory = function Memory(this: unknown, descriptor: WebAssembly.MemoryDescriptor) {
    if (!new.target) throw new TypeError("WebAssembly.Memory must be called with 'new'");
    let capped = descriptor;
    if (descriptor && typeof descriptor === 'object' && !descriptor.shared) {
      const maximum = Math.min(descriptor.maximum ?? maxPages, maxPages);
      if (descriptor.initial > maximum) {
        throw new RangeError('WebAssembly.Memory: larger than the sandbox memory limit');
      }
      capped = { ...descriptor, maximum };
    }
    return Reflect.construct(Original, [capped], new.target) as WebAssembly.Memory;
  };
  Memory.prototype = Original.prototype;
  Object.defineProperty(WebAssembly, 'Memory', {
    value: Memory,
    writable: false,
    configurable: false,
  });
}

// 2b. The bridge guard. Pyodide's Python↔JS bridge is a set of JS functions the wasm module
// imports (`JsvFunction_Construct`, `python2js…`, `JsProxy_…`); an ordinary program uses none of
// them (measured: only the conversion of the call's own argument, allowed below).
const BRIDGE_IMPORT =
  /^(Jsv|Js[A-Z]|_?python2js|js2python|_?pyproxy|array_to_js|create_|wrap_|raw_call_js|proxy_cache_|destroy_prox|gc_register_proxies|my_dict_converter|_JsObject|_JsArray|new_error|get_length|handle_next_result_js|_agen_handle|can_run_sync|get_async_js|is_comlink)/;
const ARGUMENT_IMPORTS = new Set([
  'JsvArray_Get',
  'JsvNoValue_Check',
  'js2python_js',
  'js2python_immutable_js',
  'js2python_convert',
  'pyproxy_Check',
]);

/** Thrown into the interpreter when a program reaches the closed bridge. */
class BridgeClosedError extends Error {
  override readonly name = 'BridgeClosedError';
}

const bridge = { closed: false, reached: undefined as string | undefined };

function guardBridge(imports: WebAssembly.Imports): void {
  const env = imports.env as Record<string, WebAssembly.ImportValue> | undefined;
  if (!env) return;
  for (const [name, value] of Object.entries(env)) {
    if (typeof value !== 'function' || !BRIDGE_IMPORT.test(name) || ARGUMENT_IMPORTS.has(name)) {
      continue;
    }
    const original = value as (...args: unknown[]) => unknown;
    env[name] = function guarded(this: unknown, ...args: unknown[]) {
      if (bridge.closed) {
        bridge.reached ??= name;
        throw new BridgeClosedError(`the JavaScript bridge is closed in the sandbox (${name})`);
      }
      return original.apply(this, args);
    };
  }
}

function interceptInstantiate(lockdown: boolean): void {
  const instantiate = WebAssembly.instantiate.bind(WebAssembly);
  WebAssembly.instantiate = async function (
    source: BufferSource | WebAssembly.Module,
    imports?: WebAssembly.Imports,
  ) {
    if (imports && lockdown) guardBridge(imports);
    return instantiate(source as BufferSource, imports);
  } as typeof WebAssembly.instantiate;
}

// 3. The emscripten runtime, evaluated with host access of our choosing.
function evaluateRuntime(indexDir: string): void {
  const fsConstants = { ...(require('node:fs') as typeof import('node:fs')).constants };
  const fakeFs = new Proxy(Object.create(null) as object, {
    get(_, key) {
      if (key === 'fsyncSync') return () => undefined;
      if (key === 'constants') return fsConstants;
      return denied(`fs.${String(key)}`);
    },
  });
  const sandboxRequire = (name: string): unknown => {
    switch (String(name).replace(/^node:/, '')) {
      case 'fs':
        return fakeFs;
      case 'path':
        return path;
      case 'tty':
        return { isatty: () => false };
      case 'crypto':
        return { randomFillSync: (view: NodeJS.ArrayBufferView) => randomFillSync(view) };
      case 'child_process':
        return { spawnSync: () => ({ status: 127, signal: null }) };
      default:
        throw new Error(`module ${String(name)} is not available in the sandbox`);
    }
  };
  const sandboxImport = async (specifier: string): Promise<unknown> => {
    switch (String(specifier)) {
      case 'node:url':
        return { default: url };
      case 'node:path':
        return path;
      case 'node:vm':
        return { default: {} };
      case 'node:fs':
      case 'node:fs/promises':
        return {};
      default:
        throw new Error(`import of ${String(specifier)} is not available in the sandbox`);
    }
  };
  const fakeProcess = {
    versions: { node: host.versions.node },
    version: host.version,
    platform: 'linux',
    argv: ['python'],
    env: {},
    binding(name: string) {
      if (name === 'constants') return { fs: fsConstants };
      return denied('process.binding')();
    },
  };
  const asmPath = path.join(indexDir, 'pyodide.asm.js');
  const asmSource = readFileSync(asmPath, 'utf8').replace(
    /(?<![\w$.])import\(/g,
    '__sandboxImport(',
  );
  const factory = vm.runInThisContext(
    `(function (require, process, __dirname, __filename, module, exports, __sandboxImport) {${asmSource}\n})`,
    { filename: asmPath },
  ) as (...args: unknown[]) => void;
  factory(sandboxRequire, fakeProcess, indexDir, asmPath, undefined, undefined, sandboxImport);
  if (
    typeof (globalThis as { _createPyodideModule?: unknown })._createPyodideModule !== 'function'
  ) {
    throw new Error('pyodide.asm.js did not define _createPyodideModule');
  }
}

// Output: capped per stream and sent as it is written, so a killed run keeps what it printed.
// (Every write is one message; the cap bounds how many there can be.)
function writer(stream: 'stdout' | 'stderr', maxOutputBytes: number) {
  let captured = 0;
  return (buffer: Uint8Array): number => {
    // One byte more than the cap tells the server that the stream overflowed.
    const room = maxOutputBytes + 1 - captured;
    if (room > 0 && buffer.length > 0) {
      const data = buffer.slice(0, Math.min(buffer.length, room));
      captured += data.length;
      post({ type: 'output', stream, data });
    }
    return buffer.length;
  };
}

// 5. The realm a program could reach through the bridge loses everything that touches the host.
function harden(pyodide: Pyodide): void {
  const hostModules = [
    'child_process',
    'cluster',
    'dgram',
    'dns',
    'fs',
    'fs/promises',
    'http',
    'http2',
    'https',
    'inspector',
    'module',
    'net',
    'tls',
    'v8',
    'vm',
    'worker_threads',
  ];
  // All resolved first: `require` itself stops working once `module` is hardened.
  const modules = hostModules.map(
    (name) => [name, require(`node:${name}`) as Record<string, unknown>] as const,
  );
  for (const [name, mod] of modules) {
    for (const key of Object.getOwnPropertyNames(mod)) {
      const descriptor = Object.getOwnPropertyDescriptor(mod, key);
      if (!descriptor || !('value' in descriptor) || typeof descriptor.value !== 'function') {
        continue;
      }
      try {
        Object.defineProperty(mod, key, {
          value: denied(`${name}.${key}`),
          writable: false,
          configurable: false,
        });
      } catch {
        // A non-configurable export stays; the permission model still refuses what it does.
      }
    }
  }
  syncBuiltinESMExports();
  const processMethods = [
    'binding',
    '_linkedBinding',
    'dlopen',
    'kill',
    'chdir',
    'abort',
    'setuid',
    'setgid',
    'seteuid',
    'setegid',
    'setgroups',
    'initgroups',
    'loadEnvFile',
    'openStdin',
  ] as const;
  const processRecord = host as unknown as Record<string, unknown>;
  for (const key of processMethods) {
    if (typeof processRecord[key] === 'function') processRecord[key] = denied(`process.${key}`);
  }
  const globals = globalThis as unknown as Record<string, unknown>;
  const removed = [
    'fetch',
    'Request',
    'Response',
    'Headers',
    'FormData',
    'WebSocket',
    'EventSource',
    'XMLHttpRequest',
    'BroadcastChannel',
    'require',
    'module',
    'exports',
    '__filename',
    '__dirname',
    'process',
    'global',
    '_createPyodideModule',
    'loadPyodide',
    'importScripts',
    'Worker',
  ];
  for (const key of removed) {
    try {
      delete globals[key];
    } catch {
      // Falls through to the read-only undefined below.
    }
    if (key in globals) {
      try {
        Object.defineProperty(globals, key, {
          value: undefined,
          writable: false,
          configurable: false,
        });
      } catch {
        // Non-configurable global: left as is (none of these is in Node 20–24).
      }
    }
  }
  const fsApi = pyodide.FS as { filesystems?: Record<string, unknown>; mount?: unknown };
  if (fsApi.filesystems) {
    delete fsApi.filesystems.NODEFS;
    delete fsApi.filesystems.NODERAWFS;
  }
  fsApi.mount = denied('FS.mount');
  const api = pyodide as unknown as Record<string, unknown>;
  for (const key of [
    'loadPackage',
    'loadPackagesFromImports',
    'mountNodeFS',
    'mountNativeFS',
    'registerJsModule',
    'setStdout',
    'setStderr',
    'setStdin',
    'runPython',
    'runPythonAsync',
    'unpackArchive',
  ]) {
    api[key] = denied(`pyodide.${key}`);
  }
}

/** Reads the snapshot the server streams to stdin (into a fresh, aligned buffer). */
function readSnapshot(length: number): Promise<Uint8Array | undefined> {
  if (length === 0) return Promise.resolve(undefined);
  const image = new Uint8Array(length);
  let at = 0;
  return new Promise((resolve, reject) => {
    host.stdin.on('data', (chunk: Buffer) => {
      image.set(chunk.subarray(0, length - at), at);
      at += chunk.length;
      if (at >= length) {
        host.stdin.destroy();
        resolve(image);
      }
    });
    host.stdin.once('end', () => reject(new Error('the interpreter snapshot was cut short')));
    host.stdin.once('error', reject);
  });
}

async function start(options: ChildStart): Promise<void> {
  const snapshot = await readSnapshot(options.snapshotBytes);
  capWasmMemory(options.memoryMb);
  interceptInstantiate(options.lockdown && options.mode === 'run');
  evaluateRuntime(options.indexDir);
  const { loadPyodide } = require(path.join(options.indexDir, 'pyodide.js')) as {
    loadPyodide: typeof LoadPyodide;
  };
  const pyodide = await loadPyodide({
    indexURL: options.indexDir + path.sep,
    packages: [],
    jsglobals: Object.create(null) as object,
    env: { HOME: '/home/pyodide' },
    args: [],
    stdin: () => null,
    stdout: () => undefined,
    stderr: () => undefined,
    checkAPIVersion: true,
    ...(options.mode === 'snapshot'
      ? { _makeSnapshot: true }
      : snapshot
        ? { _loadSnapshot: snapshot }
        : {}),
  });
  if (options.mode === 'snapshot') {
    post({ type: 'snapshot', image: pyodide.makeMemorySnapshot(), ms: Date.now() - started });
    return;
  }
  pyodide.setStdout({ write: writer('stdout', options.maxOutputBytes) });
  pyodide.setStderr({ write: writer('stderr', options.maxOutputBytes) });
  pyodide.setStdin({ stdin: () => null });
  pyodide.runPython(options.setupPython, { filename: '<sandbox>' });
  pyodide.unregisterJsModule('js');
  pyodide.unregisterJsModule('pyodide_js');
  pyodide.runPython(`__oi_lockdown(${options.lockdown ? 'True' : 'False'})`);
  const globals = pyodide.globals;
  const runProgram = globals.get('__oi_run') as (code: string) => unknown;
  harden(pyodide);

  host.once('message', (message: ToChild) => {
    const runStarted = Date.now();
    let status = 1;
    let traceback: string | null = null;
    let fatal: string | null = null;
    try {
      bridge.closed = options.lockdown;
      try {
        runProgram(message.type === 'run' ? String(message.code) : '');
      } finally {
        bridge.closed = false;
      }
      const value: unknown = globals.get('__oi_status');
      status = typeof value === 'number' && Number.isInteger(value) ? value : 1;
      const text: unknown = globals.get('__oi_traceback');
      traceback = typeof text === 'string' ? text : null;
    } catch (error) {
      const exited = error as { name?: unknown; status?: unknown } | null | undefined;
      if (exited?.name === 'ExitStatus' && typeof exited.status === 'number') {
        status = exited.status;
      } else if (bridge.reached !== undefined) {
        fatal = `the program used the JavaScript bridge, which is closed in the sandbox (${bridge.reached})`;
      } else {
        fatal = describe(error);
      }
    }
    post({ type: 'done', status, traceback, fatal, ms: Date.now() - runStarted });
  });
  post({ type: 'ready', ms: Date.now() - started });
}

host.once('message', (message: ToChild) => {
  if (message.type !== 'start') {
    post({ type: 'failed', message: `expected a start message, got '${String(message.type)}'` });
    return;
  }
  start(message).catch((error: unknown) => post({ type: 'failed', message: describe(error) }));
});
