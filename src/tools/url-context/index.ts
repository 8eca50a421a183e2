import { z } from 'zod';
import {
  createDocumentParser,
  DocumentError,
  type DocumentParser,
  type ParsedDocument,
} from '../../documents/index.js';
import type { JsonObject } from '../../protocol/types.js';
import { parseWith } from '../../protocol/validate.js';
import { UnsafeUrlError, type HostResolver } from '../../net/address-policy.js';
import { FetchFailedError, safeFetch } from '../../net/safe-fetch.js';
import type {
  BuiltInTool,
  ToolCallOutcome,
  ToolDeclaration,
  ToolSession,
  ToolSource,
} from '../types.js';

export { extractUrls } from './urls.js';

export type UrlStatus = 'success' | 'error' | 'paywall' | 'unsafe';

export interface UrlContextOptions {
  /** Fetch loopback/private/link-local/metadata addresses too (default false). */
  allowPrivate?: boolean;
  /** Hosts that may resolve to private addresses (`host`, `host:port`, `*.suffix`). */
  allowedHosts?: string[];
  /** Body cap per URL (default 1 MiB). */
  maxBytes?: number;
  /** Time limit per URL, redirects included (default 10 s). */
  timeoutMs?: number;
  /** URLs one call may fetch (default 20); further ones are reported as errors. */
  maxUrls?: number;
  /** Redirects followed per URL (default 5). */
  maxRedirects?: number;
  /** Characters of one document shown to the model (default 20 000). */
  maxCharsPerUrl?: number;
  /** Characters of all documents of one call shown to the model (default 100 000). */
  maxTotalChars?: number;
  /** URLs fetched at once (default 4). */
  concurrency?: number;
  userAgent?: string;
  /** Time cap for reading one document (default 10 s); the parser process is stopped. */
  parseTimeoutMs?: number;
  /** Memory cap of one parser process, in MB (default 256). */
  parseMemoryMb?: number;
  /** Parser processes at once (default 2). */
  parseWorkers?: number;
  /** Documents waiting for a parser (default 16); more are reported as errors. */
  parseQueue?: number;
  /**
   * A document parser to share (then its owner closes it); by default the tool starts its own
   * with the limits above and closes it in `close()`.
   */
  documentParser?: DocumentParser;
  /** DNS resolver override (tests). */
  resolve?: HostResolver;
}

/**
 * Operator config (`tools.url_context` in the server config, snake_case). `urlContextOptions`
 * turns a parsed value into the factory's options.
 */
export const urlContextConfigSchema = z.strictObject({
  allow_private: z.boolean().default(false),
  allowed_hosts: z.array(z.string().min(1)).default([]),
  max_bytes: z
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  timeout_seconds: z.number().positive().default(10),
  max_urls: z.number().int().min(1).max(100).default(20),
  max_redirects: z.number().int().min(0).max(20).default(5),
  max_chars_per_url: z.number().int().positive().default(20_000),
  max_total_chars: z.number().int().positive().default(100_000),
  concurrency: z.number().int().min(1).max(32).default(4),
  user_agent: z.string().min(1).optional(),
  // the document parser's limits; its defaults apply when unset (10 s, 256 MB, 2, 16)
  parse_timeout_seconds: z.number().positive().optional(),
  parse_memory_mb: z.number().int().min(64).max(16_384).optional(),
  parse_workers: z.number().int().min(1).max(32).optional(),
  parse_queue: z.number().int().min(0).max(1_000).optional(),
});
export type UrlContextConfig = z.output<typeof urlContextConfigSchema>;

/** Parsed operator config → factory options. */
export function urlContextOptions(config: UrlContextConfig): UrlContextOptions {
  return {
    allowPrivate: config.allow_private,
    allowedHosts: config.allowed_hosts,
    maxBytes: config.max_bytes,
    timeoutMs: Math.round(config.timeout_seconds * 1000),
    maxUrls: config.max_urls,
    maxRedirects: config.max_redirects,
    maxCharsPerUrl: config.max_chars_per_url,
    maxTotalChars: config.max_total_chars,
    concurrency: config.concurrency,
    ...(config.user_agent !== undefined ? { userAgent: config.user_agent } : {}),
    ...(config.parse_timeout_seconds !== undefined
      ? { parseTimeoutMs: Math.round(config.parse_timeout_seconds * 1000) }
      : {}),
    ...(config.parse_memory_mb !== undefined ? { parseMemoryMb: config.parse_memory_mb } : {}),
    ...(config.parse_workers !== undefined ? { parseWorkers: config.parse_workers } : {}),
    ...(config.parse_queue !== undefined ? { parseQueue: config.parse_queue } : {}),
  };
}

const entrySchema = z.strictObject({ type: z.literal('url_context') });

/** What fetching one URL gave. */
export interface FetchedUrl {
  url: string;
  status: UrlStatus;
  /** Final URL after redirects (success/paywall). */
  finalUrl?: string;
  title?: string;
  text?: string;
  /** Why it failed (error/unsafe), for the model. */
  reason?: string;
  /** The body was cut at maxBytes. */
  truncated?: boolean;
}

