import type {
  LanguageModelV3FunctionTool,
  LanguageModelV3ToolChoice,
  LanguageModelV3ToolResultOutput,
} from '@ai-sdk/provider';
import type { Admission, ResolvedModel } from '../models/types.js';
import type { CreateRequest } from '../protocol/validate.js';
import type {
  EventInteraction,
  InteractionError,
  InteractionStatus,
  JsonObject,
  JsonValue,
  NewEvent,
  Step,
} from '../protocol/types.js';
import { InteractionLog, serializeEvent, type EventLog } from '../store/event-log.js';
import type { InteractionRecord, Store, StoredEvent } from '../store/types.js';
import type { ResumePoint } from './resume-point.js';
import { ApiError } from '../protocol/errors.js';
import type { ValidateFunction } from 'ajv';
import { ECHOED_REQUEST_FIELDS } from '../protocol/echo.js';
import { THINKING_SUMMARIES_DEFAULT } from '../protocol/schemas.js';
import type { ToolSession, ToolSource } from '../tools/types.js';
import { renumberSources } from './citations.js';
import { convertToPrompt } from './convert-to-prompt.js';
import type { FileInputs } from '../files/file-service.js';
import { newCallId } from './ids.js';
import { runModelRound } from './model-round.js';
import type { AgentRun, AssistantPart, RunContext, ToolPart } from './agent-run.js';
import {
  OutputFormatError,
  checkStructuredOutput,
  compileResponseSchema,
} from './structured-output.js';
import {
  BackendFault,
  RunAbort,
  describeRunError,
  type RunFailure,
  type StopReason,
} from './errors.js';
import { Scrubber, collectSecrets } from './scrub.js';
import { StepWriter } from './step-writer.js';
import { UsageMeter } from './usage.js';
import { countInteraction, countToolCall, observeFirstStep } from '../metrics/index.js';

export interface EngineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface EngineOptions {
  store: Store;
  eventLog: EventLog;
  nodeId: string;
  signatureSecret: string;
  /** Wall-clock limits of one run. */
  deadlines: { unaryMs: number; streamMs: number };
  logger: EngineLogger;
  /** How often a background run checks for a cancel requested on another node. */
  cancelPollMs?: number;
  /** Model calls one run may make for server-run tools before it stops `incomplete`. */
  maxToolRounds?: number;
  /** Clears configured secrets and upstream addresses from failure details before they are logged. */
  scrubber?: Scrubber;
}

export interface StartParams {
  id: string;
  project: string;
  request: CreateRequest;
  model: ResolvedModel;
  /** Steps of the ancestors named by previous_interaction_id (oldest first). */
  history: Step[];
  /** Bytes of the Files API URIs the steps name, loaded before the run. */
  files?: FileInputs;
  /** Compiled `response_format` schema, checked against the final answer. */
  validateOutput?: ValidateFunction;
  /** Built-in tools of this request, opened (and validated) before the run; closed after it. */
  toolSessions?: ToolSession[];
  /** The place reserved on the model at admission: the run calls the model through it and gives it back when it ends. */
  admission?: Admission;
  /** The API request that created the run (`x-request-id`), named in failure messages and logs. */
  requestId?: string;
  /** Set for an agent interaction (src/agents/ resolved it). */
  agent?: AgentRun;
  /** The API key the request came with (usage per key); null on an open server. */
  apiKeyId?: string | null;
}

export interface RunHandle {
  id: string;
  log: InteractionLog;
  /** Resolves when the run has ended and its terminal event is durable. */
  done: Promise<void>;
}

interface ActiveRun {
  handle: RunHandle;
  controller: AbortController;
  /** A stored background run (it can be handed back to the run queue). */
  background: boolean;
}

export const nowIso = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

