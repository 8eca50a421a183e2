import type { LanguageModelV3StreamPart } from '@ai-sdk/provider';

/*
 * A model's stream parts, handed over in batches to a consumer that knows how to take them.
 *
 * Why: the AI SDK's interface is a ReadableStream of parts, and a web stream costs a queue entry,
 * a promise and a microtask for every part read — per token, the largest share of the server's
 * work after parsing the upstream chunk (BENCHMARKS.md, issue 11). A model that produces many
 * parts at once (one network read carries hundreds of chunks) puts them in a `PartQueue`; the
 * engine's model round takes everything queued with one `next()`, and any other reader gets
 * the same parts, in the same order, through the ordinary ReadableStream made from the queue.
 */

/** The batch side of a model's stream (see `partBatchesOf`). */
export interface PartBatches {
  /**
   * Every part queued since the last call (waiting for one if none is); null once the stream
   * ended or was cancelled. Rejects with the stream's error (parts not yet taken are dropped,
   * as a web stream drops its queue when it errors).
   */
  next(): Promise<LanguageModelV3StreamPart[] | null>;
  /** Stops the stream (as `ReadableStream.cancel`); a waiting `next()` resolves with null. */
  cancel(reason?: unknown): void;
}

const PART_BATCHES = Symbol('part-batches');

/** The batch side of `stream` when its model made it from a `PartQueue`. */
export function partBatchesOf(stream: ReadableStream<unknown>): PartBatches | undefined {
  return (stream as { [PART_BATCHES]?: PartBatches })[PART_BATCHES];
}

export interface PartQueueHooks {
  /** Parts were taken and the queue is empty: a producer paused for backpressure may resume. */
  onDrain(): void;
  /** The consumer cancelled: stop producing (nothing pushed afterwards is kept). */
  onCancel(reason: unknown): void;
}

export class PartQueue implements PartBatches {
  private parts: LanguageModelV3StreamPart[] = [];
  private ended = false;
  private cancelled = false;
  private failure: { error: unknown } | undefined;
  private waiter:
    | { resolve: (batch: LanguageModelV3StreamPart[] | null) => void; reject: (e: unknown) => void }
    | undefined;

  constructor(private readonly hooks: PartQueueHooks) {}

  /** How many parts wait to be taken. */
  get size(): number {
    return this.parts.length;
  }

  push(part: LanguageModelV3StreamPart): void {
    if (this.ended) return;
    this.parts.push(part);
    // A waiting reader gets what this turn pushes as one batch, not the first part alone.
    if (this.waiter && this.parts.length === 1) queueMicrotask(this.wake);
  }

  private readonly wake = () => {
    const waiter = this.waiter;
    if (!waiter || this.parts.length === 0) return;
    this.waiter = undefined;
    waiter.resolve(this.take());
  };

  /** The last part was pushed: readers get what is queued, then the end. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve(this.parts.length > 0 ? this.take() : null);
  }

  /** The stream failed: what is queued is dropped and readers get `error`. */
  error(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = { error };
    this.parts = [];
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
  }

  next(): Promise<LanguageModelV3StreamPart[] | null> {
    if (this.parts.length > 0) return Promise.resolve(this.take());
    if (this.failure) return Promise.reject(this.failure.error);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  cancel(reason?: unknown): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.parts = [];
    if (this.ended) return; // (the producer has finished already)
    this.ended = true;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve(null);
    this.hooks.onCancel(reason);
  }

  /**
   * The queue as the AI SDK's stream (for readers that do not take batches), with the batch side
   * attached for those that do. Nothing is read from the queue until the stream is read.
   */
  toStream(): ReadableStream<LanguageModelV3StreamPart> {
    const stream = new ReadableStream<LanguageModelV3StreamPart>(
      {
        pull: async (controller) => {
          const batch = await this.next();
          // (cancelled: the stream closed itself)
          if (batch === null) {
            if (!this.cancelled) controller.close();
          } else for (const part of batch) controller.enqueue(part);
        },
        cancel: (reason) => this.cancel(reason),
      },
      { highWaterMark: 0 },
    );
    Object.defineProperty(stream, PART_BATCHES, { value: this });
    return stream;
  }

  private take(): LanguageModelV3StreamPart[] {
    const batch = this.parts;
    this.parts = [];
    this.hooks.onDrain();
    return batch;
  }
}