type Passed =
  | 'resolve'
  | 'userAgent'
  | 'allowedHosts'
  | 'documentParser'
  | 'parseTimeoutMs'
  | 'parseMemoryMb'
  | 'parseWorkers'
  | 'parseQueue';
type Resolved = Required<Omit<UrlContextOptions, Passed>> & Pick<UrlContextOptions, Passed>;

function withDefaults(options: UrlContextOptions): Resolved {
  return {
    allowPrivate: options.allowPrivate ?? false,
    allowedHosts: options.allowedHosts,
    maxBytes: options.maxBytes ?? 1024 * 1024,
    timeoutMs: options.timeoutMs ?? 10_000,
    maxUrls: options.maxUrls ?? 20,
    maxRedirects: options.maxRedirects ?? 5,
    maxCharsPerUrl: options.maxCharsPerUrl ?? 20_000,
    maxTotalChars: options.maxTotalChars ?? 100_000,
    concurrency: options.concurrency ?? 4,
    userAgent: options.userAgent,
    parseTimeoutMs: options.parseTimeoutMs,
    parseMemoryMb: options.parseMemoryMb,
    parseWorkers: options.parseWorkers,
    parseQueue: options.parseQueue,
    documentParser: options.documentParser,
    resolve: options.resolve,
  };
}

/** Pages of one PDF read for the model. */
const MAX_PDF_PAGES = 200;

const ACCEPT =
  'text/html,application/xhtml+xml,application/pdf,text/plain;q=0.9,application/json;q=0.9,*/*;q=0.5';

/** Fetches one URL and reads it with `parser`. Never throws, except when `signal` is aborted. */
export async function fetchUrl(
  url: string,
  options: UrlContextOptions,
  parser: DocumentParser,
  signal?: AbortSignal,
): Promise<FetchedUrl> {
  const o = withDefaults(options);
  let res;
  try {
    res = await safeFetch(url, {
      allowPrivate: o.allowPrivate,
      allowedHosts: o.allowedHosts,
      maxBytes: o.maxBytes,
      timeoutMs: o.timeoutMs,
      maxRedirects: o.maxRedirects,
      signal,
      resolve: o.resolve,
      headers: {
        accept: ACCEPT,
        ...(o.userAgent ? { 'user-agent': o.userAgent } : {}),
      },
    });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (error instanceof UnsafeUrlError) return { url, status: 'unsafe', reason: error.message };
    if (error instanceof FetchFailedError) return { url, status: 'error', reason: error.message };
    return { url, status: 'error', reason: (error as Error).message ?? String(error) };
  }
  const base = { url, finalUrl: res.url, ...(res.truncated ? { truncated: true } : {}) };
  if (res.status === 402) {
    return { ...base, status: 'paywall', reason: 'HTTP 402 Payment Required' };
  }
  if (res.status < 200 || res.status >= 300) {
    return { ...base, status: 'error', reason: `HTTP ${res.status}` };
  }
  let doc: ParsedDocument;
  try {
    doc = await parser.parse(
      {
        bytes: res.body,
        mimeType: res.contentType,
        truncated: res.truncated,
        maxChars: o.maxCharsPerUrl,
        maxPages: MAX_PDF_PAGES,
      },
      { signal },
    );
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    const reason = DocumentError.isInstance(error)
      ? unreadable(error, res.truncated, o)
      : `the document could not be read: ${(error as Error).message ?? String(error)}`;
    return { ...base, status: 'error', reason };
  }
  if (!doc.text && !doc.title) {
    return { ...base, status: 'error', reason: 'the document has no readable text' };
  }
  return {
    ...base,
    status: doc.paywalled ? 'paywall' : 'success',
    ...(doc.title ? { title: doc.title } : {}),
    text: doc.text,
    ...(doc.paywalled ? { reason: 'the page says it is not freely accessible' } : {}),
  };
}

/** Why a fetched document could not be read, for the model. */
function unreadable(error: DocumentError, truncated: boolean, o: Resolved): string {
  if (error.kind === 'unsupported' || error.kind === 'corrupt') return error.message;
  const limit =
    truncated && error.kind === 'too_large' ? ` (download limit ${o.maxBytes} bytes)` : '';
  return `the document could not be read: ${error.message}${limit}`;
}

/** Runs `fn` over `items` with at most `limit` in flight, keeping order. */
async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  });
  await Promise.all(workers);
  return out;
}

function clipText(text: string, budget: number): string {
  if (text.length <= budget) return text;
  const cut = text.lastIndexOf(' ', budget);
  return `${text.slice(0, cut > budget * 0.8 ? cut : budget)} […truncated]`;
}