function mapToolChoice(
  request: CreateRequest,
  sessions: ToolSession[],
): {
  tools: LanguageModelV3FunctionTool[];
  toolChoice?: LanguageModelV3ToolChoice;
} {
  const config = request.generation_config?.tool_choice;
  const mode = typeof config === 'string' ? config : config?.allowed_tools.mode;
  const allowed = typeof config === 'object' ? config.allowed_tools.tools : undefined;
  const offered = (name: string, type?: string) =>
    !allowed || allowed.includes(name) || (type !== undefined && allowed.includes(type));
  const tools: LanguageModelV3FunctionTool[] = [
    ...request.functionTools
      .filter((t) => offered(t.name))
      .map((t) => ({
        type: 'function' as const,
        name: t.name,
        description: t.description,
        inputSchema: (t.parameters ?? {
          type: 'object',
          properties: {},
        }) as LanguageModelV3FunctionTool['inputSchema'],
      })),
    ...sessions.flatMap((s) =>
      s.declarations
        .filter((d) => offered(d.name, s.type))
        .map((d) => ({
          type: 'function' as const,
          name: d.name,
          description: d.description,
          inputSchema: d.parameters as LanguageModelV3FunctionTool['inputSchema'],
        })),
    ),
  ];
  if (tools.length === 0) return { tools };
  if (mode === 'none') return { tools, toolChoice: { type: 'none' } };
  if (mode === 'any') {
    return tools.length === 1
      ? { tools, toolChoice: { type: 'tool', toolName: tools[0]!.name } }
      : { tools, toolChoice: { type: 'required' } };
  }
  return { tools, toolChoice: { type: 'auto' } };
}

/**
 * Runs one built-in tool call and records it as a `<tool>_call` step and a `<tool>_result` step
 * (spec §5.4: start with the id and an empty signature, one delta of the step's own type, stop).
 */
async function executeToolCall(
  session: ToolSession,
  name: string,
  args: JsonObject,
  signal: AbortSignal,
  writer: StepWriter,
  sourceOffset: number,
  call: {
    /** The id of the call step a node that stopped stored for this call (it runs again). */
    storedId?: string;
    /** The run can be taken over (a stored background run): see below. */
    resumable?: boolean;
  } = {},
): Promise<{ id: string; output: LanguageModelV3ToolResultOutput; sources: ToolSource[] }> {
  let id = call.storedId;
  if (id === undefined && session.callStep) {
    // The call step goes first, so that a node taking the run over knows the call was under
    // way (resume-point.ts). In a run that can be taken over, a call that must not run twice
    // runs only once that step is durable: had its node stopped before, the takeover redoes
    // the model round instead (the call never ran). Other runs end with their node anyway.
    id = newCallId();
    writeCallStep(writer, session, id, session.callStep(name, args));
    if (session.repeatSafe === false && call.resumable) await writer.whenStored();
  }
  let outcome: Awaited<ReturnType<ToolSession['execute']>>;
  try {
    outcome = await session.execute(name, args, signal);
  } catch (err) {
    countToolCall(session.type, 'failed');
    throw err;
  }
  countToolCall(session.type, outcome.result.is_error === true ? 'error' : 'ok');
  if (signal.aborted) throw signal.reason;
  if (id === undefined) {
    id = newCallId();
    writeCallStep(writer, session, id, outcome.call);
  }
  writer.start({ type: session.steps.result, call_id: id, signature: '' } as never);
  writer.delta({ type: session.steps.result, ...outcome.result, signature: writer.signature() });
  writer.stop();
  const visible = outcome.modelOutput;
  const output: LanguageModelV3ToolResultOutput =
    typeof visible === 'string'
      ? {
          type: outcome.result.is_error === true ? 'error-text' : 'text',
          value: renumberSources(visible, sourceOffset),
        }
      : { type: outcome.result.is_error === true ? 'error-json' : 'json', value: visible };
  return { id, output, sources: outcome.sources ?? [] };
}

function writeCallStep(writer: StepWriter, session: ToolSession, id: string, call: JsonObject) {
  writer.start({ type: session.steps.call, id, signature: '' } as never);
  writer.delta({ type: session.steps.call, ...call, signature: writer.signature() });
  writer.stop();
}

