import {
  InvalidResponseDataError,
  JSONParseError,
  TypeValidationError,
  type LanguageModelV3CallOptions,
  type LanguageModelV3FinishReason,
  type LanguageModelV3StreamPart,
  type LanguageModelV3StreamResult,
  type LanguageModelV3Usage,
  type SharedV3ProviderMetadata,
  type SharedV3Warning,
} from '@ai-sdk/provider';
import { generateId, StreamingToolCallTracker } from '@ai-sdk/provider-utils';
import { createParser } from 'eventsource-parser';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { PartQueue } from '../part-batches.js';

/*
 * The streamed answer of an OpenAI-compatible chat completion, read straight from the HTTP body.
 *
 * Why hand-written: the provider's own stream path runs every chunk through four web streams
 * (the body, TextDecoderStream, EventSourceParserStream, a TransformStream) plus a zod parse,
 * which costs the server several times more CPU per token than the rest of its work
 * (BENCHMARKS.md, issue 11). Here the body's `data` events feed `eventsource-parser`'s callback
 * parser, each event is `JSON.parse`d (or read through a template of the previous chunk, see
 * `cutTemplate`) and checked structurally, and the parts go into ONE queue, read as a
 * ReadableStream or in batches (../part-batches.ts). A chunk whose shape the cheap check does
 * not vouch for (several choices, content parts, tool calls, an odd field type) is validated
 * by the provider's own zod schema, so what is accepted or refused is the provider's rule; the
 * parts produced follow the provider's `doStream` (stream-start, response-metadata,
 * reasoning/text start-delta-end, tool-input-start/delta/end + tool-call via the provider-utils
 * tracker, error, finish).
 */

/** Finish reasons of the wire, mapped as the AI SDK's OpenAI-compatible provider maps them. */
function unifiedFinishReason(
  raw: string,
  hasRefusal: boolean,
): LanguageModelV3FinishReason['unified'] {
  switch (raw) {
    case 'stop':
      return hasRefusal ? 'content-filter' : 'stop';
    case 'length':
      return 'length';
    case 'content_filter':
      return 'content-filter';
    case 'function_call':
    case 'tool_calls':
      return 'tool-calls';
    default:
      return 'other';
  }
}

export interface WireUsage {
  completion_tokens_details?: {
    accepted_prediction_tokens?: number | null;
    rejected_prediction_tokens?: number | null;
  } | null;
  [key: string]: unknown;
}

interface ToolCallDelta {
  index?: number | null;
  id?: string | null;
  function: { name?: string | null; arguments?: string | null };
  extra_content?: { google?: { thought_signature?: string | null } | null } | null;
}

interface ChunkDelta {
  content?: string | Array<{ type: string; text?: unknown; thinking?: unknown }> | null;
  refusal?: string;
  reasoning_content?: string | null;
  reasoning?: string | null;
  tool_calls?: ToolCallDelta[] | null;
}

interface Chunk {
  id?: string | null;
  created?: number | null;
  model?: string | null;
  choices: Array<{ delta?: ChunkDelta | null; finish_reason?: string | null }>;
  usage?: WireUsage | null;
}

/** What is used of a zod schema (the provider's, whose zod instance is its own). */
export interface ChunkSchema {
  safeParse(value: unknown): { success: true; data: unknown } | { success: false; error: unknown };
}

export interface ChatStreamOptions {
  body: Readable;
  warnings: SharedV3Warning[];
  /** The providerOptions key tool-call metadata is filed under (the provider's `metadataKey`). */
  metadataKey: string;
  /** The provider's chunk schema (zod): the rule for chunks the cheap check does not vouch for. */
  chunkSchema: ChunkSchema;
  convertUsage: (usage: WireUsage | null | undefined) => LanguageModelV3Usage;
  includeRawChunks?: boolean;
  signal?: AbortSignal;
}

const isNullish = (v: unknown): v is null | undefined => v === null || v === undefined;
const optString = (v: unknown) => v === undefined || v === null || typeof v === 'string';

/**
 * Whether `value` is a chunk of the common shape (one choice whose delta carries only string
 * content/reasoning and no tool calls) that the provider's schema would accept unchanged.
 */
function isPlainChunk(value: unknown): value is Chunk {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  const choices = v.choices;
  if (!Array.isArray(choices) || choices.length > 1) return false;
  // an upstream error, even beside choices, is the provider's to read
  if ('error' in v) return false;
  if (!optString(v.id) || !optString(v.model)) return false;
  if (!isNullish(v.created) && typeof v.created !== 'number') return false;
  // usage comes once, in the last chunk: it takes the schema's path
  if (!isNullish(v.usage)) return false;
  const choice = choices[0] as Record<string, unknown> | undefined;
  if (choice === undefined) return true;
  if (typeof choice !== 'object' || choice === null || Array.isArray(choice)) return false;
  if (!optString(choice.finish_reason)) return false;
  const delta = choice.delta as Record<string, unknown> | null | undefined;
  if (isNullish(delta)) return true;
  if (typeof delta !== 'object' || Array.isArray(delta)) return false;
  if (!isNullish(delta.role) && delta.role !== 'assistant' && delta.role !== '') return false;
  return (
    optString(delta.content) &&
    optString(delta.reasoning_content) &&
    optString(delta.reasoning) &&
    isNullish(delta.refusal) &&
    isNullish(delta.tool_calls)
  );
}