/** The model-facing text: numbered documents (the numbers are the source numbers), then failures. */
export function formatDocuments(
  fetched: readonly FetchedUrl[],
  options: UrlContextOptions = {},
): {
  text: string;
  sources: ToolSource[];
} {
  const o = withDefaults(options);
  const readable = fetched.filter((f) => f.text !== undefined);
  const budget = Math.max(
    1_000,
    Math.min(o.maxCharsPerUrl, Math.floor(o.maxTotalChars / Math.max(readable.length, 1))),
  );
  const sources: ToolSource[] = [];
  const parts: string[] = [];
  for (const f of readable) {
    sources.push({ url: f.finalUrl ?? f.url, ...(f.title ? { title: f.title } : {}) });
    const n = sources.length;
    const lines = [`[${n}] ${f.title ?? f.url}`, `URL: ${f.finalUrl ?? f.url}`];
    if (f.status === 'paywall')
      lines.push(`Note: ${f.reason ?? 'paywalled'}; the text may be partial.`);
    else if (f.truncated)
      lines.push('Note: the document was longer than the download limit; the text is partial.');
    lines.push('', clipText(f.text ?? '', budget));
    parts.push(lines.join('\n'));
  }
  const failed = fetched.filter((f) => f.text === undefined);
  if (failed.length > 0) {
    parts.push(
      [
        'Could not read:',
        ...failed.map((f) => `- ${f.url}: ${f.status}${f.reason ? ` (${f.reason})` : ''}`),
      ].join('\n'),
    );
  }
  const header =
    readable.length > 0
      ? `Fetched ${readable.length} of ${fetched.length} URL(s). Cite a document with its [n] marker.`
      : `None of the ${fetched.length} URL(s) could be read.`;
  return { text: [header, ...parts].join('\n\n'), sources };
}

const DECLARATION_NAME = 'url_context';

function declaration(maxUrls: number): ToolDeclaration {
  return {
    name: DECLARATION_NAME,
    description:
      'Fetches web pages, PDF files and text/JSON documents by URL and returns their readable text. ' +
      'Use it to read URLs the user mentions or that you need to answer. ' +
      'Each document is numbered; cite facts taken from a document with its [n] marker.',
    parameters: {
      type: 'object',
      properties: {
        urls: {
          type: 'array',
          items: { type: 'string', description: 'An absolute http:// or https:// URL.' },
          minItems: 1,
          maxItems: maxUrls,
          description: `The URLs to fetch (at most ${maxUrls}).`,
        },
      },
      required: ['urls'],
    },
  };
}

/** Reads the URL list from the model's arguments (`urls`, or a single `url`). */
function urlsFrom(args: JsonObject): string[] {
  const raw = args.urls ?? args.url;
  const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return list
    .filter((u): u is string => typeof u === 'string')
    .map((u) => u.trim())
    .filter(Boolean);
}

/** Fetches the URLs of one call and builds the call/result steps, model output and sources. */
export async function runUrlContext(
  urls: readonly string[],
  options: UrlContextOptions,
  parser: DocumentParser,
  signal: AbortSignal,
): Promise<ToolCallOutcome> {
  const o = withDefaults(options);
  const call: JsonObject = { arguments: { urls: [...urls] } };
  if (urls.length === 0) {
    return {
      call,
      result: { result: [], is_error: true },
      modelOutput: 'url_context needs at least one URL in "urls".',
    };
  }
  const unique = [...new Set(urls)];
  const taken = unique.slice(0, o.maxUrls);
  const fetched = await mapBounded(taken, o.concurrency, (url) => fetchUrl(url, o, parser, signal));
  for (const url of unique.slice(o.maxUrls)) {
    fetched.push({ url, status: 'error', reason: `only ${o.maxUrls} URLs are fetched per call` });
  }
  const { text, sources } = formatDocuments(fetched, o);
  const anyRead = fetched.some((f) => f.text !== undefined);
  return {
    call,
    result: {
      result: fetched.map((f) => ({ url: f.url, status: f.status })),
      is_error: !anyRead,
    },
    modelOutput: text,
    sources,
  };
}

/**
 * The `url_context` built-in tool (spec §7.3). Fetched documents are read in parser processes
 * (src/documents) under a time and memory cap; one that exceeds them is reported as an `error`
 * for its URL, and the server's event loop never parses a page.
 */
export function createUrlContextTool(options: UrlContextOptions = {}): BuiltInTool {
  const o = withDefaults(options);
  const decl = declaration(o.maxUrls);
  const parser =
    o.documentParser ??
    createDocumentParser({
      timeoutMs: o.parseTimeoutMs,
      memoryMb: o.parseMemoryMb,
      workers: o.parseWorkers,
      queue: o.parseQueue,
    });
  return {
    type: 'url_context',
    async open(entry: JsonObject, index: number): Promise<ToolSession> {
      parseWith(entrySchema, entry, ['tools', index]);
      return {
        type: 'url_context',
        steps: { call: 'url_context_call', result: 'url_context_result' },
        declarations: [decl],
        citationMarkers: true,
        callStep: (_name, args) => ({ arguments: { urls: urlsFrom(args) } }),
        callOf: (step) => {
          const args = step.arguments as JsonObject | undefined;
          return Array.isArray(args?.urls)
            ? { name: DECLARATION_NAME, args: { urls: args.urls } }
            : undefined;
        },
        async execute(name, args, signal) {
          if (name !== DECLARATION_NAME) {
            throw new Error(`url_context: unknown function '${name}'`);
          }
          return runUrlContext(urlsFrom(args), o, parser, signal);
        },
      };
    },
    async close() {
      if (!o.documentParser) await parser.close();
    },
  };
}
