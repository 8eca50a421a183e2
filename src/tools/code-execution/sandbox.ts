import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { SETUP_PYTHON, WORKER_SOURCE } from './sandbox-worker.js';

/** Limits of one sandbox pool (all runs of one code-execution tool). */
export interface SandboxLimits {
  /** Wall-clock limit of one program, from the moment it is handed to a ready worker. */
  timeoutMs: number;
  /** Cap of the interpreter's wasm linear memory (Python's heap); the worker's JS heap gets its own cap. */
  memoryMb: number;
  /** Output kept per stream (stdout, stderr). */
  maxOutputBytes: number;
  /** Programs running at once; more are refused. */
  maxConcurrent: number;
  /** Started workers kept ready for the next programs. */
  warmWorkers: number;
  /** How long a worker may take to load the interpreter. */
  startupTimeoutMs: number;
  /** Idle warm workers are stopped after this long without a run (they come back on demand). */
  idleTimeoutMs: number;
}

export type RunStatus =
  /** The program ended on its own; `exitStatus` says how. */
  | 'exited'
  | 'timeout'
  | 'cancelled'
  | 'out_of_memory'
  /** The worker died or the interpreter hit a fatal error. */
  | 'crashed'
  /** Refused: `maxConcurrent` programs were already running. */
  | 'busy';

export interface RunOutcome {
  status: RunStatus;
  /** Exit status for `exited` (0 = success; 1 = uncaught exception; `sys.exit(n)` = n). */
  exitStatus: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** A stream went past `maxOutputBytes` (its bytes beyond that were dropped). */
  overflow: boolean;
  /** Traceback of an uncaught exception, starting at the program's own frames. */
  traceback?: string;
  /** What went wrong, for statuses other than `exited`. */
  message?: string;
  /** Time the program ran (excludes waiting for a worker). */
  runMs?: number;
}

export class SandboxStartupError extends Error {
  override readonly name = 'SandboxStartupError';
}

const require = createRequire(import.meta.url);

/** Files of the pyodide npm package: the interpreter loads from here, never from the network. */
function pyodideDirectory(): string {
  try {
    return dirname(require.resolve('pyodide/pyodide.js'));
  } catch (error) {
    throw new Error('code execution needs the "pyodide" npm package, which is not installed', {
      cause: error,
    });
  }
}

/**
 * Per-process cache of what every worker can share: the compiled wasm module and a memory
 * snapshot of a freshly initialised interpreter (restoring it takes a fraction of a cold start).
 * Both are made from node_modules only, before any user code exists, and each worker gets its
 * own copy of the snapshot, so no run can influence another.
 */
interface SharedImage {
  wasmModule?: WebAssembly.Module;
  snapshot?: Uint8Array;
  /** Why the snapshot could not be made (workers then load cold). */
  snapshotError?: string;
  buildMs?: number;
}

let sharedImage: Promise<SharedImage> | undefined;

function workerOptions(
  indexDir: string,
  limits: Pick<SandboxLimits, 'memoryMb' | 'maxOutputBytes'>,
  extra: Record<string, unknown>,
) {
  return {
    eval: true,
    name: 'code-execution',
    env: {},
    argv: [],
    execArgv: [],
    stdin: false,
    stdout: true,
    stderr: true,
    resourceLimits: {
      maxOldGenerationSizeMb: Math.max(64, Math.ceil(limits.memoryMb / 2)),
      maxYoungGenerationSizeMb: 16,
      stackSizeMb: 4,
    },
    workerData: {
      indexDir,
      memoryMb: limits.memoryMb,
      maxOutputBytes: limits.maxOutputBytes,
      setupPython: SETUP_PYTHON,
      ...extra,
    },
  };
}

/**
 * Keeps the last few KiB a worker wrote to its console (Pyodide reports fatal errors there).
 * The streams are only read once someone waits on the worker: a worker stream with a reader
 * holds the process open, and an idle warm worker must not (until then Node buffers the little
 * a loading worker prints).
 */
class ConsoleTail {
  private tail = '';
  private reading = false;
  constructor(private readonly worker: Worker) {}
  read(): void {
    if (this.reading) return;
    this.reading = true;
    for (const stream of [this.worker.stdout, this.worker.stderr]) {
      stream.on('data', (chunk: Buffer) => {
        this.tail = (this.tail + chunk.toString('utf8')).slice(-4096);
      });
    }
  }
  text(): string {
    return this.tail.trim();
  }
}

