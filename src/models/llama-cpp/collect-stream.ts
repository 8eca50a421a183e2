import type {
  LanguageModelV3Content,
  LanguageModelV3FinishReason,
  LanguageModelV3GenerateResult,
  LanguageModelV3StreamPart,
  LanguageModelV3Usage,
  SharedV3Warning,
} from '@ai-sdk/provider';

/** Reads a model stream to its end and returns what `doGenerate` returns (without `request`). */
export async function collectStream(
  stream: ReadableStream<LanguageModelV3StreamPart>,
): Promise<Omit<LanguageModelV3GenerateResult, 'request'>> {
  const content: LanguageModelV3Content[] = [];
  let finishReason: LanguageModelV3FinishReason = { unified: 'other', raw: undefined };
  let usage: LanguageModelV3Usage | undefined;
  let warnings: SharedV3Warning[] = [];
  let providerMetadata: LanguageModelV3GenerateResult['providerMetadata'];
  let responseMeta: { id?: string; timestamp?: Date; modelId?: string } = {};
  const open = new Map<string, { type: 'text' | 'reasoning'; text: string }>();
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    switch (value.type) {
      case 'stream-start':
        warnings = value.warnings;
        break;
      case 'response-metadata':
        responseMeta = { id: value.id, timestamp: value.timestamp, modelId: value.modelId };
        break;
      case 'text-start':
        open.set(value.id, { type: 'text', text: '' });
        break;
      case 'reasoning-start':
        open.set(value.id, { type: 'reasoning', text: '' });
        break;
      case 'text-delta':
      case 'reasoning-delta': {
        const block = open.get(value.id);
        if (block) block.text += value.delta;
        break;
      }
      case 'text-end':
      case 'reasoning-end': {
        const block = open.get(value.id);
        open.delete(value.id);
        if (block && block.text !== '') content.push({ type: block.type, text: block.text });
        break;
      }
      case 'tool-call':
        content.push(value);
        break;
      case 'finish':
        finishReason = value.finishReason;
        usage = value.usage;
        providerMetadata = value.providerMetadata;
        break;
      case 'error':
        throw value.error;
      default:
        break;
    }
  }
  return {
    content,
    finishReason,
    usage: usage ?? emptyUsage(),
    warnings,
    response: responseMeta,
    ...(providerMetadata ? { providerMetadata } : {}),
  };
}

function emptyUsage(): LanguageModelV3Usage {
  return {
    inputTokens: {
      total: undefined,
      noCache: undefined,
      cacheRead: undefined,
      cacheWrite: undefined,
    },
    outputTokens: { total: undefined, text: undefined, reasoning: undefined },
  };
}
