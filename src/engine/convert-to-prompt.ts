import type {
  LanguageModelV3FilePart,
  LanguageModelV3Message,
  LanguageModelV3Prompt,
  LanguageModelV3TextPart,
  LanguageModelV3ToolResultOutput,
} from '@ai-sdk/provider';
import type { FileInputs } from '../files/file-service.js';
import type { Content, JsonValue, Step } from '../protocol/types.js';
import { decodeProviderSignature } from './provider-signature.js';

type AssistantPart = Extract<LanguageModelV3Message, { role: 'assistant' }>['content'][number];
type ToolPart = Extract<LanguageModelV3Message, { role: 'tool' }>['content'][number];
type UserPart = LanguageModelV3TextPart | LanguageModelV3FilePart;

const DEFAULT_MEDIA_TYPE: Record<string, string> = {
  image: 'image/png',
  audio: 'audio/wav',
  video: 'video/mp4',
  document: 'application/pdf',
};

function convertContent(content: Content, files?: FileInputs): UserPart {
  if (content.type === 'text') return { type: 'text', text: content.text };
  const stored = content.uri !== undefined ? files?.get(content.uri) : undefined;
  if (stored === null) {
    // A file an earlier turn used has expired or was deleted: say so rather than send nothing.
    return { type: 'text', text: `[${content.type} ${content.uri} is no longer available]` };
  }
  if (stored) {
    // Files API URIs are ours: the backend gets the bytes, never our (keyed) URL.
    return {
      type: 'file',
      mediaType: content.mime_type ?? stored.mimeType,
      data: stored.data,
      ...(stored.displayName !== undefined ? { filename: stored.displayName } : {}),
    };
  }
  const mediaType =
    content.mime_type ?? DEFAULT_MEDIA_TYPE[content.type] ?? 'application/octet-stream';
  const data = content.data !== undefined ? content.data : new URL(content.uri!);
  return { type: 'file', mediaType, data };
}

function convertResult(result: JsonValue, isError: boolean): LanguageModelV3ToolResultOutput {
  if (typeof result === 'string') return { type: isError ? 'error-text' : 'text', value: result };
  if (Array.isArray(result)) {
    const items = result as unknown as Content[];
    return {
      type: 'content',
      value: items.map((item) =>
        item.type === 'text'
          ? { type: 'text' as const, text: item.text }
          : item.data !== undefined
            ? {
                type: 'file-data' as const,
                data: item.data,
                mediaType: item.mime_type ?? DEFAULT_MEDIA_TYPE[item.type]!,
              }
            : { type: 'file-url' as const, url: item.uri!, mediaType: item.mime_type },
      ),
    };
  }
  return { type: isError ? 'error-json' : 'json', value: result };
}

/** Built-in tool steps (`google_search_call`, …) are shown to the model as calls of that tool. */
function builtInToolName(type: string): string {
  return type.replace(/_(call|result)$/, '');
}

/**
 * Converts the conversation (ancestors' steps, then this turn's input steps) into the AI SDK's
 * prompt: consecutive model steps become one assistant message, results one tool message.
 * `files` holds the bytes of the Files API URIs the steps name (loaded before the run).
 */
export function convertToPrompt(
  steps: Step[],
  systemInstruction?: string,
  files?: FileInputs,
): LanguageModelV3Prompt {
  const prompt: LanguageModelV3Prompt = [];
  if (systemInstruction) prompt.push({ role: 'system', content: systemInstruction });
  const callNames = new Map<string, string>();

  const assistant = (): AssistantPart[] => {
    const last = prompt[prompt.length - 1];
    if (last?.role === 'assistant') return last.content;
    const message = { role: 'assistant' as const, content: [] as AssistantPart[] };
    prompt.push(message);
    return message.content;
  };
  const tool = (): ToolPart[] => {
    const last = prompt[prompt.length - 1];
    if (last?.role === 'tool') return last.content;
    const message = { role: 'tool' as const, content: [] as ToolPart[] };
    prompt.push(message);
    return message.content;
  };

  for (const step of steps) {
    switch (step.type) {
      case 'user_input': {
        const content = (step.content ?? []).map((c) => convertContent(c, files));
        if (content.length > 0) prompt.push({ role: 'user', content });
        break;
      }
      case 'model_output':
        for (const c of step.content ?? []) {
          const part = convertContent(c, files);
          if (part.type === 'text' && part.text === '') continue;
          assistant().push(part);
        }
        break;
      case 'thought': {
        const { providerOptions, reasoning } = decodeProviderSignature(step.signature);
        const summary = (step.summary ?? []).map((c) => (c.type === 'text' ? c.text : '')).join('');
        const text = summary || reasoning || '';
        if (text || providerOptions) {
          assistant().push({
            type: 'reasoning',
            text,
            ...(providerOptions ? { providerOptions } : {}),
          });
        }
        break;
      }
      case 'function_call':
        callNames.set(step.id, step.name);
        assistant().push({
          type: 'tool-call',
          toolCallId: step.id,
          toolName: step.name,
          input: step.arguments,
        });
        break;
      case 'function_result':
        tool().push({
          type: 'tool-result',
          toolCallId: step.call_id,
          toolName: step.name ?? callNames.get(step.call_id) ?? 'function',
          output: convertResult(step.result as JsonValue, step.is_error === true),
        });
        break;
      default: {
        const name = builtInToolName(step.type);
        if (step.type.endsWith('_call') && typeof step.id === 'string') {
          const args = (step as Record<string, unknown>).arguments ?? {};
          callNames.set(step.id, name);
          assistant().push({ type: 'tool-call', toolCallId: step.id, toolName: name, input: args });
        } else if (typeof step.call_id === 'string') {
          const result = ((step as Record<string, unknown>).result ?? '') as JsonValue;
          tool().push({
            type: 'tool-result',
            toolCallId: step.call_id,
            toolName: callNames.get(step.call_id) ?? name,
            output: convertResult(result, step.is_error === true),
          });
        }
      }
    }
  }
  return prompt;
}
