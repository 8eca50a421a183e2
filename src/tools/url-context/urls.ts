const CANDIDATE = /\bhttps?:\/\/[^\s<>"'`\u00a0]+/gi;
const TRAILING = /[.,;:!?'"*_~]+$/;
const PAIRS: Record<string, string> = { ')': '(', ']': '[', '}': '{', '>': '<' };

function count(text: string, ch: string): number {
  let n = 0;
  for (const c of text) if (c === ch) n++;
  return n;
}

/** Strips punctuation that ends a sentence or closes a bracket opened outside the URL. */
function trimUrl(candidate: string): string {
  let url = candidate;
  for (;;) {
    const before = url;
    url = url.replace(TRAILING, '');
    const last = url.at(-1);
    if (last !== undefined && last in PAIRS) {
      if (count(url, last) > count(url, PAIRS[last]!)) url = url.slice(0, -1);
    }
    if (url === before) return url;
  }
}

/**
 * The http(s) URLs named in free text (a user's message), in order of first appearance,
 * without duplicates. Markdown links, angle brackets and sentence punctuation are handled:
 * `see [docs](https://a.example/x).` → `https://a.example/x`.
 */
export function extractUrls(text: string, limit = Infinity): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const match of text.matchAll(CANDIDATE)) {
    const trimmed = trimUrl(match[0]);
    let url: URL;
    try {
      url = new URL(trimmed);
    } catch {
      continue;
    }
    if (!url.hostname) continue;
    if (seen.has(url.href)) continue;
    seen.add(url.href);
    out.push(trimmed);
    if (out.length >= limit) break;
  }
  return out;
}
