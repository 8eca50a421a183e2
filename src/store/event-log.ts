import {
  applyEvent,
  emptyFold,
  extendJoinedDelta,
  joinDeltas,
  type FoldedInteraction,
} from '../protocol/fold.js';
import type { ErrorCode } from '../protocol/errors.js';
import type { Delta, InteractionEvent, NewEvent } from '../protocol/types.js';
import { isTerminalEventData, serializeEvent } from './event-data.js';
import { failedTail, writeFailedTerminal } from './failed-terminal.js';
import { observeEventLogFlush } from '../metrics/index.js';
import { classifyStoreError, StoreUnavailableError, type StoreFault } from './store-errors.js';
import type { InteractionRecord, InteractionUpdate, Store, StoredEvent } from './types.js';

export { isTerminalEventData, serializeEvent };

/*
 * Why this file is shaped as it is. The rule (design §1, §5): a client only ever receives an
 * event the store holds — also while the store is failing — and one interaction's failed write
 * never fails another's.
 *
 * - Group commit: every running interaction of this node appends into one pending map, written
 *   as one transaction per turn of the event loop. Listeners get an event only once its
 *   transaction committed.
 * - Store down (connection lost, database locked): the batch is retried with back-off for at
 *   most `retryWindowMs`, counted from the first failure of the outage (a batch that starts
 *   during a long outage does not get a fresh window). Beyond it, every interaction of the batch
 *   FAILS rather than waits: a run cannot pause its model stream, events would pile up in memory
 *   without bound, and its client would hang on a stream that says nothing. Failing drops the
 *   unstored events (no reader saw them), ends each reader's stream with a transport-level
 *   error, and stops the run. The terminal state (`error` + `interaction.completed` failed) is
 *   written after the stored events as soon as the store answers again — by this node, or by the
 *   stale-run sweep of another; the event ids are the primary key, so only one of them lands.
 * - One interaction's rows rejected (a duplicate event id, its row deleted, any constraint):
 *   each interaction's part is written again in its own transaction and only the culprit fails.
 *   A duplicate id whose stored bytes are ours was a commit whose answer got lost: durable.
 *   Another writer's bytes mean the run is no longer ours alone: it stops. A deleted interaction
 *   stops quietly and gets no terminal state (it has no rows left).
 * - A non-streaming, non-background create is written whole at its end: its row, every event
 *   and its final state in one transaction (`openWrittenAtEnd`). Nobody can read it before the
 *   response carries its id, and the response waits for that commit; a node that dies during
 *   the run leaves nothing behind (its caller got no id). Its first events count as durable
 *   from the start: they are written in any outcome — with the rest, or with the failed
 *   terminal state when the write fails.
 */

/** Why a live log stopped before its terminal event: the readers' error, the stored error. */
export interface LogFailure {
  cause: 'unavailable' | 'conflict' | 'deleted' | 'rejected' | 'handoff';
  /** Sent to readers as a transport-level error, and recorded in the terminal state. */
  error: { code: ErrorCode; message: string };
}

export type EventListener = (event: StoredEvent) => void;
export type FailureListener = (failure: LogFailure) => void;

interface Pending {
  log: InteractionLog;
  events: StoredEvent[];
  update?: InteractionUpdate;
  /** The row of an interaction written whole at its end (with the first events in `events`). */
  create?: InteractionRecord;
}

/** A failed log whose terminal state is still to be written. */
interface Unfinished {
  error: LogFailure['error'];
  /** Written at its end and never stored: its row and first events go with the terminal state. */
  create?: { record: InteractionRecord; initial: StoredEvent[] };
}

/**
 * The live event log of one running interaction. Events are numbered, folded into the live
 * resource at once, and handed to listeners only after they are durable (so a client can never
 * have seen an event that a restarted server does not know).
 */
