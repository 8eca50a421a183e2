/**
 * A bounded pool of parser processes (design §4): documents fetched from the web or uploaded by
 * tenants are parsed here, never on the server's event loop, each under a time cap and a memory
 * cap, with a bounded number of processes and a bounded queue (beyond it: a `busy` error).
 *
 * Why child processes and not worker threads — measured on Node 20.20, a worker thread with
 * `resourceLimits: { maxOldGenerationSizeMb: 64 }`:
 *   - a loop of small allocations (objects, JSON.parse) ends the worker alone with
 *     ERR_WORKER_OUT_OF_MEMORY; the process survives;
 *   - one large allocation (`new Array(1e8).fill(0)`) or a growing Map instead hits V8's fatal
 *     handler: "FATAL ERROR: CALL_AND_RETRY_LAST Allocation failed - JavaScript heap out of
 *     memory", and the whole process aborts (exit 134) — every tenant's runs with it;
 *   - ArrayBuffers are not counted at all: the worker allocated 40 × 100 MB and carried on.
 * A parser process that dies takes only its own document with it. Its V8 heap is capped with
 * `--max-old-space-size`; on Linux all of its data (ArrayBuffers, native memory) is capped too,
 * by the kernel: the process is started through `/bin/sh -c 'ulimit -d …; exec node …'`, so an
 * allocation beyond the cap fails inside the parser instead of growing the machine's memory.
 * A parser that dies by SIGABRT hit V8's fatal out-of-memory handler (the readers are plain
 * JavaScript: nothing else aborts); any other death is reported as a crash.
 *
 * Why not a pool library: workerpool and tinypool both run child processes, but neither tells
 * how a worker died (each turns the exit into a fixed message), so an out-of-memory death could
 * not be told from a kill or a crash, and neither starts a child through the rlimit wrapper.
 * The pool itself is small: idle processes are reused, the time cap starts when a process
 * starts on a document (not while it waits), and a process whose document timed out, was
 * cancelled or killed it is replaced.
 *
 * The same code starts parsers from `src/` (tests, tsx: the child registers tsx's loader with
 * `--import`) and from the compiled `dist/`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DocumentError } from './errors.js';
import type { ParseRequest, ParserMessage } from './protocol.js';
import type { DocumentInput, ParsedDocument } from './types.js';

export interface PoolLimits {
  /** Parser processes at once. */
  workers: number;
  /** Documents waiting for a free parser; one more is refused as `busy`. */
  queue: number;
  /** Time cap per document, counted from when a parser starts on it. */
  timeoutMs: number;
  /** V8 heap cap per parser process (MB); on Linux its data is capped at this + 256 MB. */
  memoryMb: number;
  /** An idle parser process exits after this long. */
  idleMs: number;
}

export interface PoolStats {
  /** Parser processes alive (starting, busy or idle). */
  processes: number;
  /** Documents being parsed. */
  running: number;
  /** Documents waiting for a parser. */
  queued: number;
}

/** What node itself needs beyond the V8 heap cap before the data limit bites (measured: ~190 MB). */
const DATA_HEADROOM_MB = 256;
const STDERR_TAIL = 2_000;

interface Job {
  input: DocumentInput;
  signal: AbortSignal | undefined;
  resolve(document: ParsedDocument): void;
  reject(error: unknown): void;
  /** While queued: takes the job out of the queue when its signal aborts. */
  onQueuedAbort?: () => void;
}

const fromSource = import.meta.url.endsWith('.ts');

/** tsx's ESM loader, registered in the parser process when it runs from `src/`. */
function tsxLoaderUrl(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;
}

function parserCommand(limits: PoolLimits): { command: string; args: string[] } {
  const entry = fileURLToPath(
    new URL(fromSource ? './parser-process.ts' : './parser-process.js', import.meta.url),
  );
  const node = [
    ...(fromSource ? ['--import', tsxLoaderUrl()] : []),
    `--max-old-space-size=${limits.memoryMb}`,
    entry,
  ];
  if (process.platform === 'linux' && existsSync('/bin/sh')) {
    const dataKb = (limits.memoryMb + DATA_HEADROOM_MB) * 1024;
    return {
      command: '/bin/sh',
      args: ['-c', `ulimit -d ${dataKb} && exec "$0" "$@"`, process.execPath, ...node],
    };
  }
  return { command: process.execPath, args: node };
}

