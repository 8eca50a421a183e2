import type { ModelRegistry } from '../models/registry.js';
import { foldEvents, type FoldedInteraction } from '../protocol/fold.js';
import { ApiError, invalid, notFound, preconditionFailed } from '../protocol/errors.js';
import type { Interaction, InteractionEvent, JsonObject, Step } from '../protocol/types.js';
import { isTerminalStatus } from '../protocol/types.js';
import { validateCreateBody, type CreateRequest } from '../protocol/validate.js';
import { CONTENT_TYPES } from '../protocol/schemas.js';
import { ECHOED_REQUEST_FIELDS } from '../protocol/echo.js';
import type { ResolvedModel } from '../models/types.js';
import { isTerminalEventData } from '../store/event-log.js';
import type { EventLog, LogFailure } from '../store/event-log.js';
import { failedTail, writeFailedTerminal } from '../store/failed-terminal.js';
import { StoreUnavailableError } from '../store/store-errors.js';
import type { InteractionRecord, Store, StoredEvent } from '../store/types.js';
import type { InteractionEngine, RunHandle } from './engine.js';
import { newInteractionId } from './ids.js';
import { checkFunctionResults } from './function-results.js';
import { collectFileRefs, loadFileInputs } from './file-inputs.js';
import type { FileService } from '../files/file-service.js';
import { compileResponseSchema } from './structured-output.js';
import { computerUseFunctions } from '../tools/computer-use.js';
import type { BuiltInTool, ToolSession } from '../tools/types.js';
import type { AgentResolver, AgentRun } from './agent-run.js';
import type { StartParams } from './engine.js';
import type { QueuedRun, RunQueue } from './run-queue.js';
import type { RunStore } from '../store/run-store.js';
import { findResumePoint } from './resume-point.js';
import { JobSealer } from './job-secrets.js';
import type { WakeUps } from '../store/wake-ups.js';

export interface InteractionServiceOptions {
  store: Store;
  eventLog: EventLog;
  engine: InteractionEngine;
  models: ModelRegistry;
  /** How often a reader polls the store for events of a run on another node. */
  tailPollMs?: number;
  /** Built-in tools the operator configured, by type. */
  tools?: ReadonlyMap<string, BuiltInTool>;
  /** The Files API, whose files content items may name by `uri`. */
  files?: FileService;
  /** Agents a request may name in `agent` (src/agents/). */
  agents?: AgentResolver;
  /** Background runs go through this queue (any node may take them; run-queue.ts). */
  runQueue?: RunQueue;
  /** Claims of queued runs; required with `runQueue`. */
  runs?: RunStore;
  /** This node (the owner recorded when it takes a run). */
  nodeId?: string;
  /** Times a run may be taken (a takeover after a node died counts) before it fails. */
  maxRunAttempts?: number;
  /** Keeps the request's credentials out of the job table (job-secrets.ts); default: no key. */
  jobSealer?: JobSealer;
  onWarning?: (obj: object, msg: string) => void;
  /** Cross-node wake-ups (LISTEN/NOTIFY): readers polling the store wake at once on new events. */
  wakeUps?: WakeUps;
  /**
   * Checks a request's `webhook_config.uris` under the outbound address policy (a 400 naming
   * the field when one is refused); deliveries check again.
   */
  checkWebhookUris?: (uris: string[]) => Promise<void>;
}

/** A queued run that needs no run (already finished, or deleted). */
class RunNotClaimed extends Error {
  constructor() {
    super('the run needs no node');
  }
}

/** Everything a run needs besides its id, prepared from the create request. */
type PreparedRun = Omit<StartParams, 'id'>;

export interface CreateResult {
  handle: RunHandle;
  /**
   * Settles when the run has ended on this node: `handle.done`, or for a queued background run
   * the run this node started for it (a concurrent-run permit is held until then).
   */
  ran: Promise<unknown>;
  stream: boolean;
  background: boolean;
  persist: boolean;
}

/** Reads events of one interaction for a streaming response; `close` stops a live tail. */
export interface EventSource {
  [Symbol.asyncIterator](): AsyncIterator<StoredEvent>;
  close(): void;
}