export class InteractionLog {
  readonly id: string;
  readonly persist: boolean;
  /** Everything appended so far, durable or not (after a failure: only the durable ones). */
  readonly events: StoredEvent[] = [];
  readonly fold: FoldedInteraction = emptyFold();
  private durableCount = 0;
  private listeners = new Map<EventListener, FailureListener | undefined>();
  private failureListeners: FailureListener[] = [];
  private closed = false;
  private failed: LogFailure | undefined;
  private readonly closedWaiters: Array<() => void> = [];
  /**
   * The last event while it is a step delta that is not yet being written: a following delta of
   * the same step and kind joins it, so a burst of tokens between two writes becomes one event
   * (one row, one SSE message) instead of one per token.
   */
  private openDelta: {
    stored: StoredEvent;
    event: NewEvent & { event_type: 'step.delta' };
    delta: Delta;
    /** Deltas joined since `stored.data` was serialised: it is written again once, on `seal`. */
    joined: boolean;
  } | null = null;

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

  /** The id of the last event the store holds (readers never see beyond it). */
  get durableSeq(): number {
    return this.durableCount;
  }

  /** The events readers may see: those the store holds. */
  get durableEvents(): StoredEvent[] {
    return this.events.slice(0, this.durableCount);
  }

  /** Finished, and every event of it durable: the fold is the fold of the stored events. */
  get closedWhole(): boolean {
    return !this.failed && this.durableCount === this.events.length && this.finished;
  }

  get finished(): boolean {
    const last = this.events[this.events.length - 1];
    return last !== undefined && isTerminalEventData(last.data);
  }

  /** Set when the log stopped before its terminal event (see `LogFailure`). */
  get failure(): LogFailure | undefined {
    return this.failed;
  }

  /**
   * Appends one event; `update` is written with it in the same transaction. After a failure,
   * appends are dropped: the run is being stopped, and nothing more of it can be stored.
   */
  append(event: NewEvent, update?: InteractionUpdate): void {
    if (this.failed) return;
    const open = this.openDelta;
    // (an open delta is the last event, so the log has not finished)
    if (open && event.event_type === 'step.delta' && !update && open.event.index === event.index) {
      // Serialising the joined delta here would cost its whole length per token (quadratic
      // in a long burst); it is serialised once, when the batch is sealed for writing. Until
      // then nothing reads its bytes (readers only see durable events). The first join makes
      // a delta of the log's own, which later tokens extend in place (no object per token).
      let joined = open.joined && extendJoinedDelta(open.delta, event.delta);
      if (!joined && !open.joined) {
        const first = joinDeltas(open.delta, event.delta);
        if (first) {
          open.delta = first;
          open.joined = joined = true;
        }
      }
      if (joined) {
        // the fold of a step delta reads its index and delta only (no event id needed)
        applyEvent(this.fold, event as InteractionEvent);
        return;
      }
    }
    if (this.finished) throw new Error(`interaction ${this.id} already finished`);
    this.seal(); // the open delta, if any, is complete: serialise it before what follows
    const seq = this.events.length + 1;
    const { event: full, data } = serializeEvent(event, seq);
    const stored = { seq, data };
    this.events.push(stored);
    applyEvent(this.fold, full);
    this.openDelta =
      this.persist && event.event_type === 'step.delta' && !update
        ? { stored, event, delta: event.delta, joined: false }
        : null;
    this.owner.enqueue(this, stored, update);
  }

  /**
   * The pending events are being written (or another event follows the open delta): nothing
   * may join them any more, and the joined delta gets its bytes.
   */
  seal(): void {
    const open = this.openDelta;
    if (open?.joined)
      open.stored.data = serializeEvent({ ...open.event, delta: open.delta }, open.stored.seq).data;
    this.openDelta = null;
  }

  /** Called by the EventLog once events up to `count` are durable. */
  markDurable(count: number): void {
    if (this.failed) return;
    while (this.durableCount < count) {
      const event = this.events[this.durableCount++]!;
      for (const listener of this.listeners.keys()) listener(event);
    }
    if (this.finished && this.durableCount === this.events.length) this.close();
  }

  /**
   * Called by the EventLog when this log's events cannot be stored: the unstored events are
   * dropped, readers and the run are told, and the log closes.
   */
  fail(failure: LogFailure): void {
    if (this.closed) return;
    this.failed = failure;
    this.openDelta = null;
    this.events.length = this.durableCount;
    for (const onFailure of this.listeners.values()) onFailure?.(failure);
    for (const onFailure of this.failureListeners) onFailure(failure);
    this.close();
  }

