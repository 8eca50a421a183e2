import type {
  LanguageModelV3CallOptions,
  LanguageModelV3Message,
  LanguageModelV3StreamPart,
  SharedV3ProviderMetadata,
} from '@ai-sdk/provider';
import { mergeProviderMetadata } from './provider-signature.js';
import { partBatchesOf } from '../models/part-batches.js';
import type { ResolvedModel } from '../models/types.js';
import type { JsonObject } from '../protocol/types.js';
import { newCallId } from './ids.js';
import type { StepWriter } from './step-writer.js';
import { OutputFormatError } from './structured-output.js';
import type { UsageMeter } from './usage.js';

type AssistantPart = Extract<LanguageModelV3Message, { role: 'assistant' }>['content'][number];

/** A call of a server-run (built-in) tool, to be executed by the engine. */
export interface BuiltInCall {
  toolName: string;
  args: JsonObject;
}

export interface RoundResult {
  finishReason?: string;
  /** Client function calls recorded as `function_call` steps. */
  functionCalls: number;
  builtInCalls: BuiltInCall[];
  /** What the model said this round, as prompt parts (for the next round of a tool loop). */
  assistantParts: AssistantPart[];
}

export interface RoundOptions {
  model: ResolvedModel;
  call: LanguageModelV3CallOptions;
  writer: StepWriter;
  meter: UsageMeter;
  signal: AbortSignal;
  /** Function names that belong to built-in tools: their calls are not client function calls. */
  isBuiltIn: (toolName: string) => boolean;
  validateCall?: (name: string, args: JsonObject) => void;
  onWarning: (warning: unknown) => void;
  /** The model's text is progress, not the answer: it is written as thought (agent rounds). */
  textAsThought?: boolean;
}

export function parseArguments(input: string, toolName: string): JsonObject {
  let parsed: unknown;
  try {
    parsed = input.trim() === '' ? {} : JSON.parse(input);
  } catch {
    throw new OutputFormatError(
      `the model produced invalid JSON arguments for function '${toolName}'`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new OutputFormatError(
      `the model produced non-object arguments for function '${toolName}'`,
    );
  }
  return parsed as JsonObject;
}

/**
 * One model call: maps the AI SDK stream parts onto steps as they arrive (text → model_output,
 * reasoning → thought, client tool calls → function_call with arguments_delta) and collects the
 * built-in tool calls for the engine to run.
 */
export async function runModelRound(o: RoundOptions): Promise<RoundResult> {
  const { writer, signal } = o;
  const result: RoundResult = { functionCalls: 0, builtInCalls: [], assistantParts: [] };
  const streamed = new Map<string, boolean>(); // upstream tool id → is built-in
  let text = '';
  let reasoning = '';
  let reasoningMetadata: SharedV3ProviderMetadata | undefined;
  const flushText = () => {
    if (reasoning || reasoningMetadata) {
      result.assistantParts.push({
        type: 'reasoning',
        text: reasoning,
        ...(reasoningMetadata ? { providerOptions: reasoningMetadata } : {}),
      });
    }
    if (text) result.assistantParts.push({ type: 'text', text });
    text = '';
    reasoning = '';
    reasoningMetadata = undefined;
  };

  const onPart = (part: LanguageModelV3StreamPart): void => {
    switch (part.type) {
      case 'reasoning-start':
        writer.start({ type: 'thought' });
        return;
      case 'reasoning-delta':
        // the writer joins the chunks: one summary item per thought (closed on reasoning-end)
        writer.reasoning(part.delta);
        reasoning += part.delta;
        reasoningMetadata = mergeProviderMetadata(reasoningMetadata, part.providerMetadata);
        writer.noteThoughtMetadata(part.providerMetadata);
        return;
      case 'reasoning-end':
        reasoningMetadata = mergeProviderMetadata(reasoningMetadata, part.providerMetadata);
        writer.noteThoughtMetadata(part.providerMetadata);
        if (writer.openType === 'thought') writer.stop();
        return;
      case 'text-delta':
        if (o.textAsThought) writer.reasoning(part.delta);
        else writer.text(part.delta);
        text += part.delta;
        return;
      case 'tool-input-start': {
        const builtIn = o.isBuiltIn(part.toolName);
        streamed.set(part.id, builtIn);
        if (!builtIn) writer.functionCall(newCallId(), part.toolName);
        return;
      }
      case 'tool-input-delta':
        if (streamed.get(part.id) === false && writer.openType === 'function_call' && part.delta) {
          writer.delta({ type: 'arguments_delta', arguments: part.delta });
        }
        return;
      case 'tool-call': {
        const args = parseArguments(part.input, part.toolName);
        if (o.isBuiltIn(part.toolName)) {
          result.builtInCalls.push({ toolName: part.toolName, args });
          return;
        }
        o.validateCall?.(part.toolName, args);
        result.functionCalls += 1;
        if (!streamed.has(part.toolCallId)) {
          writer.functionCall(newCallId(), part.toolName);
          writer.delta({ type: 'arguments_delta', arguments: JSON.stringify(args) });
        }
        writer.stop();
        return;
      }
      case 'finish':
        o.meter.add(part.usage);
        result.finishReason = part.finishReason.unified;
        return;
      case 'stream-start':
        // e.g. a sampling or thinking setting this backend ignores
        for (const warning of part.warnings) o.onWarning(warning);
        return;
      case 'error':
        throw part.error;
      default:
        return;
    }
  };

  const { stream } = await o.model.model.doStream(o.call);
  // A model that hands its parts over in batches (part-batches.ts) is read that way: one await
  // per batch instead of one per part; any other is read as the ReadableStream it is, a part
  // at a time.
  const batches = partBatchesOf(stream);
  const reader = batches ? undefined : stream.getReader();
  const nextBatch = batches
    ? () => batches.next()
    : async () => {
        const { done, value } = await reader!.read();
        return done ? null : [value as LanguageModelV3StreamPart];
      };
  const cancel = batches ? () => batches.cancel() : () => void reader!.cancel().catch(() => {});
  // (a flag: `signal.aborted` is a getter with checks, read here once per part)
  let aborted = signal.aborted;
  const onAbort = () => {
    aborted = true;
    cancel();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  let finished = false;
  try {
    for (;;) {
      if (aborted) throw signal.reason;
      const batch = await nextBatch();
      if (batch === null) {
        finished = true;
        break;
      }
      for (const part of batch) {
        if (aborted) throw signal.reason;
        onPart(part);
      }
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    // A round that ends early (bad tool arguments, a refused `validated` call, an error part)
    // stops the backend too: a local model would otherwise decode on to its token limit.
    if (!finished) cancel();
  }
  if (signal.aborted) throw signal.reason;
  flushText();
  return result;
}
