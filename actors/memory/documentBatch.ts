// A batch of validated documents in transferable form (flat Float32Array of embeddings, epoch-ms times) and
// its binary COPY encoding: the staging table's rows, sized first and written into one buffer.
import { copySize, CopyWriter } from '../../protocols/copy.js';
import type { EmbeddingStorage, ValidDocument } from './Document.js';

/** The staging/documents columns in COPY order. */
export const DOCUMENT_COLUMNS = ['namespace', 'id', 'content', 'metadata', 'embedding', 'created_at'] as const;

/**
 * Validated documents as structure of arrays, cheap to post to a worker: the two typed arrays are
 * transferred (not copied), the strings are cloned.
 */
export interface DocumentBatch {
  count: number;
  dims: number;
  storage: EmbeddingStorage;
  namespaces: string[];
  ids: string[];
  contents: string[];
  /** Metadata as JSON text. */
  metadata: string[];
  /** Creation times, epoch milliseconds. */
  createdAt: Float64Array;
  /** All embeddings back to back: document i is `[i * dims, (i + 1) * dims)`. */
  embeddings: Float32Array;
}

/**
 * Packs validated documents into a {@link DocumentBatch}, sorted by (namespace, id) so that concurrent
 * transactions inserting overlapping keys take their locks in one order (no deadlocks on redelivery).
 * The embeddings are copied into one fresh buffer, so transferring it never detaches the caller's arrays.
 */
export function toDocumentBatch(docs: readonly ValidDocument[], dims: number, storage: EmbeddingStorage): DocumentBatch {
  const sorted = docs.slice().sort((a, b) => {
    const x = a.doc;
    const y = b.doc;
    if (x.namespace !== y.namespace) return x.namespace < y.namespace ? -1 : 1;
    return x.id < y.id ? -1 : x.id > y.id ? 1 : 0;
  });
  const count = sorted.length;
  const batch: DocumentBatch = {
    count,
    dims,
    storage,
    namespaces: new Array<string>(count),
    ids: new Array<string>(count),
    contents: new Array<string>(count),
    metadata: new Array<string>(count),
    createdAt: new Float64Array(count),
    embeddings: new Float32Array(count * dims),
  };
  for (let i = 0; i < count; i++) {
    const v = sorted[i];
    batch.namespaces[i] = v.doc.namespace;
    batch.ids[i] = v.doc.id;
    batch.contents[i] = v.doc.content;
    batch.metadata[i] = v.metadataJson;
    batch.createdAt[i] = v.doc.createdAt.getTime();
    batch.embeddings.set(v.doc.embedding, i * dims);
  }
  return batch;
}

/**
 * Encodes a batch as one binary COPY stream for the columns {@link DOCUMENT_COLUMNS}: the embedding as
 * `halfvec` (rounded to half precision here) or `vector`. One sizing pass, one allocation, one writing pass.
 */
export function encodeDocumentBatch(batch: DocumentBatch): Buffer {
  const { count, dims } = batch;
  const half = batch.storage === 'halfvec';
  const vectorBytes = half ? copySize.halfvec(dims) : copySize.vector(dims);
  let size = copySize.header + copySize.trailer + count * (copySize.row + vectorBytes + copySize.timestamptz);
  for (let i = 0; i < count; i++) {
    size += copySize.text(batch.namespaces[i]) + copySize.text(batch.ids[i]) + copySize.text(batch.contents[i]) + copySize.jsonb(batch.metadata[i]);
  }
  const w = new CopyWriter(size).header();
  const columns = DOCUMENT_COLUMNS.length;
  for (let i = 0; i < count; i++) {
    w.row(columns).text(batch.namespaces[i]).text(batch.ids[i]).text(batch.contents[i]).jsonb(batch.metadata[i]);
    if (half) w.halfvec(batch.embeddings, i * dims, dims);
    else w.vector(batch.embeddings, i * dims, dims);
    w.timestamptz(batch.createdAt[i]);
  }
  return w.trailer().finish();
}
