/**
 * Runs Python programs, each in its own child process (sandbox-child.ts), so nothing a program
 * does can reach the server's heap or event loop: a child that runs out of memory, crashes or
 * is killed is a failed run, never a failed server. See docs/code-execution.md.
 *
 * A child runs one program and is then killed (SIGKILL to its process group). To keep start-up
 * short, a snapshot child (which never runs user code) makes a memory snapshot of a freshly
 * loaded interpreter once per server process, every run child restores it, and `warmWorkers`
 * children are kept started and waiting.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { dirname } from 'node:path';
import { ProjectSlots } from './project-slots.js';
import { childLaunch, isolation, processMemoryMb, type Isolation } from './sandbox-launch.js';
import type { ChildStart, FromChild, ToChild } from './sandbox-protocol.js';
import { SETUP_PYTHON } from './sandbox-python.js';

/** Limits of one sandbox pool (all runs of one code-execution tool). */
export interface SandboxLimits {
  /** Wall-clock limit of one program, from the moment it is handed to a ready child. */
  timeoutMs: number;
  /** Python's heap (wasm memory); the OS limits the whole child to this plus the runtime. */
  memoryMb: number;
  /** Output kept per stream (stdout, stderr). */
  maxOutputBytes: number;
  /** Programs running at once; more are refused. */
  maxConcurrent: number;
  /** Programs of one project running at once; more are refused. */
  maxConcurrentPerProject: number;
  /** Started children kept ready for the next programs. */
  warmWorkers: number;
  /** How long a child may take to load the interpreter. */
  startupTimeoutMs: number;
  /** Idle warm children are stopped after this long without a run (they come back on demand). */
  idleTimeoutMs: number;
}

/** Internal switches, for tests. */
export interface SandboxOptions {
  /**
   * Close the Python routes into JavaScript (default true). Tests turn it off to show that the
   * process and its OS limits contain what gets through.
   */
  lockdown?: boolean;
  /** Called with the child's pid once a program has been sent to it. */
  onProgramStart?: (pid: number) => void;
}

export type RunStatus =
  /** The program ended on its own; `exitStatus` says how. */
  | 'exited'
  | 'timeout'
  | 'cancelled'
  | 'out_of_memory'
  /** The child died or the interpreter hit a fatal error. */
  | 'crashed'
  /** Refused: too many programs were already running (in all, or of this project). */
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
  /** Time the program ran (excludes waiting for a child). */
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

export function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  return `${Number.isInteger(seconds) ? seconds : Number(seconds.toFixed(3))} s`;
}

const MAX_MESSAGE_TEXT = 16_384;
const text = (value: unknown): string | undefined =>
  typeof value === 'string' ? value.slice(-MAX_MESSAGE_TEXT) : undefined;

/** What V8 prints when it gives up on memory (heap limit or a failed allocation). */
const OUT_OF_MEMORY = /out of memory|reached heap limit|allocation failed/i;

/** Collects one stream's bytes up to `cap`; anything beyond (the child sends one byte more) marks overflow. */
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

interface ChildSettings {
  indexDir: string;
  memoryMb: number;
  maxOutputBytes: number;
  /** OS CPU-time backstop. */
  cpuSeconds: number;
  lockdown: boolean;
  /** Command prefix for namespaces and the parent-death signal. */
  prefix: string[];
}

/** How a child ended, once it has. */
interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last few KiB the child (Node, V8) wrote to stderr; user code cannot write there. */
  stderr: string;
}

/**
 * One child process. Idle children do not hold the server's event loop open; a run does (its
 * timer), and `ref()` re-references the child while it runs.
 */
class Child {
  readonly process: ChildProcess;
  /** Resolves with how the child ended (never rejects). */
  readonly exited: Promise<ChildExit>;
  private stderrTail = '';
  private listener: ((message: FromChild) => void) | undefined;
  private exitInfo: ChildExit | undefined;

