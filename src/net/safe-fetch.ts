import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { request } from 'undici';
import { pinnedAgent } from './pinned-agent.js';
import {
  bareHost,
  checkUrl,
  UnsafeUrlError,
  type AddressPolicy,
  type HostResolver,
  type ResolvedAddress,
} from './address-policy.js';

/**
 * A GET that is safe to point at URLs chosen by a model or a user (design §4): every hop's host
 * is resolved here, every resolved address is checked against the address policy
 * (`address-policy.ts`), and the connection goes to the checked
 * address (the agent's `lookup` only answers from what was checked, so a second DNS answer can
 * never be used — no DNS rebinding). Redirects are followed by hand and re-checked; the body is
 * capped in bytes and the whole exchange in time.
 */

export interface SafeFetchOptions extends AddressPolicy {
  /** Body cap in bytes (after content decoding); more is not read and `truncated` is set. */
  maxBytes: number;
  /** Deadline for the whole exchange, redirects and body included. */
  timeoutMs: number;
  /** Redirects to follow (default 5). */
  maxRedirects?: number;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** Extra CA certificates (PEM) to trust for https, e.g. an intranet CA. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** DNS resolver; default `dns.lookup` with `all: true`. */
  resolve?: HostResolver;
}

export interface SafeFetchResponse {
  status: number;
  /** The final URL, after redirects. */
  url: string;
  /** The `content-type` header as sent ('' when absent). */
  contentType: string;
  headers: Record<string, string>;
  body: Buffer;
  /** True when the body was longer than `maxBytes` and was cut. */
  truncated: boolean;
  /** Every URL requested, in order (the first is the one asked for). */
  hops: string[];
}

export type FetchFailureKind =
  'invalid_url' | 'dns' | 'network' | 'timeout' | 'aborted' | 'too_many_redirects' | 'bad_redirect';

export class FetchFailedError extends Error {
  readonly url: string;
  readonly kind: FetchFailureKind;

