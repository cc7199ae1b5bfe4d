// A deterministic feature-hashing text embedder: no model, no download. Tokens and token bigrams are hashed
// with a sign into `dims` buckets and the vector is L2-normalized, so texts sharing words score closer.
import type { Embedder } from './Embedder.js';

/** Options for {@link HashingEmbedder}. */
export interface HashingEmbedderOptions {
  /** Embedding length (default 384, the store's default). */
  dims?: number;
  /** Weight of a token bigram relative to a single token (default 0.5). */
  bigramWeight?: number;
  /** Hash seed: different seeds give unrelated embeddings (default 0). */
  seed?: number;
}

const TOKEN_SPLIT = /[^\p{L}\p{N}]+/u;

/** 32-bit FNV-1a over UTF-16 code units, finished with murmur3's avalanche mix. */
function hash(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Lowercased, NFKC-normalized letter/digit tokens. */
export function tokenize(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().split(TOKEN_SPLIT).filter((t) => t.length > 0);
}

/**
 * Feature hashing ("the hashing trick") over unigrams and bigrams with a signed hash, L2-normalized.
 * Deterministic across processes and versions of Node. Captures word overlap, not meaning: use a real
 * model's embeddings for semantic search, this for demos, tests and plain-text use without a model.
 * A text without any letter or digit embeds to the zero vector (which the store refuses).
 */
export class HashingEmbedder implements Embedder {
  readonly dims: number;
  private readonly bigramWeight: number;
  private readonly seed: number;

  constructor(options: HashingEmbedderOptions = {}) {
    this.dims = options.dims ?? 384;
    if (!Number.isInteger(this.dims) || this.dims < 1) throw new RangeError(`HashingEmbedder dims must be a positive integer, got ${this.dims}`);
    this.bigramWeight = options.bigramWeight ?? 0.5;
    this.seed = options.seed ?? 0;
  }

  /** Embeds one text synchronously. */
  embedOne(text: string): Float32Array {
    const v = new Float64Array(this.dims);
    const tokens = tokenize(text);
    const add = (feature: string, weight: number) => {
      const h = hash(feature, this.seed);
      v[(h >>> 1) % this.dims] += h & 1 ? -weight : weight;
    };
    for (let i = 0; i < tokens.length; i++) {
      add(tokens[i], 1);
      if (i > 0) add(`${tokens[i - 1]}\u0000${tokens[i]}`, this.bigramWeight);
    }
    let norm = 0;
    for (let i = 0; i < v.length; i++) norm += v[i] * v[i];
    const out = new Float32Array(this.dims);
    if (norm === 0) return out;
    const inv = 1 / Math.sqrt(norm);
    for (let i = 0; i < v.length; i++) out[i] = v[i] * inv;
    return out;
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    return texts.map((t) => this.embedOne(t));
  }
}
