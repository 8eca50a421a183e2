import { ApiError, ERROR_CODES, type ErrorCode } from '../protocol/errors.js';

/** Google serves Files, FileSearchStores and Operations with RPC-shaped errors (spec §1.7). */
const RPC_SHAPED =
  /^(?:\/upload)?\/v1(?:beta)?\/(?:files|fileSearchStores|operations|models)(?:[/:?]|$)/;

/**
 * The error envelope (spec §1.7): `{code: "not_found", status, message}` everywhere, including
 * unknown routes; the Google RPC shape (`code` = the HTTP status number) only on the paths Google
 * answers that way, so a client of those APIs sees what it would see from Google.
 */
export function errorEnvelope(err: ApiError, path: string): { status: number; body: object } {
  const status = err.httpStatus;
  const code = RPC_SHAPED.test(path) ? status : err.code;
  return { status, body: { error: { code, status: err.rpcStatus, message: err.message } } };
}

/** Maps Fastify's own errors (body parsing, limits) onto ours. */
export function fromFrameworkError(err: {
  code?: string;
  statusCode?: number;
  message: string;
}): ApiError {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(
        'payload_too_large',
        'body: request body is larger than the configured limit',
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('unsupported_media_type', 'content-type: unsupported media type');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError('invalid_request', 'content-length: does not match the body');
    case 'FST_ERR_BAD_URL':
      return new ApiError('invalid_request', 'path: malformed URL');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ApiError(
        'invalid_request',
        'path: a path parameter is longer than the server accepts',
      );
  }
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code = (Object.keys(ERROR_CODES) as ErrorCode[]).find(
      (c) => ERROR_CODES[c].http === status,
    );
    return new ApiError(code ?? 'invalid_request', err.message);
  }
  return new ApiError('internal_error', 'internal error');
}
