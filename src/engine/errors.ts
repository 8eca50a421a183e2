import { APICallError } from '@ai-sdk/provider';
import { ApiError, type ErrorCode } from '../protocol/errors.js';

export type StopReason = 'cancelled' | 'deadline' | 'client_gone' | 'shutdown' | 'store_failed';

/** Why a run was aborted; set as the AbortController's reason. */
export class RunAbort extends Error {
  constructor(readonly reason: StopReason) {
    super(`run aborted: ${reason}`);
  }
}

export interface RunFailure {
  /** An API error code, or a run-specific one such as `invalid_model_output`. */
  code: ErrorCode | 'invalid_model_output';
  message: string;
}

function causeCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Maps whatever a backend threw onto the API's error vocabulary, with a message that names the backend. */
export function describeRunError(err: unknown, backend: string): RunFailure {
  if (ApiError.isInstance(err)) return { code: err.code, message: err.message };
  if (APICallError.isInstance(err)) {
    const status = err.statusCode;
    const detail = err.message.slice(0, 500);
    if (status === undefined) {
      return {
        code: 'unavailable',
        message: `model backend '${backend}' is unreachable: ${detail}`,
      };
    }
    if (status === 429)
      return {
        code: 'resource_exhausted',
        message: `model backend '${backend}' is rate limited: ${detail}`,
      };
    if (status === 408 || status === 504)
      return {
        code: 'gateway_timeout',
        message: `model backend '${backend}' timed out: ${detail}`,
      };
    if (status >= 500)
      return {
        code: 'unavailable',
        message: `model backend '${backend}' failed (HTTP ${status}): ${detail}`,
      };
    return {
      code: 'invalid_request',
      message: `model backend '${backend}' rejected the request (HTTP ${status}): ${detail}`,
    };
  }
  const sys = causeCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (
    sys &&
    /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|EPIPE|UND_ERR)/.test(sys)
  ) {
    return {
      code: 'unavailable',
      message: `model backend '${backend}' stopped responding (${sys}): ${message}`,
    };
  }
  if (/terminated|socket|fetch failed|network/i.test(message)) {
    return {
      code: 'unavailable',
      message: `model backend '${backend}' stopped responding: ${message}`,
    };
  }
  const statusCode = (err as { statusCode?: unknown }).statusCode;
  if (statusCode === 503 || statusCode === 429) {
    return {
      code: statusCode === 503 ? 'unavailable' : 'resource_exhausted',
      message: `model backend '${backend}' is busy: ${message}`,
    };
  }
  return { code: 'internal_error', message: `model backend '${backend}' failed: ${message}` };
}
