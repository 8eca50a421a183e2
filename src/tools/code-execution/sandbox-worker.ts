/**
 * The code that runs inside each sandbox worker thread, kept as source text so it works the same
 * from `src/` (vitest) and from `dist/` (tsc does not copy plain `.js` files), started with
 * `new Worker(WORKER_SOURCE, { eval: true })`.
 *
 * What the worker does, in order:
 *  1. Clamps every WebAssembly memory to `memoryMb` (Python's heap lives in the wasm linear
 *     memory, which `resourceLimits` does not cover), so a memory bomb ends as `MemoryError`.
 *  2. Evaluates `pyodide.asm.js` (the emscripten runtime) itself, with its own `require`,
 *     `process` and `import()`: the runtime gets a file system whose every call fails, a
 *     `child_process` whose `spawnSync` fails, no `ws` (so Python sockets cannot connect) and no
 *     way to import host modules. NODEFS therefore has nothing to mount and `os.system` reaches
 *     nothing.
 *  3. Loads Pyodide from node_modules (from a memory snapshot when the host passes one) with an
 *     empty object as the `js` module, installs the Python runner and locks imports down.
 *  4. Hardens the worker's JS realm before any user code runs: no code generation from strings
 *     (`eval`, `Function` and its async/generator siblings throw), no `fetch`/`WebSocket`/
 *     `require`/`process` globals, and the Node modules Pyodide's loader holds (fs, vm, …) lose
 *     every function.
 *  5. Runs exactly one program, streaming its output (capped) to the host, then reports and
 *     waits to be terminated. A worker never runs a second program.
 *
 * With `mode: 'snapshot'` it stops after loading and posts a memory snapshot of the freshly
 * initialised interpreter instead (no user code ever runs in that worker).
 *
 * The source must not contain backticks or dollar-brace sequences (it is a template literal).
 */