  /**
   * Delivers the durable events after `afterSeq`, then every new one as it becomes durable;
   * `onFailure` is called if the log fails instead of finishing. Returns an unsubscribe function.
   */
  subscribe(afterSeq: number, listener: EventListener, onFailure?: FailureListener): () => void {
    for (let i = afterSeq; i < this.durableCount; i++) listener(this.events[i]!);
    if (this.failed) onFailure?.(this.failed);
    if (this.closed) return () => {};
    this.listeners.set(listener, onFailure);
    return () => this.listeners.delete(listener);
  }

  /** Registers a callback for a failure of this log (the run stops on it). */
  onFailure(listener: FailureListener): void {
    if (this.failed) listener(this.failed);
    else if (!this.closed) this.failureListeners.push(listener);
  }

  /** Resolves when the terminal event is durable, or the log failed. */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.failureListeners = [];
    for (const w of this.closedWaiters.splice(0)) w();
    this.owner.release(this);
  }
}

export interface EventLogLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface EventLogOptions {
  /**
   * While only deltas are pending, a write waits until this long after the previous one, so
   * tokens that arrive faster share one transaction; any other event (a step boundary, the
   * terminal event) is written at once, so lifecycle latency does not grow. Default 20.
   */
  batchWindowMs?: number;
  /** How long writes are retried while the store is unavailable. Default 30 s. */
  retryWindowMs?: number;
  /** Called after a write with the interactions that got new durable events (cross-node wake-ups). */
  onDurable?: (interactionIds: string[]) => void;
  logger?: EventLogLogger;
}

const silent: EventLogLogger = { info: () => {}, warn: () => {}, error: () => {} };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Group commit for all interactions of this node: appends collect in memory and are written in
 * one transaction per turn of the event loop, so a token costs no database round trip of its own.
 */
export class EventLog {
  readonly retryWindowMs: number;
  private readonly batchWindowMs: number;
  private readonly logger: EventLogLogger;
  private readonly onDurable: ((interactionIds: string[]) => void) | undefined;
  private readonly live = new Map<string, InteractionLog>();
  private pending = new Map<string, Pending>();
  /** Interactions written whole at their end: everything appended until the terminal event. */
  private readonly held = new Map<string, Pending>();
  private flushing: Promise<void> | null = null;
  private scheduled: 'now' | 'later' | null = null;
  private timer: NodeJS.Timeout | undefined;
  private lastFlushEnd = 0;
  private urgentPending = false;
  /** When the current store outage began (first failed write since the last success). */
  private outageSince: number | null = null;
  /** Failed logs whose terminal state is still to be written, with the error to record. */
  private readonly unfinished = new Map<string, Unfinished>();
  private terminalTimer: NodeJS.Timeout | undefined;
  private terminalAttempt = 0;
  private writingTerminals = false;
  private closed = false;

  constructor(
    private readonly store: Store,
    options: EventLogOptions = {},
  ) {
    this.batchWindowMs = options.batchWindowMs ?? 20;
    this.retryWindowMs = options.retryWindowMs ?? 30_000;
    this.logger = options.logger ?? silent;
    this.onDurable = options.onDurable;
  }

  /** Starts the live log of an interaction whose first events are already stored (or not persisted). */
  open(id: string, initial: StoredEvent[], persist: boolean): InteractionLog {
    const log = new InteractionLog(this, id, persist, initial);
    this.live.set(id, log);
    return log;
  }

