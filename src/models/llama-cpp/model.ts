/**
 * LanguageModelV3 backend on node-llama-cpp: one shared Llama + LlamaModel +
 * LlamaContext (with `maxSequences` sequences), chat templates from the GGUF,
 * grammar-constrained function calling and JSON output, and KV-cache reuse
 * across requests by longest-prefix matching of prompt tokens.
 */
import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type {
  JSONSchema7,
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3FinishReason,
  LanguageModelV3FunctionTool,
  LanguageModelV3GenerateResult,
  LanguageModelV3StreamPart,
  LanguageModelV3StreamResult,
  LanguageModelV3Usage,
  SharedV3Warning,
} from '@ai-sdk/provider';
import {
  getLlama,
  LlamaChat,
  LlamaLogLevel,
  LlamaText,
  resolveChatWrapper,
  type ChatHistoryItem,
  type ChatModelFunctions,
  type ChatWrapper,
  type ChatWrapperGenerateContextStateOptions,
  type ChatWrapperGeneratedContextState,
  type Llama,
  type LlamaChatResponseChunk,
  type LlamaChatResponseFunctionCallParamsChunk,
  type LlamaContext,
  type LlamaGrammar,
  type LlamaModel,
  type LlamaTextJSON,
  type Token,
} from 'node-llama-cpp';
import {
  abortReason,
  disposedError,
  invalidRequestError,
  overloadedError,
  promptTooLongError,
} from './errors.js';
import { DEFAULT_MAX_QUEUE, DEFAULT_MAX_SEQUENCES } from './limits.js';
import { collectStream } from './collect-stream.js';
import { anyJsonSchema, toGbnfJsonSchema } from './json-schema.js';
import { SequencePool, type Lease, type Slot } from './pool.js';
import { PROVIDER_KEY, toChatHistory } from './prompt.js';

export interface LlamaCppModelOptions {
  /** GGUF file. */
  modelPath: string;
  /** For LanguageModelV3.modelId; default: the file's basename without `.gguf`. */
  modelId?: string;
  /** Context size per sequence, default 4096 (clamped to the model's training context). */
  contextSize?: number;
  /** Parallel sequences (concurrent requests), default 2. */
  maxSequences?: number;
  /** Requests allowed to wait beyond maxSequences, default 16; when full, calls reject with a 503 APICallError. */
  maxQueue?: number;
  /** `false` (CPU only) by default; `'auto'` uses a GPU prebuilt of node-llama-cpp when one works. */
  gpu?: false | 'auto';
  /** Upper bound in bytes for the KV state kept by idle sequences (LRU eviction); unbounded if unset. */
  cacheBytes?: number;
  /** CPU threads for evaluation; default: the number of math cores (node-llama-cpp would use max(cores, 4)). */
  threads?: number;
  /** Override the chat template; default: resolved from the GGUF (`resolveChatWrapper`). */
  chatWrapper?: ChatWrapper;
  /** Keep and reuse KV state across requests (default true; false = evaluate every prompt from scratch, for benchmarks/debugging). */
  kvReuse?: boolean;
}

export interface LlamaCppStats {
  /** Requests that got a sequence (started generating). */
  requests: number;
  /** Requests rejected because the queue was full (503). */
  rejected: number;
  /** Requests that ended with an error or abort after starting. */
  failed: number;
  /** Sum of prompt tokens (usage.inputTokens.total). */
  promptTokens: number;
  /** Prompt tokens served from kept KV state (usage.inputTokens.cacheRead). */
  reusedTokens: number;
  /** Prompt tokens that had to be evaluated (promptTokens - reusedTokens). */
  evaluatedTokens: number;
  /** Tokens sampled by the model (usage.outputTokens.total). */
  generatedTokens: number;
  /** Every token decoded by llama.cpp, from the sequences' token meters (prompt + generated fed back + injected). */
  decodedTokens: number;
  /** Sequences busy with a request. */
  sequencesInUse: number;
  /** Sequences in the context. */
  sequences: number;
  /** Requests waiting for a sequence. */
  queued: number;
  /** Tokens currently kept in the KV state of idle sequences. */
  cachedTokens: number;
  /** Idle sequences erased to respect cacheBytes. */
  evictions: number;
  /** Whether the model is loaded. */
  loaded: boolean;
  /** Effective context size per sequence (after loading). */
  contextSize: number | undefined;
}