export const WORKER_SOURCE = String.raw`'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const url = require('node:url');
const nodeCrypto = require('node:crypto');
const nodeModule = require('node:module');

const started = Date.now();
const { indexDir, memoryMb, maxOutputBytes, setupPython, mode, snapshot, wasmModule } = workerData;
const post = (message, transfer) => parentPort.postMessage(message, transfer);

function denied(what) {
  return function () {
    const error = new Error(what + ' is not available in the sandbox');
    error.code = 'EACCES';
    throw error;
  };
}

// 1. Wasm linear memory never grows past the limit.
const OriginalMemory = WebAssembly.Memory;
const maxPages = Math.max(16, Math.floor((memoryMb * 1024 * 1024) / 65536));
const Memory = function Memory(descriptor) {
  if (!new.target) throw new TypeError("WebAssembly.Memory must be called with 'new'");
  let d = descriptor;
  if (d && typeof d === 'object' && !d.shared) {
    const maximum = Math.min(Number(d.maximum === undefined ? maxPages : d.maximum), maxPages);
    if (Number(d.initial) > maximum) throw new RangeError('WebAssembly.Memory: larger than the sandbox memory limit');
    d = Object.assign({}, d, { maximum });
  }
  return Reflect.construct(OriginalMemory, [d], new.target);
};
Memory.prototype = OriginalMemory.prototype;
Object.defineProperty(WebAssembly, 'Memory', { value: Memory, writable: false, configurable: false });

// A compiled module shared by the host saves each worker the compile.
if (wasmModule instanceof WebAssembly.Module) {
  const originalInstantiate = WebAssembly.instantiate;
  WebAssembly.instantiate = async function instantiate(source, imports) {
    if (source instanceof WebAssembly.Module) return originalInstantiate(source, imports);
    const instance = await originalInstantiate(wasmModule, imports);
    return { instance, module: wasmModule };
  };
}

// 2. The emscripten runtime, evaluated with host access of our choosing.
const fsConstants = Object.assign({}, fs.constants);
const fakeFs = new Proxy(Object.create(null), {
  get(_, key) {
    if (key === 'fsyncSync') return function () {};
    if (key === 'constants') return fsConstants;
    return denied('fs.' + String(key));
  },
});
function sandboxRequire(name) {
  switch (String(name).replace(/^node:/, '')) {
    case 'fs': return fakeFs;
    case 'path': return path;
    case 'tty': return { isatty: () => false };
    case 'crypto': return { randomFillSync: (view) => nodeCrypto.randomFillSync(view) };
    case 'child_process': return { spawnSync: () => ({ status: 127, signal: null }) };
    default: throw new Error('module ' + String(name) + ' is not available in the sandbox');
  }
}
async function sandboxImport(specifier) {
  switch (String(specifier)) {
    case 'node:url': return { default: url };
    case 'node:path': return path;
    case 'node:vm': return { default: {} };
    case 'node:fs':
    case 'node:fs/promises': return {};
    default: throw new Error('import of ' + String(specifier) + ' is not available in the sandbox');
  }
}
const fakeProcess = {
  versions: { node: process.versions.node },
  version: process.version,
  platform: 'linux',
  argv: ['python'],
  env: {},
  binding(name) {
    if (name === 'constants') return { fs: fsConstants };
    return denied('process.binding')();
  },
};
const asmPath = path.join(indexDir, 'pyodide.asm.js');
const asmSource = fs
  .readFileSync(asmPath, 'utf8')
  .replace(/(?<![\w$.])import\(/g, '__sandboxImport(');
vm.runInThisContext(
  '(function (require, process, __dirname, __filename, module, exports, __sandboxImport) {' + asmSource + '\n})',
  { filename: asmPath },
)(sandboxRequire, fakeProcess, indexDir, asmPath, undefined, undefined, sandboxImport);
if (typeof globalThis._createPyodideModule !== 'function') {
  throw new Error('pyodide.asm.js did not define _createPyodideModule');
}
const { loadPyodide } = require(path.join(indexDir, 'pyodide.js'));

// Output: capped per stream, streamed to the host in chunks so a killed run keeps what it printed.
const pending = { stdout: [], stderr: [] };
const captured = { stdout: 0, stderr: 0 };
let pendingBytes = 0;
let lastFlush = Date.now();
function flush() {
  for (const stream of ['stdout', 'stderr']) {
    const chunks = pending[stream];
    if (chunks.length === 0) continue;
    pending[stream] = [];
    let total = 0;
    for (const chunk of chunks) total += chunk.length;
    const data = new Uint8Array(total);
    let at = 0;
    for (const chunk of chunks) {
      data.set(chunk, at);
      at += chunk.length;
    }
    post({ type: 'output', stream, data }, [data.buffer]);
  }
  pendingBytes = 0;
  lastFlush = Date.now();
}
function writer(stream) {
  return (buffer) => {
    // One byte more than the cap tells the host that the stream overflowed.
    const room = maxOutputBytes + 1 - captured[stream];
    if (room > 0) {
      const part = buffer.slice(0, Math.min(buffer.length, room));
      captured[stream] += part.length;
      pending[stream].push(part);
      pendingBytes += part.length;
      if (pendingBytes >= 8192 || Date.now() - lastFlush >= 100) flush();
    }
    return buffer.length;
  };
}

// 4. The realm user code could reach through the FFI loses everything that touches the host.
function harden(pyodide) {
  const block = (what) =>
    function () {
      throw new EvalError(what + ' is disabled in the sandbox');
    };
  const constructors = [
    Function,
    Object.getPrototypeOf(async function () {}).constructor,
    Object.getPrototypeOf(function* () {}).constructor,
    Object.getPrototypeOf(async function* () {}).constructor,
  ];
  for (const Ctor of constructors) {
    const guard = new Proxy(Ctor, { apply: block(Ctor.name), construct: block(Ctor.name) });
    Object.defineProperty(Ctor.prototype, 'constructor', { value: guard, writable: false, configurable: false });
    if (Ctor === Function) {
      Object.defineProperty(globalThis, 'Function', { value: guard, writable: false, configurable: false });
    }
  }
  Object.defineProperty(globalThis, 'eval', { value: block('eval'), writable: false, configurable: false });

  const syncBuiltinESMExports = nodeModule.syncBuiltinESMExports;
  const hostModules = ['child_process', 'dgram', 'fs', 'fs/promises', 'net', 'vm', 'module', 'worker_threads']
    .map((name) => [name, require('node:' + name)]);
  for (const [name, mod] of hostModules) {
    for (const key of Object.getOwnPropertyNames(mod)) {
      const desc = Object.getOwnPropertyDescriptor(mod, key);
      if (!desc || !('value' in desc) || typeof desc.value !== 'function') continue;
      try {
        Object.defineProperty(mod, key, { value: denied(name + '.' + key), writable: false, configurable: false });
      } catch {}
    }
  }
  syncBuiltinESMExports();
  for (const key of ['binding', '_linkedBinding', 'dlopen', 'kill', 'chdir', 'abort', 'setuid', 'setgid',
    'seteuid', 'setegid', 'setgroups', 'initgroups', 'loadEnvFile', 'openStdin']) {
    if (typeof process[key] === 'function') {
      try { process[key] = denied('process.' + key); } catch {}
    }
  }
  for (const key of ['fetch', 'Request', 'Response', 'Headers', 'FormData', 'WebSocket', 'EventSource',
    'XMLHttpRequest', 'BroadcastChannel', 'require', 'module', 'exports', '__filename', '__dirname',
    'process', 'global', '_createPyodideModule', 'loadPyodide', 'importScripts', 'Worker']) {
    try { delete globalThis[key]; } catch {}
    if (key in globalThis) {
      try { Object.defineProperty(globalThis, key, { value: undefined, writable: false, configurable: false }); } catch {}
    }
  }

  const FS = pyodide.FS;
  if (FS) {
    if (FS.filesystems) {
      delete FS.filesystems.NODEFS;
      delete FS.filesystems.NODERAWFS;
    }
    try { FS.mount = denied('FS.mount'); } catch {}
  }
  for (const key of ['loadPackage', 'loadPackagesFromImports', 'mountNodeFS', 'mountNativeFS',
    'registerJsModule', 'setStdout', 'setStderr', 'setStdin', 'runPythonAsync', 'unpackArchive']) {
    try { pyodide[key] = denied('pyodide.' + key); } catch {}
  }
}

function describe(error) {
  if (error && typeof error === 'object') return String(error.message || error.name || 'error');
  return String(error);
}

(async () => {
  const pyodide = await loadPyodide(Object.assign(
    {
      indexURL: indexDir + path.sep,
      packages: [],
      jsglobals: Object.create(null),
      env: { HOME: '/home/pyodide' },
      args: [],
      stdin: () => null,
      stdout: () => {},
      stderr: () => {},
      checkAPIVersion: true,
    },
    mode === 'snapshot' ? { _makeSnapshot: true } : snapshot ? { _loadSnapshot: snapshot } : {},
  ));
  if (mode === 'snapshot') {
    const image = pyodide.makeMemorySnapshot();
    post({ type: 'snapshot', image, ms: Date.now() - started }, [image.buffer]);
    return;
  }
  pyodide.setStdout({ write: writer('stdout') });
  pyodide.setStderr({ write: writer('stderr') });
  pyodide.setStdin({ stdin: () => null });
  pyodide.runPython(setupPython);
  pyodide.unregisterJsModule('js');
  pyodide.unregisterJsModule('pyodide_js');
  pyodide.runPython('__oi_lockdown()');
  const runProgram = pyodide.globals.get('__oi_run');
  harden(pyodide);

  parentPort.once('message', (message) => {
    const runStarted = Date.now();
    let status = 0;
    let traceback = null;
    let fatal = null;
    try {
      const outcome = runProgram(String(message && message.code));
      const values = outcome.toJs();
      status = Number(values[0]) || 0;
      traceback = typeof values[1] === 'string' ? values[1] : null;
    } catch (error) {
      if (error && error.name === 'ExitStatus' && typeof error.status === 'number') {
        status = error.status;
      } else {
        status = 1;
        fatal = describe(error);
      }
    }
    try { flush(); } catch {}
    post({ type: 'done', status, traceback, fatal, ms: Date.now() - runStarted });
  });
  post({ type: 'ready', ms: Date.now() - started });
})().catch((error) => {
  post({ type: 'failed', message: describe(error) });
});
`;