/** Builds the Interaction resource from the fold of its events (the only source of truth). */
export function buildResource(
  events: InteractionEvent[],
  inputSteps: Step[] | null,
  echo?: JsonObject,
): Interaction {
  return resourceOf(foldEvents(events), inputSteps, echo);
}

/** The Interaction resource of a fold of its events. */
function resourceOf(
  fold: FoldedInteraction,
  inputSteps: Step[] | null,
  echo?: JsonObject,
): Interaction {
  const head = fold.interaction!;
  const resource: Interaction = {
    id: head.id,
    object: 'interaction',
    ...(head.model !== undefined ? { model: head.model } : {}),
    ...(head.agent !== undefined ? { agent: head.agent } : {}),
    status: fold.status,
    created: head.created!,
    updated: fold.updated ?? head.updated ?? head.created!,
    ...(head.previous_interaction_id
      ? { previous_interaction_id: head.previous_interaction_id }
      : {}),
    service_tier: head.service_tier ?? 'standard',
    steps: inputSteps ? [...inputSteps, ...fold.steps] : fold.steps,
    ...(fold.usage ? { usage: fold.usage } : {}),
    ...(fold.errors.length > 0 ? { errors: fold.errors } : {}),
  };
  if (echo)
    for (const key of ECHOED_REQUEST_FIELDS) if (echo[key] !== undefined) resource[key] = echo[key];
  return resource;
}

/** The JSON path of content item j of normalised input step i, as the client wrote it. */
function contentPath(raw: unknown, i: number, j: number): string {
  const isContent = (v: unknown) =>
    typeof v === 'object' &&
    v !== null &&
    CONTENT_TYPES.includes((v as { type?: never }).type as never);
  if (Array.isArray(raw)) return isContent(raw[0]) ? `input[${j}]` : `input[${i}].content[${j}]`;
  return isContent(raw) ? 'input' : `input.content[${j}]`;
}

/** Media the backend cannot take are refused before the run. */
function checkInputContent(request: CreateRequest, model: ResolvedModel): void {
  request.inputSteps.forEach((step, i) => {
    if (step.type !== 'user_input') return;
    (step.content ?? []).forEach((content, j) => {
      const path = contentPath(request.raw.input, i, j);
      if (!model.inputModalities.has(content.type)) {
        throw invalid(
          `${path}: the model backend of '${model.publicName}' does not accept ${content.type} input`,
        );
      }
    });
  });
}

const parseEvents = (events: StoredEvent[]) =>
  events.map((e) => JSON.parse(e.data) as InteractionEvent);

export class InteractionService {
  private readonly tailPollMs: number;

  /** Readers polling the store for an interaction, woken by a wake-up about it. */
  private readonly watchers = new Map<string, Set<() => void>>();

  private readonly jobSealer: JobSealer;

  constructor(private readonly o: InteractionServiceOptions) {
    this.jobSealer = o.jobSealer ?? new JobSealer();
    this.tailPollMs = o.tailPollMs ?? 200;
    o.wakeUps?.on('events', (id) => {
      for (const wake of this.watchers.get(id) ?? []) wake();
    });
  }

  /**
   * Watches an interaction for wake-ups from the moment it is called, so that one arriving
   * between a read of the store and the wait is not lost: `wait(ms)` returns at once then.
   */
  private watch(id: string): { wait(ms: number): Promise<void>; close(): void } {
    let woken = false;
    let resolveWait: (() => void) | null = null;
    const wake = () => {
      woken = true;
      resolveWait?.();
    };
    let set = this.watchers.get(id);
    if (!set) {
      set = new Set();
      this.watchers.set(id, set);
    }
    set.add(wake);
    return {
      wait: (ms) =>
        new Promise<void>((resolve) => {
          if (woken) {
            woken = false;
            resolve();
            return;
          }
          const timer = setTimeout(() => {
            resolveWait = null;
            resolve();
          }, ms);
          resolveWait = () => {
            clearTimeout(timer);
            resolveWait = null;
            woken = false;
            resolve();
          };
        }),
      close: () => {
        set.delete(wake);
        if (set.size === 0 && this.watchers.get(id) === set) this.watchers.delete(id);
      },
    };
  }

