/**
 * Embeddings as the index keeps them: unit length, so that cosine similarity is a dot product
 * (PostgreSQL's exact scan computes only that) and the same number on both stores.
 */

/** vec0 tables are named by dimension; sqlite-vec's own limit on a float vector is 8192. */
export const MAX_DIMENSION = 8192;

/**
 * `vector` scaled to unit length. Throws on a non-finite component, a zero vector or a length
 * other than `dimension` — a wrong vector must fail, never rank silently.
 */
export function toUnitVector(vector: Float32Array, dimension: number, what: string): Float32Array {
  if (vector.length !== dimension) {
    throw new Error(`${what} has ${vector.length} dimensions; expected ${dimension}`);
  }
  let sum = 0;
  for (const x of vector) {
    if (!Number.isFinite(x)) throw new Error(`${what} has a component that is not a finite number`);
    sum += x * x;
  }
  if (sum === 0) throw new Error(`${what} is a zero vector`);
  const norm = Math.sqrt(sum);
  return vector.map((x) => x / norm);
}

/** The little-endian float32 bytes sqlite-vec reads. */
export function vectorBytes(vector: Float32Array): Buffer {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}