/**
 * A run taken over while one of its server-run tool calls ran (resume-point.ts `pendingCall`):
 * the call step is stored, its result is not, so the call may or may not have had its effect.
 *
 * A call that is safe to repeat runs again with the arguments its stored step records, and its
 * result step follows that call step: the output reads as one call and its result, and the model
 * is not asked again for a call it already made (it could ask for a different one, leaving a
 * call step without a result in the output, and it costs a model round). A call that is not safe
 * to repeat (an MCP server the operator did not mark `tools.mcp_server.repeat_safe`) fails the
 * run with the reason. Returns false when the stored step cannot be run again (a tool without
 * `callOf`, which writes its call step only with its result): the model round is then redone.
 */
async function redoPendingCall(
  point: ResumePoint,
  index: number,
  sessions: ToolSession[],
  run: { signal: AbortSignal; writer: StepWriter; sources: ToolSource[]; meter: UsageMeter },
): Promise<boolean> {
  const step = point.steps[index] as unknown as JsonObject & { type: string; id?: string };
  let found: { session: ToolSession; name: string; args: JsonObject } | undefined;
  for (const session of sessions) {
    if (session.steps.call !== step.type) continue;
    const call = session.callOf?.(step);
    if (call) found = { session, ...call };
    if (found) break;
  }
  const mcp = step.type === 'mcp_server_tool_call';
  if (found?.session.repeatSafe === false || (!found && mcp)) {
    const what = mcp
      ? `MCP tool '${String(step.name)}' on server '${String(step.server_name)}'`
      : `tool call ${step.type}`;
    throw new ApiError(
      'failed_precondition',
      `the run was taken over after its node stopped while ${what} was running; ` +
        'it is not marked safe to repeat (server setting tools.mcp_server.repeat_safe), ' +
        'so it was not called again and the run stops here',
    );
  }
  if (!found || typeof step.id !== 'string') return false;
  const executed = await executeToolCall(
    found.session,
    found.name,
    found.args,
    run.signal,
    run.writer,
    run.sources.length,
    { storedId: step.id },
  );
  run.sources.push(...executed.sources);
  run.meter.countTool(found.session.type);
  return true;
}

/**
 * The run loop: history → prompt → model stream → steps/events, with cancellation, deadlines and
 * the failure semantics of the design (a failure after creation is recorded inside the
 * interaction: `error` event, then `interaction.completed` with status `failed`).
 */
export class InteractionEngine {
  private readonly runs = new Map<string, ActiveRun>();

  constructor(private readonly options: EngineOptions) {}

  get activeRuns(): number {
    return this.runs.size;
  }

  /**
   * Creates the interaction and runs it here; `deferred` only creates it (owned by this node,
   * so that a takeover finds it if this node dies now) for the run queue's caller to run with
   * `resume` (src/engine/run-queue.ts).
   */
  async start(params: StartParams, options: { deferred?: boolean } = {}): Promise<RunHandle> {
    const { id, project, request, model } = params;
    const persist = request.store !== false;
    const created = nowIso();
    const header: EventInteraction = {
      id,
      object: 'interaction',
      ...(params.agent ? { agent: params.agent.name } : { model: model.publicName }),
      status: 'in_progress',
      created,
      updated: created,
      ...(request.previous_interaction_id
        ? { previous_interaction_id: request.previous_interaction_id }
        : {}),
    };
    const initial = [
      serializeEvent({ event_type: 'interaction.created', interaction: header }, 1),
      serializeEvent(
        { event_type: 'interaction.status_update', interaction_id: id, status: 'in_progress' },
        2,
      ),
    ].map(({ event, data }) => ({ seq: Number(event.event_id), data }));

    // A non-streaming, non-background create is written whole at its end, in one transaction
    // (see event-log.ts): nobody can read it before its response carries the id.
    const writtenAtEnd = persist && request.stream !== true && request.background !== true;
    if (persist) {
      const record: InteractionRecord = {
        id,
        project,
        parentId: request.previous_interaction_id ?? null,
        status: 'in_progress',
        model: params.agent ? null : model.publicName,
        agent: params.agent?.name ?? null,
        created,
        updated: created,
        background: request.background === true,
        ownerNode: this.options.nodeId,
        inputSteps: request.inputSteps,
        outputSteps: null,
        request: echoedRequest(request),
        usage: null,
        errors: null,
        apiKeyId: params.apiKeyId ?? null,
      };
      if (writtenAtEnd && !options.deferred) {
        return this.launch(params, this.options.eventLog.openWrittenAtEnd(record, initial), header);
      }
      await this.options.store.createInteraction(record, initial);
    }
    if (options.deferred) {
      // Not live here: readers follow it through the store until a node runs it.
      const log = new InteractionLog(this.options.eventLog, id, persist, initial);
      return { id, log, done: Promise.resolve() };
    }
    const log = this.options.eventLog.open(id, initial, persist);
    return this.launch(params, log, header);
  }

