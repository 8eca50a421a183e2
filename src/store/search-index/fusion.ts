/**
 * Reciprocal rank fusion: a chunk's fused score is Σ 1 / (k + rank) over the rankings it
 * appears in (rank from 1). It needs no calibration between cosine similarities and word
 * scores, which live on unrelated scales. k = 60 is the value of the original paper (Cormack
 * et al., 2009); the retrieval bench (bench/file-search-retrieval.ts) measures it here.
 */

export const RRF_K = 60;

export interface Ranked {
  chunkKey: number;
  /** Higher is better. */
  score: number;
}

/** Orders by score, best first; equal scores by chunk key (older chunk first), so runs agree. */
export function byScore(a: Ranked, b: Ranked): number {
  return b.score - a.score || a.chunkKey - b.chunkKey;
}

/** Fuses rankings (each best first) into one, best first. */
export function fuseRankings(rankings: Ranked[][], k = RRF_K): Ranked[] {
  const scores = new Map<number, number>();
  for (const ranking of rankings) {
    ranking.forEach(({ chunkKey }, i) => {
      scores.set(chunkKey, (scores.get(chunkKey) ?? 0) + 1 / (k + i + 1));
    });
  }
  return [...scores].map(([chunkKey, score]) => ({ chunkKey, score })).sort(byScore);
}
