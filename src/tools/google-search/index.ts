import { z } from 'zod';
import { ApiError } from '../../protocol/errors.js';
import type { JsonObject } from '../../protocol/types.js';
import { parseWith } from '../../protocol/validate.js';
import type {
  BuiltInTool,
  ToolCallOutcome,
  ToolDeclaration,
  ToolSession,
  ToolSource,
} from '../types.js';
import { createBackend, type SearchBackend, type SearchHit } from './backends.js';

export {
  braveBackend,
  createBackend,
  googlePseBackend,
  SearchBackendError,
  searxngBackend,
  tavilyBackend,
  type SearchBackend,
  type SearchHit,
} from './backends.js';
import { queriesFrom } from '../queries.js';

/** Operator config (`tools.google_search` in YAML). */
export const googleSearchConfigSchema = z
  .strictObject({
    backend: z.enum(['searxng', 'brave', 'tavily', 'google_pse']),
    base_url: z.url({ protocol: /^https?$/ }).optional(),
    api_key: z.string().min(1).optional(),
    cx: z.string().min(1).optional(),
    /** Results per query. */
    max_results: z.number().int().min(1).max(20).default(5),
    timeout_seconds: z.number().positive().default(10),
    /** Queries run per call; more are dropped. */
    max_queries: z.number().int().min(1).max(20).default(5),
    /**
     * Public results page the suggestion chips link to, `{query}` standing for the query
     * (e.g. `https://search.example.org/search?q={query}`). Default: the backend's public page
     * (Brave, Google); none for SearXNG and Tavily, whose chips are then plain labels.
     */
    search_page_url: z
      .url({ protocol: /^https?$/ })
      .refine((u) => u.includes('{query}'), { message: 'must contain {query}' })
      .optional(),
  })
  .superRefine((c, ctx) => {
    if (c.backend === 'searxng' && !c.base_url) {
      ctx.addIssue({
        code: 'custom',
        path: ['base_url'],
        message: 'required for the searxng backend',
      });
    }
    if (c.backend !== 'searxng' && !c.api_key) {
      ctx.addIssue({
        code: 'custom',
        path: ['api_key'],
        message: `required for the ${c.backend} backend`,
      });
    }
    if (c.backend === 'google_pse' && !c.cx) {
      ctx.addIssue({
        code: 'custom',
        path: ['cx'],
        message: 'required for the google_pse backend',
      });
    }
  });
export type GoogleSearchConfig = z.input<typeof googleSearchConfigSchema>;
type ParsedConfig = z.output<typeof googleSearchConfigSchema>;

const SEARCH_TYPES = ['web_search', 'image_search', 'enterprise_web_search'] as const;
type SearchType = (typeof SEARCH_TYPES)[number];

const entrySchema = z.strictObject({
  type: z.literal('google_search'),
  search_types: z.array(z.enum(SEARCH_TYPES)).optional(),
});

const DECLARATION: ToolDeclaration = {
  name: 'google_search',
  description:
    'Searches the web and returns numbered results, each with a title, URL and snippet. ' +
    'Use it for recent events and for facts you are not sure of. ' +
    'Cite every result you rely on with its [n] marker right after the statement it supports, ' +
    'e.g. "Mount Elbrus is the highest peak in Europe [1]."',
  parameters: {
    type: 'object',
    properties: {
      queries: {
        type: 'array',
        items: { type: 'string' },
        minItems: 1,
        description: 'One or more search queries, each a few keywords.',
      },
    },
    required: ['queries'],
  },
};

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Where a person sees a query's results, from a `search_page_url` template. */
function searchPageFromTemplate(template: string): (query: string) => string {
  return (query) => template.replaceAll('{query}', encodeURIComponent(query));
}

/**
 * Styles for the chips, under the class names Google's suggestion HTML uses (container, headline,
 * carousel, chip), so a client that displays Google's chip displays ours.
 */
const SUGGESTIONS_STYLE =
  '<style>' +
  '.container{align-items:center;border-radius:8px;display:flex;font-family:sans-serif;font-size:14px;line-height:20px;padding:8px 12px}' +
  '.headline{display:flex;margin-right:4px}' +
  '.carousel{overflow:auto;scrollbar-width:none;white-space:nowrap}' +
  '.chip{border:1px solid;border-radius:16px;display:inline-block;margin:0 8px;padding:5px 16px;text-decoration:none}' +
  '@media (prefers-color-scheme:light){.container{background-color:#f8f8f8}.headline-label{color:#202020}.chip{background-color:#fff;border-color:#d0d0d0;color:#505050}}' +
  '@media (prefers-color-scheme:dark){.container{background-color:#202020}.headline-label{color:#fff}.chip{background-color:#303030;border-color:#404040;color:#fff}}' +
  '</style>';

/**
 * Our stand-in for Google's search-suggestion chip (spec §7.1): one chip per query, a link to a
 * public results page when there is one, else a label. Never the backend's own address: that is
 * often an internal service (a SearXNG on 127.0.0.1) that clients cannot and must not see.
 */
export function searchSuggestionsHtml(
  queries: readonly string[],
  searchPage: ((query: string) => string) | undefined,
): string {
  const chips = queries.map((q) => {
    const href = searchPage?.(q);
    return href
      ? `<a class="chip" href="${escapeHtml(href)}" target="_blank" rel="noopener">${escapeHtml(q)}</a>`
      : `<span class="chip">${escapeHtml(q)}</span>`;
  });
  return (
    `${SUGGESTIONS_STYLE}<div class="container"><div class="headline">` +
    '<span class="headline-label">Search suggestions</span></div>' +
    `<div class="carousel">${chips.join('')}</div></div>`
  );
}