  /**
   * Continues a queued run on this node from its stored events (the first two, for a run not
   * started yet; more, for a run taken over from a node that died: see resume-point.ts).
   */
  resume(params: StartParams, stored: StoredEvent[], point: ResumePoint): RunHandle {
    const log = this.options.eventLog.open(params.id, stored, true);
    return this.launch(params, log, point.header, point);
  }

  private launch(
    params: StartParams,
    log: InteractionLog,
    header: EventInteraction,
    point?: ResumePoint,
  ): RunHandle {
    const { id, request } = params;
    const persist = log.persist;
    const controller = new AbortController();
    const deadlineMs =
      params.agent?.deadlineMs ??
      (request.stream ? this.options.deadlines.streamMs : this.options.deadlines.unaryMs);
    const timer = setTimeout(() => controller.abort(new RunAbort('deadline')), deadlineMs);
    timer.unref();
    // Events that cannot be stored stop the run (the event log has told its readers).
    log.onFailure(() => controller.abort(new RunAbort('store_failed')));
    // A cancel sent to another node (cancel of a background run, or a delete) reaches this run
    // through the store; a run written at its end has no row to be cancelled or deleted through.
    const cancelPoll =
      persist && (request.stream === true || request.background === true)
        ? setInterval(() => {
            this.options.store.isCancelRequested(id).then(
              (yes) => yes && controller.abort(new RunAbort('cancelled')),
              () => {},
            );
          }, this.options.cancelPollMs ?? 1000)
        : undefined;
    cancelPoll?.unref();
    const handle: RunHandle = { id, log, done: Promise.resolve() };
    this.runs.set(id, {
      handle,
      controller,
      background: persist && request.background === true,
    });
    handle.done = this.run(params, log, header, controller.signal, point)
      .catch((err) => this.options.logger.error({ err, interaction_id: id }, 'run crashed'))
      .then(() => log.whenClosed())
      .finally(() => {
        clearTimeout(timer);
        clearInterval(cancelPoll);
        this.runs.delete(id);
        params.admission?.release();
      });
    return handle;
  }

  /** Stops a run on this node; returns false when it is not running here. */
  abort(id: string, reason: StopReason): boolean {
    const run = this.runs.get(id);
    if (!run) return false;
    run.controller.abort(new RunAbort(reason));
    return true;
  }

  /**
   * Stops this node's background runs without a terminal state, to be continued by another node
   * (graceful stop); resolves with their ids once their events are stored.
   */
  async handOffBackground(): Promise<string[]> {
    const background = [...this.runs.values()].filter((r) => r.background);
    for (const r of background) r.controller.abort(new RunAbort('handoff'));
    await Promise.all(background.map((r) => r.handle.done));
    return background.map((r) => r.handle.id);
  }

  /** Stops every run (shutdown); each records a terminal state. */
  abortAll(reason: StopReason): Promise<void[]> {
    const done = [...this.runs.values()].map((r) => {
      r.controller.abort(new RunAbort(reason));
      return r.handle.done;
    });
    return Promise.all(done);
  }

