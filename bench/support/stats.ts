/** Nearest-rank percentile of already sorted values (q in 0..1). */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

export function summarize(values: number[]): Summary {
  const sorted = Float64Array.from(values).sort();
  const arr = Array.from(sorted);
  const sum = arr.reduce((a, b) => a + b, 0);
  return {
    count: arr.length,
    mean: arr.length ? sum / arr.length : NaN,
    p50: percentile(arr, 0.5),
    p99: percentile(arr, 0.99),
    max: arr.length ? arr[arr.length - 1]! : NaN,
  };
}

export const fmtMs = (ms: number) => (Number.isFinite(ms) ? `${ms.toFixed(2)} ms` : 'n/a');
export const fmtRatio = (r: number) =>
  !Number.isFinite(r)
    ? 'n/a'
    : `${r >= 10 ? r.toFixed(1) : r >= 1 ? r.toFixed(2) : r.toPrecision(2)}×`;
export const fmtRate = (r: number) => (Number.isFinite(r) ? r.toFixed(0) : 'n/a');