/** Key that makes `http://x/a/` and `https://x/a#top` the same result. */
function dedupeKey(url: string): string {
  try {
    const u = new URL(url);
    u.hash = '';
    const path = u.pathname.replace(/\/+$/, '');
    return `${u.hostname.replace(/^www\./, '').toLowerCase()}${path}${u.search}`;
  } catch {
    return url;
  }
}

/** Runs the queries of one call and builds the steps, model output and sources. */
export async function runSearch(
  backend: SearchBackend,
  queries: readonly string[],
  options: { maxResults: number; searchType: string; searchPage?: (query: string) => string },
  signal: AbortSignal,
): Promise<ToolCallOutcome> {
  const call: JsonObject = {
    arguments: { queries: [...queries] },
    search_type: options.searchType,
  };
  if (queries.length === 0) {
    return {
      call,
      result: { result: [], is_error: true },
      modelOutput: 'google_search needs at least one query in "queries".',
      sources: [],
    };
  }
  const settled = await Promise.allSettled(
    queries.map((q) => backend.search(q, { count: options.maxResults, signal })),
  );
  if (signal.aborted) throw signal.reason;

  const seen = new Set<string>();
  const numbered: SearchHit[] = [];
  const failures: string[] = [];
  settled.forEach((outcome, i) => {
    if (outcome.status === 'rejected') {
      const reason = outcome.reason as Error;
      failures.push(`Query "${queries[i]}" failed: ${reason?.message ?? String(reason)}`);
      return;
    }
    for (const hit of outcome.value) {
      const key = dedupeKey(hit.url);
      if (seen.has(key)) continue;
      seen.add(key);
      numbered.push(hit);
    }
  });

  const allFailed = failures.length === queries.length;
  const lines: string[] = [];
  if (allFailed) {
    lines.push(`Web search failed (${backend.name}).`, ...failures);
  } else {
    lines.push(
      `Web search results for ${queries.map((q) => JSON.stringify(q)).join(', ')}.`,
      'Cite a result you use with its [n] marker.',
    );
    if (failures.length > 0) lines.push(...failures);
    lines.push('');
    if (numbered.length === 0) lines.push('No results.');
    numbered.forEach((hit, i) => {
      lines.push(`[${i + 1}] ${hit.title} — ${hit.url}`);
      if (hit.snippet) lines.push(hit.snippet);
      lines.push('');
    });
  }
  const sources: ToolSource[] = numbered.map((hit) => ({ url: hit.url, title: hit.title }));
  return {
    call,
    result: {
      result: [{ search_suggestions: searchSuggestionsHtml(queries, options.searchPage) }],
      is_error: allFailed,
    },
    modelOutput: lines.join('\n').trimEnd(),
    sources,
  };
}

/** The `google_search` built-in tool (spec §7.1) on a configured web search backend. */
export function createGoogleSearchTool(
  config: GoogleSearchConfig,
  options: { backend?: SearchBackend } = {},
): BuiltInTool {
  const parsed: ParsedConfig = googleSearchConfigSchema.parse(config);
  const backend =
    options.backend ??
    createBackend(parsed.backend, {
      base_url: parsed.base_url,
      api_key: parsed.api_key,
      cx: parsed.cx,
      timeout_ms: Math.round(parsed.timeout_seconds * 1000),
    });
  const searchPage = parsed.search_page_url
    ? searchPageFromTemplate(parsed.search_page_url)
    : backend.publicSearchPage;
  return {
    type: 'google_search',
    async open(entry: JsonObject, index: number): Promise<ToolSession> {
      const tool = parseWith(entrySchema, entry, ['tools', index]);
      const searchType = pickSearchType(tool.search_types, index);
      return {
        type: 'google_search',
        steps: { call: 'google_search_call', result: 'google_search_result' },
        declarations: [DECLARATION],
        citationMarkers: true,
        callStep: (_name, args) => ({
          arguments: { queries: queriesFrom(args, parsed.max_queries) },
          search_type: searchType,
        }),
        callOf: (step) => {
          const args = step.arguments as JsonObject | undefined;
          return Array.isArray(args?.queries)
            ? { name: DECLARATION.name, args: { queries: args.queries } }
            : undefined;
        },
        async execute(name, args, signal) {
          if (name !== DECLARATION.name)
            throw new Error(`google_search: unknown function '${name}'`);
          return runSearch(
            backend,
            queriesFrom(args, parsed.max_queries),
            { maxResults: parsed.max_results, searchType, searchPage },
            signal,
          );
        },
      };
    },
  };
}

/**
 * Web search serves `web_search` (and `enterprise_web_search`, which runs on the same backend);
 * image search is not available, so a request asking only for it is refused.
 */
function pickSearchType(types: SearchType[] | undefined, index: number): SearchType {
  if (!types || types.length === 0 || types.includes('web_search')) return 'web_search';
  if (types.includes('enterprise_web_search')) return 'enterprise_web_search';
  const at = types.indexOf('image_search');
  throw new ApiError(
    'failed_precondition',
    `tools[${index}].search_types[${at}]: image_search is not available on this server (web_search is)`,
  );
}