  private async run(
    params: StartParams,
    log: InteractionLog,
    header: EventInteraction,
    signal: AbortSignal,
    point?: ResumePoint,
  ): Promise<void> {
    const { request } = params;
    const model = params.admission
      ? { ...params.model, model: params.admission.model }
      : params.model;
    const sessions = params.toolSessions ?? [];
    const gc = request.generation_config ?? {};
    const startedAt = performance.now();
    const metricsModel = params.agent?.name ?? model.entryName;
    const sources: ToolSource[] = [];
    const writer = new StepWriter(log, this.options.signatureSecret, {
      summaries: (gc.thinking_summaries ?? THINKING_SUMMARIES_DEFAULT) === 'auto',
      // `[n]` markers become annotations; JSON output is left alone (`[1]` is data there)
      citationSources:
        sessions.some((s) => s.citationMarkers) &&
        request.responseFormat?.mimeType !== 'application/json'
          ? () => sources
          : undefined,
      onFirstStep: () => observeFirstStep(metricsModel, (performance.now() - startedAt) / 1000),
    });
    const meter = new UsageMeter();
    const errors: InteractionError[] = [];
    let status: InteractionStatus = 'completed';
    let handedOff = false;
    if (point) {
      // Taken over: the step the dead node left open is closed; new steps follow the stored ones.
      if (point.openStep !== null) log.append({ event_type: 'step.stop', index: point.openStep });
      writer.continueAfter(point.steps.length);
    }

    try {
      const toolByName = new Map<string, ToolSession>();
      for (const session of sessions)
        for (const d of session.declarations) toolByName.set(d.name, session);
      const { tools, toolChoice } = mapToolChoice(request, sessions);
      let kept = point?.kept ?? [];
      let roundsDone = point?.rounds ?? 0;
      let roundEnded: InteractionStatus | undefined;
      if (point?.pendingCall != null) {
        // Taken over while a server-run tool's call ran: its result step never reached the store.
        const redone = await redoPendingCall(point, point.pendingCall, sessions, {
          signal,
          writer,
          sources,
          meter,
        });
        if (redone) {
          // The round that asked for the call goes on as it would have: the model sees the result.
          kept = log.fold.steps.slice();
          roundsDone += 1;
          const round = point.steps.slice(point.kept.length, point.pendingCall);
          if (round.some((step) => step.type === 'function_call')) roundEnded = 'requires_action';
        }
      }
      const ctx: RunContext = {
        request,
        model,
        prompt: convertToPrompt(
          [...params.history, ...request.inputSteps, ...kept],
          request.system_instruction,
          params.files,
        ),
        writer,
        meter,
        signal,
        tools,
        toolChoice,
        isBuiltIn: (name) => toolByName.has(name),
        runBuiltInCalls: async (builtInCalls) => {
          // Server-run tools: record call and result steps; the caller shows the model the results.
          const calls: AssistantPart[] = [];
          const results: ToolPart[] = [];
          for (const c of builtInCalls) {
            const session = toolByName.get(c.toolName)!;
            const executed = await executeToolCall(
              session,
              c.toolName,
              c.args,
              signal,
              writer,
              sources.length,
              { resumable: log.persist && request.background === true },
            );
            sources.push(...executed.sources);
            meter.countTool(session.type);
            calls.push({
              type: 'tool-call',
              toolCallId: executed.id,
              toolName: c.toolName,
              input: c.args,
            });
            results.push({
              type: 'tool-result',
              toolCallId: executed.id,
              toolName: c.toolName,
              output: executed.output,
            });
          }
          return { calls, results };
        },
        sources,
        errors,
        onWarning: (warning) =>
          this.options.logger.warn(
            { interaction_id: header.id, backend: model.backend, warning },
            'backend warning',
          ),
      };
      // An agent's recipe drives its own rounds (src/agents/); every other run is the tool loop.
      status =
        roundEnded ??
        (params.agent?.program
          ? await params.agent.program.run(ctx)
          : await this.toolLoop(ctx, params, log, roundsDone));
      writer.stop();
    } catch (err) {
      const aborted =
        err instanceof RunAbort
          ? err
          : signal.aborted && signal.reason instanceof RunAbort
            ? signal.reason
            : undefined;
      writer.abandon();
      if (aborted?.reason === 'handoff') {
        handedOff = true;
      } else if (aborted && aborted.reason !== 'deadline') {
        status = 'cancelled';
        if (aborted.reason === 'shutdown') {
          errors.push({
            code: 'cancelled',
            message: 'the server shut down while the interaction was running',
          });
        }
        log.append({
          event_type: 'interaction.status_update',
          interaction_id: header.id,
          status: 'cancelled',
        });
      } else {
        const failure: RunFailure = aborted
          ? {
              code: 'gateway_timeout',
              message: 'Deadline expired before operation could complete.',
            }
          : err instanceof OutputFormatError
            ? { code: err.code, message: err.message }
            : describeRunError(err, {
                backend: model.entryName,
                requestId: params.requestId,
                scrubber: (this.options.scrubber ?? new Scrubber()).with(
                  collectSecrets(request.raw.tools),
                ),
              });
        status = 'failed';
        errors.push({ code: failure.code, message: failure.message });
        log.append({
          event_type: 'error',
          error: { code: failure.code, message: failure.message },
        });
        if (!aborted) {
          this.options.logger.warn(
            {
              interaction_id: header.id,
              ...(params.requestId ? { request_id: params.requestId } : {}),
              backend: model.entryName,
              code: failure.code,
              ...(failure.fault ? { fault: failure.fault } : {}),
              ...(failure.detail ? { detail: failure.detail } : {}),
            },
            'interaction failed',
          );
        }
      }
    } finally {
      await Promise.all(sessions.map((s) => s.close?.().catch(() => {})));
    }
    if (handedOff) {
      // Another node continues after the stored events (resume-point.ts).
      await this.options.eventLog.handOff(log);
      return;
    }
    const usage = meter.toUsage();
    countInteraction({
      model: metricsModel,
      project: params.project,
      status,
      seconds: (performance.now() - startedAt) / 1000,
      ...(usage
        ? {
            usage: {
              input: usage.total_input_tokens ?? 0,
              output: usage.total_output_tokens ?? 0,
              thought: usage.total_thought_tokens ?? 0,
              cached: usage.total_cached_tokens ?? 0,
            },
          }
        : {}),
    });
    this.finish(log, header, status, usage, errors);
  }