/** `providerOptions['llama-cpp']` accepted per call. */
export interface LlamaCppProviderOptions {
  /** min-p sampling (0..1). */
  minP?: number;
  /** Repeat penalty (node-llama-cpp default 1.1 over the last 64 tokens); false disables it. */
  repeatPenalty?: number | false;
  /** Maximum tokens of thought (reasoning) segments; 0 disables thinking on models that think. */
  thoughtBudget?: number;
}

export type LlamaCppLanguageModel = LanguageModelV3 & {
  dispose(): Promise<void>;
  stats(): LlamaCppStats;
};

interface Loaded {
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
  chatWrapper: ChatWrapper;
  pool: SequencePool;
  contextSize: number;
}

interface PreparedCall {
  history: ChatHistoryItem[];
  functions: ChatModelFunctions | undefined;
  chatWrapper: ChatWrapper;
  grammar: LlamaGrammar | undefined;
  tokens: Token[];
  warnings: SharedV3Warning[];
}

const llamaInstances = new Map<string, Promise<Llama>>();

/** One Llama (native backend) per GPU mode, shared by all models of the process. */
export function getSharedLlama(gpu: false | 'auto'): Promise<Llama> {
  const key = String(gpu);
  let p = llamaInstances.get(key);
  if (p === undefined) {
    p = getLlama({ gpu, build: 'never', logLevel: LlamaLogLevel.error });
    p.catch(() => llamaInstances.delete(key));
    llamaInstances.set(key, p);
  }
  return p;
}

export function createLlamaCppModel(options: LlamaCppModelOptions): LlamaCppLanguageModel {
  return new LlamaCppModel(options);
}

const MAX_RAW_CALLS = 1024;
const MAX_GRAMMARS = 32;

class LlamaCppModel implements LanguageModelV3 {
  readonly specificationVersion = 'v3' as const;
  readonly provider = 'llama-cpp';
  readonly modelId: string;
  readonly supportedUrls: Record<string, RegExp[]> = {};

  private readonly opts: Required<
    Pick<LlamaCppModelOptions, 'maxSequences' | 'maxQueue' | 'contextSize'>
  > &
    LlamaCppModelOptions;
  private loading: Promise<Loaded> | undefined;
  private loaded: Loaded | undefined;
  private disposed = false;
  private readonly active = new Set<AbortController>();
  /** Raw text of tool calls generated here, so re-rendered history matches the KV state exactly. */
  private readonly rawCalls = new Map<string, LlamaTextJSON>();
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();
  private readonly counters = {
    requests: 0,
    rejected: 0,
    failed: 0,
    promptTokens: 0,
    reusedTokens: 0,
    generatedTokens: 0,
    decodedTokens: 0,
  };

  constructor(options: LlamaCppModelOptions) {
    this.opts = {
      ...options,
      contextSize: options.contextSize ?? 4096,
      maxSequences: Math.max(1, Math.floor(options.maxSequences ?? DEFAULT_MAX_SEQUENCES)),
      maxQueue: Math.max(0, Math.floor(options.maxQueue ?? DEFAULT_MAX_QUEUE)),
    };
    this.modelId = options.modelId ?? basename(options.modelPath).replace(/\.gguf$/i, '');
  }

  stats(): LlamaCppStats {
    const pool = this.loaded?.pool;
    return {
      ...this.counters,
      evaluatedTokens: this.counters.promptTokens - this.counters.reusedTokens,
      sequencesInUse: pool?.inUse ?? 0,
      sequences: pool?.slots.length ?? 0,
      queued: pool?.queued ?? 0,
      cachedTokens: pool?.cachedTokens ?? 0,
      evictions: pool?.evictions ?? 0,
      loaded: this.loaded !== undefined,
      contextSize: this.loaded?.contextSize,
    };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const err = disposedError(this.modelId);
    for (const c of this.active) c.abort(err);
    const loaded = this.loaded ?? (await this.loading?.catch(() => undefined));
    if (loaded === undefined) return;
    loaded.pool.rejectAll(err);
    await loaded.context.dispose().catch(() => undefined);
    await loaded.model.dispose().catch(() => undefined);
    this.loaded = undefined;
  }

