import { ServiceError as SearchBackendError, requestJson } from '../../net/http-json.js';

export { SearchBackendError };

/**
 * Web search backends behind one small interface. Their endpoints are chosen by the operator
 * (SearXNG often runs on localhost), so they use plain `fetch` with a time limit, not the
 * SSRF-guarded fetcher used for model-chosen URLs.
 */

export interface SearchHit {
  title: string;
  url: string;
  snippet: string;
}

export interface SearchBackend {
  /** Short name for messages (`SearXNG`, `Brave`, …). */
  readonly name: string;
  search(query: string, options: { count: number; signal: AbortSignal }): Promise<SearchHit[]>;
  /**
   * A public page where a person can see this query's results (the suggestion chips link to it).
   * Only for public services: a self-hosted backend's address is not for clients.
   */
  publicSearchPage?(query: string): string;
}

export interface BackendSettings {
  base_url?: string;
  api_key?: string;
  cx?: string;
  timeout_ms: number;
}

const ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  '#39': "'",
};

/** Inline markup engines put in titles and snippets (other `<…>` text is left alone). */
const INLINE_TAG = /<\/?(?:strong|b|em|i|u|mark|span|small|sup|sub|br|wbr|p|a|font)\b[^>]*>/gi;

/** Snippets from some engines carry `<strong>` tags and entities; the model wants plain text. */
export function plainText(value: unknown): string {
  if (typeof value !== 'string') return '';
  return value
    .replace(INLINE_TAG, '')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+|#39);/gi, (whole, name: string) => {
      const lower = name.toLowerCase();
      if (lower.startsWith('#x')) return safeChar(parseInt(lower.slice(2), 16)) ?? whole;
      if (lower.startsWith('#')) return safeChar(parseInt(lower.slice(1), 10)) ?? whole;
      return ENTITIES[lower] ?? whole;
    })
    .replace(/\s+/g, ' ')
    .trim();
}

function safeChar(code: number): string | undefined {
  return Number.isFinite(code) && code > 0 && code <= 0x10ffff
    ? String.fromCodePoint(code)
    : undefined;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

const asArray = (value: unknown): Record<string, unknown>[] =>
  Array.isArray(value)
    ? value.filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null)
    : [];

function hits(items: Record<string, unknown>[], urlKey: string, snippetKey: string): SearchHit[] {
  const out: SearchHit[] = [];
  for (const item of items) {
    const url = item[urlKey];
    if (typeof url !== 'string' || !/^https?:\/\//i.test(url)) continue;
    out.push({
      title: plainText(item.title) || url,
      url,
      snippet: plainText(item[snippetKey]),
    });
  }
  return out;
}

/** SearXNG: `GET {base}/search?q=…&format=json` (the instance must allow the json format). */
export function searxngBackend(settings: BackendSettings): SearchBackend {
  if (!settings.base_url) throw new Error('searxng: base_url is required');
  const base = trimSlash(settings.base_url);
  return {
    name: 'SearXNG',
    async search(query, { count, signal }) {
      const url = `${base}/search?${new URLSearchParams({ q: query, format: 'json' })}`;
      let body: unknown;
      try {
        body = await requestJson(
          'SearXNG',
          url,
          { headers: { accept: 'application/json' } },
          settings.timeout_ms,
          signal,
        );
      } catch (error) {
        if (error instanceof SearchBackendError && error.status === 403) {
          throw new SearchBackendError(
            `${error.message} (is "json" listed in search.formats of the SearXNG settings?)`,
            403,
          );
        }
        throw error;
      }
      const results = asArray((body as { results?: unknown }).results);
      return hits(results, 'url', 'content').slice(0, count);
    },
  };
}

/** Brave Search API: `GET {base}/res/v1/web/search?q=…&count=…` with `X-Subscription-Token`. */
export function braveBackend(settings: BackendSettings): SearchBackend {
  if (!settings.api_key) throw new Error('brave: api_key is required');
  const base = trimSlash(settings.base_url ?? 'https://api.search.brave.com');
  const key = settings.api_key;
  return {
    name: 'Brave Search',
    async search(query, { count, signal }) {
      const url = `${base}/res/v1/web/search?${new URLSearchParams({
        q: query,
        count: String(Math.min(count, 20)),
      })}`;
      const body = await requestJson(
        'Brave Search',
        url,
        { headers: { accept: 'application/json', 'x-subscription-token': key } },
        settings.timeout_ms,
        signal,
      );
      const web = (body as { web?: { results?: unknown } }).web;
      return hits(asArray(web?.results), 'url', 'description').slice(0, count);
    },
    publicSearchPage: (query) =>
      `https://search.brave.com/search?${new URLSearchParams({ q: query })}`,
  };
}

/** Tavily: `POST {base}/search` with a JSON body carrying the key (and the key as a bearer token). */
export function tavilyBackend(settings: BackendSettings): SearchBackend {
  if (!settings.api_key) throw new Error('tavily: api_key is required');
  const base = trimSlash(settings.base_url ?? 'https://api.tavily.com');
  const key = settings.api_key;
  return {
    name: 'Tavily',
    async search(query, { count, signal }) {
      const body = await requestJson(
        'Tavily',
        `${base}/search`,
        {
          method: 'POST',
          headers: {
            accept: 'application/json',
            'content-type': 'application/json',
            authorization: `Bearer ${key}`,
          },
          body: JSON.stringify({
            api_key: key,
            query,
            max_results: Math.min(count, 20),
            search_depth: 'basic',
            include_answer: false,
          }),
        },
        settings.timeout_ms,
        signal,
      );
      return hits(asArray((body as { results?: unknown }).results), 'url', 'content').slice(
        0,
        count,
      );
    },
  };
}

/** Google Programmable Search: `GET {base}/customsearch/v1?key=…&cx=…&q=…&num=…`. */
export function googlePseBackend(settings: BackendSettings): SearchBackend {
  if (!settings.api_key) throw new Error('google_pse: api_key is required');
  if (!settings.cx) throw new Error('google_pse: cx is required');
  const base = trimSlash(settings.base_url ?? 'https://www.googleapis.com');
  const { api_key: key, cx } = settings;
  return {
    name: 'Google Programmable Search',
    async search(query, { count, signal }) {
      const url = `${base}/customsearch/v1?${new URLSearchParams({
        key,
        cx,
        q: query,
        num: String(Math.min(count, 10)),
      })}`;
      const body = await requestJson(
        'Google Programmable Search',
        url,
        { headers: { accept: 'application/json' } },
        settings.timeout_ms,
        signal,
      );
      return hits(asArray((body as { items?: unknown }).items), 'link', 'snippet').slice(0, count);
    },
    publicSearchPage: (query) =>
      `https://www.google.com/search?${new URLSearchParams({ q: query })}`,
  };
}

export type BackendKind = 'searxng' | 'brave' | 'tavily' | 'google_pse';

export function createBackend(kind: BackendKind, settings: BackendSettings): SearchBackend {
  switch (kind) {
    case 'searxng':
      return searxngBackend(settings);
    case 'brave':
      return braveBackend(settings);
    case 'tavily':
      return tavilyBackend(settings);
    case 'google_pse':
      return googlePseBackend(settings);
  }
}