function buildSharedImage(startupTimeoutMs: number): Promise<SharedImage> {
  const indexDir = pyodideDirectory();
  let wasmModule: WebAssembly.Module | undefined;
  try {
    wasmModule = new WebAssembly.Module(readFileSync(`${indexDir}/pyodide.asm.wasm`));
  } catch {
    wasmModule = undefined;
  }
  const started = Date.now();
  return new Promise<SharedImage>((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(
        WORKER_SOURCE,
        workerOptions(
          indexDir,
          { memoryMb: 256, maxOutputBytes: 1024 },
          { mode: 'snapshot', wasmModule },
        ),
      );
    } catch (error) {
      resolve({ wasmModule, snapshotError: (error as Error).message });
      return;
    }
    let settled = false;
    const finish = (image: SharedImage) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      resolve(image);
    };
    const timer = setTimeout(
      () => finish({ wasmModule, snapshotError: 'timed out' }),
      startupTimeoutMs,
    );
    timer.unref();
    worker.on('message', (message: { type?: string; image?: unknown; message?: string }) => {
      if (message?.type === 'snapshot' && message.image instanceof Uint8Array) {
        finish({ wasmModule, snapshot: message.image, buildMs: Date.now() - started });
      } else if (message?.type === 'failed') {
        finish({ wasmModule, snapshotError: String(message.message) });
      }
    });
    worker.on('error', (error) => finish({ wasmModule, snapshotError: error.message }));
    worker.on('exit', (code) =>
      finish({
        wasmModule,
        snapshotError: `snapshot worker exited with code ${code}`,
      }),
    );
    // After the listeners: adding a 'message' listener re-references the worker's port.
    worker.unref();
  });
}

/** The shared image, built once per process; a failed snapshot means cold starts, not failure. */
export function getSharedImage(startupTimeoutMs = 120_000): Promise<SharedImage> {
  sharedImage ??= buildSharedImage(startupTimeoutMs);
  return sharedImage;
}

type WorkerMessage =
  | { type: 'ready'; ms: number }
  | { type: 'failed'; message: string }
  | { type: 'output'; stream: 'stdout' | 'stderr'; data: Uint8Array }
  | { type: 'done'; status: number; traceback: string | null; fatal: string | null; ms: number };

const MAX_MESSAGE_TEXT = 16_384;
const text = (value: unknown): string | undefined =>
  typeof value === 'string' ? value.slice(-MAX_MESSAGE_TEXT) : undefined;

/** Collects one stream's bytes up to `cap`; anything beyond (the worker sends one byte more) marks overflow. */
class Capture {
  private chunks: Uint8Array[] = [];
  private size = 0;
  overflow = false;
  constructor(private readonly cap: number) {}
  add(data: Uint8Array): void {
    const room = this.cap - this.size;
    if (data.length > room) this.overflow = true;
    if (room <= 0) return;
    const part = data.length > room ? data.subarray(0, room) : data;
    this.chunks.push(part);
    this.size += part.length;
  }
  bytes(): Uint8Array {
    return Buffer.concat(this.chunks);
  }
}

/** One worker thread: loads the interpreter, runs at most one program, then is terminated. */
class SandboxWorker {
  readonly ready: Promise<void>;
  readonly worker: Worker;
  private exited = false;
  private exitCode: number | undefined;
  private failure: Error | undefined;
  readonly console: ConsoleTail;
  private listener: ((message: WorkerMessage) => void) | undefined;
  private deathListener: ((error: Error | undefined) => void) | undefined;
  /** Called when the worker dies before it was used (warm pool bookkeeping). */
  onIdleDeath: (() => void) | undefined;