  async create(
    project: string,
    body: unknown,
    options: { forceStream?: boolean; requestId?: string; apiKeyId?: string | null } = {},
  ): Promise<CreateResult> {
    const prepared = await this.prepare(project, body, options, 'refuse');
    const { request, toolSessions, admission } = prepared;
    const queued = request.background === true && this.o.runQueue !== undefined;
    const id = newInteractionId();
    const release = async () => {
      await Promise.all((toolSessions ?? []).map((t) => t.close?.().catch(() => {})));
      admission?.release();
    };
    const job: QueuedRun = {
      interactionId: id,
      project,
      // Credentials are sealed or left out: the job table never holds them in clear.
      ...this.jobSealer.split(id, body as JsonObject),
      requestId: options.requestId,
    };
    // The job first: an interaction whose node dies from here on is always found in the queue.
    if (queued)
      await this.o.runQueue!.enqueue(job, { heldBy: this.o.nodeId }).catch(async (err) => {
        await release();
        throw err;
      });
    const handle = await this.o.engine
      .start({ id, ...prepared, apiKeyId: options.apiKeyId ?? null }, { deferred: queued })
      .catch(async (err: unknown) => {
        await release();
        throw err;
      });
    const ran = queued ? this.runCreated(job, handle, prepared) : handle.done;
    return {
      handle,
      ran,
      stream: request.stream === true,
      background: request.background === true,
      persist: request.store !== false,
    };
  }

  /** Runs a queued background run on the node that created it (and owns it). */
  private runCreated(job: QueuedRun, handle: RunHandle, run: PreparedRun): Promise<void> {
    const id = handle.id;
    const events = handle.log.events;
    const resumed = this.o.engine.resume({ id, ...run }, events, findResumePoint(events));
    return resumed.done
      .then(async () => {
        // Finished here: its job is let go (a run that did not finish keeps it, for a takeover).
        if (resumed.log.finished && !resumed.log.failure) await this.o.runQueue!.drop(id);
      })
      .catch((err: unknown) =>
        this.o.onWarning?.({ err, interaction_id: job.interactionId }, 'run queue error'),
      );
  }

  /**
   * Graceful stop: this node's background runs stop where they are (their events stored) and go
   * back to the queue; another node continues each after its last stored event.
   */
  async handOffRuns(): Promise<number> {
    const ids = await this.o.engine.handOffBackground();
    const queue = this.o.runQueue;
    if (!queue?.durable || !this.o.runs) return 0;
    for (const id of ids) {
      if (await this.o.runs.disown(id, this.o.nodeId ?? 'node'))
        await queue.retake(id, `node ${this.o.nodeId} stopped; handed back to the queue`);
    }
    return ids.length;
  }

  /**
   * Runs a queued background interaction taken from the queue (a run whose node died, or one
   * sent without an owner): claims it, then continues after its stored events.
   */
  async runQueued(job: QueuedRun): Promise<void> {
    await this.runHere(job).catch((err: unknown) => {
      if (!(err instanceof RunNotClaimed)) throw err;
      return true;
    });
  }

