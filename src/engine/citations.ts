import type { Annotation } from '../protocol/types.js';
import type { ToolSource } from '../tools/types.js';

const MARKER = /\[(\d{1,3})\]/g;
const SENTENCE_END = /[.!?\n]/;

/**
 * Turns the `[n]` markers the model was asked to write into `url_citation` annotations over the
 * sentence that carries them. Indices are byte offsets into the UTF-8 text, end exclusive (§4.3).
 * Markers that point at no source are ignored, so every citation names a source that a tool
 * actually returned.
 */
export function citationsFor(text: string, sources: ToolSource[]): Annotation[] {
  const annotations: Annotation[] = [];
  for (const match of text.matchAll(MARKER)) {
    const source = sources[Number(match[1]) - 1];
    if (!source) continue;
    const markerEnd = match.index + match[0].length;
    let start = match.index;
    // back to the start of the sentence (skipping any markers directly before this one)
    while (start > 0 && !SENTENCE_END.test(text[start - 1]!)) start--;
    while (start < match.index && /\s/.test(text[start]!)) start++;
    annotations.push({
      type: 'url_citation',
      url: source.url,
      ...(source.title ? { title: source.title } : {}),
      start_index: Buffer.byteLength(text.slice(0, start)),
      end_index: Buffer.byteLength(text.slice(0, markerEnd)),
    });
  }
  return annotations;
}

/** Shifts `[n]` source numbers at line starts by `offset` (several tool results in one run). */
export function renumberSources(text: string, offset: number): string {
  if (offset === 0) return text;
  return text.replace(/^\[(\d{1,3})\]/gm, (_m, n: string) => `[${Number(n) + offset}]`);
}
