// Encodes document batches to binary COPY streams: on piscina worker threads for real batches (the
// embeddings go over transferred, the COPY buffer comes back transferred), inline for small ones.
import { WorkerPool, defaultWorkerThreads } from '../../runtime/workers.js';
import type { CopyWorkerRequest, CopyWorkerResponse } from './copyWorker.js';
import { encodeDocumentBatch, toDocumentBatch } from './documentBatch.js';
import type { EmbeddingStorage, ValidDocument } from './Document.js';

/** Options for {@link CopyEncoder}. */
export interface CopyEncoderOptions {
  dims: number;
  storage: EmbeddingStorage;
  /** Worker threads (default: available parallelism - 1, at least 1); 0 encodes everything inline. */
  workers?: number | undefined;
  /** Batches with fewer documents are encoded inline (default 64). */
  inlineBelow?: number;
}

/** Turns validated documents into one binary COPY buffer per batch. */
export class CopyEncoder {
  private readonly dims: number;
  private readonly storage: EmbeddingStorage;
  private readonly inlineBelow: number;
  private readonly pool: WorkerPool<CopyWorkerRequest, CopyWorkerResponse> | undefined;

  constructor(options: CopyEncoderOptions) {
    this.dims = options.dims;
    this.storage = options.storage;
    this.inlineBelow = options.inlineBelow ?? 64;
    const workers = options.workers ?? defaultWorkerThreads();
    this.pool = workers > 0 ? new WorkerPool(new URL('./copyWorker.js', import.meta.url), { maxThreads: workers }) : undefined;
  }

  /** True when batches of at least `inlineBelow` documents go to worker threads. */
  get usesWorkers(): boolean {
    return this.pool !== undefined;
  }

  /** Encodes one batch (sorted by namespace and id) as a complete binary COPY stream. */
  async encode(docs: readonly ValidDocument[]): Promise<Buffer> {
    const batch = toDocumentBatch(docs, this.dims, this.storage);
    if (!this.pool || docs.length < this.inlineBelow) return encodeDocumentBatch(batch);
    const transfer: ArrayBuffer[] = [batch.embeddings.buffer as ArrayBuffer, batch.createdAt.buffer as ArrayBuffer];
    const { copy } = await this.pool.run({ batch }, transfer);
    return Buffer.from(copy.buffer, copy.byteOffset, copy.byteLength);
  }

  /** Stops the worker threads. Idempotent. */
  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}