  /**
   * Claims a queued run and runs it here after its stored events. A run that was taken too
   * often (every node it lands on dies) fails with the reason; a run cancelled while nobody ran
   * it is stopped at once.
   */
  private async runHere(job: QueuedRun): Promise<boolean> {
    const id = job.interactionId;
    const runs = this.o.runs!;
    const claim = await runs.claim(id, this.o.nodeId ?? 'node');
    if (claim.kind === 'owned') {
      // Not ours to run (its owner lives): the queue offers it again later.
      throw new Error(`interaction ${id} is being run by node ${claim.ownerNode}`);
    }
    if (claim.kind !== 'claimed') throw new RunNotClaimed();
    const stored = await this.o.store.listEvents(id);
    if (stored.length === 0 || isTerminalEventData(stored.at(-1)!.data)) throw new RunNotClaimed();
    const max = this.o.maxRunAttempts ?? 3;
    if (claim.attempt > max) {
      await writeFailedTerminal(this.o.store, id, {
        code: 'internal_error',
        message: `the run was started ${claim.attempt - 1} times and each time the server running it stopped (interrupted); giving up`,
      });
      throw new RunNotClaimed();
    }
    let run: PreparedRun;
    try {
      const body = this.jobSealer.join(id, job);
      run = await this.prepare(job.project, body, { requestId: job.requestId }, 'wait');
    } catch (err) {
      // The request no longer prepares here (a model or tool removed from the configuration).
      await writeFailedTerminal(this.o.store, id, {
        code: err instanceof ApiError ? err.code : 'internal_error',
        message: `the run could not be continued on node ${this.o.nodeId}: ${err instanceof Error ? err.message : String(err)}`,
      });
      return true;
    }
    const point = findResumePoint(stored);
    const handle = this.o.engine.resume({ id, ...run }, stored, point);
    if (claim.cancelRequested) this.o.engine.abort(id, 'cancelled');
    await handle.done;
    if (handle.log.failure?.cause === 'handoff') {
      // This node is stopping: the job fails into a retry and another node takes the run.
      await runs.disown(id, this.o.nodeId ?? 'node');
      throw new Error(`node ${this.o.nodeId} stopped; handed back to the queue`);
    }
    if (handle.log.failure?.cause === 'conflict') {
      // Another node wrote this run's events meanwhile: the queue gives it to one node again.
      throw new Error(`another node wrote events of interaction ${id}`);
    }
    return handle.log.finished && !handle.log.failure;
  }

  /**
   * Checks a create request and prepares its run: the model, history, files, tool sessions and
   * a place on the model (`refuse`: 503 at capacity; `wait`: a queued run waits for one).
   */
  private async prepare(
    project: string,
    body: unknown,
    options: { forceStream?: boolean; requestId?: string },
    admit: 'refuse' | 'wait',
  ): Promise<PreparedRun> {
    let request = validateCreateBody(body);
    if (options.forceStream) request.stream = true;
    const webhookUris = request.webhook_config?.uris;
    if (webhookUris && webhookUris.length > 0) await this.o.checkWebhookUris?.(webhookUris);
    let agent: AgentRun | undefined;
    if (request.agent !== undefined) {
      if (!this.o.agents) {
        throw invalid(
          `agent: unknown agent '${request.agent}' (no agents are configured on this server)`,
        );
      }
      // From here on an agent request is a model request, run by the agent's program.
      ({ request, run: agent } = await this.o.agents.prepare(project, request));
    }
    if (request.continuation_token !== undefined) {
      throw invalid('continuation_token: not a token issued by this server');
    }
    for (const tool of request.builtInTools) {
      if (tool.type !== 'computer_use') continue;
      // Client-executed: the predefined actions become ordinary function declarations.
      const declared = new Set(request.functionTools.map((f) => f.name));
      for (const fn of computerUseFunctions(tool.config, tool.index)) {
        if (!declared.has(fn.name)) request.functionTools.push(fn);
      }
    }
    const serverTools = request.builtInTools.filter((t) => t.type !== 'computer_use');
    for (const tool of serverTools) {
      if (!this.o.tools?.has(tool.type)) {
        throw preconditionFailed(
          `tools[${tool.index}]: built-in tool '${tool.type}' is not configured on this server (server setting tools.${tool.type})`,
        );
      }
    }
    const model = this.o.models.resolve(request.model!);
    if (!model && this.o.agents?.isAgent(request.model!)) {
      // Google's words for the same mistake
      throw invalid(
        `model: '${request.model}' refers to an agent, but was provided in the 'model' field. Please use the 'agent' field instead.`,
      );
    }
    if (!model) {
      throw invalid(
        `model: unknown model '${request.model}' (configured: ${this.o.models.names().join(', ') || 'none'})`,
      );
    }
    checkInputContent(request, model);

    let history: Step[] = [];
    let pending: Step[] | undefined;
    if (request.previous_interaction_id !== undefined) {
      const prevId = request.previous_interaction_id;
      const previous = await this.o.store.getInteraction(project, prevId);
      if (!previous) throw notFound(`previous_interaction_id: interaction '${prevId}' not found`);
      if (!isTerminalStatus(previous.status)) {
        throw preconditionFailed(
          `previous_interaction_id: interaction '${prevId}' is still ${previous.status}`,
        );
      }
      const chain = await this.o.store.loadHistory(project, prevId);
      if (!chain || chain.broken) {
        throw notFound(
          `previous_interaction_id: the history of '${prevId}' is no longer available (an earlier interaction was deleted)`,
        );
      }
      history = chain.steps;
      if (previous.status === 'requires_action') pending = previous.outputSteps ?? [];
    }
    checkFunctionResults(history, request.inputSteps, pending);
    const files = await loadFileInputs(
      this.o.files,
      project,
      collectFileRefs(history, request.inputSteps, (i, j) => contentPath(request.raw.input, i, j)),
    );

    const schema = request.responseFormat?.schema;
    const validateOutput = schema ? compileResponseSchema(project, schema) : undefined;

    // Admitted after the checks (a request that is wrong gets its 400 rather than a 503 to
    // retry) and before anything is opened or stored; every path from here releases the place.
    let admission = model.admit?.();
    if (admit === 'wait' && model.admit) {
      for (let i = 0; !admission && i < 600; i++) {
        await new Promise((r) => setTimeout(r, 100));
        admission = model.admit();
      }
    }
    if (model.admit && !admission) {
      // Nothing was created yet, so a retry (which the SDKs do on 503) is safe.
      throw new ApiError(
        'unavailable',
        `model: '${model.publicName}' is at capacity (every sequence busy and the queue full); retry shortly`,
        { retryAfter: 1 },
      );
    }

    // Opened last: a session may hold a connection (MCP), so nothing may fail after it but the start.
    const toolSessions: ToolSession[] = [];
    try {
      for (const tool of serverTools) {
        toolSessions.push(
          await this.o.tools!.get(tool.type)!.open(tool.config, tool.index, { project }),
        );
      }
    } catch (err) {
      await Promise.all(toolSessions.map((t) => t.close?.().catch(() => {})));
      admission?.release();
      throw err;
    }

    return {
      project,
      request,
      model,
      history,
      files,
      validateOutput,
      toolSessions,
      admission,
      requestId: options.requestId,
      agent,
    };
  }