  /**
   * Starts the live log of an interaction written whole at its end: `record` and `initial` are
   * stored with its other events and final state once its terminal event is appended.
   */
  openWrittenAtEnd(record: InteractionRecord, initial: StoredEvent[]): InteractionLog {
    const log = this.open(record.id, initial, true);
    this.held.set(record.id, { log, events: [...initial], create: record });
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
    const held = this.held.get(log.id);
    if (held) {
      held.events.push(event);
      if (update) held.update = { ...held.update, ...update };
      if (!isTerminalEventData(event.data)) return;
      this.held.delete(log.id);
      this.pending.set(log.id, held);
      this.urgentPending = true;
      this.schedule(true);
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
    if (this.held.get(log.id)?.log === log) this.held.delete(log.id);
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

  /** Writes everything pending; resolves when it is durable or its logs failed. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    for (const p of batch.values()) p.log.seal();
    this.urgentPending = false;
    const began = performance.now();
    this.flushing = this.write([...batch.values()]);
    try {
      await this.flushing;
      observeEventLogFlush((performance.now() - began) / 1000);
    } finally {
      this.flushing = null;
      this.lastFlushEnd = performance.now();
    }
    if (this.pending.size > 0) this.schedule(this.urgentPending);
  }

  /**
   * A run handed back to the run queue (graceful stop): its pending events are written, then its
   * log closes without a terminal event and its readers' streams end with an error they can
   * resume after (`last_event_id`, on another node).
   */
  async handOff(log: InteractionLog): Promise<void> {
    await this.flush();
    log.fail({
      cause: 'handoff',
      error: {
        code: 'unavailable',
        message: `this server is restarting; interaction '${log.id}' continues on another node (resume the stream after the last event id)`,
      },
    });
  }

  /** Stops the background writes of terminal states (shutdown); pending events are flushed. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    clearTimeout(this.terminalTimer);
  }

  /**
   * Writes `parts` in one transaction. A store-wide failure is retried within the window; a
   * failure caused by some part's rows is narrowed down to that part (see the top of the file).
   */
  private async write(parts: Pending[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      let fault: StoreFault;
      let error: unknown;
      try {
        await this.attempt(parts);
        this.storeAnswered();
        for (const p of parts) p.log.markDurable(p.events.at(-1)!.seq);
        this.onDurable?.(parts.map((p) => p.log.id));
        return;
      } catch (err) {
        error = err;
        fault = classifyStoreError(err);
      }
      if (fault === 'unavailable') {
        const left = this.outageLeft(error, parts);
        if (left <= 0) {
          for (const p of parts) this.failUnavailable(p);
          return;
        }
        await sleep(Math.min(50 * 2 ** attempt, 2000, left));
        continue;
      }
      this.storeAnswered();
      if (parts.length > 1) {
        // Some part's rows were refused: each interaction on its own, so only the culprit fails.
        for (const p of parts) await this.write([p]);
        return;
      }
      const settled = await this.settleRefused(parts[0]!, fault, error);
      if (settled === 'retry') continue;
      return;
    }
  }

  /**
   * One try at a write. The store's own timeouts (SQLite's busy timeout, PostgreSQL's connection
   * timeout) end a try against a store that does not answer, before anything was written. Only
   * when those fail too (a half-open connection) does this timer, a window later, count the
   * write as failed without knowing its outcome: should it commit after all, a retry finds its
   * own bytes (durable), or the terminal writer finds the events and appends after them.
   */
  private attempt(parts: Pending[]): Promise<void> {
    const write = this.store.appendEvents(
      parts.map((p) => ({
        interactionId: p.log.id,
        events: p.events,
        update: p.update,
        create: p.create,
      })),
    );
    const left =
      this.outageSince === null
        ? 0
        : Math.max(this.outageSince + this.retryWindowMs - performance.now(), 0);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StoreUnavailableError(new Error('store write got no answer'))),
        left + this.retryWindowMs,
      );
    });
    write.catch(() => {});
    return Promise.race([write, timeout]).finally(() => clearTimeout(timer));
  }

  /** Milliseconds left of the outage's retry window (starting it on its first failure). */
  private outageLeft(err: unknown, parts: Pending[]): number {
    const now = performance.now();
    if (this.outageSince === null) {
      this.outageSince = now;
      this.logger.warn(
        { err, interactions: parts.length, retry_window_ms: this.retryWindowMs },
        'store unavailable; retrying event writes',
      );
    }
    return this.outageSince + this.retryWindowMs - now;
  }

  private storeAnswered(): void {
    if (this.outageSince === null) return;
    this.logger.info(
      { outage_ms: Math.round(performance.now() - this.outageSince) },
      'store available again',
    );
    this.outageSince = null;
  }

  /** One interaction's rows were refused for `fault`: find out why, and fail it if it must. */
  private async settleRefused(
    part: Pending,
    fault: Exclude<StoreFault, 'unavailable'>,
    err: unknown,
  ): Promise<'done' | 'retry'> {
    const { log, events } = part;
    const first = events[0]!.seq;
    if (fault === 'missing_interaction') {
      this.fail(part, {
        cause: 'deleted',
        error: { code: 'not_found', message: `interaction '${log.id}' was deleted while running` },
      });
      return 'done';
    }
    if (fault === 'rejected') {
      this.fail(
        part,
        {
          cause: 'rejected',
          error: {
            code: 'internal_error',
            message: `the store refused event ${first} of this interaction; the run was stopped`,
          },
        },
        err,
      );
      return 'done';
    }
    // A duplicate event id: ours (an earlier attempt committed but its answer was lost) or
    // another writer's.
    let stored: StoredEvent[];
    try {
      stored = await this.store.listEvents(log.id, first - 1);
    } catch (readErr) {
      // Store down meanwhile: the write is tried again (within the window) and answers again.
      if (classifyStoreError(readErr) === 'unavailable') return 'retry';
      stored = [];
    }
    const ours = events.every((e, i) => stored[i]?.seq === e.seq && stored[i]?.data === e.data);
    if (ours) {
      log.markDurable(events.at(-1)!.seq);
      return 'done';
    }
    this.fail(part, {
      cause: 'conflict',
      error: {
        code: 'internal_error',
        message: `another writer stored event ${first} of this interaction; the run was stopped`,
      },
    });
    return 'done';
  }

  private failUnavailable(part: Pending): void {
    const durable = part.log.durableSeq;
    this.fail(part, {
      cause: 'unavailable',
      error: {
        code: 'unavailable',
        message: `the store was unavailable for longer than ${this.retryWindowMs / 1000} s while the interaction was running; the events after event ${durable} were not stored`,
      },
    });
  }

  private fail(part: Pending, failure: LogFailure, err?: unknown): void {
    const { log } = part;
    this.pending.delete(log.id);
    this.held.delete(log.id);
    log.fail(failure);
    if (failure.cause === 'deleted') return;
    this.logger.error(
      { err, interaction_id: log.id, cause: failure.cause, stored_events: log.durableSeq },
      `interaction failed: ${failure.error.message}`,
    );
    this.unfinished.set(log.id, {
      error: failure.error,
      ...(part.create ? { create: { record: part.create, initial: log.durableEvents } } : {}),
    });
    this.scheduleTerminals(0);
  }

  private scheduleTerminals(delayMs: number): void {
    if (this.closed) return;
    clearTimeout(this.terminalTimer);
    this.terminalTimer = setTimeout(() => void this.writeTerminals(), delayMs);
    this.terminalTimer.unref();
  }

  /**
   * An interaction written at its end whose write failed: its row, its first events and the
   * failed terminal state, in one transaction. A duplicate means an earlier try committed.
   */
  private async writeFailedCreate(
    record: InteractionRecord,
    initial: StoredEvent[],
    error: LogFailure['error'],
  ): Promise<void> {
    const tail = failedTail(record.id, initial, error);
    try {
      await this.store.appendEvents([
        { ...tail, events: [...initial, ...tail.events], create: record },
      ]);
    } catch (err) {
      if (classifyStoreError(err) !== 'duplicate') throw err;
    }
  }

  /** Writes the terminal state of failed logs; retried with back-off while the store is down. */
  private async writeTerminals(): Promise<void> {
    if (this.writingTerminals) return; // the pass under way schedules the next one
    this.writingTerminals = true;
    try {
      for (const [id, { error, create }] of [...this.unfinished]) {
        try {
          if (create) await this.writeFailedCreate(create.record, create.initial, error);
          else await writeFailedTerminal(this.store, id, error);
          this.onDurable?.([id]);
          this.unfinished.delete(id);
          this.terminalAttempt = 0;
          this.storeAnswered();
        } catch (err) {
          if (classifyStoreError(err) === 'unavailable') break;
          this.logger.error({ err, interaction_id: id }, 'could not record a failed interaction');
          this.unfinished.delete(id);
        }
      }
    } finally {
      this.writingTerminals = false;
    }
    if (this.unfinished.size > 0)
      this.scheduleTerminals(Math.min(100 * 2 ** this.terminalAttempt++, 2000));
  }
}