  /** Loads the model and context once (lazily). */
  load(): Promise<Loaded> {
    if (this.disposed) return Promise.reject(disposedError(this.modelId));
    if (this.loading === undefined) {
      this.loading = this.doLoad().then(
        (l) => {
          this.loaded = l;
          return l;
        },
        (e: unknown) => {
          this.loading = undefined; // allow a retry
          throw e;
        },
      );
    }
    return this.loading;
  }

  private async doLoad(): Promise<Loaded> {
    const gpu = this.opts.gpu ?? false;
    try {
      const st = await stat(this.opts.modelPath);
      if (!st.isFile()) throw new Error('not a file');
    } catch {
      throw new Error(
        `llama-cpp model "${this.modelId}": GGUF file not found at ${this.opts.modelPath}. ` +
          'Download one with `open-interactions models pull <ref>` or fix the path.',
      );
    }
    const llama = await getSharedLlama(gpu);
    const model = await llama.loadModel({
      modelPath: this.opts.modelPath,
      ...(gpu === false ? { gpuLayers: 0 } : {}),
    });
    try {
      const contextSize = Math.max(64, Math.min(this.opts.contextSize, model.trainContextSize));
      const context = await model.createContext({
        sequences: this.opts.maxSequences,
        contextSize,
        threads: this.opts.threads ?? Math.max(1, llama.cpuMathCores),
        // Exactly what was asked for: failing loudly beats silently shrinking.
        failedCreationRemedy: false,
      });
      const slots: Slot[] = [];
      for (let i = 0; i < this.opts.maxSequences; i++) {
        slots.push({ index: i, sequence: context.getSequence(), busy: false, lastUsed: 0 });
      }
      const chatWrapper = this.opts.chatWrapper ?? resolveChatWrapper(model);
      const bytesPerToken = this.opts.cacheBytes === undefined ? 0 : estimateKvBytesPerToken(model);
      const pool = new SequencePool(
        slots,
        this.opts.maxQueue,
        () => overloadedError(this.modelId, this.opts.maxSequences, this.opts.maxQueue),
        bytesPerToken,
        this.opts.cacheBytes,
        this.opts.kvReuse ?? true,
      );
      return {
        llama,
        model,
        context,
        chatWrapper,
        pool,
        contextSize: context.contextSize,
      };
    } catch (e) {
      await model.dispose().catch(() => undefined);
      throw e;
    }
  }

  async doGenerate(options: LanguageModelV3CallOptions): Promise<LanguageModelV3GenerateResult> {
    const { stream, request } = await this.doStream(options);
    return { ...(await collectStream(stream)), request };
  }

  async doStream(options: LanguageModelV3CallOptions): Promise<LanguageModelV3StreamResult> {
    if (options.abortSignal?.aborted) throw abortReason(options.abortSignal);
    const loaded = await this.load();
    if (options.abortSignal?.aborted) throw abortReason(options.abortSignal);
    const prepared = await this.prepare(options, loaded);
    if (this.disposed) throw disposedError(this.modelId);
    if (prepared.tokens.length >= loaded.contextSize - 1) {
      throw promptTooLongError(this.modelId, prepared.tokens.length, loaded.contextSize);
    }

    // Atomic admission: either a sequence now, a place in the queue, or a 503.
    const controller = new AbortController();
    let leasePromise: Promise<Lease>;
    try {
      leasePromise = loaded.pool.acquire(prepared.tokens, controller.signal);
    } catch (e) {
      this.counters.rejected++;
      throw e;
    }
    const onOuterAbort = () => controller.abort(abortReason(options.abortSignal));
    options.abortSignal?.addEventListener('abort', onOuterAbort, { once: true });
    this.active.add(controller);
    // Avoid an unhandled rejection if the stream is never read.
    leasePromise.catch(() => undefined);

    const responseId = `llamacpp-${randomUUID()}`;
    let closed = false;
    const cleanup = () => {
      options.abortSignal?.removeEventListener('abort', onOuterAbort);
      this.active.delete(controller);
    };

    const stream = new ReadableStream<LanguageModelV3StreamPart>({
      start: (ctrl) => {
        const emit = (part: LanguageModelV3StreamPart) => {
          if (!closed) ctrl.enqueue(part);
        };
        emit({ type: 'stream-start', warnings: prepared.warnings });
        emit({
          type: 'response-metadata',
          id: responseId,
          timestamp: new Date(),
          modelId: this.modelId,
        });
        void this.run(loaded, prepared, options, leasePromise, controller.signal, emit)
          .then(
            () => {
              if (!closed) {
                closed = true;
                ctrl.close();
              }
            },
            (err: unknown) => {
              if (!closed) {
                closed = true;
                ctrl.error(err);
              }
            },
          )
          .finally(cleanup);
      },
      cancel: (reason) => {
        closed = true;
        controller.abort(reason ?? abortReason(undefined));
      },
    });
    return { stream, request: { body: { tokens: prepared.tokens.length } } };
  }

