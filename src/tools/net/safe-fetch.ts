import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import tls from 'node:tls';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import ipaddr from 'ipaddr.js';
import { Agent, request } from 'undici';

/**
 * A GET that is safe to point at URLs chosen by a model or a user (design §4): every hop's host
 * is resolved here, every resolved address is checked, and the connection goes to the checked
 * address (the agent's `lookup` only answers from what was checked, so a second DNS answer can
 * never be used — no DNS rebinding). Redirects are followed by hand and re-checked; the body is
 * capped in bytes and the whole exchange in time.
 */

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to all its addresses (tests inject one to simulate public hosts). */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export interface SafeFetchOptions {
  /** Allow every address (loopback, private, metadata …). Only http/https are ever fetched. */
  allowPrivate?: boolean;
  /**
   * Hosts that may resolve to non-public addresses (an intranet wiki, a test server): `host`,
   * `host:port` or `*.suffix`. Cloud metadata addresses stay refused unless `allowPrivate`.
   */
  allowedHosts?: string[];
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

export class UnsafeUrlError extends Error {
  readonly url: string;
  /** Why: `scheme`, or the address range (`loopback`, `private`, `metadata`, …). */
  readonly reason: string;
  readonly address?: string;

  constructor(url: string, reason: string, message: string, address?: string) {
    super(message);
    this.name = 'UnsafeUrlError';
    this.url = url;
    this.reason = reason;
    this.address = address;
  }
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

/** Addresses of cloud metadata services (some of them are ordinary public unicast addresses). */
const METADATA_ADDRESSES = new Set([
  '169.254.169.254', // AWS, GCP, Azure, OpenStack, …
  '169.254.170.2', // AWS ECS task metadata
  '168.63.129.16', // Azure wire server
  '100.100.100.200', // Alibaba Cloud
  'fd00:ec2::254', // AWS over IPv6
]);

/** IPv6 global unicast is 2000::/3; everything outside it is special in one way or another. */
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');

/**
 * Classifies an IP address: `'public'` when a fetch may go there, else the name of the range
 * that makes it non-public (`loopback`, `private`, `linkLocal`, `uniqueLocal`, `carrierGradeNat`,
 * `multicast`, `unspecified`, `metadata`, `reserved`, …). IPv4-mapped IPv6 is judged as IPv4.
 */
export function classifyAddress(address: string): string {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.process(address);
  } catch {
    return 'invalid';
  }
  const normal = parsed.toNormalizedString();
  if (METADATA_ADDRESSES.has(normal) || METADATA_ADDRESSES.has(parsed.toString())) {
    return 'metadata';
  }
  const range = parsed.range();
  if (range !== 'unicast') return range;
  if (parsed.kind() === 'ipv6' && !(parsed as ipaddr.IPv6).match(GLOBAL_UNICAST_V6)) {
    return 'reserved';
  }
  return 'public';
}

/** Whether `url`'s host is named by one of the `allowedHosts` patterns. */
export function hostAllowed(url: URL, allowedHosts: readonly string[] | undefined): boolean {
  if (!allowedHosts || allowedHosts.length === 0) return false;
  const host = bareHost(url.hostname).toLowerCase().replace(/\.$/, '');
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  for (const raw of allowedHosts) {
    let pattern = raw.trim().toLowerCase();
    let patternPort: string | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(pattern);
    if (bracketed) {
      pattern = bracketed[1]!;
      patternPort = bracketed[2];
    } else if (/^[^:]+:\d+$/.test(pattern)) {
      const at = pattern.lastIndexOf(':');
      patternPort = pattern.slice(at + 1);
      pattern = pattern.slice(0, at);
    }
    if (patternPort !== undefined && patternPort !== port) continue;
    pattern = pattern.replace(/\.$/, '');
    if (pattern.startsWith('*.')) {
      if (host.endsWith(pattern.slice(1))) return true;
    } else if (pattern === host) {
      return true;
    } else if (isIP(pattern) && isIP(host) && sameAddress(pattern, host)) {
      return true;
    }
  }
  return false;
}

function sameAddress(a: string, b: string): boolean {
  try {
    return ipaddr.process(a).toNormalizedString() === ipaddr.process(b).toNormalizedString();
  } catch {
    return false;
  }
}

/** `[::1]` → `::1`. */
function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

const defaultResolve: HostResolver = async (hostname) => {
  const answers = await dnsLookup(hostname, { all: true, verbatim: true });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const UNDICI_TIMEOUTS = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);
/** Headers not carried to another origin on a redirect. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);

/**
 * Checks one hop: the scheme, then every address the host resolves to. Returns the addresses to
 * connect to (never empty). Throws UnsafeUrlError / FetchFailedError.
 */
async function checkHop(
  url: URL,
  options: SafeFetchOptions,
  signal: AbortSignal,
): Promise<ResolvedAddress[]> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UnsafeUrlError(
      url.href,
      'scheme',
      `refused ${url.protocol.replace(/:$/, '')} URL: only http and https can be fetched`,
    );
  }
  const host = bareHost(url.hostname);
  let addresses: ResolvedAddress[];
  const family = isIP(host);
  if (family !== 0) {
    addresses = [{ address: host, family: family === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await untilAborted((options.resolve ?? defaultResolve)(host), signal);
    } catch (error) {
      if (signal.aborted) throw error;
      throw new FetchFailedError(
        url.href,
        'dns',
        `could not resolve ${host}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (addresses.length === 0) {
      throw new FetchFailedError(url.href, 'dns', `could not resolve ${host}: no addresses`);
    }
  }
  if (options.allowPrivate) return addresses;
  const hostIsAllowed = hostAllowed(url, options.allowedHosts);
  for (const { address } of addresses) {
    const range = classifyAddress(address);
    if (range === 'public') continue;
    if (hostIsAllowed && range !== 'metadata' && range !== 'invalid') continue;
    // The resolved address stays out of the message (it may describe an internal network).
    const message =
      family !== 0
        ? `refused ${host}: ${describeRange(range)} addresses are not fetched`
        : `refused ${host}: it resolves to a ${describeRange(range)} address, which is not fetched`;
    throw new UnsafeUrlError(url.href, range, message, address);
  }
  return addresses;
}

function describeRange(range: string): string {
  switch (range) {
    case 'loopback':
      return 'loopback';
    case 'private':
      return 'private-network';
    case 'linkLocal':
      return 'link-local';
    case 'uniqueLocal':
      return 'unique-local';
    case 'carrierGradeNat':
      return 'carrier-grade NAT';
    case 'metadata':
      return 'cloud metadata';
    default:
      return range;
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
  const agent = new Agent({
    connect: {
      ...(options.ca !== undefined
        ? { ca: [...tls.rootCertificates, ...[options.ca].flat()] }
        : {}),
      lookup: (
        hostname: string,
        lookupOptions: LookupOptions,
        callback: (
          err: NodeJS.ErrnoException | null,
          address: string | LookupAddress[],
          family?: number,
        ) => void,
      ) => {
        const addresses = pinned.get(bareHost(hostname).toLowerCase());
        if (!addresses || addresses.length === 0) {
          const err: NodeJS.ErrnoException = new Error(`${hostname} was not checked`);
          err.code = 'ENOTFOUND';
          callback(err, '');
          return;
        }
        const wanted = lookupOptions.family === 4 || lookupOptions.family === 6;
        const usable = wanted
          ? addresses.filter((a) => a.family === lookupOptions.family)
          : addresses;
        const list = usable.length > 0 ? usable : addresses;
        if (lookupOptions.all) callback(null, list);
        else callback(null, list[0]!.address, list[0]!.family);
      },
    },
    connections: 4,
    pipelining: 0,
  });

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
