import { applyEvent, emptyFold, joinDeltas, type FoldedInteraction } from '../protocol/fold.js';
import type { Delta, InteractionEvent, NewEvent } from '../protocol/types.js';
import type { EventBatch, InteractionUpdate, Store, StoredEvent } from './types.js';

export type EventListener = (event: StoredEvent) => void;

interface Pending {
  log: InteractionLog;
  events: StoredEvent[];
  update?: InteractionUpdate;
}

export function isTerminalEventData(data: string): boolean {
  return data.startsWith('{"event_type":"interaction.completed"');
}

/** Serialises an event with `event_type` first and `event_id` second: the bytes that are stored and sent. */
export function serializeEvent(
  event: NewEvent,
  seq: number,
): { event: InteractionEvent; data: string } {
  const { event_type, ...rest } = event;
  const full = { event_type, event_id: String(seq), ...rest } as InteractionEvent;
  return { event: full, data: JSON.stringify(full) };
}

/**
 * The live event log of one running interaction. Events are numbered, folded into the live
 * resource at once, and handed to listeners only after they are durable (so a client can never
 * have seen an event that a restarted server does not know).
 */
export class InteractionLog {
  readonly id: string;
  readonly persist: boolean;
  /** Everything appended so far, durable or not. */
  readonly events: StoredEvent[] = [];
  readonly fold: FoldedInteraction = emptyFold();
  private durableCount = 0;
  private listeners = new Set<EventListener>();
  private closed = false;
  private readonly closedWaiters: Array<() => void> = [];
  /**
   * The last event while it is a step delta that is not yet being written: a following delta of
   * the same step and kind joins it, so a burst of tokens between two writes becomes one event
   * (one row, one SSE message) instead of one per token.
   */
  private openDelta: { stored: StoredEvent; index: number; delta: Delta } | null = null;

  constructor(
    private readonly owner: EventLog,
    id: string,
    persist: boolean,
    initial: StoredEvent[],
  ) {
    this.id = id;
    this.persist = persist;
    for (const e of initial) {
      this.events.push(e);
      applyEvent(this.fold, JSON.parse(e.data) as InteractionEvent);
    }
    this.durableCount = initial.length;
  }

  get lastSeq(): number {
    return this.events.length;
  }

  get finished(): boolean {
    const last = this.events[this.events.length - 1];
    return last !== undefined && isTerminalEventData(last.data);
  }

  /** Appends one event; `update` is written with it in the same transaction. */
  append(event: NewEvent, update?: InteractionUpdate): void {
    if (this.finished) throw new Error(`interaction ${this.id} already finished`);
    const open = this.openDelta;
    if (open && event.event_type === 'step.delta' && !update && open.index === event.index) {
      const joined = joinDeltas(open.delta, event.delta);
      if (joined) {
        open.delta = joined;
        const seq = open.stored.seq;
        open.stored.data = serializeEvent({ ...event, delta: joined }, seq).data;
        applyEvent(this.fold, { ...event, event_id: String(seq) });
        return;
      }
    }
    const seq = this.events.length + 1;
    const { event: full, data } = serializeEvent(event, seq);
    const stored = { seq, data };
    this.events.push(stored);
    applyEvent(this.fold, full);
    this.openDelta =
      this.persist && event.event_type === 'step.delta' && !update
        ? { stored, index: event.index, delta: event.delta }
        : null;
    this.owner.enqueue(this, stored, update);
  }

  /** The pending events are being written: nothing may join them any more. */
  seal(): void {
    this.openDelta = null;
  }

  /** Called by the EventLog once events up to `count` are durable. */
  markDurable(count: number): void {
    while (this.durableCount < count) {
      const event = this.events[this.durableCount++]!;
      for (const listener of this.listeners) listener(event);
    }
    if (this.finished && this.durableCount === this.events.length) this.close();
  }

