/**
 * The worker-thread side of a llama-cpp model (see worker-model.ts): runs the in-process model
 * and streams its parts to the owning thread.
 */
import type { LanguageModelV3StreamPart } from '@ai-sdk/provider';
import type { MessagePort } from 'node:worker_threads';
import { createLlamaCppModel, getSharedLlama } from './model.js';
import type { FromWorker, ToWorker, WorkerModelOptions } from './worker-protocol.js';
import { serializeError } from './worker-thread.js';

export const DEFAULT_STREAM_BATCH_MS = 100;

type DeltaPart = Extract<
  LanguageModelV3StreamPart,
  { type: 'text-delta' | 'reasoning-delta' | 'tool-input-delta' }
>;
const isDelta = (part: LanguageModelV3StreamPart): part is DeltaPart =>
  part.type === 'text-delta' || part.type === 'reasoning-delta' || part.type === 'tool-input-delta';

/** Serves one model on `port` until a `dispose` message. */
export function serveModel(port: MessagePort, options: WorkerModelOptions): void {
  const { streamBatchMs: batchMs = DEFAULT_STREAM_BATCH_MS, ...modelOptions } = options;
  const model = createLlamaCppModel(modelOptions);
  const running = new Map<number, AbortController>();
  const post = (message: FromWorker) => port.postMessage(message);
  const postStats = () => post({ type: 'stats', stats: model.stats() });

  const stream = async (id: number, call: Extract<ToWorker, { type: 'stream' }>['call']) => {
    const controller = new AbortController();
    running.set(id, controller);
    try {
      const { stream } = await model.doStream({ ...call, abortSignal: controller.signal });
      postStats();
      const reader = stream.getReader();
      // Parts leave after the current turn of this thread's event loop, when llama.cpp is
      // already decoding the next token. Deltas are paced to one message per `batchMs`: every
      // message wakes the server's thread, and on a small machine each wake-up competes with
      // decoding (BENCHMARKS.md, "Local models").
      let batch: LanguageModelV3StreamPart[] = [];
      let lastDeltas = -Infinity;
      /** Cancels the scheduled flush, if one is scheduled. */
      let cancel: (() => void) | undefined;
      const flush = () => {
        cancel = undefined;
        if (batch.length === 0) return;
        post({ type: 'parts', id, parts: batch });
        if (batch.some(isDelta)) lastDeltas = performance.now();
        batch = [];
      };
      const schedule = (delayMs: number) => {
        if (delayMs > 0) {
          const timer = setTimeout(flush, delayMs);
          cancel = () => clearTimeout(timer);
        } else {
          const immediate = setImmediate(flush);
          cancel = () => clearImmediate(immediate);
        }
      };
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const last = batch[batch.length - 1];
        if (
          last !== undefined &&
          isDelta(last) &&
          isDelta(value) &&
          last.type === value.type &&
          last.id === value.id
        ) {
          last.delta += value.delta; // one part per block and message
        } else batch.push(value);
        if (!isDelta(value)) {
          // lifecycle parts (block starts, tool calls, finish) leave at once
          cancel?.();
          schedule(0);
        } else if (cancel === undefined) {
          schedule(lastDeltas + batchMs - performance.now());
        }
      }
      cancel?.();
      flush();
      post({ type: 'end', id });
    } catch (err) {
      post({ type: 'error', id, error: serializeError(err) });
    } finally {
      running.delete(id);
      postStats();
    }
  };

  port.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'stream':
        void stream(message.id, message.call);
        break;
      case 'abort':
        running.get(message.id)?.abort();
        break;
      case 'dispose':
        // The native backend is freed before the thread ends: tearing it down with the thread
        // aborts the process.
        void model
          .dispose()
          .then(() => getSharedLlama(modelOptions.gpu ?? false))
          .then((llama) => llama.dispose())
          .catch(() => undefined)
          .finally(() => {
            post({ type: 'disposed' });
            port.close();
          });
        break;
    }
  });
}
