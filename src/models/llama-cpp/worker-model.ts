/**
 * A llama-cpp model that runs on its own worker thread.
 *
 * node-llama-cpp decodes on native threads, but each token passes through JavaScript on the
 * thread that owns the context (sampling, detokenising, stop detection) before the next decode
 * is dispatched. In the server that thread also parses requests, folds and stores events and
 * writes SSE, and every bit of that work would sit between two tokens. On a worker thread the
 * token loop runs as it does when node-llama-cpp is used directly, and the server's own work
 * overlaps with decoding instead of adding to it (BENCHMARKS.md, "Local models").
 *
 * Same interface as `createLlamaCppModel` (LanguageModelV3 + stats + dispose); the in-process
 * model stays for tests and embedding in other programs.
 */
import type {
  LanguageModelV3CallOptions,
  LanguageModelV3GenerateResult,
  LanguageModelV3StreamPart,
  LanguageModelV3StreamResult,
} from '@ai-sdk/provider';
import { basename } from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { Admission } from '../types.js';
import { AdmissionGate } from './admission.js';
import { collectStream } from './collect-stream.js';
import { abortReason, disposedError } from './errors.js';
import { DEFAULT_MAX_QUEUE, DEFAULT_MAX_SEQUENCES } from './limits.js';
import type { LlamaCppLanguageModel, LlamaCppStats } from './model.js';
import type { FromWorker, ToWorker, WorkerModelOptions } from './worker-protocol.js';
import { deserializeError, startHostWorker } from './worker-thread.js';

interface Call {
  onParts(parts: LanguageModelV3StreamPart[]): void;
  onEnd(): void;
  onError(err: unknown): void;
}

/** A llama-cpp worker model: the in-process model's interface plus admission (admission.ts). */
export type LlamaCppWorkerLanguageModel = LlamaCppLanguageModel & {
  /** Reserves a place (a sequence or a queue place) for one run; `undefined` when full. */
  admit(): Admission | undefined;
};

class LlamaCppWorkerModel implements LlamaCppWorkerLanguageModel {
  readonly specificationVersion = 'v3' as const;
  readonly provider = 'llama-cpp';
  readonly modelId: string;
  readonly supportedUrls: Record<string, RegExp[]> = {};

