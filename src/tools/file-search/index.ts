/**
 * The `file_search` built-in tool (spec §7.4): the model gets a search function over the File
 * Search stores a request names (of the caller's project only); each call is recorded as a
 * `file_search_call` and a `file_search_result` step; the passages reach the model numbered,
 * with their document, and the `[n]` markers the model writes become `file_citation`
 * annotations (engine/citation-markers.ts, engine/citations.ts) — only for passages a call
 * actually returned in this run.
 */
import { z } from 'zod';
import type { PassageQuery, SearchableStore } from '../../files/file-search-retrieval.js';
import { parseMetadataFilter } from '../../files/metadata-filter.js';
import type { JsonObject } from '../../protocol/types.js';
import { parseWith } from '../../protocol/validate.js';
import type { CustomMetadata, SearchHit } from '../../store/search-index/types.js';
import { MAX_TOP_K } from '../../store/search-index/index.js';
import { queriesFrom } from '../queries.js';
import type {
  BuiltInTool,
  ToolCallOutcome,
  ToolContext,
  ToolDeclaration,
  ToolSession,
  ToolSource,
} from '../types.js';

/** Operator config (`tools.file_search` in YAML); `{}` switches the tool on with these defaults. */
export const fileSearchConfigSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Passages per query when the request gives no `top_k`. */
  top_k: z.number().int().min(1).max(MAX_TOP_K).default(5),
  /** Queries run per call; more are dropped. */
  max_queries: z.number().int().min(1).max(10).default(3),
  /** Characters of one passage shown to the model (and quoted as a citation's `source`). */
  max_passage_chars: z.number().int().min(200).max(100_000).default(4_000),
});
export type FileSearchConfig = z.input<typeof fileSearchConfigSchema>;

/** Stores one request may name. */
export const MAX_STORES_PER_REQUEST = 10;

/** What the tool needs from File Search (src/files/file-search-retrieval.ts). */
export interface FileSearchBackend {
  resolveStores(
    project: string,
    names: readonly string[],
    path: string,
  ): Promise<SearchableStore[]>;
  search(query: PassageQuery): Promise<SearchHit[]>;
}

const entrySchema = z.strictObject({
  type: z.literal('file_search'),
  file_search_store_names: z.array(z.string()).min(1).max(MAX_STORES_PER_REQUEST),
  top_k: z.number().int().min(1).max(MAX_TOP_K).optional(),
  metadata_filter: z.string().optional(),
});

const DECLARATION: ToolDeclaration = {
  name: 'file_search',
  description:
    "Searches the user's documents and returns numbered passages, each with the document it " +
    'comes from. Use it for anything the documents may answer. ' +
    'Cite every passage you rely on with its [n] marker right after the statement it supports, ' +
    'e.g. "Expenses are paid monthly [2]."',
  parameters: {
    type: 'object',
    properties: {
      queries: {
        type: 'array',
        items: { type: 'string' },
        minItems: 1,
        description: 'One or more search queries, each a short question or a few keywords.',
      },
    },
    required: ['queries'],
  },
};

/** `customMetadata` entries as the key → value object a citation's `custom_metadata` is. */
function metadataObject(entries: readonly CustomMetadata[]): JsonObject | undefined {
  if (entries.length === 0) return undefined;
  const out: JsonObject = {};
  for (const e of entries) {
    out[e.key] = e.stringListValue
      ? [...e.stringListValue.values]
      : (e.numericValue ?? e.stringValue ?? null);
  }
  return out;
}

/** The same passage found by two queries is shown once. */
const passageKey = (hit: SearchHit) => `${hit.document.documentName}#${hit.chunk.position}`;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** A passage as a source the answer may cite. */
function sourceOf(hit: SearchHit, maxChars: number): ToolSource {
  const d = hit.document;
  const fileName = d.displayName ?? d.documentId;
  const metadata = metadataObject(d.customMetadata);
  return {
    url: d.documentName,
    title: fileName,
    file: {
      document_uri: d.documentName,
      file_name: fileName,
      source: clip(hit.chunk.text, maxChars),
      ...(hit.chunk.pageNumber !== undefined ? { page_number: hit.chunk.pageNumber } : {}),
      ...(metadata ? { custom_metadata: metadata } : {}),
    },
  };
}

/** The model's view of the passages: numbered from 1, each with its document (and page). */
function passagesText(queries: readonly string[], sources: readonly ToolSource[]): string {
  const lines = [
    `File search results for ${queries.map((q) => JSON.stringify(q)).join(', ')}.`,
    'Cite a passage you use with its [n] marker.',
    '',
  ];
  if (sources.length === 0) lines.push('No passages found.');
  sources.forEach((s, i) => {
    const f = s.file!;
    const page = f.page_number !== undefined ? `, page ${f.page_number}` : '';
    lines.push(`[${i + 1}] ${f.file_name} (${f.document_uri}${page})`);
    // indented, so a passage line that starts with `[n]` is not taken for a source number
    lines.push(...f.source.split('\n').map((l) => `  ${l}`));
    lines.push('');
  });
  return lines.join('\n').trimEnd();
}

const failed = (message: string): ToolCallOutcome => ({
  call: {},
  result: { result: [], is_error: true },
  modelOutput: message,
  sources: [],
});

/** The `file_search` tool over this server's File Search stores. */
export function createFileSearchTool(
  config: FileSearchConfig,
  backend: FileSearchBackend,
): BuiltInTool {
  const settings = fileSearchConfigSchema.parse(config);
  return {
    type: 'file_search',
    async open(entry: JsonObject, index: number, context?: ToolContext): Promise<ToolSession> {
      const tool = parseWith(entrySchema, entry, ['tools', index]);
      if (!context) throw new Error('file_search: the engine must pass the request context');
      const { project } = context;
      const filter =
        tool.metadata_filter === undefined
          ? undefined
          : parseMetadataFilter(tool.metadata_filter, `tools[${index}].metadata_filter`);
      // Checked now, before anything is stored: an unknown or foreign store is a 400.
      const stores = await backend.resolveStores(
        project,
        tool.file_search_store_names,
        `tools[${index}].file_search_store_names`,
      );
      const topK = tool.top_k ?? settings.top_k;
      return {
        type: 'file_search',
        steps: { call: 'file_search_call', result: 'file_search_result' },
        declarations: [DECLARATION],
        citationMarkers: true,
        async execute(name, args, signal): Promise<ToolCallOutcome> {
          if (name !== DECLARATION.name) throw new Error(`file_search: unknown function '${name}'`);
          const queries = queriesFrom(args, settings.max_queries);
          if (queries.length === 0)
            return failed('file_search needs at least one query in "queries".');
          const found: SearchHit[] = [];
          const seen = new Set<string>();
          try {
            for (const query of queries) {
              const hits = await backend.search({ project, stores, query, topK, filter, signal });
              for (const hit of hits) {
                if (seen.has(passageKey(hit))) continue;
                seen.add(passageKey(hit));
                found.push(hit);
              }
            }
          } catch {
            if (signal.aborted) throw signal.reason;
            // The model can answer without the documents (or say they are unavailable). The
            // error's own text (an embedding backend's answer, its address) never reaches the
            // model: it could echo it to the client.
            return failed('File search failed: the documents cannot be searched right now.');
          }
          const sources = found.map((hit) => sourceOf(hit, settings.max_passage_chars));
          return {
            call: {},
            // The SDK's result item schema is empty (spec §7.4): passages go to the model, and
            // to the client as the answer's file_citation annotations.
            result: { result: [] },
            modelOutput: passagesText(queries, sources),
            sources,
          };
        },
      };
    },
  };
}
