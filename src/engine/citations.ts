import type { Annotation } from '../protocol/types.js';
import type { ToolSource } from '../tools/types.js';
import type { CitationMark } from './citation-markers.js';

/** A cited span of the clean text: byte offsets into its UTF-8 encoding, end exclusive (§4.3). */
export interface CitedSpan {
  start_index: number;
  end_index: number;
}

const BULLET = /^(?:[-*+]|\d{1,3}[.)])\s+/;

/** A sentence ends at a line break, or at `.`/`!`/`?` followed by a blank (not in `2.5`). */
function endsSentence(text: string, i: number): boolean {
  const c = text[i];
  return c === '\n' || (/[.!?]/.test(c ?? '') && /\s/.test(text[i + 1] ?? ' '));
}

/**
 * The span a marker cites: the sentence (or clause) that ends where the marker stood, without the
 * blanks and the closing punctuation around it — as Google's grounding spans look. A marker that
 * opens a sentence cites the sentence after it.
 */
export function citedSpan(text: string, offset: number): CitedSpan | undefined {
  let end = offset;
  while (end > 0 && /\s/.test(text[end - 1]!)) end--;
  while (end > 0 && /[.!?,;:]/.test(text[end - 1]!)) end--;
  let start = end;
  while (start > 0 && !endsSentence(text, start - 1)) start--;
  while (start < end && /\s/.test(text[start]!)) start++;
  start += BULLET.exec(text.slice(start, end))?.[0].length ?? 0;
  if (start >= end) {
    // the marker opens its sentence: cite the sentence that follows it
    start = offset;
    while (start < text.length && /\s/.test(text[start]!)) start++;
    end = start;
    while (end < text.length && !endsSentence(text, end)) end++;
    while (end > start && /[.!?,;:\s]/.test(text[end - 1]!)) end--;
    if (start >= end) return undefined;
  }
  const start_index = Buffer.byteLength(text.slice(0, start));
  return { start_index, end_index: start_index + Buffer.byteLength(text.slice(start, end)) };
}

function urlCitation(source: ToolSource, span: CitedSpan): Annotation {
  return {
    type: 'url_citation',
    url: source.url,
    ...(source.title ? { title: source.title } : {}),
    ...span,
  };
}

/**
 * Turns the markers removed from `text` into `url_citation` annotations over the clean text.
 * Markers that point at no source are dropped, so every citation names a source a tool returned
 * in this run; a source cited twice for the same span is listed once.
 */
export function citationsFor(
  text: string,
  marks: readonly CitationMark[],
  sources: readonly ToolSource[],
): Annotation[] {
  const annotations: Annotation[] = [];
  const seen = new Set<string>();
  for (const mark of marks) {
    const source = sources[mark.source - 1];
    if (!source) continue;
    const span = citedSpan(text, mark.offset);
    if (!span) continue;
    const key = `${mark.source}:${span.start_index}:${span.end_index}`;
    if (seen.has(key)) continue;
    seen.add(key);
    annotations.push(urlCitation(source, span));
  }
  return annotations;
}

/** Shifts `[n]` source numbers at line starts by `offset` (several tool results in one run). */
export function renumberSources(text: string, offset: number): string {
  if (offset === 0) return text;
  return text.replace(/^\[(\d{1,3})\]/gm, (_m, n: string) => `[${Number(n) + offset}]`);
}
