import type { EmbeddingKind } from './types.js';

/**
 * Prefixes that open-weight retrieval models were trained with, by model name. Servers such as
 * Ollama, llama.cpp server and vLLM embed the text as given, so without them a nomic-embed store
 * retrieves noticeably worse. `query_prefix` / `document_prefix` in an entry override these
 * (`""` turns one off). Models not named here get none.
 */
const KNOWN_PREFIXES: { model: RegExp; query: string; document: string }[] = [
  // nomic-embed-text v1 / v1.5 (model card: "task instruction prefixes")
  { model: /nomic-embed-text/i, query: 'search_query: ', document: 'search_document: ' },
  // BGE English v1.5 and mxbai-embed-large: an instruction for short queries, none for passages
  {
    model: /bge-(small|base|large)-en|mxbai-embed-large/i,
    query: 'Represent this sentence for searching relevant passages: ',
    document: '',
  },
  // E5 (not the -instruct variants, which take a task description instead)
  {
    model: /(^|[^a-z])e5-(small|base|large)(?!.*instruct)/i,
    query: 'query: ',
    document: 'passage: ',
  },
];

/** The prefix `model` needs for texts of `kind` ('' when none is known). */
function knownPrefix(model: string, kind: EmbeddingKind): string {
  const known = KNOWN_PREFIXES.find((k) => k.model.test(model));
  return known?.[kind] ?? '';
}

/** The prefixes of an entry: its own settings, else the known ones for its model. */
export function prefixesOf(
  model: string,
  config: { query_prefix?: string; document_prefix?: string },
): Record<EmbeddingKind, string> {
  return {
    query: config.query_prefix ?? knownPrefix(model, 'query'),
    document: config.document_prefix ?? knownPrefix(model, 'document'),
  };
}
