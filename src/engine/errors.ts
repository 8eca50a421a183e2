/**
 * How a failed run is reported. A failure is classified by what it is — the AI SDK's error types
 * and `APICallError.statusCode`, Node/undici error codes along the `cause` chain, abort reasons,
 * our own branded errors — never by its message text, and each class of fault maps to one API
 * code (the table below, like `protocol/errors.ts`).
 *
 * Tenants get a message this server wrote, naming the backend, the fault and the request id; the
 * upstream's own words (which may echo credentials, or name its address) go only to the log,
 * scrubbed (scrub.ts), as `detail`.
 */
import {
  APICallError,
  EmptyResponseBodyError,
  InvalidResponseDataError,
  JSONParseError,
  TypeValidationError,
} from '@ai-sdk/provider';
import { LocalModelError } from '../models/errors.js';
import { ApiError, type ErrorCode } from '../protocol/errors.js';
import type { Scrubber } from './scrub.js';

export type StopReason =
  | 'cancelled'
  | 'deadline'
  | 'client_gone'
  | 'shutdown'
  | 'store_failed'
  /** A graceful stop gives a background run back to the run queue: no terminal state here. */
  | 'handoff';

/** Why a run was aborted; set as the AbortController's reason. */
export class RunAbort extends Error {
  constructor(readonly reason: StopReason) {
    super(`run aborted: ${reason}`);
  }
}

/** What went wrong between the server and a model backend, and what a client is told. */
export const FAULTS = {
  /** No connection: refused, unknown host, no route, TLS refused. */
  unreachable: { code: 'unavailable', says: () => 'is unreachable' },
  /** The connection broke before the answer was complete. */
  dropped: {
    code: 'unavailable',
    says: () => 'closed the connection before its answer was complete',
  },
  /** An answer that does not follow the backend's protocol (bad JSON, no finish). */
  malformed: { code: 'unavailable', says: () => 'sent an answer that could not be read' },
  timed_out: { code: 'gateway_timeout', says: () => 'timed out' },
  rate_limited: {
    code: 'resource_exhausted',
    says: (status?: number) => `is rate limited (HTTP ${status ?? 429})`,
  },
  /** A server error of the backend, or an error it reported inside its answer. */
  failed: {
    code: 'unavailable',
    says: (status?: number) =>
      status === undefined ? 'reported an error' : `failed (HTTP ${status})`,
  },
  /** The backend found the request itself invalid. */
  rejected: {
    code: 'invalid_request',
    says: (status?: number) => `rejected the request (HTTP ${status})`,
  },
  /** The backend refused this server's credentials or model name: the operator's to fix. */
  misconfigured: {
    code: 'internal_error',
    says: (status?: number) => `rejected the request (HTTP ${status})`,
  },
  /** Anything not recognised: a bug here or an unknown failure. */
  internal: { code: 'internal_error', says: () => 'failed' },
} as const satisfies Record<string, { code: ErrorCode; says: (status?: number) => string }>;

export type Fault = keyof typeof FAULTS;

/** Node's and undici's error codes (found anywhere along the `cause` chain). */
const CODE_FAULTS: Readonly<Record<string, Fault>> = {
  ECONNREFUSED: 'unreachable',
  ENOTFOUND: 'unreachable',
  EAI_AGAIN: 'unreachable',
  EHOSTUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
  ENETUNREACH: 'unreachable',
  ENETDOWN: 'unreachable',
  EADDRNOTAVAIL: 'unreachable',
  CERT_HAS_EXPIRED: 'unreachable',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'unreachable',
  SELF_SIGNED_CERT_IN_CHAIN: 'unreachable',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unreachable',
  ERR_TLS_CERT_ALTNAME_INVALID: 'unreachable',
  ECONNRESET: 'dropped',
  ECONNABORTED: 'dropped',
  EPIPE: 'dropped',
  ERR_STREAM_PREMATURE_CLOSE: 'dropped',
  UND_ERR_SOCKET: 'dropped',
  UND_ERR_CLOSED: 'dropped',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'dropped',
  ETIMEDOUT: 'timed_out',
  UND_ERR_CONNECT_TIMEOUT: 'timed_out',
  UND_ERR_HEADERS_TIMEOUT: 'timed_out',
  UND_ERR_BODY_TIMEOUT: 'timed_out',
};

/** Error types known by name only (DOMException has no class of its own per kind). */
const NAME_FAULTS: Readonly<Record<string, Fault>> = {
  TimeoutError: 'timed_out', // AbortSignal.timeout()
};

/** A backend's HTTP status (of an error answer). */
function statusFault(status: number): Fault {
  if (status === 408 || status === 504) return 'timed_out';
  if (status === 429) return 'rate_limited';
  if (status === 401 || status === 403 || status === 404) return 'misconfigured';
  if (status >= 500) return 'failed';
  if (status >= 400) return 'rejected';
  // an error with a 1xx-3xx status: the answer arrived but could not be used
  return 'malformed';
}

const FAULT_BRAND = Symbol.for('open-interactions.backend-fault');

