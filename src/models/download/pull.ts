/**
 * Resumable, verified model downloads.
 *
 * The file is written to `<dest>.partial`; an interrupted download is resumed
 * with an HTTP `Range` request (guarded by `If-Range` with the validator seen
 * first, kept in `<dest>.partial.json`). A server that ignores `Range` (200)
 * restarts the download. The SHA-256 is checked against the given value, or
 * against a Hugging Face-style `x-linked-etag` / `etag` header that holds a
 * 64-hex digest; a mismatch deletes the partial file. On success the partial
 * file is renamed atomically to its final name.
 *
 * A stalled connection fails fast instead of hanging for undici's five-minute
 * defaults: the requests run on their own undici Agent whose connect, headers
 * and body (idle between chunks) timeouts come from `timeouts`. Every failure
 * is a PullError whose message names the host and what happened.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';

export type ProgressCallback = (bytes: number, total: number | undefined) => void;

export interface PullModelOptions {
  url: string;
  destDir: string;
  /** Final file name; default: the last path segment of the URL. */
  fileName?: string;
  /** Expected SHA-256 (hex). When absent, a 64-hex `x-linked-etag` / `etag` header is used if the server sends one. */
  sha256?: string;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /** Default: DEFAULT_DOWNLOAD_TIMEOUTS. */
  timeouts?: Partial<DownloadTimeouts>;
  /** Download again even if the final file exists. */
  force?: boolean;
  /** Extra request headers (e.g. Authorization for gated repositories). */
  headers?: Record<string, string>;
}

export interface PullModelResult {
  path: string;
  bytes: number;
  /** Hex SHA-256 of the file, when it was computed (always for a download). */
  sha256: string | undefined;
  /** How the checksum was verified. */
  verified: 'sha256' | 'etag' | 'none';
  /** Bytes taken from an earlier partial download. */
  resumedFrom: number;
  /** The final file was already there; nothing was downloaded. */
  alreadyPresent: boolean;
}

export interface DownloadTimeouts {
  /** Connecting, and then waiting for the response headers (each request of a redirect chain). */
  connectMs: number;
  /** The body may go this long without a byte before the download is given up (and kept for a resume). */
  idleMs: number;
}

export const DEFAULT_DOWNLOAD_TIMEOUTS: DownloadTimeouts = { connectMs: 30_000, idleMs: 60_000 };

export type PullErrorCode =
  'http' | 'unreachable' | 'timeout' | 'checksum' | 'interrupted' | 'aborted' | 'invalid';