  private async record(project: string, id: string): Promise<InteractionRecord> {
    const record = await this.o.store.getInteraction(project, id);
    if (!record) throw notFound(`interaction '${id}' not found`);
    return record;
  }

  private async allEvents(id: string): Promise<InteractionEvent[]> {
    const live = this.o.eventLog.get(id);
    return parseEvents(live ? live.durableEvents : await this.o.store.listEvents(id));
  }

  async get(project: string, id: string, includeInput = false): Promise<Interaction> {
    const record = await this.record(project, id);
    const resource = buildResource(await this.allEvents(id), record.inputSteps, record.request);
    if (includeInput && record.request.input !== undefined) resource.input = record.request.input;
    return resource;
  }

  /**
   * The create response: output steps only (§3.3). A run whose events could not be stored
   * answers with what the store holds plus the failed terminal state it is about to get: still
   * 200, because the interaction exists and a 5xx would make the SDKs create it again (§5).
   */
  createResponse(handle: RunHandle, background: boolean): Interaction {
    const { log } = handle;
    if (background) return buildResource(parseEvents(log.events.slice(0, 2)), null);
    const failure = log.failure;
    if (failure?.cause === 'deleted') throw notFound(failure.error.message);
    // A run that ended with every event stored: the log's live fold is the fold of them all.
    if (log.closedWhole) return resourceOf(log.fold, null);
    const stored = log.durableEvents;
    const events = failure
      ? [...stored, ...failedTail(log.id, stored, failure.error).events]
      : stored;
    return buildResource(parseEvents(events), null);
  }