  /**
   * The plain tool loop: a model call; built-in tool calls run and their results go back to the
   * model, round after round, until it answers, calls a client function, or the rounds run out.
   */
  private async toolLoop(
    ctx: RunContext,
    params: StartParams,
    log: InteractionLog,
    roundsDone = 0,
  ): Promise<InteractionStatus> {
    const { request, model, prompt, tools, toolChoice: firstChoice } = ctx;
    const gc = request.generation_config ?? {};
    const validateCall = isValidatedMode(request)
      ? createCallValidator(params.project, request)
      : undefined;
    const maxRounds = params.agent?.maxRounds ?? this.options.maxToolRounds ?? 10;

    for (let round = roundsDone + 1; ; round++) {
      const outcome = await runModelRound({
        model,
        writer: ctx.writer,
        meter: ctx.meter,
        signal: ctx.signal,
        isBuiltIn: ctx.isBuiltIn,
        validateCall,
        onWarning: ctx.onWarning,
        call: {
          prompt,
          maxOutputTokens: gc.max_output_tokens,
          temperature: gc.temperature,
          topP: gc.top_p,
          topK: gc.top_k,
          stopSequences: gc.stop_sequences,
          seed: gc.seed,
          tools: tools.length > 0 ? tools : undefined,
          // a forced call ('any') applies to the first model call, not to every tool round
          toolChoice:
            round === 1 || firstChoice?.type === 'none'
              ? firstChoice
              : tools.length > 0
                ? { type: 'auto' }
                : undefined,
          responseFormat:
            request.responseFormat?.mimeType === 'application/json'
              ? { type: 'json', schema: request.responseFormat.schema as never }
              : undefined,
          providerOptions: model.providerOptions({ thinkingLevel: gc.thinking_level }),
          abortSignal: ctx.signal,
        },
      });
      if (outcome.finishReason === 'error')
        throw new BackendFault('failed', 'the model backend ended its answer with an error');

      if (outcome.builtInCalls.length > 0) {
        const { calls, results } = await ctx.runBuiltInCalls(outcome.builtInCalls);
        if (outcome.functionCalls > 0) return 'requires_action';
        prompt.push({ role: 'assistant', content: [...outcome.assistantParts, ...calls] });
        prompt.push({ role: 'tool', content: results });
        if (round >= maxRounds) {
          ctx.errors.push({
            code: 'tool_round_limit',
            message: `stopped after ${maxRounds} tool rounds`,
          });
          return 'incomplete';
        }
        continue;
      }
      if (outcome.functionCalls > 0) return 'requires_action';
      if (outcome.finishReason === 'length') return 'incomplete';
      if (request.responseFormat?.mimeType === 'application/json') {
        checkStructuredOutput(log.fold.steps, params.validateOutput);
      }
      return 'completed';
    }
  }