  /** Maps call options to history, functions, grammar and prompt tokens. */
  private async prepare(
    options: LanguageModelV3CallOptions,
    loaded: Loaded,
  ): Promise<PreparedCall> {
    const { history, warnings } = toChatHistory(options.prompt, (id) => this.rawCalls.get(id));
    const warn = (w: SharedV3Warning) => warnings.push(w);

    const functionTools: LanguageModelV3FunctionTool[] = [];
    for (const tool of options.tools ?? []) {
      if (tool.type === 'function') functionTools.push(tool);
      else
        warn({
          type: 'unsupported',
          feature: `provider tool ${tool.name}`,
          details: 'llama-cpp only runs function tools',
        });
    }
    // All function tools are documented in the prompt (so the prompt, and
    // its KV cache, does not change with toolChoice); the grammar only lets
    // the model call the allowed ones.
    let functions: ChatModelFunctions | undefined;
    let renderFunctions: ChatModelFunctions | undefined;
    let forceFunctionCall = false;
    const choice = options.toolChoice ?? { type: 'auto' };
    if (functionTools.length > 0 && choice.type !== 'none') {
      const fns: Record<
        string,
        { description?: string; params?: ReturnType<typeof toGbnfJsonSchema> }
      > = {};
      for (const t of functionTools) {
        fns[t.name] = {
          ...(t.description ? { description: t.description } : {}),
          params: toGbnfJsonSchema(t.inputSchema),
        };
      }
      renderFunctions = fns as ChatModelFunctions;
      functions = renderFunctions;
      if (choice.type === 'tool') {
        const only = fns[choice.toolName];
        if (only === undefined)
          throw invalidRequestError(
            this.modelId,
            `toolChoice names unknown tool "${choice.toolName}"`,
          );
        functions = { [choice.toolName]: only } as ChatModelFunctions;
      }
      forceFunctionCall = choice.type === 'required' || choice.type === 'tool';
    }

    let grammar: LlamaGrammar | undefined;
    if (options.responseFormat?.type === 'json') {
      if (functions !== undefined) {
        warn({
          type: 'unsupported',
          feature: 'responseFormat',
          details: 'JSON response format is not enforced while tools are offered',
        });
      } else {
        grammar = await this.jsonGrammar(loaded, options.responseFormat.schema);
      }
    }
    const state = loaded.chatWrapper.generateContextState({
      chatHistory: history,
      ...(renderFunctions ? { availableFunctions: renderFunctions } : {}),
    } satisfies ChatWrapperGenerateContextStateOptions);
    const tokens = state.contextText.tokenize(loaded.model.tokenizer);
    const chatWrapper =
      forceFunctionCall || functions !== renderFunctions
        ? makeForcingWrapper(loaded.chatWrapper, { force: forceFunctionCall, renderFunctions })
        : loaded.chatWrapper;
    return { history, functions, chatWrapper, grammar, tokens, warnings };
  }

