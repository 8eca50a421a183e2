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
 * The characters a marker at `offset` cites: the sentence it ends, or the part of it after the
 * previous marker (`floor`) — as Google's grounding spans look — without the blanks and the
 * closing punctuation around it. A marker that opens a sentence cites what follows it, up to the
 * end of the sentence or the next marker (`ceiling`). Each scan stays between its neighbours, so
 * all marks of a text cost one pass over it.
 */
function citedRange(
  text: string,
  offset: number,
  floor: number,
  ceiling: number,
): [number, number] | undefined {
  let end = offset;
  while (end > floor && /[\s.!?,;:]/.test(text[end - 1]!)) end--;
  let start = end;
  while (start > floor && !endsSentence(text, start - 1)) start--;
  while (start < end && /[\s,;:]/.test(text[start]!)) start++;
  start += BULLET.exec(text.slice(start, end))?.[0].length ?? 0;
  if (start < end) return [start, end];
  start = offset;
  while (start < ceiling && /\s/.test(text[start]!)) start++;
  end = start;
  while (end < ceiling && !endsSentence(text, end)) end++;
  while (end > start && /[\s.!?,;:]/.test(text[end - 1]!)) end--;
  return start < end ? [start, end] : undefined;
}

/** UTF-8 byte offsets of ascending string indices, in one pass over the text. */
function byteOffsets(text: string, indices: readonly number[]): Map<number, number> {
  const bytes = new Map<number, number>();
  let at = 0;
  let count = 0;
  for (const i of [...new Set(indices)].sort((a, b) => a - b)) {
    count += Buffer.byteLength(text.slice(at, i));
    at = i;
    bytes.set(i, count);
  }
  return bytes;
}

/** The cited span of each mark (same order), as byte offsets into the clean text. */
export function citedSpans(
  text: string,
  marks: readonly CitationMark[],
): (CitedSpan | undefined)[] {
  const offsets = [...new Set(marks.map((m) => m.offset))].sort((a, b) => a - b);
  const ranges = new Map<number, [number, number] | undefined>();
  offsets.forEach((offset, i) => {
    ranges.set(
      offset,
      citedRange(text, offset, offsets[i - 1] ?? 0, offsets[i + 1] ?? text.length),
    );
  });
  const bytes = byteOffsets(
    text,
    [...ranges.values()].flatMap((r) => r ?? []),
  );
  return marks.map((m) => {
    const range = ranges.get(m.offset);
    return range && { start_index: bytes.get(range[0])!, end_index: bytes.get(range[1])! };
  });
}

function citationOf(source: ToolSource, span: CitedSpan): Annotation {
  if (source.file) {
    const f = source.file;
    return {
      type: 'file_citation',
      document_uri: f.document_uri,
      ...(f.file_name !== undefined ? { file_name: f.file_name } : {}),
      source: f.source,
      ...(f.page_number !== undefined ? { page_number: f.page_number } : {}),
      ...(f.custom_metadata !== undefined ? { custom_metadata: f.custom_metadata } : {}),
      ...span,
    };
  }
  return {
    type: 'url_citation',
    url: source.url,
    ...(source.title ? { title: source.title } : {}),
    ...span,
  };
}

/**
 * Turns the markers removed from `text` into annotations over the clean text: `url_citation`
 * for web sources, `file_citation` for passages of File Search documents.
 * Markers that point at no source are dropped, so every citation names a source a tool returned
 * in this run; a source cited twice for the same span is listed once.
 */
export function citationsFor(
  text: string,
  marks: readonly CitationMark[],
  sources: readonly ToolSource[],
): Annotation[] {
  const spans = citedSpans(text, marks);
  const annotations: Annotation[] = [];
  const seen = new Set<string>();
  marks.forEach((mark, i) => {
    const source = sources[mark.source - 1];
    const span = spans[i];
    if (!source || !span) return;
    const key = `${mark.source}:${span.start_index}:${span.end_index}`;
    if (seen.has(key)) return;
    seen.add(key);
    annotations.push(citationOf(source, span));
  });
  return annotations;
}

/** Shifts `[n]` source numbers at line starts by `offset` (several tool results in one run). */
export function renumberSources(text: string, offset: number): string {
  if (offset === 0) return text;
  return text.replace(/^\[(\d{1,3})\]/gm, (_m, n: string) => `[${Number(n) + offset}]`);
}
