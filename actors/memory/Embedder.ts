// The pluggable text embedder interface: texts in, one Float32Array per text out, all of `dims` length.

/** Turns texts into embeddings for the memory store (a model client, or the built-in HashingEmbedder). */
export interface Embedder {
  /** Length of every embedding it returns. */
  readonly dims: number;
  /** One embedding per text, in order. */
  embed(texts: readonly string[]): Promise<Float32Array[]>;
}