  constructor(url: string, kind: FetchFailureKind, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FetchFailedError';
    this.url = url;
    this.kind = kind;
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const UNDICI_TIMEOUTS = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);
/** Headers not carried to another origin on a redirect. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);

/**
 * Checks one hop under the address policy and returns the addresses to connect to (never
 * empty). Throws UnsafeUrlError / FetchFailedError.
 */
async function checkHop(
  url: URL,
  options: SafeFetchOptions,
  signal: AbortSignal,
): Promise<ResolvedAddress[]> {
  try {
    return await untilAborted(checkUrl(url, options, options.resolve), signal);
  } catch (error) {
    if (error instanceof UnsafeUrlError || signal.aborted) throw error;
    const host = bareHost(url.hostname);
    throw new FetchFailedError(
      url.href,
      'dns',
      `could not resolve ${host}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** `promise`, or a rejection with the abort reason as soon as `signal` aborts (DNS can't be cancelled). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}

/** Fetches `url` with GET under the policy above. */
export async function safeFetch(
  url: string,
  options: SafeFetchOptions,
): Promise<SafeFetchResponse> {
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    throw new FetchFailedError(url, 'invalid_url', `not a valid URL: ${url}`);
  }
  const maxRedirects = options.maxRedirects ?? 5;
  const deadline = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;

  /** Host → the checked addresses; the only answers the agent's lookup gives. */
  const pinned = new Map<string, ResolvedAddress[]>();
  const agent = pinnedAgent(pinned, { connections: 4, ca: options.ca });

  const failure = (href: string, error: unknown): Error => {
    if (error instanceof UnsafeUrlError || error instanceof FetchFailedError) return error;
    if (options.signal?.aborted) {
      return new FetchFailedError(href, 'aborted', 'fetch cancelled', { cause: error });
    }
    if (deadline.aborted) {
      return new FetchFailedError(href, 'timeout', `timed out after ${options.timeoutMs} ms`, {
        cause: error,
      });
    }
    const err = error as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
    const code = err.code ?? err.cause?.code;
    if (code !== undefined && UNDICI_TIMEOUTS.has(code)) {
      return new FetchFailedError(href, 'timeout', `timed out after ${options.timeoutMs} ms`, {
        cause: error,
      });
    }
    const detail = err.message || String(error);
    return new FetchFailedError(
      href,
      'network',
      code && !detail.includes(code) ? `${detail} (${code})` : detail,
      { cause: error },
    );
  };

  const hops: string[] = [];
  const headers: Record<string, string> = {
    'user-agent': 'Mozilla/5.0 (compatible; OpenInteractions/0.1; url fetcher)',
    accept: '*/*',
    'accept-encoding': 'gzip, deflate, br',
    ...lowerKeys(options.headers ?? {}),
  };
  try {
    for (let redirects = 0; ; redirects++) {
      current.username = '';
      current.password = '';
      current.hash = '';
      hops.push(current.href);
      let res: Awaited<ReturnType<typeof request>>;
      try {
        const addresses = await checkHop(current, options, signal);
        pinned.set(bareHost(current.hostname).toLowerCase(), addresses);
        signal.throwIfAborted();
        res = await request(current, {
          method: 'GET',
          headers,
          dispatcher: agent,
          signal,
          headersTimeout: options.timeoutMs,
          bodyTimeout: options.timeoutMs,
        });
      } catch (error) {
        throw failure(current.href, error);
      }
      const location = header(res.headers, 'location');
      if (REDIRECTS.has(res.statusCode) && location) {
        discard(res.body);
        if (redirects >= maxRedirects) {
          throw new FetchFailedError(
            current.href,
            'too_many_redirects',
            `more than ${maxRedirects} redirects`,
          );
        }
        let next: URL;
        try {
          next = new URL(location, current);
        } catch {
          throw new FetchFailedError(
            current.href,
            'bad_redirect',
            `redirect to an invalid URL: ${location}`,
          );
        }
        if (next.origin !== current.origin) {
          for (const key of Object.keys(headers)) {
            if (CREDENTIAL_HEADERS.has(key)) delete headers[key];
          }
        }
        current = next;
        continue;
      }
      let body: { data: Buffer; truncated: boolean };
      try {
        body = await readCapped(
          res.body,
          header(res.headers, 'content-encoding'),
          options.maxBytes,
          signal,
        );
      } catch (error) {
        throw failure(current.href, error);
      }
      const flat: Record<string, string> = {};
      for (const [key, value] of Object.entries(res.headers)) {
        if (value !== undefined) flat[key] = Array.isArray(value) ? value.join(', ') : value;
      }
      return {
        status: res.statusCode,
        url: current.href,
        contentType: header(res.headers, 'content-type') ?? '',
        headers: flat,
        body: body.data,
        truncated: body.truncated,
        hops,
      };
    }
  } finally {
    await agent.destroy().catch(() => undefined);
  }
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) out[key.toLowerCase()] = value;
  return out;
}

function header(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Drops a response body; its late 'error' (an abort, by design) must not go unhandled. */
function discard(stream: Readable): void {
  stream.on('error', () => undefined);
  stream.destroy();
}

/** Reads at most `maxBytes` (decoded) bytes, then stops reading and drops the connection. */
async function readCapped(
  raw: Readable,
  encoding: string | undefined,
  maxBytes: number,
  signal: AbortSignal,
): Promise<{ data: Buffer; truncated: boolean }> {
  let stream: Readable = raw;
  const coding = encoding?.trim().toLowerCase();
  if (coding === 'gzip' || coding === 'x-gzip' || coding === 'deflate' || coding === 'br') {
    const decoder =
      coding === 'br'
        ? createBrotliDecompress()
        : coding === 'deflate'
          ? createInflate()
          : createGunzip();
    raw.on('error', (error) => decoder.destroy(error));
    raw.pipe(decoder);
    stream = decoder;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  const onAbort = () =>
    stream.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of stream) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      const room = maxBytes - size;
      if (buf.length > room) {
        if (room > 0) chunks.push(buf.subarray(0, room));
        size += Math.max(room, 0);
        truncated = true;
        break;
      }
      chunks.push(buf);
      size += buf.length;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (stream !== raw) discard(stream);
    discard(raw);
  }
  return { data: Buffer.concat(chunks, size), truncated };
}