  constructor(
    settings: ChildSettings,
    start: Pick<ChildStart, 'mode' | 'setupPython'>,
    snapshot?: Uint8Array,
  ) {
    const launch = childLaunch(
      settings.indexDir,
      { memoryMb: settings.memoryMb, cpuSeconds: settings.cpuSeconds },
      settings.prefix,
    );
    this.process = spawn(launch.file, launch.args, {
      stdio: ['pipe', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
      env: launch.env,
      // '/' rather than a project directory: nothing is read relative to it.
      cwd: '/',
      // Own process group: killing it also ends what the child started (tsx's esbuild, from source).
      detached: true,
    });
    this.exited = new Promise<ChildExit>((resolve) => {
      this.process.once('error', (error) => {
        this.stderrTail += `${error.message}\n`;
        // `exit` may not follow a spawn error.
        if (this.process.exitCode === null && this.process.pid === undefined) {
          this.exitInfo = { code: null, signal: null, stderr: this.stderrTail };
          resolve(this.exitInfo);
        }
      });
      this.process.once('exit', (code, signal) => {
        this.exitInfo = { code, signal, stderr: this.stderrTail };
        resolve(this.exitInfo);
      });
    });
    this.process.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-4096);
    });
    this.process.on('message', (message: FromChild) => this.listener?.(message));
    this.send({
      type: 'start',
      indexDir: settings.indexDir,
      memoryMb: settings.memoryMb,
      maxOutputBytes: settings.maxOutputBytes,
      lockdown: settings.lockdown,
      snapshotBytes: snapshot?.length ?? 0,
      ...start,
    });
    // A child that dies while reading makes the write fail; its exit reports why.
    this.process.stdin?.on('error', () => undefined);
    this.process.stdin?.end(snapshot);
    this.unref();
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  /** The next messages go to `listener` (one consumer at a time). */
  listen(listener: ((message: FromChild) => void) | undefined): void {
    this.listener = listener;
  }

  send(message: ToChild): void {
    if (!this.process.connected) return;
    this.process.send(message, (error) => {
      // The child died meanwhile; its exit reports why.
      if (error) this.kill();
    });
  }

  ref(): void {
    this.process.ref();
    this.process.channel?.ref();
    (this.process.stderr as Partial<Socket> | null)?.ref?.();
  }

  unref(): void {
    this.process.unref();
    this.process.channel?.unref();
    (this.process.stderr as Partial<Socket> | null)?.unref?.();
  }

  /** SIGKILL to the child's process group. */
  kill(): void {
    if (!this.alive || this.process.pid === undefined) return;
    try {
      process.kill(-this.process.pid, 'SIGKILL');
    } catch {
      this.process.kill('SIGKILL');
    }
  }
}

/** The error line of what a child printed when it failed to start (else its last line). */
function errorLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const line = lines.find((l) => /^\w*Error\b/.test(l)) ?? lines.at(-1) ?? '';
  return line.slice(0, 300);
}

/** Why a child ended before it reported, in words for the result. */
function describeDeath(exit: ChildExit, memoryMb: number): Pick<RunOutcome, 'status' | 'message'> {
  if (OUT_OF_MEMORY.test(exit.stderr)) {
    return {
      status: 'out_of_memory',
      message: `the program exceeded the ${memoryMb} MB memory limit (the sandbox process was stopped)`,
    };
  }
  if (exit.signal === 'SIGXCPU') {
    return { status: 'crashed', message: 'the program exceeded its CPU time limit' };
  }
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  return { status: 'crashed', message: `the sandbox process ${how} before the program finished` };
}

/**
 * Per-process cache of the interpreter snapshot (~20 MB): made by a child that runs no user
 * code; each run child restores its own copy, so no run can influence another.
 */
interface Snapshot {
  image?: Uint8Array;
  /** Why it could not be made (children then load cold). */
  error?: string;
}

let sharedSnapshot: Promise<Snapshot> | undefined;

async function buildSnapshot(indexDir: string, startupTimeoutMs: number): Promise<Snapshot> {
  const child = new Child(
    {
      indexDir,
      memoryMb: 256,
      maxOutputBytes: 1024,
      cpuSeconds: startupTimeoutMs / 1000 + 30,
      lockdown: true,
      prefix: (await isolation()).prefix,
    },
    { mode: 'snapshot', setupPython: '' },
  );
  return new Promise<Snapshot>((resolve) => {
    let settled = false;
    const finish = (snapshot: Snapshot) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.listen(undefined);
      child.kill();
      resolve(snapshot);
    };
    const timer = setTimeout(() => finish({ error: 'timed out' }), startupTimeoutMs);
    timer.unref();
    child.listen((message) => {
      if (message.type === 'snapshot' && message.image instanceof Uint8Array) {
        finish({ image: message.image });
      } else if (message.type === 'failed') {
        finish({ error: text(message.message) });
      }
    });
    void child.exited.then((exit) =>
      finish({ error: `the snapshot process ${exit.signal ?? `exited with code ${exit.code}`}` }),
    );
  });
}

