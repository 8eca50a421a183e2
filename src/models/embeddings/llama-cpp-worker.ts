/**
 * A llama-cpp embedding model that runs on its own worker thread.
 *
 * node-llama-cpp evaluates on native threads, but tokenising each text, building its batch and
 * copying its vector out run in JavaScript on the thread that owns the context. Ingesting a
 * store embeds thousands of chunks back to back; on the server's thread that work would sit
 * between the requests, stream deltas and event-log writes of everyone else (BENCHMARKS.md,
 * "Embeddings"). Here the server's thread only posts texts and receives vectors (transferred,
 * not copied).
 *
 * The worker starts on the first call and is unreferenced while idle, as the chat model's
 * (models/llama-cpp/worker-model.ts). A worker that dies fails its calls; the next call starts a
 * new one.
 */
import type { EmbeddingModelV3, EmbeddingModelV3Result } from '@ai-sdk/provider';
import { basename } from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { LlamaCppEmbeddingModel } from '../llama-cpp/embedding.js';
import { abortReason, disposedError } from '../llama-cpp/errors.js';
import { deserializeError, startHostWorker } from '../llama-cpp/worker-thread.js';
import type {
  EmbeddingWorkerOptions,
  FromEmbeddingWorker,
  ToEmbeddingWorker,
} from './llama-cpp-worker-protocol.js';

interface Call {
  resolve(result: Extract<FromEmbeddingWorker, { type: 'result' }>): void;
  reject(err: unknown): void;
}

export type LlamaCppWorkerEmbeddingModel = EmbeddingModelV3 &
  Pick<LlamaCppEmbeddingModel, 'dispose'>;

class WorkerEmbeddingModel implements LlamaCppWorkerEmbeddingModel {
  readonly specificationVersion = 'v3' as const;
  readonly provider = 'llama-cpp';
  readonly modelId: string;
  readonly maxEmbeddingsPerCall: number;
  readonly supportsParallelCalls = false;

  private worker: Worker | undefined;
  private readonly calls = new Map<number, Call>();
  private nextId = 1;
  private disposed = false;
  private disposing: Promise<void> | undefined;
  private onDisposed: (() => void) | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly options: EmbeddingWorkerOptions) {
    this.modelId = options.modelId ?? basename(options.modelPath).replace(/\.gguf$/i, '');
    this.maxEmbeddingsPerCall = options.maxEmbeddingsPerCall ?? 64;
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = startHostWorker(
      import.meta.url,
      './llama-cpp-worker-host',
      'serveEmbeddingModel',
      this.options,
    );
    worker.on('message', (message: FromEmbeddingWorker) => this.receive(message));
    const fail = (err: Error) => {
      if (this.worker === worker) this.worker = undefined;
      const calls = [...this.calls.values()];
      this.calls.clear();
      for (const call of calls) call.reject(err);
      this.onDisposed?.();
    };
    worker.on('error', fail);
    this.exited = new Promise<void>((resolve) =>
      worker.on('exit', (code) => {
        fail(new Error(`llama-cpp embedding worker exited with code ${code}`));
        resolve();
      }),
    );
    // An idle model must not keep the process alive; running calls hold a ref (see doEmbed).
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private receive(message: FromEmbeddingWorker): void {
    switch (message.type) {
      case 'result':
        this.calls.get(message.id)?.resolve(message);
        break;
      case 'error':
        this.calls.get(message.id)?.reject(deserializeError(message.error));
        break;
      case 'disposed':
        this.onDisposed?.();
        break;
    }
  }

  async doEmbed({
    values,
    abortSignal,
  }: Parameters<EmbeddingModelV3['doEmbed']>[0]): Promise<EmbeddingModelV3Result> {
    if (this.disposed) throw disposedError(this.modelId);
    if (abortSignal?.aborted) throw abortReason(abortSignal);
    const id = this.nextId++;
    const worker = this.start();
    worker.ref();
    let onAbort: (() => void) | undefined;
    try {
      const result = await new Promise<Extract<FromEmbeddingWorker, { type: 'result' }>>(
        (resolve, reject) => {
          this.calls.set(id, { resolve, reject });
          // The worker stops at its next text; this call answers at once.
          onAbort = () => {
            this.calls.delete(id);
            this.worker?.postMessage({ type: 'abort', id } satisfies ToEmbeddingWorker);
            reject(abortReason(abortSignal!));
          };
          abortSignal?.addEventListener('abort', onAbort, { once: true });
          worker.postMessage({ type: 'embed', id, values } satisfies ToEmbeddingWorker);
        },
      );
      return {
        embeddings: result.embeddings.map((e) => Array.from(e)),
        usage: { tokens: result.tokens },
        warnings: result.warnings,
      };
    } finally {
      this.calls.delete(id);
      if (onAbort) abortSignal?.removeEventListener('abort', onAbort);
      if (this.calls.size === 0 && !this.disposed) this.worker?.unref();
    }
  }

  dispose(): Promise<void> {
    this.disposed = true;
    if (this.disposing) return this.disposing;
    // Calls still running end now, as later ones would: the model is going away.
    const calls = [...this.calls.values()];
    this.calls.clear();
    for (const call of calls) call.reject(disposedError(this.modelId));
    const worker = this.worker;
    if (!worker) return Promise.resolve();
    // Keep the process alive until the worker has freed the native backend and ended.
    worker.ref();
    this.disposing = new Promise<void>((resolve) => {
      this.onDisposed = resolve;
      worker.postMessage({ type: 'dispose' } satisfies ToEmbeddingWorker);
    }).then(async () => {
      this.onDisposed = undefined;
      // The worker ends once its port is closed; terminate only one that hangs (a last resort:
      // terminating a thread that still holds llama.cpp aborts the process).
      const timer = setTimeout(() => void worker.terminate(), 5000);
      await this.exited;
      clearTimeout(timer);
    });
    return this.disposing;
  }
}

/** A llama-cpp embedding model served from its own worker thread (started on first use). */
export function createLlamaCppWorkerEmbeddingModel(
  options: EmbeddingWorkerOptions,
): LlamaCppWorkerEmbeddingModel {
  return new WorkerEmbeddingModel(options);
}