/** Reasoning and text of a delta's `content` given as parts (the provider's reading of them). */
function* contentParts(
  content: ChunkDelta['content'],
): Generator<{ type: 'text' | 'reasoning'; text: string }> {
  if (isNullish(content)) return;
  if (typeof content === 'string') {
    if (content.length > 0) yield { type: 'text', text: content };
    return;
  }
  for (const part of content) {
    if (part.type === 'text' && typeof part.text === 'string') {
      if (part.text.length > 0) yield { type: 'text', text: part.text };
    } else if (part.type === 'thinking' && Array.isArray(part.thinking)) {
      let text = '';
      for (const item of part.thinking as unknown[]) {
        const t = item as { type?: unknown; text?: unknown } | null;
        if (t && typeof t === 'object' && t.type === 'text' && typeof t.text === 'string')
          text += t.text;
      }
      if (text.length > 0) yield { type: 'reasoning', text };
    }
  }
}

/** The delta fields a chunk template may vary (one per template). */
const TEMPLATE_FIELDS = ['content', 'reasoning_content', 'reasoning'] as const;
const TEMPLATE_PROBE = 'oi-template-probe-3f9c';
/**
 * A chunk's text with its one text field cut out: the bytes before and after that field's
 * string value, and the chunk they parse to (which `text` changes in place).
 */
interface ChunkTemplate {
  prefix: string;
  suffix: string;
  field: (typeof TEMPLATE_FIELDS)[number];
  chunk: Chunk & { choices: [{ delta: Record<string, unknown> }] };
}

/**
 * Why: a long answer is hundreds of chunks that differ only in their text (same id, model,
 * created, finish_reason: null), and `JSON.parse` of each was the largest single cost per chunk
 * (BENCHMARKS.md, issue 11). A template is cut from a plain chunk around the string value of
 * its text field and checked once by parsing it with a probe value in that place: the probe
 * must come back as that field and nothing else may change. A later chunk that is the prefix,
 * a value without `"`, `\` or control characters, and the suffix then tokenises exactly as
 * the template with that value in the same string token, so it parses to the template's chunk
 * with that field replaced — which is what it is used as, without parsing.
 */
function cutTemplate(data: string, value: Chunk): ChunkTemplate | undefined {
  const delta = value.choices[0]?.delta as Record<string, unknown> | null | undefined;
  if (isNullish(delta)) return undefined;
  const field = TEMPLATE_FIELDS.find((f) => typeof delta[f] === 'string' && delta[f] !== '');
  if (field === undefined || delta[field] === TEMPLATE_PROBE) return undefined;
  const quoted = JSON.stringify(delta[field]);
  const at = data.lastIndexOf(quoted);
  if (at < 0) return undefined; // the upstream escapes differently: no template
  const prefix = data.slice(0, at + 1);
  const suffix = data.slice(at + quoted.length - 1);
  let probe: unknown;
  try {
    probe = JSON.parse(prefix + TEMPLATE_PROBE + suffix);
  } catch {
    return undefined;
  }
  if (!isPlainChunk(probe)) return undefined;
  const probeDelta = probe.choices[0]?.delta as Record<string, unknown> | null | undefined;
  if (isNullish(probeDelta) || probeDelta[field] !== TEMPLATE_PROBE) return undefined;
  // nothing else moved: with the value put back, the very chunk that was read
  probeDelta[field] = delta[field];
  if (JSON.stringify(probe) !== JSON.stringify(value)) return undefined;
  return { prefix, suffix, field, chunk: probe as ChunkTemplate['chunk'] };
}

/** The value of `data`'s template field when `data` is the template with another value there. */
function templateValue(t: ChunkTemplate, data: string): string | undefined {
  const end = data.length - t.suffix.length;
  // (slices compared with ===: several times faster than startsWith/endsWith on V8 for the
  // sliced strings the SSE parser hands out)
  if (
    end < t.prefix.length ||
    data.slice(0, t.prefix.length) !== t.prefix ||
    data.slice(end) !== t.suffix
  )
    return undefined;
  const value = data.slice(t.prefix.length, end);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x22 /* " */ || c === 0x5c /* \ */) return undefined;
  }
  return value;
}