/** One parser process; it reads one document at a time. */
class ParserProcess {
  private readonly child: ChildProcess;
  private ready = false;
  private job: Job | undefined;
  private jobId = 0;
  private timer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Set when the pool stops the process: what its document is told. */
  private stopReason: { error: unknown } | undefined;
  private stderr = '';
  readonly exited: Promise<void>;

  constructor(
    private readonly limits: PoolLimits,
    private readonly onFree: (parser: ParserProcess) => void,
    private readonly onExit: (parser: ParserProcess) => void,
  ) {
    const { command, args } = parserCommand(limits);
    this.child = spawn(command, args, {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
      // nothing of the server's environment (API keys) reaches a process that reads hostile files
      env: {},
    });
    this.child.stderr!.on('error', () => undefined);
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_TAIL);
    });
    this.child.on('message', (message: ParserMessage) => this.receive(message));
    this.exited = new Promise((resolve) => {
      // 'error' alone (spawn failed) or 'exit' (it ran): either way it is gone
      let gone = false;
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        if (gone) return;
        gone = true;
        this.gone(code, signal);
        resolve();
      };
      this.child.on('exit', done);
      this.child.on('error', () => {
        if (this.child.pid === undefined) done(null, null);
      });
    });
  }

  get busy(): boolean {
    return this.job !== undefined;
  }

  /** Idle and not being stopped. */
  get free(): boolean {
    return this.job === undefined && this.stopReason === undefined;
  }

  /** Gives the process a document; it is sent once the process is ready. */
  start(job: Job): void {
    clearTimeout(this.idleTimer);
    this.job = job;
    this.hold(true);
    job.signal?.addEventListener('abort', this.onAbort, { once: true });
    if (this.ready) this.send();
  }

  /** Kills the process; its document (if any) is rejected with `error` once it is gone. */
  stop(error: unknown): void {
    this.stopReason ??= { error };
    this.hold(true); // until its exit is seen
    this.child.kill('SIGKILL');
  }

  private readonly onAbort = () => this.stop(this.job?.signal?.reason);

  private send(): void {
    const job = this.job!;
    const request: ParseRequest = { id: ++this.jobId, input: job.input };
    try {
      this.child.send(request);
    } catch {
      // the process is going away; its document is told once it has
      this.stop(new DocumentError('crashed', 'the parser process could not be reached'));
      return;
    }
    this.startClock();
  }

  /**
   * The time cap, (re)started when the document is sent and again when the reader is loaded:
   * loading a format's library once per process (pdf.js: seconds when run from source) is not
   * the document's time.
   */
  private startClock(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () =>
        this.stop(
          new DocumentError(
            'timed_out',
            `reading it took longer than the ${formatSeconds(this.limits.timeoutMs)} limit`,
          ),
        ),
      this.limits.timeoutMs,
    );
  }

  private receive(message: ParserMessage): void {
    if (message.type === 'ready') {
      this.ready = true;
      if (this.job) this.send();
      else this.idle();
      return;
    }
    const job = this.job;
    if (!job || message.id !== this.jobId || this.stopReason) return;
    if (message.type === 'reading') {
      this.startClock();
      return;
    }
    this.finish();
    if (message.type === 'parsed') job.resolve(message.document);
    else job.reject(new DocumentError(message.error.kind, message.error.message));
    this.onFree(this);
  }

  /** Waits for the next document, and exits if none comes for `idleMs`. */
  idle(): void {
    if (this.job) return;
    this.hold(false);
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stop(undefined), this.limits.idleMs);
    this.idleTimer.unref();
  }

  private finish(): Job | undefined {
    const job = this.job;
    clearTimeout(this.timer);
    job?.signal?.removeEventListener('abort', this.onAbort);
    this.job = undefined;
    return job;
  }

  private gone(code: number | null, signal: NodeJS.Signals | null): void {
    clearTimeout(this.idleTimer);
    const job = this.finish();
    if (job) job.reject(this.stopReason?.error ?? this.death(code, signal));
    this.onExit(this);
  }

  /** Why the process died when the pool did not stop it. */
  private death(code: number | null, signal: NodeJS.Signals | null): DocumentError {
    if (!this.ready) {
      return new DocumentError(
        'crashed',
        'the parser process did not start',
        this.stderr ? { cause: new Error(this.stderr.trim()) } : undefined,
      );
    }
    if (signal === 'SIGABRT') {
      return new DocumentError(
        'out_of_memory',
        `reading it needed more than the ${this.limits.memoryMb} MB memory limit`,
      );
    }
    return new DocumentError(
      'crashed',
      `the parser process stopped unexpectedly (${signal ?? `exit code ${code}`})`,
      this.stderr ? { cause: new Error(this.stderr.trim()) } : undefined,
    );
  }

  /** A busy process keeps the server's event loop alive; an idle one does not. */
  private hold(on: boolean): void {
    const method = on ? 'ref' : 'unref';
    this.child[method]();
    this.child.channel?.[method]();
    (this.child.stderr as (Readable & { ref?(): void; unref?(): void }) | null)?.[method]?.();
  }
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