  constructor(indexDir: string, limits: SandboxLimits, image: SharedImage) {
    this.worker = new Worker(
      WORKER_SOURCE,
      workerOptions(indexDir, limits, { snapshot: image.snapshot, wasmModule: image.wasmModule }),
    );
    this.console = new ConsoleTail(this.worker);
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new SandboxStartupError(
            `the sandbox did not start within ${limits.startupTimeoutMs / 1000} s`,
          ),
        );
        void this.kill();
      }, limits.startupTimeoutMs);
      timer.unref();
      this.listener = (message) => {
        if (message?.type === 'ready') {
          clearTimeout(timer);
          this.listener = undefined;
          resolve();
        } else if (message?.type === 'failed') {
          clearTimeout(timer);
          reject(new SandboxStartupError(`the sandbox failed to start: ${text(message.message)}`));
          void this.kill();
        }
      };
      this.deathListener = (error) => {
        clearTimeout(timer);
        const tail = this.console.text();
        reject(
          new SandboxStartupError(
            `the sandbox failed to start: ${error?.message ?? `worker exited with code ${this.exitCode}`}${tail ? ` (${tail})` : ''}`,
          ),
        );
      };
    });
    // A warm worker may fail before anyone waits on it.
    this.ready.catch(() => undefined);
    this.worker.on('message', (message: WorkerMessage) => this.listener?.(message));
    this.worker.on('error', (error) => {
      this.failure = error;
      this.deathListener?.(error);
    });
    this.worker.on('exit', (code) => {
      this.exited = true;
      this.exitCode = code;
      this.deathListener?.(this.failure);
      this.onIdleDeath?.();
    });
    // After the listeners: adding a 'message' listener re-references the worker's port. An idle
    // worker must not hold the process open; a run refs it (and keeps a timer) while it waits.
    this.worker.unref();
  }

  get alive(): boolean {
    return !this.exited;
  }

  kill(): Promise<number> {
    return this.worker.terminate();
  }

  /** Runs one program. Never rejects: every way a run can end is an outcome. */
  execute(code: string, limits: SandboxLimits, signal: AbortSignal): Promise<RunOutcome> {
    this.onIdleDeath = undefined;
    this.worker.ref();
    this.console.read();
    const stdout = new Capture(limits.maxOutputBytes);
    const stderr = new Capture(limits.maxOutputBytes);
    const started = Date.now();
    return new Promise<RunOutcome>((resolve) => {
      let settled = false;
      const finish = (outcome: Omit<RunOutcome, 'stdout' | 'stderr' | 'overflow'>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.listener = undefined;
        this.deathListener = undefined;
        void this.kill();
        resolve({
          ...outcome,
          stdout: stdout.bytes(),
          stderr: stderr.bytes(),
          overflow: stdout.overflow || stderr.overflow,
          runMs: Date.now() - started,
        });
      };
      const timer = setTimeout(() => {
        finish({
          status: 'timeout',
          exitStatus: 1,
          message: `execution timed out after ${formatSeconds(limits.timeoutMs)}`,
        });
      }, limits.timeoutMs);
      const onAbort = () =>
        finish({ status: 'cancelled', exitStatus: 1, message: 'execution was cancelled' });
      signal.addEventListener('abort', onAbort, { once: true });
      this.listener = (message) => {
        if (message?.type === 'output') {
          if (!(message.data instanceof Uint8Array)) return;
          (message.stream === 'stderr' ? stderr : stdout).add(message.data);
        } else if (message?.type === 'done') {
          const exitStatus = Number.isInteger(message.status) ? message.status : 1;
          const fatal = text(message.fatal);
          if (fatal !== undefined) {
            finish({
              status: 'crashed',
              exitStatus: 1,
              message: `the Python runtime stopped: ${fatal}`,
            });
          } else {
            finish({ status: 'exited', exitStatus, traceback: text(message.traceback) });
          }
        }
      };
      this.deathListener = (error) => {
        const code = (error as NodeJS.ErrnoException | undefined)?.code;
        if (code === 'ERR_WORKER_OUT_OF_MEMORY') {
          finish({
            status: 'out_of_memory',
            exitStatus: 1,
            message: 'the program ran out of memory (the sandbox was stopped)',
          });
        } else {
          finish({
            status: 'crashed',
            exitStatus: 1,
            message: `the sandbox stopped unexpectedly: ${error?.message ?? `exit code ${this.exitCode}`}`,
          });
        }
      };
      if (signal.aborted) return onAbort();
      if (this.exited) return this.deathListener(this.failure);
      this.worker.postMessage({ type: 'run', code });
    });
  }
}

export function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  return `${Number.isInteger(seconds) ? seconds : Number(seconds.toFixed(3))} s`;
}

export interface SandboxStats {
  running: number;
  idle: number;
  starting: number;
  snapshot: 'pending' | 'ready' | 'unavailable' | 'not started';
}

/**
 * Runs programs, each in a fresh worker. Up to `warmWorkers` workers are started ahead of time
 * (and replaced as soon as one is taken) so a run rarely waits for the interpreter to load; a
 * worker that ran a program is always terminated, never reused. At `maxConcurrent` running
 * programs a new one is refused at once.
 */
