/**
 * One error family for the whole server. Each code maps to exactly one HTTP status and RPC
 * status name (the table below); the API edge turns an `ApiError` into the wire envelope.
 */

export const ERROR_CODES = {
  invalid_request: { http: 400, status: 'INVALID_ARGUMENT' },
  failed_precondition: { http: 400, status: 'FAILED_PRECONDITION' },
  unauthenticated: { http: 401, status: 'UNAUTHENTICATED' },
  permission_denied: { http: 403, status: 'PERMISSION_DENIED' },
  not_found: { http: 404, status: 'NOT_FOUND' },
  method_not_allowed: { http: 405, status: 'UNIMPLEMENTED' },
  request_timeout: { http: 408, status: 'DEADLINE_EXCEEDED' },
  payload_too_large: { http: 413, status: 'INVALID_ARGUMENT' },
  unsupported_media_type: { http: 415, status: 'INVALID_ARGUMENT' },
  resource_exhausted: { http: 429, status: 'RESOURCE_EXHAUSTED' },
  internal_error: { http: 500, status: 'INTERNAL' },
  not_implemented: { http: 501, status: 'UNIMPLEMENTED' },
  unavailable: { http: 503, status: 'UNAVAILABLE' },
  gateway_timeout: { http: 504, status: 'DEADLINE_EXCEEDED' },
  cancelled: { http: 499, status: 'CANCELLED' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

const BRAND = Symbol.for('open-interactions.error');

export class ApiError extends Error {
  readonly [BRAND] = true;
  readonly code: ErrorCode;
  /** Seconds a client should wait before retrying (429/503). */
  readonly retryAfter?: number;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { retryAfter?: number; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ApiError';
    this.code = code;
    this.retryAfter = options?.retryAfter;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }

  get rpcStatus(): string {
    return ERROR_CODES[this.code].status;
  }

  static isInstance(value: unknown): value is ApiError {
    return typeof value === 'object' && value !== null && BRAND in value;
  }
}

export const invalid = (message: string) => new ApiError('invalid_request', message);
export const notFound = (message: string) => new ApiError('not_found', message);
export const preconditionFailed = (message: string) => new ApiError('failed_precondition', message);

/** Formats a JSON path like `input[2].call_id`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}
