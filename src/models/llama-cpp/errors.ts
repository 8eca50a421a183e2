import { LocalModelError } from '../errors.js';

/** The queue of waiting requests is full: HTTP 503, retryable. */
export function overloadedError(
  modelId: string,
  maxSequences: number,
  maxQueue: number,
): LocalModelError {
  return new LocalModelError({
    message:
      `llama-cpp model "${modelId}" is overloaded: ${maxSequences} request(s) running and ` +
      `${maxQueue} waiting (the queue is full). Retry later.`,
    url: `llama-cpp://${modelId}`,
    requestBodyValues: undefined,
    statusCode: 503,
    isRetryable: true,
    responseHeaders: { 'retry-after': '1' },
  });
}

/** The prompt does not fit in one sequence's context window: HTTP 400, not retryable. */
export function promptTooLongError(
  modelId: string,
  promptTokens: number,
  contextSize: number,
): LocalModelError {
  return new LocalModelError({
    message:
      `The prompt has ${promptTokens} tokens, which does not fit the context window of ` +
      `${contextSize} tokens per sequence of llama-cpp model "${modelId}" ` +
      `(raise contextSize, up to the model's training context).`,
    url: `llama-cpp://${modelId}`,
    requestBodyValues: undefined,
    statusCode: 400,
    isRetryable: false,
  });
}

/** A request this backend cannot serve as given: HTTP 400, not retryable. */
export function invalidRequestError(modelId: string, message: string): LocalModelError {
  return new LocalModelError({
    message,
    url: `llama-cpp://${modelId}`,
    requestBodyValues: undefined,
    statusCode: 400,
    isRetryable: false,
  });
}

/** The model instance was disposed while the request waited or ran. */
export function disposedError(modelId: string): LocalModelError {
  return new LocalModelError({
    message: `llama-cpp model "${modelId}" was disposed`,
    url: `llama-cpp://${modelId}`,
    requestBodyValues: undefined,
    statusCode: 503,
    isRetryable: true,
  });
}

export function abortReason(signal: AbortSignal | undefined): unknown {
  const reason: unknown = signal?.reason;
  if (reason !== undefined) return reason;
  const err = new Error('The operation was aborted');
  err.name = 'AbortError';
  return err;
}