/**
 * Python half of the sandbox. `__oi_run(code)` runs one program in a fresh namespace and returns
 * `[exit_status, traceback_or_None]`; the traceback starts at the program's own frames.
 * `__oi_lockdown()` makes stdout/stderr write-through (so output printed before a time-out is
 * kept), forgets the JS bridge modules and refuses imports of them, and makes process-starting
 * functions fail.
 */
export const SETUP_PYTHON = String.raw`
import builtins as _oi_builtins
import os as _oi_os
import sys as _oi_sys
import traceback as _oi_traceback

_OI_TRACEBACK_LIMIT = 8000


def __oi_run(code):
    namespace = {"__name__": "__main__", "__builtins__": _oi_builtins}
    status = 0
    text = None
    try:
        exec(compile(code, "<code>", "exec"), namespace)
    except SystemExit as exit:
        value = exit.code
        if value is None or value is False or value == 0:
            status = 0
        elif isinstance(value, int):
            status = value
        else:
            text = str(value) + "\n"
            status = 1
    except BaseException as error:
        tb = error.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != "<code>":
            tb = tb.tb_next
        try:
            text = "".join(_oi_traceback.format_exception(type(error), error, tb))
        except BaseException:
            text = type(error).__name__ + "\n"
        status = 1
    finally:
        for stream in (_oi_sys.stdout, _oi_sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
    if text is not None and len(text) > _OI_TRACEBACK_LIMIT:
        text = "...\n" + text[-_OI_TRACEBACK_LIMIT:]
    return [status, text]


def __oi_lockdown():
    for stream in (_oi_sys.stdout, _oi_sys.stderr):
        try:
            stream.reconfigure(write_through=True)
        except Exception:
            pass

    blocked = ("js", "pyodide_js", "pyodide_http", "micropip", "pyodide.http")
    for name in list(_oi_sys.modules):
        if name in blocked or name.split(".")[0] in blocked:
            del _oi_sys.modules[name]

    class _Blocked:
        def find_spec(self, name, path=None, target=None):
            if name in blocked or name.split(".")[0] in blocked:
                raise ImportError(f"module {name!r} is not available in the sandbox", name=name)
            return None

    _oi_sys.meta_path.insert(0, _Blocked())

    def _no_processes(*args, **kwargs):
        raise OSError("starting processes is not available in the sandbox")

    for name in ("system", "popen", "fork", "forkpty", "posix_spawn", "posix_spawnp", "kill",
                 "killpg", "execv", "execve", "execl", "execle", "execlp", "execlpe", "execvp",
                 "execvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve",
                 "spawnvp", "spawnvpe"):
        if hasattr(_oi_os, name):
            setattr(_oi_os, name, _no_processes)
`;