/** Parts queued before reading the body waits until the reader takes them (backpressure). */
const HIGH_WATER_MARK = 64;

/** Reads the SSE body of a streamed chat completion into AI SDK stream parts. */
export function readChatStream(o: ChatStreamOptions): LanguageModelV3StreamResult['stream'] {
  const { body, signal } = o;
  let ended = false;
  /** Reading waits for the reader (the queue is full). */
  let waiting = false;
  const queue = new PartQueue({
    onDrain: () => {
      if (!waiting) return;
      waiting = false;
      queueMicrotask(onReadable);
    },
    onCancel: (reason) => {
      ended = true;
      body.destroy(reason instanceof Error ? reason : undefined);
    },
  });
  const emit = (part: LanguageModelV3StreamPart) => {
    if (!ended) queue.push(part);
  };

  let finishReason: LanguageModelV3FinishReason | undefined;
  let rawFinishReason: string | undefined;
  let usage: WireUsage | null | undefined;
  let isFirstChunk = true;
  let activeReasoning = false;
  let activeText = false;
  let hasRefusal = false;

  const tracker = new StreamingToolCallTracker(
    { enqueue: emit } as unknown as ConstructorParameters<typeof StreamingToolCallTracker>[0],
    {
      generateId,
      extractMetadata: (delta: ToolCallDelta) => {
        const thoughtSignature = delta.extra_content?.google?.thought_signature;
        return thoughtSignature ? { [o.metadataKey]: { thoughtSignature } } : undefined;
      },
      buildToolCallProviderMetadata: (metadata: SharedV3ProviderMetadata) => metadata,
    } as ConstructorParameters<typeof StreamingToolCallTracker>[1],
  );
  // A call's arguments are held until its name arrives (some servers send the name late).
  const pendingCalls = new Map<
    number,
    { id: string | null; args: string; extra: ToolCallDelta['extra_content'] | null }
  >();
  const forwarded = new Set<number>();
  const toolCallDelta = (d: ToolCallDelta) => {
    const index = d.index;
    if (isNullish(index) || forwarded.has(index)) {
      tracker.processDelta(d as never);
      return;
    }
    let pending = pendingCalls.get(index);
    if (!pending) {
      pending = { id: d.id ?? null, args: '', extra: d.extra_content ?? null };
      pendingCalls.set(index, pending);
    } else {
      if (pending.id === null && !isNullish(d.id)) pending.id = d.id;
      if (pending.extra === null && !isNullish(d.extra_content)) pending.extra = d.extra_content;
    }
    if (!isNullish(d.function.arguments)) pending.args += d.function.arguments;
    const name = d.function.name;
    if (!isNullish(name)) {
      tracker.processDelta({
        index,
        id: pending.id,
        function: { name, arguments: pending.args },
        extra_content: pending.extra ?? undefined,
      } as never);
      pendingCalls.delete(index);
      forwarded.add(index);
    }
  };

  const reasoningDelta = (delta: string) => {
    if (activeText) {
      emit({ type: 'text-end', id: 'txt-0' });
      activeText = false;
    }
    if (!activeReasoning) {
      emit({ type: 'reasoning-start', id: 'reasoning-0' });
      activeReasoning = true;
    }
    emit({ type: 'reasoning-delta', id: 'reasoning-0', delta });
  };
  const textDelta = (delta: string) => {
    if (activeReasoning) {
      emit({ type: 'reasoning-end', id: 'reasoning-0' });
      activeReasoning = false;
    }
    if (!activeText) {
      emit({ type: 'text-start', id: 'txt-0' });
      activeText = true;
    }
    emit({ type: 'text-delta', id: 'txt-0', delta });
  };

  const onChunk = (value: Chunk) => {
    if (isFirstChunk) {
      isFirstChunk = false;
      emit({
        type: 'response-metadata',
        id: value.id ?? undefined,
        modelId: value.model ?? undefined,
        timestamp: isNullish(value.created) ? undefined : new Date(value.created * 1000),
      });
    }
    if (!isNullish(value.usage)) usage = value.usage;
    const choice = value.choices[0];
    if (!isNullish(choice?.finish_reason)) rawFinishReason = choice.finish_reason;
    const delta = choice?.delta;
    if (isNullish(delta)) return;
    const reasoning = delta.reasoning_content ?? delta.reasoning;
    if (reasoning) reasoningDelta(reasoning);
    if (typeof delta.content === 'string') {
      if (delta.content.length > 0) textDelta(delta.content);
    } else {
      for (const part of contentParts(delta.content)) {
        if (part.type === 'reasoning') reasoningDelta(part.text);
        else textDelta(part.text);
      }
    }
    if (typeof delta.refusal === 'string' && delta.refusal.length > 0) {
      hasRefusal = true;
      textDelta(delta.refusal);
    }
    if (delta.tool_calls && delta.tool_calls.length > 0) {
      if (activeReasoning) {
        emit({ type: 'reasoning-end', id: 'reasoning-0' });
        activeReasoning = false;
      }
      for (const d of delta.tool_calls) toolCallDelta(d);
    }
  };

  let template: ChunkTemplate | undefined;
  // A cut costs about three parses: cuts are rationed so that a stream whose chunks never fit a
  // template (its text moves between fields, a field that changes per chunk) pays little.
  let templateCuts = 0;
  let templateHits = 0;
  const onData = (data: string) => {
    if (data === '[DONE]') return;
    if (template !== undefined) {
      const text = templateValue(template, data);
      if (text !== undefined) {
        templateHits += 1;
        template.chunk.choices[0].delta[template.field] = text;
        onChunk(template.chunk);
        return;
      }
    }
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch (err) {
      finishReason = { unified: 'error', raw: undefined };
      emit({ type: 'error', error: new JSONParseError({ text: data, cause: err }) });
      return;
    }
    if (o.includeRawChunks) emit({ type: 'raw', rawValue: value });
    if (isPlainChunk(value)) {
      if (!o.includeRawChunks && templateCuts < 4 + templateHits / 16) {
        templateCuts += 1;
        template = cutTemplate(data, value) ?? template;
      }
    } else {
      const checked = o.chunkSchema.safeParse(value);
      if (!checked.success) {
        finishReason = { unified: 'error', raw: undefined };
        emit({ type: 'error', error: TypeValidationError.wrap({ value, cause: checked.error }) });
        return;
      }
      value = checked.data;
      if ('error' in (value as object)) {
        // the upstream's own error, passed on as data (as the provider does)
        finishReason = { unified: 'error', raw: undefined };
        emit({ type: 'error', error: (value as { error: unknown }).error });
        return;
      }
    }
    onChunk(value as Chunk);
  };

  const finish = () => {
    if (activeReasoning) emit({ type: 'reasoning-end', id: 'reasoning-0' });
    if (activeText) emit({ type: 'text-end', id: 'txt-0' });
    for (const [index, pending] of pendingCalls)
      tracker.processDelta({
        index,
        id: pending.id,
        function: { arguments: pending.args },
      } as never);
    pendingCalls.clear();
    tracker.flush();
    if (rawFinishReason !== undefined)
      finishReason = {
        unified: unifiedFinishReason(rawFinishReason, hasRefusal),
        raw: rawFinishReason,
      };
    if (finishReason === undefined) {
      finishReason = { unified: 'error', raw: undefined };
      emit({
        type: 'error',
        error: new InvalidResponseDataError({
          data: undefined,
          message: 'Response stream ended without a finish reason.',
        }),
      });
    }
    const metadata: Record<string, number> = {};
    const details = usage?.completion_tokens_details;
    if (!isNullish(details?.accepted_prediction_tokens))
      metadata.acceptedPredictionTokens = details.accepted_prediction_tokens;
    if (!isNullish(details?.rejected_prediction_tokens))
      metadata.rejectedPredictionTokens = details.rejected_prediction_tokens;
    emit({
      type: 'finish',
      finishReason,
      usage: o.convertUsage(usage),
      providerMetadata: { [o.metadataKey]: metadata },
    });
  };

  const parser = createParser({ onEvent: (event) => onData(event.data) });

  // undici's body ignores setEncoding: a decoder keeps characters split across chunks whole
  const decoder = new StringDecoder('utf8');
  // The body is read in paused mode: one `read()` takes everything a socket read brought (often
  // hundreds of upstream chunks, each its own HTTP chunk) as one buffer, where 'data' events
  // cost a stream hand-off, a decode and a parser call per chunk. Unread data stays in the
  // body's buffer, whose high-water mark stops the socket (backpressure).
  function onReadable(): void {
    while (!ended) {
      if (queue.size >= HIGH_WATER_MARK) {
        waiting = true; // resumed when the reader takes the queued parts
        return;
      }
      const bytes = body.read() as Buffer | null;
      if (bytes === null) return;
      parser.feed(decoder.write(bytes));
    }
  }
  const onBodyEnd = () => {
    if (ended) return;
    const rest = decoder.end();
    if (rest) parser.feed(rest);
    finish();
    ended = true;
    queue.close();
  };
  const onBodyError = (err: Error) => {
    if (ended) return;
    ended = true;
    // as fetch's body stream reports them: the abort reason, or a TypeError caused by the fault
    queue.error(signal?.aborted ? signal.reason : new TypeError('terminated', { cause: err }));
  };

  queue.push({ type: 'stream-start', warnings: o.warnings });
  body.on('readable', onReadable);
  body.on('end', onBodyEnd);
  body.on('error', onBodyError);
  return queue.toStream();
}

export type { LanguageModelV3CallOptions };