  /**
   * Delivers the durable events after `afterSeq`, then every new one as it becomes durable.
   * Returns an unsubscribe function.
   */
  subscribe(afterSeq: number, listener: EventListener): () => void {
    for (let i = afterSeq; i < this.durableCount; i++) listener(this.events[i]!);
    if (this.closed) return () => {};
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves when the terminal event is durable. */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    for (const w of this.closedWaiters.splice(0)) w();
    this.owner.release(this);
  }
}

/**
 * Group commit for all interactions of this node: appends collect in memory and are written in
 * one transaction per turn of the event loop, so a token costs no database round trip of its own.
 */
export class EventLog {
  private readonly live = new Map<string, InteractionLog>();
  private pending = new Map<string, Pending>();
  private flushing: Promise<void> | null = null;
  private scheduled: 'now' | 'later' | null = null;
  private timer: NodeJS.Timeout | undefined;
  private lastFlushEnd = 0;
  private urgentPending = false;

  /**
   * @param batchWindowMs while only deltas are pending, a write waits until this long after the
   * previous one, so tokens that arrive faster share one transaction; any other event (a step
   * boundary, the terminal event) is written at once, so lifecycle latency does not grow.
   */
  constructor(
    private readonly store: Store,
    private readonly onError: (err: unknown) => void = () => {},
    private readonly batchWindowMs = 20,
  ) {}

  /** Starts the live log of an interaction whose first events are already stored (or not persisted). */
  open(id: string, initial: StoredEvent[], persist: boolean): InteractionLog {
    const log = new InteractionLog(this, id, persist, initial);
    this.live.set(id, log);
    return log;
  }

  get(id: string): InteractionLog | undefined {
    return this.live.get(id);
  }

  enqueue(log: InteractionLog, event: StoredEvent, update?: InteractionUpdate): void {
    if (!log.persist) {
      queueMicrotask(() => log.markDurable(event.seq));
      return;
    }
    let entry = this.pending.get(log.id);
    if (!entry) {
      entry = { log, events: [] };
      this.pending.set(log.id, entry);
    }
    entry.events.push(event);
    if (update) entry.update = { ...entry.update, ...update };
    if (!event.data.startsWith('{"event_type":"step.delta"')) this.urgentPending = true;
    this.schedule(this.urgentPending);
  }

  release(log: InteractionLog): void {
    if (this.live.get(log.id) === log) this.live.delete(log.id);
  }

  private schedule(urgent: boolean): void {
    if (this.flushing || this.scheduled === 'now') return;
    const wait = urgent ? 0 : this.lastFlushEnd + this.batchWindowMs - performance.now();
    if (this.scheduled === 'later' && wait > 0) return;
    clearTimeout(this.timer);
    const run = () => {
      this.scheduled = null;
      void this.flush();
    };
    if (wait > 0) {
      this.scheduled = 'later';
      this.timer = setTimeout(run, wait);
    } else {
      this.scheduled = 'now';
      setImmediate(run);
    }
  }

  /** Writes everything pending; resolves when it is durable. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    for (const p of batch.values()) p.log.seal();
    this.urgentPending = false;
    this.flushing = this.write(batch);
    try {
      await this.flushing;
    } finally {
      this.flushing = null;
      this.lastFlushEnd = performance.now();
    }
    if (this.pending.size > 0) this.schedule(this.urgentPending);
  }

  private async write(batch: Map<string, Pending>): Promise<void> {
    const batches: EventBatch[] = [...batch.values()].map((p) => ({
      interactionId: p.log.id,
      events: p.events,
      update: p.update,
    }));
    // A store that is briefly unavailable is retried; events stay in order because nothing
    // else is written for these interactions until this batch lands.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.store.appendEvents(batches);
        break;
      } catch (err) {
        this.onError(err);
        if (attempt >= 20) break;
        await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 2000)));
      }
    }
    for (const p of batch.values()) p.log.markDurable(p.events[p.events.length - 1]!.seq);
  }
}