export class ParserPool {
  private readonly parsers = new Set<ParserProcess>();
  private readonly queue: Job[] = [];
  private closed = false;

  constructor(private readonly limits: PoolLimits) {}

  /** Parses one document in a parser process. Rejects with DocumentError, or the abort reason. */
  run(input: DocumentInput, signal?: AbortSignal): Promise<ParsedDocument> {
    if (this.closed) return Promise.reject(closedError());
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<ParsedDocument>((resolve, reject) => {
      const job: Job = { input, signal, resolve, reject };
      const free = [...this.parsers].find((p) => p.free);
      if (free) free.start(job);
      else if (this.parsers.size < this.limits.workers) this.spawn().start(job);
      else if (this.queue.length < this.limits.queue) this.enqueue(job);
      else {
        reject(
          new DocumentError(
            'busy',
            `the server is reading too many documents at once (${this.limits.workers} running, ${this.limits.queue} waiting); try again later`,
          ),
        );
      }
    });
  }

  stats(): PoolStats {
    const running = [...this.parsers].filter((p) => p.busy).length;
    return { processes: this.parsers.size, running, queued: this.queue.length };
  }

  /** Refuses new documents, fails the waiting and running ones, and ends every process. */
  async close(): Promise<void> {
    this.closed = true;
    for (let job = this.dequeue(); job; job = this.dequeue()) job.reject(closedError());
    const parsers = [...this.parsers];
    for (const parser of parsers) parser.stop(closedError());
    await Promise.all(parsers.map((p) => p.exited));
  }

  private enqueue(job: Job): void {
    this.queue.push(job);
    if (!job.signal) return;
    job.onQueuedAbort = () => {
      this.queue.splice(this.queue.indexOf(job), 1);
      job.reject(job.signal!.reason);
    };
    job.signal.addEventListener('abort', job.onQueuedAbort, { once: true });
  }

  private dequeue(): Job | undefined {
    const job = this.queue.shift();
    if (job?.onQueuedAbort) job.signal!.removeEventListener('abort', job.onQueuedAbort);
    return job;
  }

  private spawn(): ParserProcess {
    const parser = new ParserProcess(
      this.limits,
      (p) => this.next(p),
      (p) => {
        this.parsers.delete(p);
        if (!this.closed && this.queue.length > 0) this.spawn().start(this.dequeue()!);
      },
    );
    this.parsers.add(parser);
    return parser;
  }

  private next(parser: ParserProcess): void {
    const job = this.dequeue();
    if (job) parser.start(job);
    else parser.idle();
  }
}

function closedError(): DocumentError {
  return new DocumentError('closed', 'the document parser is shut down');
}
