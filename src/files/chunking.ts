/**
 * Whitespace chunking (`chunkingConfig.whiteSpaceConfig`): a token is a run of non-whitespace
 * characters, as Google defines it for this algorithm; a chunk is at most `maxTokensPerChunk`
 * tokens, and consecutive chunks share `maxOverlapTokens` tokens. A chunk's text is the source
 * text from its first token to its last (line breaks kept), and it carries the page its first
 * token is on.
 *
 * Hand-written because it is a dozen lines over a regular expression and must stream: chunks are
 * produced one at a time, holding only a window of token offsets, so a long document is never
 * copied into an array of words. `countChunks` tells the total first from the same tokens
 * without building any chunk (the limit on chunks per document is checked before embedding).
 */

export interface TextPage {
  /** 1-based page of a paged source (PDF). */
  pageNumber?: number;
  text: string;
}

export interface TextChunk {
  /** Position in the document, from 0. */
  position: number;
  text: string;
  pageNumber?: number;
  tokenCount: number;
}

export interface WhiteSpaceChunking {
  maxTokensPerChunk: number;
  maxOverlapTokens: number;
}

interface Token {
  page: number;
  start: number;
  end: number;
}

function* tokens(pages: readonly TextPage[]): Generator<Token> {
  for (let page = 0; page < pages.length; page++) {
    const word = /\S+/g;
    const text = pages[page]!.text;
    for (let m = word.exec(text); m; m = word.exec(text)) {
      yield { page, start: m.index, end: m.index + m[0].length };
    }
  }
}

function countTokens(pages: readonly TextPage[]): number {
  let n = 0;
  for (const page of pages) {
    const word = /\S+/g;
    while (word.exec(page.text)) n++;
  }
  return n;
}

function checkConfig({ maxTokensPerChunk: max, maxOverlapTokens: overlap }: WhiteSpaceChunking) {
  if (!(Number.isInteger(max) && max >= 1 && Number.isInteger(overlap) && overlap >= 0)) {
    throw new RangeError(`chunking: invalid sizes ${max}/${overlap}`);
  }
  if (overlap >= max) throw new RangeError('chunking: the overlap must be less than the chunk');
}

/** How many chunks `chunkPages` yields for these pages. */
export function countChunks(pages: readonly TextPage[], config: WhiteSpaceChunking): number {
  checkConfig(config);
  const total = countTokens(pages);
  const { maxTokensPerChunk: max, maxOverlapTokens: overlap } = config;
  if (total === 0) return 0;
  if (total <= max) return 1;
  return 1 + Math.ceil((total - max) / (max - overlap));
}

function chunkOf(pages: readonly TextPage[], window: readonly Token[], position: number) {
  const first = window[0]!;
  const last = window[window.length - 1]!;
  let text: string;
  if (first.page === last.page) {
    text = pages[first.page]!.text.slice(first.start, last.end);
  } else {
    const parts = [pages[first.page]!.text.slice(first.start)];
    for (let p = first.page + 1; p < last.page; p++) parts.push(pages[p]!.text);
    parts.push(pages[last.page]!.text.slice(0, last.end));
    text = parts
      .map((s) => s.trim())
      .filter(Boolean)
      .join('\n\n');
  }
  const pageNumber = pages[first.page]!.pageNumber;
  const chunk: TextChunk = { position, text, tokenCount: window.length };
  if (pageNumber !== undefined) chunk.pageNumber = pageNumber;
  return chunk;
}

/** The chunks of `pages`, in order. */
export function* chunkPages(
  pages: readonly TextPage[],
  config: WhiteSpaceChunking,
): Generator<TextChunk> {
  checkConfig(config);
  const { maxTokensPerChunk: max, maxOverlapTokens: overlap } = config;
  let window: Token[] = [];
  /** Tokens in the window that no chunk has included yet. */
  let fresh = 0;
  let position = 0;
  for (const token of tokens(pages)) {
    window.push(token);
    fresh++;
    if (window.length === max) {
      yield chunkOf(pages, window, position++);
      window = overlap > 0 ? window.slice(max - overlap) : [];
      fresh = 0;
    }
  }
  if (fresh > 0) yield chunkOf(pages, window, position);
}
