import {
  APICallError,
  type LanguageModelV3,
  type LanguageModelV3CallOptions,
  type LanguageModelV3StreamResult,
  type LanguageModelV3Usage,
  type SharedV3Warning,
} from '@ai-sdk/provider';
import { request, type Dispatcher } from 'undici';
import { readChatStream, type ChunkSchema, type WireUsage } from './chat-stream.js';

/*
 * The `openai-compatible` backend's chat model: the AI SDK provider's model, with its streaming
 * call made directly (undici.request + chat-stream.ts) instead of through fetch and web streams.
 *
 * What is the provider's and stays so: the request body (prompt conversion, tools, response
 * format, structured outputs, reasoning effort, `stream_options`), the URL and headers, the
 * error answers (its JSON error handler makes the same `APICallError` with status and body),
 * the chunk schema for any chunk the cheap check does not vouch for, the usage conversion, and
 * `doGenerate` entirely. Those are members the provider keeps private in its types; they are
 * looked up once here and checked at construction, so a provider version without them fails
 * when the server starts, not on a request; package.json pins the provider's exact version for
 * the same reason (test/models/openai-compatible-direct.test.ts compares both paths).
 */

interface ProviderInternals {
  getArgs(options: LanguageModelV3CallOptions): Promise<{
    args: Record<string, unknown>;
    warnings: SharedV3Warning[];
    metadataKey: string;
  }>;
  config: {
    url(o: { path: string; modelId: string }): string;
    headers(): Record<string, string | undefined>;
    includeUsage?: boolean;
    transformRequestBody?: unknown;
    metadataExtractor?: unknown;
  };
  chunkSchema: ChunkSchema;
  failedResponseHandler(o: {
    response: Response;
    url: string;
    requestBodyValues: unknown;
  }): Promise<{ value: Error }>;
  convertUsage(usage: WireUsage | null | undefined): LanguageModelV3Usage;
}

function internalsOf(model: LanguageModelV3): ProviderInternals {
  const m = model as unknown as ProviderInternals;
  if (
    typeof m.getArgs !== 'function' ||
    typeof m.config?.url !== 'function' ||
    typeof m.config.headers !== 'function' ||
    typeof m.failedResponseHandler !== 'function' ||
    typeof m.convertUsage !== 'function' ||
    typeof m.chunkSchema?.safeParse !== 'function' ||
    m.config.transformRequestBody !== undefined ||
    m.config.metadataExtractor !== undefined
  )
    throw new Error(
      'the installed @ai-sdk/openai-compatible does not have the members the direct streaming path uses',
    );
  return m;
}

/** fetch treats any abort-like rejection as the signal's reason; so does this path. */
function abortReason(signal: AbortSignal | undefined, err: unknown): unknown {
  return signal?.aborted ? signal.reason : err;
}

export class DirectOpenAICompatibleChatModel implements LanguageModelV3 {
  readonly specificationVersion = 'v3';
  private readonly internals: ProviderInternals;

  constructor(
    /** The provider's chat model (`createOpenAICompatible(…).chatModel(id)`). */
    private readonly inner: LanguageModelV3,
    private readonly dispatcher?: Dispatcher,
  ) {
    this.internals = internalsOf(inner);
  }

  get provider(): string {
    return this.inner.provider;
  }

  get modelId(): string {
    return this.inner.modelId;
  }

  get supportedUrls(): LanguageModelV3['supportedUrls'] {
    return this.inner.supportedUrls;
  }

  doGenerate(options: LanguageModelV3CallOptions): ReturnType<LanguageModelV3['doGenerate']> {
    return this.inner.doGenerate(options);
  }

  async doStream(options: LanguageModelV3CallOptions): Promise<LanguageModelV3StreamResult> {
    const p = this.internals;
    const { args, warnings, metadataKey } = await p.getArgs({ ...options });
    const body = {
      ...args,
      stream: true,
      stream_options: p.config.includeUsage ? { include_usage: true } : undefined,
    };
    const url = p.config.url({ path: '/chat/completions', modelId: this.modelId });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    for (const source of [p.config.headers(), options.headers ?? {}])
      for (const [k, v] of Object.entries(source))
        if (v !== undefined) headers[k.toLowerCase()] = v;
    const signal = options.abortSignal;
    if (signal?.aborted) throw signal.reason;

    let answer: Dispatcher.ResponseData;
    try {
      answer = await request(url, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal,
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      // as the provider reports a request that got no answer (a retryable APICallError)
      throw new APICallError({
        message: `Cannot connect to API: ${(err as Error).message}`,
        cause: err,
        url,
        requestBodyValues: body,
        isRetryable: true,
      });
    }
    const responseHeaders: Record<string, string> = {};
    for (const [k, v] of Object.entries(answer.headers))
      if (v !== undefined) responseHeaders[k] = Array.isArray(v) ? v.join(', ') : v;

    if (answer.statusCode < 200 || answer.statusCode > 299) {
      // Error answers are rare: the provider's own handler reads them (same error, same message).
      let text: string;
      try {
        text = await answer.body.text();
      } catch (err) {
        throw abortReason(signal, err);
      }
      const noBody = answer.statusCode === 204 || answer.statusCode === 304;
      const response = new Response(noBody ? null : text, {
        status: answer.statusCode,
        statusText: answer.statusText ?? '',
        headers: responseHeaders,
      });
      const { value } = await p.failedResponseHandler({ response, url, requestBodyValues: body });
      throw value;
    }

    const stream = readChatStream({
      body: answer.body,
      warnings,
      metadataKey,
      chunkSchema: p.chunkSchema,
      convertUsage: (usage) => p.convertUsage(usage),
      includeRawChunks: options.includeRawChunks,
      signal,
    });
    return { stream, request: { body }, response: { headers: responseHeaders } };
  }
}