  private finish(
    log: InteractionLog,
    header: EventInteraction,
    status: InteractionStatus,
    usage: ReturnType<UsageMeter['toUsage']>,
    errors: InteractionError[],
  ): void {
    const updated = nowIso();
    const completed: NewEvent = {
      event_type: 'interaction.completed',
      interaction: {
        ...header,
        status,
        updated,
        service_tier: 'standard',
        ...(usage ? { usage } : {}),
      },
    };
    log.append(completed, {
      status,
      updated,
      outputSteps: log.fold.steps,
      usage: usage ?? null,
      errors: errors.length > 0 ? errors : null,
    });
  }
}

function isValidatedMode(request: CreateRequest): boolean {
  const choice = request.generation_config?.tool_choice;
  return (typeof choice === 'string' ? choice : choice?.allowed_tools.mode) === 'validated';
}

/** tool_choice `validated`: a call must name a declared function and satisfy its schema. */
function createCallValidator(
  project: string,
  request: CreateRequest,
): (name: string, args: JsonObject) => void {
  const validators = new Map(
    request.functionTools.map((t) => [
      t.name,
      compileResponseSchema(
        project,
        (t.parameters ?? { type: 'object' }) as JsonObject,
        `tools.${t.name}.parameters`,
      ),
    ]),
  );
  return (name, args) => {
    const validate = validators.get(name);
    if (!validate) throw new OutputFormatError(`the model called undeclared function '${name}'`);
    if (!validate(args)) {
      const e = validate.errors?.[0];
      throw new OutputFormatError(
        `the model's arguments for '${name}' do not match its parameters: ${e?.instancePath || '(root)'} ${e?.message ?? ''}`.trim(),
      );
    }
  };
}

/** MCP server headers carry credentials: they are never stored or echoed, only their names. */
export function redactToolSecrets(tools: JsonValue): JsonValue {
  if (!Array.isArray(tools)) return tools;
  return tools.map((tool) => {
    if (!tool || typeof tool !== 'object' || Array.isArray(tool) || !tool.headers) return tool;
    const headers = tool.headers;
    const names =
      headers && typeof headers === 'object' && !Array.isArray(headers) ? Object.keys(headers) : [];
    return { ...tool, headers: Object.fromEntries(names.map((n) => [n, '[redacted]'])) };
  });
}

/** The request fields echoed on get, plus the raw input for include_input. */
function echoedRequest(request: CreateRequest): JsonObject {
  const echo: JsonObject = {};
  for (const key of [...ECHOED_REQUEST_FIELDS, 'input']) {
    const value = request.raw[key];
    if (value !== undefined) echo[key] = key === 'tools' ? redactToolSecrets(value) : value;
  }
  return echo;
}