  async cancel(project: string, id: string): Promise<Interaction> {
    const record = await this.record(project, id);
    if (record.status === 'cancelled') return this.get(project, id);
    if (isTerminalStatus(record.status)) {
      throw preconditionFailed(`interaction '${id}' already finished with status ${record.status}`);
    }
    if (!record.background) {
      throw preconditionFailed(
        `interaction '${id}' is not a background interaction; only background interactions can be cancelled`,
      );
    }
    if (this.o.engine.abort(id, 'cancelled')) {
      await this.o.eventLog.get(id)?.whenClosed();
    } else {
      // Running on another node: ask its owner to stop, then wait for the terminal state.
      await this.o.store.requestCancel(project, id);
      this.o.wakeUps?.publish('cancel', id);
      await this.waitForTerminal(project, id, 30_000);
    }
    return this.get(project, id);
  }

  private async waitForTerminal(project: string, id: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const watch = this.watch(id);
    try {
      while (Date.now() < deadline) {
        const record = await this.o.store.getInteraction(project, id);
        if (!record || isTerminalStatus(record.status)) return;
        await watch.wait(Math.min(this.tailPollMs, Math.max(deadline - Date.now(), 0)));
      }
    } finally {
      watch.close();
    }
    throw new ApiError('gateway_timeout', `interaction '${id}' did not stop in time`);
  }

  /**
   * A running interaction is cancelled before its rows go, on whichever node runs it: the owner
   * stops the run and writes its terminal state, so no write of a live run meets deleted rows.
   */
  async delete(project: string, id: string): Promise<void> {
    const record = await this.record(project, id);
    if (!isTerminalStatus(record.status)) {
      if (this.o.engine.abort(id, 'cancelled')) {
        await this.o.eventLog.get(id)?.whenClosed();
      } else {
        await this.o.store.requestCancel(project, id);
        this.o.wakeUps?.publish('cancel', id);
        await this.waitForTerminal(project, id, 30_000);
      }
    }
    if (await this.o.store.deleteInteraction(project, id)) this.o.wakeUps?.publish('delete', id);
  }

  /** Checks a resumption request before the stream starts (HTTP errors are still possible). */
  async openEvents(project: string, id: string, lastEventId?: string): Promise<EventSource> {
    await this.record(project, id);
    let after = 0;
    if (lastEventId !== undefined) {
      if (!/^\d{1,9}$/.test(lastEventId)) {
        throw invalid(`last_event_id: '${lastEventId}' is not an event of interaction '${id}'`);
      }
      after = Number(lastEventId);
      const live = this.o.eventLog.get(id);
      const last = live
        ? live.durableSeq
        : ((await this.o.store.listEvents(id, after - 1))[0]?.seq ?? 0);
      if (after > 0 && (live ? after > last : last !== after)) {
        throw invalid(`last_event_id: '${lastEventId}' is not an event of interaction '${id}'`);
      }
    }
    return this.tail(id, after);
  }

  /**
   * Events after `after`: from the live log on this node, else from the store with polling.
   * Only stored events are ever yielded. When the live log fails (its events cannot be stored),
   * or the store stays unreadable for the event log's retry window, the iterator throws an
   * `ApiError` after the last stored event: the stream ends with a transport-level error.
   */
  tail(id: string, after: number): EventSource {
    const queue: StoredEvent[] = [];
    let wake: (() => void) | null = null;
    let closed = false;
    let failed: LogFailure | undefined;
    let unsubscribe: (() => void) | null = null;
    const push = (e: StoredEvent) => {
      queue.push(e);
      wake?.();
    };
    const onFailure = (failure: LogFailure) => {
      failed = failure;
      wake?.();
    };
    const live = this.o.eventLog.get(id);
    if (live) unsubscribe = live.subscribe(after, push, onFailure);
    const store = this.o.store;
    const pollMs = this.tailPollMs;
    const eventLog = this.o.eventLog;
    // Watched from before the first read of the store (no wake-up can slip in between).
    const watch = this.watch(id);

    async function* iterate(): AsyncGenerator<StoredEvent> {
      let last = after;
      let polling = !live;
      let unreadableSince: number | null = null;
      if (polling && after > 0) {
        // Resuming after the terminal event of a finished interaction: nothing follows.
        const [at] = await store.listEvents(id, after - 1);
        if (at && at.seq === after && isTerminalEventData(at.data)) return;
      }
      for (;;) {
        while (queue.length > 0) {
          const e = queue.shift()!;
          last = e.seq;
          yield e;
          if (isTerminalEventData(e.data)) return;
        }
        if (failed) throw new ApiError(failed.error.code, failed.error.message);
        if (closed) return;
        if (polling) {
          let more: StoredEvent[] = [];
          try {
            more = await store.listEvents(id, last);
            unreadableSince = null;
          } catch (err) {
            if (!(err instanceof StoreUnavailableError)) throw err;
            unreadableSince ??= Date.now();
            if (Date.now() - unreadableSince > eventLog.retryWindowMs) throw err;
          }
          if (more.length > 0) {
            queue.push(...more);
            continue;
          }
          const nowLive = eventLog.get(id);
          if (nowLive) {
            polling = false;
            unsubscribe = nowLive.subscribe(last, push, onFailure);
            continue;
          }
          await watch.wait(pollMs);
        } else {
          await new Promise<void>((r) => (wake = r));
          wake = null;
        }
      }
    }
    const iterator = iterate();
    return {
      [Symbol.asyncIterator]: () => iterator,
      close: () => {
        closed = true;
        unsubscribe?.();
        watch.close();
        wake?.();
      },
    };
  }