/** The shared snapshot, made once per process; a failed snapshot means cold starts, not failure. */
function getSnapshot(indexDir: string, startupTimeoutMs: number): Promise<Snapshot> {
  sharedSnapshot ??= buildSnapshot(indexDir, startupTimeoutMs);
  return sharedSnapshot;
}

/** A child that is loading or loaded, waiting for its program. */
class RunChild {
  readonly ready: Promise<void>;
  /** Called when the child dies before it was used (warm pool bookkeeping). */
  onIdleDeath: (() => void) | undefined;

  constructor(
    private readonly child: Child,
    limits: SandboxLimits,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (error?: SandboxStartupError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        child.listen(undefined);
        if (!error) return resolve();
        child.kill();
        reject(error);
      };
      const timer = setTimeout(
        () =>
          settle(
            new SandboxStartupError(
              `the sandbox did not start within ${formatSeconds(limits.startupTimeoutMs)}`,
            ),
          ),
        limits.startupTimeoutMs,
      );
      timer.unref();
      child.listen((message) => {
        if (message.type === 'ready') settle();
        else if (message.type === 'failed') {
          settle(new SandboxStartupError(`the sandbox failed to start: ${text(message.message)}`));
        }
      });
      void child.exited.then((exit) => {
        const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
        const tail = errorLine(exit.stderr);
        settle(
          new SandboxStartupError(`the sandbox failed to start (${how})${tail ? `: ${tail}` : ''}`),
        );
        this.onIdleDeath?.();
      });
    });
    // A warm child may fail before anyone waits on it.
    this.ready.catch(() => undefined);
  }

  get alive(): boolean {
    return this.child.alive;
  }

  get exited(): Promise<unknown> {
    return this.child.exited;
  }

  kill(): void {
    this.child.kill();
  }

  get pid(): number | undefined {
    return this.child.process.pid;
  }

  /** Runs one program. Never rejects: every way a run can end is an outcome. */
  execute(code: string, limits: SandboxLimits, signal: AbortSignal): Promise<RunOutcome> {
    this.onIdleDeath = undefined;
    const child = this.child;
    child.ref();
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
        child.listen(undefined);
        child.kill();
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
      child.listen((message) => {
        if (message.type === 'output') {
          if (!(message.data instanceof Uint8Array)) return;
          (message.stream === 'stderr' ? stderr : stdout).add(message.data);
        } else if (message.type === 'done') {
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
      });
      void child.exited.then((exit) =>
        finish({ exitStatus: 1, ...describeDeath(exit, limits.memoryMb) }),
      );
      if (signal.aborted) return onAbort();
      child.send({ type: 'run', code });
    });
  }
}

export interface SandboxStats {
  running: number;
  idle: number;
  starting: number;
  snapshot: 'pending' | 'ready' | 'unavailable' | 'not started';
  /** Why the snapshot could not be made (children then load cold). */
  snapshotError?: string;
  /** OS isolation of the children beyond the rlimits (known once the first child started). */
  isolation: Omit<Isolation, 'prefix'> | undefined;
}

/**
 * Runs programs, each in a fresh child process. Up to `warmWorkers` children are started
 * ahead of time (and replaced as soon as one is taken) so a run rarely waits for the interpreter
 * to load; a child that ran a program is always killed, never reused. Slots are shared fairly
 * (ProjectSlots): at the limit, a new program is refused at once.
 */
export class SandboxPool {
  private readonly idle: RunChild[] = [];
  private starting = 0;
  private readonly slots: ProjectSlots;
  private readonly runs = new Set<AbortController>();
  private closed = false;
  private snapshotState: SandboxStats['snapshot'] = 'not started';
  private snapshotError: string | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private isolation: Isolation | undefined;
  private readonly indexDir = pyodideDirectory();

  constructor(
    readonly limits: SandboxLimits,
    private readonly options: SandboxOptions = {},
  ) {
    this.slots = new ProjectSlots(limits.maxConcurrent, limits.maxConcurrentPerProject);
  }

  /** The OS memory limit of each child, in MB. */
  get processMemoryMb(): number {
    return processMemoryMb(this.limits.memoryMb);
  }

  private snapshot(): Promise<Snapshot> {
    if (this.snapshotState === 'not started') this.snapshotState = 'pending';
    return getSnapshot(this.indexDir, Math.max(this.limits.startupTimeoutMs, 120_000)).then(
      (snapshot) => {
        this.snapshotState = snapshot.image ? 'ready' : 'unavailable';
        this.snapshotError = snapshot.error;
        return snapshot;
      },
    );
  }

