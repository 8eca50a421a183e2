import type { JsonObject } from '../protocol/types.js';

/**
 * The distinct, whitespace-normalised queries of a search-like call (`queries: string[]`, or the
 * singular `query` some models send), at most `max`.
 */
export function queriesFrom(args: JsonObject, max: number): string[] {
  const raw = args.queries ?? args.query;
  const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  const out: string[] = [];
  for (const q of list) {
    if (typeof q !== 'string') continue;
    const trimmed = q.trim().replace(/\s+/g, ' ');
    if (trimmed && !out.includes(trimmed)) out.push(trimmed);
  }
  return out.slice(0, max);
}