/** A fault the engine notices itself in a backend's answer (an `error` finish, say). */
export class BackendFault extends Error {
  readonly [FAULT_BRAND] = true;

  constructor(
    readonly fault: Fault,
    message: string,
  ) {
    super(message);
    this.name = 'BackendFault';
  }

  static isInstance(value: unknown): value is BackendFault {
    return typeof value === 'object' && value !== null && FAULT_BRAND in value;
  }
}

/** The first Node/undici code or known error type along the `cause` chain. */
function causeFault(err: unknown): Fault | undefined {
  let node: unknown = err;
  for (let depth = 0; depth < 8 && typeof node === 'object' && node !== null; depth++) {
    const { code, name, errors, cause } = node as {
      code?: unknown;
      name?: unknown;
      errors?: unknown;
      cause?: unknown;
    };
    if (typeof code === 'string' && CODE_FAULTS[code]) return CODE_FAULTS[code];
    if (typeof name === 'string' && NAME_FAULTS[name]) return NAME_FAULTS[name];
    // a connection attempt to several addresses fails with an AggregateError
    if (Array.isArray(errors)) {
      for (const inner of errors) {
        const fault = causeFault(inner);
        if (fault) return fault;
      }
    }
    node = cause;
  }
  return undefined;
}

/** Classifies a failure of a model backend (see the file comment). */
export function classifyRunError(err: unknown): { fault: Fault; status?: number } {
  if (BackendFault.isInstance(err)) return { fault: err.fault };
  if (APICallError.isInstance(err)) {
    const status = err.statusCode;
    if (status !== undefined && status >= 300) return { fault: statusFault(status), status };
    // No answer at all, or a 2xx whose body broke off or could not be parsed.
    return { fault: causeFault(err.cause) ?? (status === undefined ? 'unreachable' : 'malformed') };
  }
  const fromCause = causeFault(err);
  if (fromCause) return { fault: fromCause };
  if (
    JSONParseError.isInstance(err) ||
    TypeValidationError.isInstance(err) ||
    InvalidResponseDataError.isInstance(err) ||
    EmptyResponseBodyError.isInstance(err)
  ) {
    return { fault: 'malformed' };
  }
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number') return { fault: statusFault(status), status };
  // Providers pass an error the upstream sent inside its stream on as plain data.
  if (!(err instanceof Error)) return { fault: 'failed' };
  return { fault: 'internal' };
}

export interface RunFailure {
  /** An API error code, or a run-specific one such as `invalid_model_output`. */
  code: ErrorCode | 'invalid_model_output';
  /** What the tenant sees (stored in `errors[]` and sent as the `error` event). */
  message: string;
  fault?: Fault;
  /** The failure as the backend described it, scrubbed: for the log only. */
  detail?: string;
}

const MAX_DETAIL = 4000;

/** Every level of the `cause` chain, with the status, URL and body of an `APICallError`. */
function describeChain(err: unknown): string {
  const lines: string[] = [];
  let node: unknown = err;
  for (let depth = 0; depth < 8 && node !== undefined && node !== null; depth++) {
    if (!(node instanceof Error)) {
      let text: string;
      try {
        text = typeof node === 'string' ? node : JSON.stringify(node);
      } catch {
        text = String(node);
      }
      lines.push(text);
      break;
    }
    const { code } = node as { code?: unknown };
    let line = `${node.name}${typeof code === 'string' || typeof code === 'number' ? ` [${code}]` : ''}: ${node.message}`;
    if (APICallError.isInstance(node)) {
      line += ` (${node.statusCode !== undefined ? `HTTP ${node.statusCode} ` : ''}from ${node.url})`;
      if (node.responseBody) line += `; response body: ${node.responseBody}`;
    }
    lines.push(line);
    node = node.cause;
  }
  return lines.join(' <- caused by ');
}

export interface DescribeOptions {
  /** The model entry's name (e.g. `gemini-*`), which tenants may know. */
  backend: string;
  requestId?: string;
  /** Clears secrets and addresses from the detail that goes to the log. */
  scrubber: Scrubber;
}

/** Maps whatever a backend threw onto the API's error vocabulary: a safe message, and a scrubbed detail. */
export function describeRunError(err: unknown, o: DescribeOptions): RunFailure {
  if (ApiError.isInstance(err)) return { code: err.code, message: err.message };
  const { fault, status } = classifyRunError(err);
  const { code } = FAULTS[fault];
  const scrubbed = o.scrubber.scrub(describeChain(err));
  const detail =
    scrubbed.length > MAX_DETAIL ? `${scrubbed.slice(0, MAX_DETAIL)}… (truncated)` : scrubbed;
  // A local model's refusals are written here (queue full, prompt too long): they help the client.
  if (LocalModelError.isInstance(err)) {
    return { code, message: `model backend '${o.backend}': ${err.message}`, fault, detail };
  }
  const where = o.requestId
    ? `see the server log, request id ${o.requestId}`
    : 'see the server log';
  return {
    code,
    message: `model backend '${o.backend}' ${FAULTS[fault].says(status)}; ${where}`,
    fault,
    detail,
  };
}