  private async spawn(): Promise<RunChild> {
    const [snapshot, os] = await Promise.all([this.snapshot(), isolation()]);
    this.isolation = os;
    if (this.closed) throw new SandboxStartupError('the code execution tool was closed');
    const { limits } = this;
    const child = new Child(
      {
        indexDir: this.indexDir,
        memoryMb: limits.memoryMb,
        maxOutputBytes: limits.maxOutputBytes,
        // Start-up plus the run, twice over (V8's helper threads count too), plus slack.
        cpuSeconds: (limits.startupTimeoutMs + 2 * limits.timeoutMs) / 1000 + 30,
        lockdown: this.options.lockdown ?? true,
        prefix: os.prefix,
      },
      { mode: 'run', setupPython: SETUP_PYTHON },
      snapshot.image,
    );
    return new RunChild(child, limits);
  }

  /** Starts children in the background until `warmWorkers` are idle or starting. */
  prewarm(): void {
    if (this.closed) return;
    this.touch();
    while (this.idle.length + this.starting < this.limits.warmWorkers) {
      this.starting++;
      void this.spawn()
        .then(async (child) => {
          try {
            await child.ready;
          } catch {
            return; // Dropped; the next run starts its own child and reports the cause.
          } finally {
            this.starting--;
          }
          if (this.closed || !child.alive) {
            child.kill();
            return;
          }
          child.onIdleDeath = () => {
            const at = this.idle.indexOf(child);
            if (at >= 0) this.idle.splice(at, 1);
          };
          this.idle.push(child);
        })
        .catch(() => {
          this.starting--;
        });
    }
  }

  /** Stops idle children after `idleTimeoutMs` without activity. */
  private touch(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.slots.running > 0) return this.touch();
      for (const child of this.idle.splice(0)) child.kill();
    }, this.limits.idleTimeoutMs);
    this.idleTimer.unref();
  }

  stats(): SandboxStats {
    return {
      running: this.slots.running,
      idle: this.idle.length,
      starting: this.starting,
      snapshot: this.snapshotState,
      ...(this.snapshotError !== undefined ? { snapshotError: this.snapshotError } : {}),
      isolation: this.isolation && {
        networkNamespace: this.isolation.networkNamespace,
        parentDeathSignal: this.isolation.parentDeathSignal,
      },
    };
  }

  /**
   * Runs `code` for `project` in a fresh child. Resolves with an outcome for everything the
   * program does (including refusal at capacity); rejects with SandboxStartupError only when no
   * child could be started.
   */
  async run(code: string, project: string, signal: AbortSignal): Promise<RunOutcome> {
    const empty = { stdout: new Uint8Array(), stderr: new Uint8Array(), overflow: false };
    if (signal.aborted || this.closed) {
      return { ...empty, status: 'cancelled', exitStatus: 1, message: 'execution was cancelled' };
    }
    const slot = this.slots.acquire(project);
    if ('refused' in slot)
      return { ...empty, status: 'busy', exitStatus: 1, message: slot.refused };
    const controller = new AbortController();
    this.runs.add(controller);
    const combined = AbortSignal.any([signal, controller.signal]);
    // Idle children and the snapshot build do not hold the process open; a run in progress does.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    let child: RunChild | undefined;
    try {
      while (this.idle.length > 0 && !child) {
        const candidate = this.idle.shift()!;
        if (candidate.alive) child = candidate;
      }
      child ??= await this.spawn();
      const aborted = new Promise<'aborted'>((resolve) => {
        if (combined.aborted) resolve('aborted');
        combined.addEventListener('abort', () => resolve('aborted'), { once: true });
      });
      if ((await Promise.race([child.ready.then(() => 'ready' as const), aborted])) === 'aborted') {
        return { ...empty, status: 'cancelled', exitStatus: 1, message: 'execution was cancelled' };
      }
      const outcome = child.execute(code, this.limits, combined);
      if (child.pid !== undefined) this.options.onProgramStart?.(child.pid);
      // After the program was sent: starting a child costs the server a process spawn.
      this.prewarm();
      return await outcome;
    } finally {
      clearInterval(keepAlive);
      child?.kill();
      this.runs.delete(controller);
      slot.release();
      this.touch();
    }
  }

  /** Stops every child; programs still running end as cancelled. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idleTimer);
    for (const run of this.runs) run.abort();
    const idle = this.idle.splice(0);
    for (const child of idle) child.kill();
    await Promise.all(idle.map((child) => child.exited));
  }
}