  private jsonGrammar(loaded: Loaded, schema: JSONSchema7 | undefined): Promise<LlamaGrammar> {
    const key = schema === undefined ? '' : JSON.stringify(schema);
    let g = this.grammars.get(key);
    if (g === undefined) {
      const gbnf = schema === undefined ? anyJsonSchema() : toGbnfJsonSchema(schema);
      g = loaded.llama.createGrammarForJsonSchema(gbnf as never) as Promise<LlamaGrammar>;
      g.catch(() => this.grammars.delete(key));
      if (this.grammars.size >= MAX_GRAMMARS) {
        const oldest = this.grammars.keys().next().value;
        if (oldest !== undefined) this.grammars.delete(oldest);
      }
      this.grammars.set(key, g);
    }
    return g;
  }

  private async run(
    loaded: Loaded,
    prepared: PreparedCall,
    options: LanguageModelV3CallOptions,
    leasePromise: Promise<Lease>,
    signal: AbortSignal,
    emit: (part: LanguageModelV3StreamPart) => void,
  ): Promise<void> {
    const lease = await leasePromise;
    const { slot, reusable } = lease;
    const sequence = slot.sequence;
    if (reusable === 0 && sequence.nextTokenIndex > 0 && !(this.opts.kvReuse ?? true)) {
      try {
        await sequence.clearHistory();
      } catch (e) {
        loaded.pool.release(slot);
        throw e;
      }
    }
    this.counters.requests++;
    const meterBefore = sequence.tokenMeter.getState();
    let chat: LlamaChat | undefined;

    // Stream state
    let block: { kind: 'text' | 'reasoning'; id: string } | undefined;
    let blockCounter = 0;
    let reasoningTokens = 0;
    // pendingWs: whitespace held back so trailing whitespace after the JSON
    // arguments (part of the grammar's end trigger) is not streamed.
    const calls = new Map<
      number,
      { id: string; name: string; ended: boolean; pendingWs: string }
    >();
    let finishedCalls = 0;
    const emittedCallIds: string[] = [];
    const closeBlock = () => {
      if (block === undefined) return;
      emit({ type: block.kind === 'text' ? 'text-end' : 'reasoning-end', id: block.id });
      block = undefined;
    };
    const write = (kind: 'text' | 'reasoning', text: string) => {
      if (text === '') return;
      if (block?.kind !== kind) {
        closeBlock();
        block = { kind, id: `${kind}-${blockCounter++}` };
        emit({ type: kind === 'text' ? 'text-start' : 'reasoning-start', id: block.id });
      }
      emit({ type: kind === 'text' ? 'text-delta' : 'reasoning-delta', id: block.id, delta: text });
    };
    const callFor = (index: number, name: string) => {
      let call = calls.get(index);
      if (call === undefined) {
        closeBlock();
        call = {
          id: `call_${randomUUID().replace(/-/g, '').slice(0, 24)}`,
          name,
          ended: false,
          pendingWs: '',
        };
        calls.set(index, call);
        emit({ type: 'tool-input-start', id: call.id, toolName: name });
      }
      return call;
    };

    const usageOf = (): LanguageModelV3Usage => {
      const meter = sequence.tokenMeter.diff(meterBefore);
      const generated = meter.usedOutputTokens;
      const promptTokens = prepared.tokens.length;
      return {
        inputTokens: {
          total: promptTokens,
          noCache: promptTokens - reusable,
          cacheRead: reusable,
          cacheWrite: undefined,
        },
        outputTokens: {
          total: generated,
          text: Math.max(0, generated - reasoningTokens),
          reasoning: reasoningTokens,
        },
        raw: {
          promptTokens,
          cachedTokens: reusable,
          evaluatedPromptTokens: promptTokens - reusable,
          decodedTokens: meter.usedInputTokens + meter.usedOutputTokens,
          generatedTokens: generated,
          sequence: slot.index,
        },
      };
    };
    const account = (usage: LanguageModelV3Usage) => {
      this.counters.promptTokens += usage.inputTokens.total ?? 0;
      this.counters.reusedTokens += usage.inputTokens.cacheRead ?? 0;
      this.counters.generatedTokens += usage.outputTokens.total ?? 0;
      const raw = usage.raw as { decodedTokens?: number } | undefined;
      this.counters.decodedTokens += raw?.decodedTokens ?? 0;
    };

    try {
      if (signal.aborted) throw abortReason(signal);
      chat = new LlamaChat({
        contextSequence: sequence,
        chatWrapper: prepared.chatWrapper,
      });
      const room = loaded.contextSize - prepared.tokens.length - 1;
      const maxTokens = Math.max(1, Math.min(options.maxOutputTokens ?? room, room));
      const lpo = (options.providerOptions?.[PROVIDER_KEY] ?? {}) as LlamaCppProviderOptions;
      const repeatPenalty =
        lpo.repeatPenalty === false
          ? (false as const)
          : {
              ...(typeof lpo.repeatPenalty === 'number' ? { penalty: lpo.repeatPenalty } : {}),
              ...(options.presencePenalty !== undefined
                ? { presencePenalty: options.presencePenalty }
                : {}),
              ...(options.frequencyPenalty !== undefined
                ? { frequencyPenalty: options.frequencyPenalty }
                : {}),
            };
      const common = {
        signal,
        stopOnAbortSignal: false,
        maxTokens,
        ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
        ...(options.topP !== undefined ? { topP: options.topP } : {}),
        ...(options.topK !== undefined ? { topK: options.topK } : {}),
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
        ...(typeof lpo.minP === 'number' ? { minP: lpo.minP } : {}),
        ...(typeof lpo.thoughtBudget === 'number'
          ? { budgets: { thoughtTokens: Math.max(0, lpo.thoughtBudget) } }
          : {}),
        repeatPenalty,
        ...(options.stopSequences?.length ? { customStopTriggers: options.stopSequences } : {}),
        onResponseChunk: (chunk: LlamaChatResponseChunk) => {
          if (chunk.type === 'segment') {
            if (chunk.segmentType === 'thought') {
              reasoningTokens += chunk.tokens.length;
              write('reasoning', chunk.text);
              if (chunk.segmentEndTime !== undefined && block?.kind === 'reasoning') closeBlock();
            } else {
              write('text', chunk.text);
            }
          } else {
            write('text', chunk.text);
          }
        },
      };

      let result: Awaited<ReturnType<LlamaChat['generateResponse']>>;
      if (prepared.functions !== undefined) {
        result = await chat.generateResponse(prepared.history, {
          ...common,
          functions: prepared.functions,
          onFunctionCallParamsChunk: (chunk: LlamaChatResponseFunctionCallParamsChunk) => {
            const call = callFor(chunk.callIndex, chunk.functionName);
            if (chunk.paramsChunk.trim() === '') {
              call.pendingWs += chunk.paramsChunk;
            } else {
              emit({
                type: 'tool-input-delta',
                id: call.id,
                delta: call.pendingWs + chunk.paramsChunk,
              });
              call.pendingWs = '';
            }
          },
          onFunctionCall: (fc) => {
            const call = callFor(finishedCalls, fc.functionName);
            finishedCalls++;
            if (!call.ended) {
              call.ended = true;
              emit({ type: 'tool-input-end', id: call.id });
            }
            this.rememberRawCall(call.id, fc.raw);
            emittedCallIds.push(call.id);
            emit({
              type: 'tool-call',
              toolCallId: call.id,
              toolName: fc.functionName,
              input: JSON.stringify(fc.params ?? {}),
              providerMetadata: { [PROVIDER_KEY]: { rawCall: fc.raw as never } },
            });
          },
        });
      } else {
        result = await chat.generateResponse(prepared.history, {
          ...common,
          ...(prepared.grammar ? { grammar: prepared.grammar } : {}),
        });
      }
      if (signal.aborted) throw abortReason(signal);

      closeBlock();
      for (const call of calls.values()) {
        if (!call.ended) {
          call.ended = true;
          emit({ type: 'tool-input-end', id: call.id });
        }
      }
      const stopReason = result.metadata.stopReason;
      let unified: LanguageModelV3FinishReason['unified'];
      if (emittedCallIds.length > 0) unified = 'tool-calls';
      else if (stopReason === 'maxTokens') unified = 'length';
      else if (stopReason === 'functionCalls') unified = 'tool-calls';
      else if (stopReason === 'abort') unified = 'other';
      else unified = 'stop';
      const usage = usageOf();
      account(usage);
      emit({
        type: 'finish',
        finishReason: { unified, raw: stopReason },
        usage,
        providerMetadata: {
          [PROVIDER_KEY]: {
            sequence: slot.index,
            cachedTokens: usage.inputTokens.cacheRead ?? 0,
            ...(result.metadata.stopReason === 'customStopTrigger'
              ? { stopSequence: result.metadata.customStopTrigger.map(String).join('') }
              : {}),
          },
        },
      });
    } catch (err) {
      this.counters.failed++;
      account(usageOf());
      throw signal.aborted ? abortReason(signal) : err;
    } finally {
      chat?.dispose({ disposeSequence: false });
      loaded.pool.release(slot);
    }
  }