export class PullError extends Error {
  override readonly name = 'PullError';
  constructor(
    message: string,
    readonly code: PullErrorCode,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface PartialMeta {
  url: string;
  validator?: string;
  expectedSha256?: string;
  total?: number;
}

const SHA256_RE = /^[0-9a-f]{64}$/;
const MAX_REDIRECTS = 10;

export function fileNameFromUrl(url: string): string {
  const path = new URL(url).pathname;
  const name = decodeURIComponent(path.split('/').filter(Boolean).pop() ?? '');
  if (!name || name === '.' || name === '..' || name.includes('/') || name.includes('\\')) {
    throw new PullError(`Cannot derive a file name from ${url}; pass fileName`, 'invalid');
  }
  return name;
}

/** Extracts a SHA-256 from an ETag-like header value (`"abc…"`, `W/"abc…"`). */
export function sha256FromEtag(value: string | null | undefined): string | undefined {
  if (!value) return undefined;
  const v = value.trim().replace(/^W\//, '').replace(/^"|"$/g, '').toLowerCase();
  return SHA256_RE.test(v) ? v : undefined;
}

export async function pullModel(options: PullModelOptions): Promise<PullModelResult> {
  const timeouts = { ...DEFAULT_DOWNLOAD_TIMEOUTS, ...options.timeouts };
  const agent = new Agent({
    connectTimeout: timeouts.connectMs,
    headersTimeout: timeouts.connectMs,
    bodyTimeout: timeouts.idleMs,
  });
  try {
    return await pull(options, agent, timeouts);
  } finally {
    // destroy, not close: a stalled socket must not keep the process waiting
    await agent.destroy().catch(() => undefined);
  }
}

async function pull(
  options: PullModelOptions,
  agent: Agent,
  timeouts: DownloadTimeouts,
): Promise<PullModelResult> {
  const fileName = options.fileName ?? fileNameFromUrl(options.url);
  if (fileName.includes('/') || fileName.includes('\\') || fileName === '..' || fileName === '.') {
    throw new PullError(`Invalid file name "${fileName}"`, 'invalid');
  }
  const expectedGiven = options.sha256?.trim().toLowerCase();
  if (expectedGiven !== undefined && !SHA256_RE.test(expectedGiven)) {
    throw new PullError(`Invalid sha256 "${options.sha256}" (expected 64 hex digits)`, 'invalid');
  }
  await mkdir(options.destDir, { recursive: true });
  const finalPath = join(options.destDir, fileName);
  const partialPath = `${finalPath}.partial`;
  const metaPath = `${partialPath}.json`;

  if (!options.force) {
    const existing = await statOrUndefined(finalPath);
    if (existing?.isFile()) {
      if (expectedGiven !== undefined) {
        const actual = await hashFile(finalPath);
        if (actual !== expectedGiven) {
          throw new PullError(
            `${finalPath} exists but its sha256 is ${actual}, expected ${expectedGiven}; ` +
              'delete it or pull with force to download again',
            'checksum',
          );
        }
        return result(finalPath, existing.size, actual, 'sha256', 0, true);
      }
      return result(finalPath, existing.size, undefined, 'none', 0, true);
    }
  }

  // Resume state
  let meta = await readMeta(metaPath);
  let offset = (await statOrUndefined(partialPath))?.size ?? 0;
  if (offset > 0 && meta !== undefined && meta.url !== options.url) {
    offset = 0; // a partial of another URL: start over
    meta = undefined;
  }
  if (offset === 0) await rm(metaPath, { force: true });

  for (let attempt = 0; attempt < 2; attempt++) {
    const headers: Record<string, string> = {
      ...(options.headers ?? {}),
      'accept-encoding': 'identity',
    };
    if (offset > 0) {
      headers.range = `bytes=${offset}-`;
      if (meta?.validator) headers['if-range'] = meta.validator;
    }
    const { response, linkedSha256, finalUrl } = await fetchFollowing(
      agent,
      timeouts,
      options.url,
      headers,
      options.signal,
    );
    const host = new URL(finalUrl).host;

    if (response.status === 416 && offset > 0) {
      // Range not satisfiable: the partial may already be complete.
      const total = parseContentRangeTotal(response.headers.get('content-range'));
      await response.body?.cancel().catch(() => undefined);
      if (total !== undefined && total === offset) {
        return finish(offset, undefined, meta?.expectedSha256 ?? linkedSha256, offset);
      }
      await rm(partialPath, { force: true });
      await rm(metaPath, { force: true });
      offset = 0;
      meta = undefined;
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      throw new PullError(
        `${host} answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''} ` +
          `for ${finalUrl}${statusMeaning(response.status)}`,
        'http',
        response.status,
      );
    }

    let start = 0;
    let total: number | undefined;
    if (response.status === 206) {
      const range = parseContentRange(response.headers.get('content-range'));
      if (range === undefined || range.start !== offset) {
        // Not the range we asked for: start over with a full request.
        await response.body?.cancel().catch(() => undefined);
        await rm(partialPath, { force: true });
        offset = 0;
        meta = undefined;
        continue;
      }
      start = offset;
      total = range.total;
    } else {
      // 200: the server sent the whole file (ignored Range, or the validator changed).
      start = 0;
      const len = response.headers.get('content-length');
      total = len !== null && /^\d+$/.test(len) ? Number(len) : undefined;
    }

    const validator =
      response.headers.get('etag') ?? response.headers.get('last-modified') ?? undefined;
    const headerSha =
      linkedSha256 ??
      sha256FromEtag(response.headers.get('x-linked-etag')) ??
      sha256FromEtag(response.headers.get('etag'));
    const expected = expectedGiven ?? (start > 0 ? (meta?.expectedSha256 ?? headerSha) : headerSha);
    const newMeta: PartialMeta = {
      url: options.url,
      ...(validator ? { validator } : {}),
      ...(expected ? { expectedSha256: expected } : {}),
      ...(total !== undefined ? { total } : {}),
    };
    await writeFile(metaPath, JSON.stringify(newMeta));

    const hash = createHash('sha256');
    if (start > 0) await hashInto(hash, partialPath, start);
    const out = createWriteStream(partialPath, start > 0 ? { flags: 'r+', start } : { flags: 'w' });
    let bytes = start;
    options.onProgress?.(bytes, total);
    try {
      if (response.body === null)
        throw new PullError(`Empty response body from ${finalUrl}`, 'http', response.status);
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        hash.update(value);
        await write(out, value);
        bytes += value.byteLength;
        options.onProgress?.(bytes, total);
      }
    } catch (err) {
      await closeStream(out);
      if (options.signal?.aborted) {
        throw new PullError(
          `Download aborted after ${bytes} bytes; run the pull again to resume`,
          'aborted',
          undefined,
          {
            cause: err,
          },
        );
      }
      if (err instanceof PullError) throw err;
      const received = `${bytes}${total !== undefined ? ` of ${total}` : ''} bytes`;
      if (causeCode(err) === 'UND_ERR_BODY_TIMEOUT') {
        throw new PullError(
          `The download from ${host} stalled: no data for ${seconds(timeouts.idleMs)} after ` +
            `${received}; run the pull again to resume from ${partialPath}`,
          'timeout',
          undefined,
          { cause: err },
        );
      }
      throw new PullError(
        `The download from ${host} was interrupted after ${received} (${errorMessage(err)}); ` +
          `run the pull again to resume from ${partialPath}`,
        'interrupted',
        undefined,
        { cause: err },
      );
    }
    await closeStream(out);
    if (total !== undefined && bytes !== total) {
      throw new PullError(
        `The download from ${host} ended after ${bytes} of ${total} bytes; run the pull again to resume`,
        'interrupted',
      );
    }
    return finish(bytes, hash.digest('hex'), expected, start);
  }
  throw new PullError(`The server did not honour the resume request for ${options.url}`, 'http');

  async function finish(
    bytes: number,
    digest: string | undefined,
    expected: string | undefined,
    resumedFrom: number,
  ): Promise<PullModelResult> {
    const actual = digest ?? (expected !== undefined ? await hashFile(partialPath) : undefined);
    if (expected !== undefined && actual !== expected) {
      await rm(partialPath, { force: true });
      await rm(metaPath, { force: true });
      throw new PullError(
        `Checksum mismatch for ${fileName} from ${new URL(options.url).host}: expected sha256 ` +
          `${expected}, got ${actual}; the download was deleted`,
        'checksum',
      );
    }
    await rename(partialPath, finalPath);
    await rm(metaPath, { force: true });
    return result(
      finalPath,
      bytes,
      actual,
      expected === undefined ? 'none' : expectedGiven ? 'sha256' : 'etag',
      resumedFrom,
      false,
    );
  }
}

function result(
  path: string,
  bytes: number,
  sha256: string | undefined,
  verified: PullModelResult['verified'],
  resumedFrom: number,
  alreadyPresent: boolean,
): PullModelResult {
  return { path, bytes, sha256, verified, resumedFrom, alreadyPresent };
}

/**
 * fetch with manual redirects, so that a digest announced on a redirect
 * (Hugging Face sends `x-linked-etag` on the 302 to its CDN) is not lost.
 * Authorization headers are not forwarded to another origin.
 */
async function fetchFollowing(
  agent: Agent,
  timeouts: DownloadTimeouts,
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal | undefined,
): Promise<{ response: Response; linkedSha256: string | undefined; finalUrl: string }> {
  let current = url;
  let linked: string | undefined;
  const origin = new URL(url).origin;
  for (let i = 0; i <= MAX_REDIRECTS; i++) {
    const sameOrigin = new URL(current).origin === origin;
    const h = { ...headers };
    if (!sameOrigin) delete h.authorization;
    let response: Response;
    try {
      // undici's own fetch: the global one may come from another undici version than the Agent
      response = (await undiciFetch(current, {
        headers: h,
        redirect: 'manual',
        dispatcher: agent,
        ...(signal ? { signal } : {}),
      })) as unknown as Response;
    } catch (err) {
      if (signal?.aborted)
        throw new PullError('Download aborted', 'aborted', undefined, { cause: err });
      throw requestFailure(err, current, timeouts);
    }
    linked ??= sha256FromEtag(response.headers.get('x-linked-etag'));
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel().catch(() => undefined);
      current = new URL(location, current).toString();
      continue;
    }
    return { response, linkedSha256: linked, finalUrl: current };
  }
  throw new PullError(`Too many redirects for ${url}`, 'http');
}

/** A request that got no response: says which host, and what went wrong in words. */
function requestFailure(err: unknown, url: string, timeouts: DownloadTimeouts): PullError {
  const host = new URL(url).host;
  const code = causeCode(err);
  const wait = seconds(timeouts.connectMs);
  if (code === 'UND_ERR_CONNECT_TIMEOUT')
    return new PullError(`Could not connect to ${host} within ${wait}`, 'timeout', undefined, {
      cause: err,
    });
  if (code === 'UND_ERR_HEADERS_TIMEOUT')
    return new PullError(
      `${host} accepted the connection but sent no response within ${wait}`,
      'timeout',
      undefined,
      { cause: err },
    );
  const reason =
    code === 'ECONNREFUSED'
      ? 'connection refused'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? 'host name not found'
        : errorMessage(err);
  return new PullError(`Cannot reach ${host}: ${reason}`, 'unreachable', undefined, {
    cause: err,
  });
}

function statusMeaning(status: number): string {
  if (status === 404) return ' (no such file there: check the reference and the hub endpoint)';
  if (status === 401 || status === 403)
    return ' (access denied: the repository may be gated or private)';
  if (status === 429) return ' (rate limited: try again later)';
  if (status >= 500) return ' (a server-side failure: try again later)';
  return '';
}

/** The first `code` along an error's cause chain (undici nests its errors in `cause`). */
function causeCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

function parseContentRange(
  value: string | null,
): { start: number; end: number; total: number | undefined } | undefined {
  const m = value?.match(/^bytes (\d+)-(\d+)\/(\d+|\*)$/);
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

function parseContentRangeTotal(value: string | null): number | undefined {
  const m = value?.match(/\/(\d+)$/);
  return m ? Number(m[1]) : undefined;
}

async function readMeta(path: string): Promise<PartialMeta | undefined> {
  try {
    const v = JSON.parse(await readFile(path, 'utf8')) as PartialMeta;
    return typeof v.url === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  await hashInto(hash, path);
  return hash.digest('hex');
}

async function hashInto(hash: Hash, path: string, length?: number): Promise<void> {
  const stream = createReadStream(path, length !== undefined ? { start: 0, end: length - 1 } : {});
  for await (const chunk of stream) hash.update(chunk as Buffer);
}

function write(out: WriteStream, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}

function closeStream(out: WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (out.closed) return resolve();
    out.end(() => resolve());
    out.once('error', () => resolve());
  });
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}