export class SandboxPool {
  private readonly idle: SandboxWorker[] = [];
  private starting = 0;
  private running = 0;
  private readonly runs = new Set<AbortController>();
  private closed = false;
  private imageState: SandboxStats['snapshot'] = 'not started';
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly indexDir = pyodideDirectory();

  constructor(readonly limits: SandboxLimits) {}

  private image(): Promise<SharedImage> {
    if (this.imageState === 'not started') this.imageState = 'pending';
    return getSharedImage(Math.max(this.limits.startupTimeoutMs, 120_000)).then((image) => {
      this.imageState = image.snapshot ? 'ready' : 'unavailable';
      return image;
    });
  }

  private async spawn(): Promise<SandboxWorker> {
    const image = await this.image();
    if (this.closed) throw new SandboxStartupError('the code execution tool was closed');
    return new SandboxWorker(this.indexDir, this.limits, image);
  }

  /** Starts workers in the background until `warmWorkers` are idle or starting. */
  prewarm(): void {
    if (this.closed) return;
    this.touch();
    while (this.idle.length + this.starting < this.limits.warmWorkers) {
      this.starting++;
      void this.spawn()
        .then(async (worker) => {
          try {
            await worker.ready;
          } catch {
            return; // Dropped; the next run starts its own worker and reports the cause.
          } finally {
            this.starting--;
          }
          if (this.closed || !worker.alive) {
            void worker.kill();
            return;
          }
          worker.onIdleDeath = () => {
            const at = this.idle.indexOf(worker);
            if (at >= 0) this.idle.splice(at, 1);
          };
          this.idle.push(worker);
        })
        .catch(() => {
          this.starting--;
        });
    }
  }

  /** Stops idle workers after `idleTimeoutMs` without activity. */
  private touch(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.running > 0) return this.touch();
      for (const worker of this.idle.splice(0)) void worker.kill();
    }, this.limits.idleTimeoutMs);
    this.idleTimer.unref();
  }

  stats(): SandboxStats {
    return {
      running: this.running,
      idle: this.idle.length,
      starting: this.starting,
      snapshot: this.imageState,
    };
  }

  /**
   * Runs `code` in a fresh worker. Resolves with an outcome for everything the program does
   * (including refusal at capacity); rejects with SandboxStartupError only when no worker could
   * be started.
   */
  async run(code: string, signal: AbortSignal): Promise<RunOutcome> {
    const empty = { stdout: new Uint8Array(), stderr: new Uint8Array(), overflow: false };
    if (signal.aborted || this.closed) {
      return { ...empty, status: 'cancelled', exitStatus: 1, message: 'execution was cancelled' };
    }
    if (this.running >= this.limits.maxConcurrent) {
      return {
        ...empty,
        status: 'busy',
        exitStatus: 1,
        message: `code execution is at capacity (${this.running} of ${this.limits.maxConcurrent} programs running); try again later`,
      };
    }
    this.running++;
    const controller = new AbortController();
    this.runs.add(controller);
    const combined = AbortSignal.any([signal, controller.signal]);
    // Idle workers and the snapshot build do not hold the process open; a run in progress does.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    let worker: SandboxWorker | undefined;
    try {
      while (this.idle.length > 0 && !worker) {
        const candidate = this.idle.shift()!;
        if (candidate.alive) worker = candidate;
      }
      if (!worker) worker = await this.spawn();
      this.prewarm();
      worker.console.read();
      const ready = worker.ready;
      const aborted = new Promise<'aborted'>((resolve) => {
        if (combined.aborted) resolve('aborted');
        combined.addEventListener('abort', () => resolve('aborted'), { once: true });
      });
      if ((await Promise.race([ready.then(() => 'ready' as const), aborted])) === 'aborted') {
        return { ...empty, status: 'cancelled', exitStatus: 1, message: 'execution was cancelled' };
      }
      return await worker.execute(code, this.limits, combined);
    } finally {
      clearInterval(keepAlive);
      if (worker) void worker.kill();
      this.runs.delete(controller);
      this.running--;
      this.touch();
    }
  }

  /** Stops every worker; programs still running end as cancelled. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idleTimer);
    for (const run of this.runs) run.abort();
    await Promise.all(this.idle.splice(0).map((worker) => worker.kill()));
  }
}
