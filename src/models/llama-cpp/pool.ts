/**
 * A pool of context sequences that keeps each sequence's KV state after a
 * request finishes, and hands the next request the idle sequence whose
 * evaluated tokens share the longest prefix with its prompt.
 *
 * Requests beyond the number of sequences wait in a bounded FIFO queue.
 */
import type { LlamaContextSequence, Token } from 'node-llama-cpp';
import { abortReason } from './errors.js';

export interface Slot {
  readonly index: number;
  readonly sequence: LlamaContextSequence;
  busy: boolean;
  /** Monotonic counter of the last release (LRU order). */
  lastUsed: number;
}

export interface Lease {
  slot: Slot;
  /** Prompt tokens already in the sequence's KV state (will not be evaluated again). */
  reusable: number;
}

interface Waiter {
  tokens: readonly Token[];
  resolve(lease: Lease): void;
  reject(err: unknown): void;
  cleanup(): void;
}

export class SequencePool {
  private readonly queue: Waiter[] = [];
  private clock = 0;
  evictions = 0;

  constructor(
    readonly slots: readonly Slot[],
    private readonly maxQueue: number,
    private readonly makeOverloadedError: () => Error,
    /** Estimated KV bytes per cached token; 0 = unknown. */
    private readonly bytesPerToken: number,
    private readonly cacheBytes: number | undefined,
    private readonly reuse: boolean = true,
  ) {}

  get inUse(): number {
    return this.slots.filter((s) => s.busy).length;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Tokens held in KV state by idle sequences. */
  get cachedTokens(): number {
    let n = 0;
    for (const s of this.slots) if (!s.busy && !s.sequence.disposed) n += s.sequence.nextTokenIndex;
    return n;
  }

  /**
   * Takes an idle sequence now, or queues. Throws (synchronously, inside the
   * returned promise's creation) when the queue is full.
   */
  acquire(tokens: readonly Token[], signal?: AbortSignal): Promise<Lease> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const lease = this.take(tokens);
    if (lease !== undefined) return Promise.resolve(lease);
    if (this.queue.length >= this.maxQueue) throw this.makeOverloadedError();
    return new Promise<Lease>((resolve, reject) => {
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(abortReason(signal));
      };
      const waiter: Waiter = {
        tokens,
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  release(slot: Slot): void {
    slot.busy = false;
    slot.lastUsed = ++this.clock;
    this.enforceCacheBound();
    this.drain();
  }

  private drain(): void {
    while (this.queue.length > 0) {
      const waiter = this.queue[0] as Waiter;
      const lease = this.take(waiter.tokens);
      if (lease === undefined) break;
      this.queue.shift();
      waiter.cleanup();
      waiter.resolve(lease);
    }
  }

  /** Rejects every waiting request (used on dispose). */
  rejectAll(err: unknown): void {
    for (const w of this.queue.splice(0)) {
      w.cleanup();
      w.reject(err);
    }
  }

  /** Longest-prefix match among idle sequences; ties go to the least recently used. */
  private take(tokens: readonly Token[]): Lease | undefined {
    let best: Slot | undefined;
    let bestMatch = -1;
    for (const slot of this.slots) {
      if (slot.busy || slot.sequence.disposed) continue;
      const match = slot.sequence.compareContextTokens(tokens as Token[]).firstDifferentIndex;
      if (
        match > bestMatch ||
        (match === bestMatch && best !== undefined && slot.lastUsed < best.lastUsed)
      ) {
        best = slot;
        bestMatch = match;
      }
    }
    if (best === undefined) return undefined;
    best.busy = true;
    // At least one prompt token is always evaluated (its logits start the
    // generation), so a fully cached prompt reuses all but the last token.
    const reusable = this.reuse ? Math.max(0, Math.min(bestMatch, tokens.length - 1)) : 0;
    return { slot: best, reusable };
  }

  private enforceCacheBound(): void {
    if (this.cacheBytes === undefined || this.bytesPerToken <= 0) return;
    const idle = this.slots
      .filter((s) => !s.busy && !s.sequence.disposed && s.sequence.nextTokenIndex > 0)
      .sort((a, b) => a.lastUsed - b.lastUsed);
    let bytes = idle.reduce((n, s) => n + s.sequence.nextTokenIndex * this.bytesPerToken, 0);
    for (const slot of idle) {
      if (bytes <= this.cacheBytes) break;
      bytes -= slot.sequence.nextTokenIndex * this.bytesPerToken;
      this.evictions++;
      // The slot stays reserved while its state is erased, so no request
      // sees (and counts on) tokens that are about to disappear.
      slot.busy = true;
      void slot.sequence
        .clearHistory()
        .catch(() => undefined)
        .finally(() => {
          slot.busy = false;
          this.drain();
        });
    }
  }
}