  private rememberRawCall(id: string, raw: LlamaTextJSON) {
    if (this.rawCalls.size >= MAX_RAW_CALLS) {
      const oldest = this.rawCalls.keys().next().value;
      if (oldest !== undefined) this.rawCalls.delete(oldest);
    }
    this.rawCalls.set(id, raw);
  }
}

/**
 * Wraps a chat wrapper for one request:
 * - `force`: generation starts directly in function-calling mode (toolChoice
 *   'required' / a named tool); LlamaChat then constrains the function name
 *   and parameters with grammars, in the wrapper's own call syntax.
 * - `renderFunctions`: the functions documented in the prompt, when they
 *   differ from the ones the model may call (a named tool is forced but all
 *   tools stay documented, so the prompt's tokens do not change).
 */
export function makeForcingWrapper(
  base: ChatWrapper,
  { force, renderFunctions }: { force: boolean; renderFunctions?: ChatModelFunctions | undefined },
): ChatWrapper {
  const wrapper = Object.create(base) as ChatWrapper;
  wrapper.generateContextState = (
    options: ChatWrapperGenerateContextStateOptions,
  ): ChatWrapperGeneratedContextState => {
    const hasFunctions =
      options.availableFunctions !== undefined &&
      Object.keys(options.availableFunctions).length > 0;
    const state = base.generateContextState(
      hasFunctions && renderFunctions !== undefined
        ? { ...options, availableFunctions: renderFunctions }
        : options,
    );
    if (!force || !hasFunctions) return state;
    if (state.functionCall !== undefined || state.ignoreStartText !== undefined) {
      return {
        contextText: state.contextText,
        stopGenerationTriggers: state.stopGenerationTriggers,
        ...(state.ignoreStartText ? { ignoreStartText: state.ignoreStartText } : {}),
        functionCall: { initiallyEngaged: true, disengageInitiallyEngaged: [] },
      };
    }
    return {
      contextText: state.contextText,
      stopGenerationTriggers: state.stopGenerationTriggers,
      noPrefixTrigger: { type: 'functionCall', inject: LlamaText([]) },
      detectFunctionCalls: true,
      ...(state.rerender ? { rerender: state.rerender } : {}),
    };
  };
  return wrapper;
}

/** Rough KV-cache bytes per token (f16 K and V for every layer). */
function estimateKvBytesPerToken(model: LlamaModel): number {
  try {
    const md = model.fileInfo.metadata as unknown as Record<string, unknown>;
    const arch = (md.general as { architecture?: string } | undefined)?.architecture;
    const a = (arch ? md[arch] : undefined) as
      | {
          block_count?: number;
          embedding_length?: number;
          attention?: {
            head_count?: number;
            head_count_kv?: number | number[];
            key_length?: number;
            value_length?: number;
          };
        }
      | undefined;
    if (!a?.block_count || !a.embedding_length) return 0;
    const heads = a.attention?.head_count ?? 1;
    const kvHeadsRaw = a.attention?.head_count_kv ?? heads;
    const kvHeads = Array.isArray(kvHeadsRaw) ? Math.max(...kvHeadsRaw) : kvHeadsRaw;
    const headDim = a.embedding_length / heads;
    const k = (a.attention?.key_length ?? headDim) * kvHeads;
    const v = (a.attention?.value_length ?? headDim) * kvHeads;
    return a.block_count * (k + v) * 2;
  } catch {
    return 0;
  }
}
