import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunkPages, countChunks, type TextPage } from './chunking.js';

const words = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `w${from + i}`);

describe('whitespace chunking', () => {
  it('cuts chunks of at most maxTokensPerChunk words that share maxOverlapTokens words', () => {
    const pages = [{ text: words(10).join(' ') }];
    const chunks = [...chunkPages(pages, { maxTokensPerChunk: 4, maxOverlapTokens: 1 })];
    expect(chunks.map((c) => c.text)).toEqual(['w0 w1 w2 w3', 'w3 w4 w5 w6', 'w6 w7 w8 w9']);
    expect(chunks.map((c) => [c.position, c.tokenCount])).toEqual([
      [0, 4],
      [1, 4],
      [2, 4],
    ]);
    expect(countChunks(pages, { maxTokensPerChunk: 4, maxOverlapTokens: 1 })).toBe(3);
  });

  it('keeps the source text between a chunk’s words (line breaks, runs of spaces)', () => {
    const pages = [{ text: '  Title\n\nfirst   line\nsecond line  ' }];
    const [chunk] = [...chunkPages(pages, { maxTokensPerChunk: 10, maxOverlapTokens: 0 })];
    expect(chunk).toEqual({
      position: 0,
      text: 'Title\n\nfirst   line\nsecond line',
      tokenCount: 5,
    });
  });

  it('ends with a shorter chunk, and has none for text without words', () => {
    const config = { maxTokensPerChunk: 4, maxOverlapTokens: 2 };
    expect([...chunkPages([{ text: words(5).join(' ') }], config)].map((c) => c.text)).toEqual([
      'w0 w1 w2 w3',
      'w2 w3 w4',
    ]);
    expect([...chunkPages([{ text: ' \n\t ' }], config)]).toEqual([]);
    expect(countChunks([{ text: ' \n\t ' }], config)).toBe(0);
  });

  it('carries the page of its first word onto a chunk, across page breaks', () => {
    const pages: TextPage[] = [
      { pageNumber: 1, text: 'a b c' },
      { pageNumber: 2, text: '' },
      { pageNumber: 3, text: 'd e' },
    ];
    const chunks = [...chunkPages(pages, { maxTokensPerChunk: 2, maxOverlapTokens: 0 })];
    expect(chunks.map((c) => [c.text, c.pageNumber])).toEqual([
      ['a b', 1],
      ['c\n\nd', 1],
      ['e', 3],
    ]);
  });

  it('refuses an overlap as large as the chunk (it would never advance)', () => {
    expect(() => [
      ...chunkPages([{ text: 'a' }], { maxTokensPerChunk: 2, maxOverlapTokens: 2 }),
    ]).toThrow(RangeError);
  });

  it('countChunks always equals the number of chunks, and every word is in some chunk', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.stringMatching(/^[a-z]{1,3}$/), { maxLength: 30 }), {
          maxLength: 4,
        }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 11 }),
        (pageWords, max, overlapSeed) => {
          const overlap = overlapSeed % max;
          const pages = pageWords.map((w, i) => ({ pageNumber: i + 1, text: w.join(' ') }));
          const config = { maxTokensPerChunk: max, maxOverlapTokens: overlap };
          const chunks = [...chunkPages(pages, config)];
          expect(chunks.length).toBe(countChunks(pages, config));
          const all = pageWords.flat();
          const covered = chunks.flatMap((c) => c.text.split(/\s+/));
          // Consecutive chunks share exactly `overlap` words: dropping them gives the text back.
          const deduplicated = chunks.flatMap((c, i) =>
            c.text.split(/\s+/).slice(i === 0 ? 0 : overlap),
          );
          if (all.length > 0) expect(deduplicated).toEqual(all);
          for (const c of chunks) expect(c.tokenCount).toBeLessThanOrEqual(max);
          expect(covered.length).toBeGreaterThanOrEqual(all.length);
        },
      ),
    );
  });
});