  private worker: Worker | undefined;
  private readonly calls = new Map<number, Call>();
  /** Called when the worker is done with a call (also after this side stopped reading it). */
  private readonly settles = new Map<number, () => void>();
  private readonly gate: AdmissionGate;
  private nextId = 1;
  private lastStats: LlamaCppStats | undefined;
  private disposed = false;
  private disposing: Promise<void> | undefined;
  private onDisposed: (() => void) | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly options: WorkerModelOptions) {
    this.modelId = options.modelId ?? basename(options.modelPath).replace(/\.gguf$/i, '');
    this.gate = new AdmissionGate(
      Math.max(1, Math.floor(options.maxSequences ?? DEFAULT_MAX_SEQUENCES)) +
        Math.max(0, Math.floor(options.maxQueue ?? DEFAULT_MAX_QUEUE)),
      this,
      (call, onSettled) => this.stream(call, onSettled),
    );
  }

  admit(): Admission | undefined {
    return this.gate.admit();
  }

  stats(): LlamaCppStats {
    return (
      this.lastStats ?? {
        requests: 0,
        rejected: 0,
        failed: 0,
        promptTokens: 0,
        reusedTokens: 0,
        evaluatedTokens: 0,
        generatedTokens: 0,
        decodedTokens: 0,
        sequencesInUse: 0,
        sequences: 0,
        queued: 0,
        cachedTokens: 0,
        evictions: 0,
        loaded: false,
        contextSize: undefined,
      }
    );
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = startHostWorker(import.meta.url, './worker-host', 'serveModel', this.options);
    worker.on('message', (message: FromWorker) => this.receive(message));
    const fail = (err: Error) => {
      if (this.worker === worker) this.worker = undefined;
      const calls = [...this.calls.values()];
      this.calls.clear();
      for (const call of calls) call.onError(err);
      for (const id of [...this.settles.keys()]) this.settle(id);
      this.onDisposed?.();
    };
    // A worker that fails to start (its bootstrap cannot import the model code, say) ends here
    // and its calls fail. One that ends with llama.cpp loaded takes the process with it: the
    // native backend cannot be torn down together with its thread, hence the careful dispose.
    worker.on('error', fail);
    this.exited = new Promise<void>((resolve) =>
      worker.on('exit', (code) => {
        fail(new Error(`llama-cpp worker exited with code ${code}`));
        resolve();
      }),
    );
    // An idle model must not keep the process alive; running calls hold a ref (see doStream).
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private receive(message: FromWorker): void {
    switch (message.type) {
      case 'parts':
        this.calls.get(message.id)?.onParts(message.parts);
        break;
      case 'end':
        this.calls.get(message.id)?.onEnd();
        this.settle(message.id);
        break;
      case 'error':
        this.calls.get(message.id)?.onError(deserializeError(message.error));
        this.settle(message.id);
        break;
      case 'stats':
        this.lastStats = message.stats;
        break;
      case 'disposed':
        this.onDisposed?.();
        break;
    }
  }

  private send(message: ToWorker): void {
    this.start().postMessage(message);
  }

  private settle(id: number): void {
    const onSettled = this.settles.get(id);
    this.settles.delete(id);
    onSettled?.();
  }

  doStream(options: LanguageModelV3CallOptions): Promise<LanguageModelV3StreamResult> {
    return this.stream(options);
  }

  private async stream(
    options: LanguageModelV3CallOptions,
    onSettled?: () => void,
  ): Promise<LanguageModelV3StreamResult> {
    if (this.disposed) throw disposedError(this.modelId);
    const { abortSignal, ...call } = options;
    if (abortSignal?.aborted) throw abortReason(abortSignal);
    const id = this.nextId++;
    const worker = this.start();
    worker.ref();
    let settled = false;
    let ctrl!: ReadableStreamDefaultController<LanguageModelV3StreamPart>;
    // The call is admitted (or refused with 503/400) before doStream resolves, as in-process:
    // the worker's first message says which.
    let admit: (() => void) | undefined;
    let refuse: ((err: unknown) => void) | undefined;
    const admitted = new Promise<void>((resolve, reject) => {
      admit = resolve;
      refuse = reject;
    });
    const finish = () => {
      if (settled) return false;
      settled = true;
      this.calls.delete(id);
      abortSignal?.removeEventListener('abort', onAbort);
      if (this.calls.size === 0 && !this.disposed) this.worker?.unref();
      return true;
    };
    const onAbort = () => this.send({ type: 'abort', id });
    abortSignal?.addEventListener('abort', onAbort, { once: true });
    this.calls.set(id, {
      onParts: (parts) => {
        admit?.();
        admit = undefined;
        for (const part of parts) ctrl.enqueue(part);
      },
      onEnd: () => {
        admit?.();
        admit = undefined;
        if (finish()) ctrl.close();
      },
      onError: (err) => {
        const reason = abortSignal?.aborted ? abortReason(abortSignal) : err;
        if (!finish()) return;
        if (admit) {
          refuse?.(reason);
          admit = undefined;
        } else ctrl.error(reason);
      },
    });
    const stream = new ReadableStream<LanguageModelV3StreamPart>({
      start: (c) => {
        ctrl = c;
      },
      cancel: () => {
        if (finish()) this.send({ type: 'abort', id });
      },
    });
    if (onSettled) this.settles.set(id, onSettled);
    try {
      this.send({ type: 'stream', id, call });
    } catch (err) {
      // e.g. a DataCloneError: options that cannot cross to the worker fail this call only
      finish();
      this.settle(id);
      throw err;
    }
    await admitted;
    return { stream };
  }

  async doGenerate(options: LanguageModelV3CallOptions): Promise<LanguageModelV3GenerateResult> {
    const { stream } = await this.doStream(options);
    return collectStream(stream);
  }

  dispose(): Promise<void> {
    this.disposed = true;
    if (this.disposing) return this.disposing;
    const worker = this.worker;
    if (!worker) return Promise.resolve();
    // Keep the process alive until the worker has freed the native backend and ended.
    worker.ref();
    this.disposing = new Promise<void>((resolve) => {
      this.onDisposed = resolve;
      worker.postMessage({ type: 'dispose' } satisfies ToWorker);
    }).then(async () => {
      this.onDisposed = undefined;
      // The worker ends by itself once its port is closed; terminate only one that hangs (a last
      // resort: terminating a thread that still holds llama.cpp aborts the process).
      const exited = this.exited;
      const timer = setTimeout(() => void worker.terminate(), 5000);
      await exited;
      clearTimeout(timer);
    });
    return this.disposing;
  }
}

/** A llama-cpp model served from its own worker thread (started on first use). */
export function createLlamaCppWorkerModel(
  options: WorkerModelOptions,
): LlamaCppWorkerLanguageModel {
  return new LlamaCppWorkerModel(options);
}
