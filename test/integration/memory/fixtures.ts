// Test fixtures for memory integration tests: a seeded PRNG, clustered unit vectors, exact (brute-force)
// cosine top-k to measure recall against, and documents built from them.
import type { DocumentInput } from '../../../actors/memory/Document.js';

import { rng } from '../../support/rng.js';

function normalize(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  const inv = 1 / Math.sqrt(n);
  for (let i = 0; i < v.length; i++) v[i] *= inv;
  return v;
}

/** Clustered random unit vectors: `clusters` Gaussian centers, each point a center plus noise. */
export function clusteredVectors(n: number, dims: number, options: { clusters?: number; noise?: number; seed?: number } = {}): Float32Array[] {
  const rand = rng(options.seed ?? 1);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
  const centers = Array.from({ length: options.clusters ?? 20 }, () => Float32Array.from({ length: dims }, gauss));
  const noise = options.noise ?? 0.6;
  return Array.from({ length: n }, (_, i) => normalize(Float32Array.from(centers[i % centers.length], (c) => c + noise * gauss())));
}

/** Cosine similarity of two vectors. */
export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

/** Exact top-k ids by cosine similarity (the ground truth for recall). */
export function exactTopK(query: Float32Array, ids: readonly string[], vectors: readonly Float32Array[], k: number): string[] {
  return vectors
    .map((v, i) => ({ id: ids[i], s: cosine(query, v) }))
    .sort((a, b) => b.s - a.s)
    .slice(0, k)
    .map((x) => x.id);
}

/** Documents `prefix-0..n-1` in a namespace, with the given vectors and metadata `{ n, parity }`. */
export function documents(namespace: string, vectors: readonly Float32Array[], prefix = 'doc'): DocumentInput[] {
  return vectors.map((embedding, i) => ({
    id: `${prefix}-${i}`,
    namespace,
    content: `${prefix} number ${i}: some text about topic ${i % 7}`,
    metadata: { n: i, parity: i % 2 === 0 ? 'even' : 'odd' },
    embedding,
  }));
}
