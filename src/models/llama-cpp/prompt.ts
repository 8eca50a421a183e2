/**
 * Maps a LanguageModelV3 prompt onto node-llama-cpp's chat history, which the
 * GGUF's chat wrapper (template) then renders into tokens.
 *
 * - system → `{type: 'system'}`
 * - user (text parts, text/* files) → `{type: 'user'}`
 * - assistant + following tool messages → one `{type: 'model'}` item whose
 *   `response` holds text, thought segments (reasoning parts) and function
 *   calls with their results attached (that is how node-llama-cpp represents
 *   a tool round-trip inside one model turn).
 *
 * When the prompt ends with a user message an empty model response is
 * appended (the turn to generate). When it ends with an assistant or tool
 * message, the last model response is continued (after tool results, the
 * model keeps going in the same turn, as LlamaChatSession does).
 */
import type {
  LanguageModelV3Prompt,
  LanguageModelV3ToolResultOutput,
  SharedV3Warning,
} from '@ai-sdk/provider';
import type {
  ChatHistoryItem,
  ChatModelFunctionCall,
  ChatModelResponse,
  ChatModelSegment,
  LlamaTextJSON,
} from 'node-llama-cpp';

export const PROVIDER_KEY = 'llama-cpp';

export interface PromptConversion {
  history: ChatHistoryItem[];
  warnings: SharedV3Warning[];
}

/** Looks up the raw text of a tool call this backend generated earlier. */
export type RawCallLookup = (toolCallId: string) => LlamaTextJSON | undefined;

export function toChatHistory(
  prompt: LanguageModelV3Prompt,
  lookupRawCall: RawCallLookup = () => undefined,
): PromptConversion {
  const history: ChatHistoryItem[] = [];
  const warnings: SharedV3Warning[] = [];
  const warned = new Set<string>();
  const warn = (feature: string, details?: string) => {
    if (warned.has(feature)) return;
    warned.add(feature);
    warnings.push({ type: 'unsupported', feature, ...(details ? { details } : {}) });
  };

  // Function calls waiting for their results, by tool call id.
  const pendingCalls = new Map<string, ChatModelFunctionCall>();
  let currentModel: ChatModelResponse | undefined;

  const modelItem = (): ChatModelResponse => {
    if (currentModel === undefined) {
      currentModel = { type: 'model', response: [] };
      history.push(currentModel);
    }
    return currentModel;
  };

  for (const message of prompt) {
    switch (message.role) {
      case 'system': {
        currentModel = undefined;
        history.push({ type: 'system', text: message.content });
        break;
      }
      case 'user': {
        currentModel = undefined;
        const texts: string[] = [];
        for (const part of message.content) {
          if (part.type === 'text') texts.push(part.text);
          else if (part.type === 'file') {
            const text = fileAsText(part.mediaType, part.data);
            if (text !== undefined) texts.push(text);
            else
              warn(
                'file-part',
                `file parts of type ${part.mediaType} are not supported by llama-cpp and were dropped`,
              );
          }
        }
        const text = texts.join('\n');
        // Two user messages in a row are merged: chat templates expect turns
        // to alternate.
        const last = history[history.length - 1];
        if (last?.type === 'user') last.text = last.text === '' ? text : `${last.text}\n\n${text}`;
        else history.push({ type: 'user', text });
        break;
      }
      case 'assistant': {
        const item = modelItem();
        for (const part of message.content) {
          switch (part.type) {
            case 'text':
              if (part.text === '') break;
              appendText(item, part.text);
              break;
            case 'reasoning': {
              if (part.text === '') break;
              const segment: ChatModelSegment = {
                type: 'segment',
                segmentType: 'thought',
                text: part.text,
                ended: true,
              };
              item.response.push(segment);
              break;
            }
            case 'tool-call': {
              const call: ChatModelFunctionCall = {
                type: 'functionCall',
                name: part.toolName,
                params: parseInput(part.input),
                result: undefined,
              };
              const raw =
                rawCallFromOptions(part.providerOptions) ?? lookupRawCall(part.toolCallId);
              if (raw !== undefined) call.rawCall = raw;
              item.response.push(call);
              pendingCalls.set(part.toolCallId, call);
              break;
            }
            case 'tool-result': {
              attachResult(part.toolCallId, part.toolName, part.output);
              break;
            }
            case 'file':
              warn(
                'file-part',
                'assistant file parts are not supported by llama-cpp and were dropped',
              );
              break;
          }
        }
        break;
      }
      case 'tool': {
        modelItem();
        for (const part of message.content) {
          if (part.type === 'tool-result')
            attachResult(part.toolCallId, part.toolName, part.output);
          else warn('tool-approval-response', 'tool approval responses are ignored by llama-cpp');
        }
        break;
      }
    }
  }

  function attachResult(
    toolCallId: string,
    toolName: string,
    output: LanguageModelV3ToolResultOutput,
  ) {
    const result = toolOutputToValue(output);
    const call = pendingCalls.get(toolCallId);
    if (call !== undefined) {
      call.result = result;
      pendingCalls.delete(toolCallId);
      return;
    }
    // A result without a matching call in this prompt: render it as a call
    // with unknown parameters so the model still sees it.
    modelItem().response.push({ type: 'functionCall', name: toolName, params: {}, result });
  }

  const last = history[history.length - 1];
  if (last === undefined || last.type !== 'model') history.push({ type: 'model', response: [] });
  return { history, warnings };
}

function appendText(item: ChatModelResponse, text: string) {
  const prev = item.response[item.response.length - 1];
  if (typeof prev === 'string') item.response[item.response.length - 1] = prev + text;
  else item.response.push(text);
}

function parseInput(input: unknown): unknown {
  if (typeof input !== 'string') return input ?? {};
  try {
    return JSON.parse(input);
  } catch {
    return input;
  }
}

function rawCallFromOptions(
  providerOptions: Record<string, Record<string, unknown>> | undefined,
): LlamaTextJSON | undefined {
  const raw = providerOptions?.[PROVIDER_KEY]?.rawCall;
  return Array.isArray(raw) || typeof raw === 'string' ? (raw as LlamaTextJSON) : undefined;
}

export function toolOutputToValue(output: LanguageModelV3ToolResultOutput): unknown {
  switch (output.type) {
    case 'text':
      return output.value;
    case 'json':
      return output.value;
    case 'error-text':
      return { error: output.value };
    case 'error-json':
      return { error: output.value };
    case 'execution-denied':
      return {
        error: 'Tool execution denied',
        ...(output.reason ? { reason: output.reason } : {}),
      };
    case 'content': {
      const texts: string[] = [];
      for (const item of output.value) {
        if (item.type === 'text') texts.push(item.text);
        else texts.push(`[${item.type} omitted]`);
      }
      return texts.join('\n');
    }
  }
}

function fileAsText(mediaType: string, data: unknown): string | undefined {
  const textual =
    mediaType.startsWith('text/') ||
    mediaType === 'application/json' ||
    mediaType === 'application/xml' ||
    mediaType.endsWith('+json') ||
    mediaType.endsWith('+xml');
  if (!textual) return undefined;
  if (data instanceof Uint8Array) return new TextDecoder().decode(data);
  if (typeof data === 'string') {
    try {
      return Buffer.from(data, 'base64').toString('utf8');
    } catch {
      return undefined;
    }
  }
  return undefined; // URLs are not fetched
}