  /**
   * Background runs whose node died (its heartbeat is older than `staleBefore`, or it is
   * `deadNode`: this node, just restarted) go back to the queue, and another node continues
   * them. Only the node that takes the run from its dead owner (a compare-and-set) retakes the
   * job, so two sweeping nodes never start it twice. A run taken too often fails instead.
   */
  async retakeOrphans(filter: { staleBefore: string; deadNode?: string }): Promise<number> {
    const queue = this.o.runQueue;
    if (!queue?.durable || !this.o.runs) return 0;
    const orphans = await this.o.runs.findOrphaned(filter);
    let retaken = 0;
    for (const orphan of orphans) {
      if (this.o.eventLog.get(orphan.id)) continue;
      if (!(await this.o.runs.disown(orphan.id, orphan.ownerNode))) continue;
      const max = this.o.maxRunAttempts ?? 3;
      if (orphan.attempts >= max) {
        await writeFailedTerminal(this.o.store, orphan.id, {
          code: 'internal_error',
          message: `the run was started ${orphan.attempts} times and each time the server running it stopped (interrupted); giving up`,
        });
        await queue.drop(orphan.id).catch(() => {});
        continue;
      }
      try {
        await queue.retake(orphan.id, `node ${orphan.ownerNode} stopped while running it`);
      } catch (err) {
        await this.o.runs.restoreOwner(orphan.id, orphan.ownerNode);
        throw err;
      }
      retaken += 1;
    }
    // Jobs taken by a node that died before it claimed the run (nobody owns the run).
    for (const { id } of await this.o.runs.findUnowned()) {
      if (this.o.eventLog.get(id)) continue;
      if (await queue.reviveStalled(id, new Date(filter.staleBefore))) retaken += 1;
    }
    return retaken;
  }

  /**
   * Gives unfinished runs a terminal state with a reason: on start, this node's own runs (it just
   * started, so none of them can still be running); periodically, runs of nodes whose heartbeat
   * went stale. Each is one transaction; if another node recovered it first, the insert of the
   * same event ids fails and this node finds the log finished.
   */
  async recover(filter: { ownerNode?: string; staleBefore?: string }): Promise<number> {
    const unfinished = await this.o.store.findUnfinished(filter);
    let recovered = 0;
    for (const item of unfinished) {
      if (this.o.eventLog.get(item.id)) continue;
      if (this.o.runQueue?.durable) {
        // Background runs are the queue's: another node takes them over (retakeOrphans).
        const record = await this.o.store.getInteraction(item.project, item.id);
        if (record?.background) continue;
      }
      const outcome = await writeFailedTerminal(this.o.store, item.id, {
        code: 'unavailable',
        message: 'the server stopped while the interaction was running (interrupted)',
      }).catch(() => 'skipped' as const);
      if (outcome === 'written') recovered += 1;
    }
    return recovered;
  }
}
