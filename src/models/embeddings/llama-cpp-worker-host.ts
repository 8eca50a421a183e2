/**
 * The worker-thread side of a llama-cpp embedding model (see llama-cpp-worker.ts): runs the
 * in-process model (models/llama-cpp/embedding.ts) and sends its vectors to the owning thread.
 */
import type { MessagePort } from 'node:worker_threads';
import { createLlamaCppEmbeddingModel } from '../llama-cpp/embedding.js';
import { getSharedLlama } from '../llama-cpp/model.js';
import { serializeError } from '../llama-cpp/worker-thread.js';
import type {
  EmbeddingWorkerOptions,
  FromEmbeddingWorker,
  ToEmbeddingWorker,
} from './llama-cpp-worker-protocol.js';

/** Serves one embedding model on `port` until a `dispose` message. */
export function serveEmbeddingModel(port: MessagePort, options: EmbeddingWorkerOptions): void {
  const model = createLlamaCppEmbeddingModel(options);
  const running = new Map<number, { controller: AbortController; done: Promise<void> }>();
  const post = (message: FromEmbeddingWorker, transfer: ArrayBuffer[] = []) =>
    port.postMessage(message, transfer);

  const embed = async (id: number, values: string[], signal: AbortSignal) => {
    try {
      const { embeddings, tokens, warnings } = await model.embed(values, signal);
      post(
        { type: 'result', id, embeddings, tokens, warnings },
        embeddings.map((e) => e.buffer as ArrayBuffer),
      );
    } catch (err) {
      post({ type: 'error', id, error: serializeError(err) });
    }
  };

  port.on('message', (message: ToEmbeddingWorker) => {
    switch (message.type) {
      case 'embed': {
        const controller = new AbortController();
        const done = embed(message.id, message.values, controller.signal).finally(() =>
          running.delete(message.id),
        );
        running.set(message.id, { controller, done });
        break;
      }
      case 'abort':
        running.get(message.id)?.controller.abort();
        break;
      case 'dispose': {
        // Calls stop at their next text; the native backend is freed before the thread ends
        // (tearing it down with the thread aborts the process).
        const calls = [...running.values()];
        for (const call of calls) call.controller.abort();
        void Promise.allSettled(calls.map((c) => c.done))
          .then(() => model.dispose())
          .then(() => getSharedLlama(options.gpu ?? 'auto'))
          .then((llama) => llama.dispose())
          .catch(() => undefined)
          .finally(() => {
            post({ type: 'disposed' });
            port.close();
          });
        break;
      }
    }
  });
}
