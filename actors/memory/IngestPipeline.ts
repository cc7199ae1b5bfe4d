// The ingest pipeline, request side: validate each document (embedding the content of those without an
// embedding), cut the valid ones into batches, encode each batch as a binary COPY stream on worker threads,
// queue it durably, and with `wait` answer once every batch's commit notice came back (BatchCommitter commits
// them, on this node or another). Bad documents are named with their index, field and reason; the good ones
// are stored.
import { randomBytes } from 'node:crypto';
import { HiveError, UnavailableError, errorFromReply } from '../../protocols/errors.js';
import type { WorkQueue } from '../../runtime/WorkQueue.js';
import type { BatchNotice, CommitNotices } from './CommitNotices.js';
import { CopyEncoder } from './CopyEncoder.js';
import { validateDocument, type EmbeddingStorage, type Rejection, type ValidDocument, type ValidationLimits } from './Document.js';
import type { Embedder } from './Embedder.js';
import { encodeCopyMessage, encodeIngestMessage, estimateDocBytes } from './ingestMessage.js';
import type { MemoryDatabase } from './MemoryDatabase.js';
import { DEFAULT_NAMESPACE, type IngestedAnswer, type QueuedAnswer } from './memoryProtocol.js';

/** What the pipeline runs on. */
export interface IngestPipelineDeps {
  db: MemoryDatabase;
  embedder: Embedder;
  limits: ValidationLimits & { storage: EmbeddingStorage; maxContentBytes: number };
  queue: WorkQueue;
  queueName: string;
  /** Resolves once the queue exists. */
  queueReady(): Promise<void>;
  notices: CommitNotices;
  nodeId: string;
  /** Most documents / about most bytes in one queue message. */
  batchDocs: number;
  batchBytes: number;
  /** Batches go to the queue as COPY streams (SQL stores) rather than as documents. */
  encoded: boolean;
  /** Worker threads encoding COPY streams (undefined: the default). */
  encoderWorkers: number | undefined;
}

/** Validates, encodes and queues documents. */
export class IngestPipeline {
  private encoder: CopyEncoder | undefined;

  constructor(private readonly d: IngestPipelineDeps) {}

  /**
   * Validates documents, queues the valid ones durably in batches, and with `wait` (the default) resolves once
   * every batch has committed. Large requests are validated a chunk at a time, each chunk's batches encoded and
   * queued while the next is validated, so the first batches commit while the rest is still being prepared.
   */
  async ingest(docs: readonly unknown[], options: { namespace?: string; wait?: boolean } = {}): Promise<IngestedAnswer | QueuedAnswer> {
    const { db, notices, queue, queueName } = this.d;
    await this.d.queueReady();
    await db.precheck();
    const namespace = options.namespace ?? DEFAULT_NAMESPACE;
    const wait = options.wait !== false;
    const origin = wait ? this.d.nodeId : undefined;
    const requestId = randomBytes(9).toString('base64url');
    const rejected: Rejection[] = [];
    /** Per queued batch: its id, and each document's index in `docs` (to map the consumer's rejections back). */
    const batches: Array<{ id: string; indexOf: number[] }> = [];
    const waits: Promise<BatchNotice>[] = [];
    const publishing: Promise<void>[] = [];
    let queued = 0;
    let failed: unknown;
    // every text is embedded before anything is queued: an embedder that fails or answers wrong stores nothing
    const { inputs, embedded } = await this.embedAll(docs, namespace);
    const chunk = Math.max(this.d.batchDocs, 2000);
    for (let start = 0; start < docs.length && failed === undefined; start += chunk) {
      const valid: ValidDocument[] = [];
      const indexOf: number[] = [];
      const chunkRejected: Rejection[] = [];
      this.validate(inputs, embedded, start, Math.min(docs.length, start + chunk), valid, chunkRejected, indexOf);
      for (const r of chunkRejected) rejected.push({ ...r, index: r.index + start });
      let pos = 0;
      for (const batch of this.cut(valid)) {
        const id = `${requestId}-${batches.length}`;
        batches.push({ id, indexOf: indexOf.slice(pos, pos + batch.length).map((i) => i + start) });
        pos += batch.length;
        queued += batch.length;
        if (wait) waits.push(notices.waitFor(id));
        const p = this.queueMessage(id, origin, batch)
          .then((data) => queue.publish(queueName, data, id))
          .catch((err: unknown) => {
            failed ??= err;
          });
        publishing.push(p);
      }
      // Let the queue and the database make progress (commits of earlier batches) before the next chunk.
      if (start + chunk < docs.length) await new Promise<void>((r) => setImmediate(r));
    }
    await Promise.all(publishing);
    if (failed !== undefined) {
      notices.cancel(batches.map((b) => b.id));
      throw new UnavailableError(`could not queue documents for ingestion: ${(failed as Error).message}`, { cause: failed });
    }
    if (!wait) return { type: 'memory.queued', queued, batches: batches.length, rejected } satisfies QueuedAnswer;
    const answers = await Promise.all(waits);
    let inserted = 0;
    let duplicates = 0;
    for (let i = 0; i < answers.length; i++) {
      const n = answers[i];
      if (n.error !== undefined) throw errorFromReply(n.error);
      inserted += n.inserted;
      duplicates += n.duplicates;
      for (const r of n.rejected) rejected.push({ ...r, index: batches[i].indexOf[r.index] ?? r.index });
    }
    rejected.sort((a, b) => a.index - b.index);
    return { type: 'memory.ingested', inserted, duplicates, rejected } satisfies IngestedAnswer;
  }

  /** Copies the documents with the request's namespace filled in, and embeds the content of those without an embedding. */
  private async embedAll(docs: readonly unknown[], namespace: string): Promise<{ inputs: unknown[]; embedded: Set<number> }> {
    const { limits, embedder } = this.d;
    const inputs: unknown[] = new Array(docs.length);
    const toEmbed: number[] = [];
    for (let i = 0; i < docs.length; i++) {
      const d = docs[i];
      if (typeof d !== 'object' || d === null || Array.isArray(d)) {
        inputs[i] = d;
        continue;
      }
      const copy: Record<string, unknown> = { ...(d as Record<string, unknown>) };
      if (copy['namespace'] === undefined || copy['namespace'] === null) copy['namespace'] = namespace;
      const content = copy['content'];
      if ((copy['embedding'] === undefined || copy['embedding'] === null) && typeof content === 'string' && content.trim() !== '' && content.length <= limits.maxContentBytes) {
        toEmbed.push(i);
      }
      inputs[i] = copy;
    }
    const embedded = new Set<number>();
    if (toEmbed.length > 0) {
      const vectors = await embedder.embed(toEmbed.map((i) => (inputs[i] as { content: string }).content));
      if (vectors.length !== toEmbed.length) throw new HiveError('INTERNAL', `embedder returned ${vectors.length} embeddings for ${toEmbed.length} texts`);
      for (let j = 0; j < toEmbed.length; j++) {
        (inputs[toEmbed[j]] as Record<string, unknown>)['embedding'] = vectors[j];
        embedded.add(toEmbed[j]);
      }
    }
    return { inputs, embedded };
  }

  /** Validates `inputs[from..to)`; indexes in `rejected` and `indexOf` are relative to `from`. */
  private validate(inputs: readonly unknown[], embedded: ReadonlySet<number>, from: number, to: number, valid: ValidDocument[], rejected: Rejection[], indexOf: number[]): void {
    for (let i = from; i < to; i++) {
      const r = validateDocument(inputs[i], this.d.limits, i - from);
      if (r.ok) {
        valid.push(r);
        indexOf.push(i - from);
      } else {
        const rej = r.rejection;
        if (rej.field === 'embedding' && embedded.has(i)) {
          rej.field = 'content';
          rej.reason = `content has no words to embed (${rej.reason})`;
        }
        rejected.push(rej);
      }
    }
  }

  /** Cuts validated documents into queue messages of at most batchDocs documents and about batchBytes. */
  private cut(valid: readonly ValidDocument[]): ValidDocument[][] {
    const out: ValidDocument[][] = [];
    let cur: ValidDocument[] = [];
    let bytes = 0;
    for (const v of valid) {
      const size = estimateDocBytes(v, this.d.limits.storage);
      if (cur.length > 0 && (cur.length >= this.d.batchDocs || bytes + size > this.d.batchBytes)) {
        out.push(cur);
        cur = [];
        bytes = 0;
      }
      cur.push(v);
      bytes += size;
    }
    if (cur.length > 0) out.push(cur);
    return out;
  }

  /** One queue message: the batch encoded as a COPY stream (on a worker thread) for SQL stores, else the documents. */
  private async queueMessage(batch: string, origin: string | undefined, docs: ValidDocument[]): Promise<Uint8Array> {
    const { dims, storage } = this.d.limits;
    if (!this.d.encoded) return encodeIngestMessage(batch, origin, docs, dims, storage);
    this.encoder ??= new CopyEncoder({ dims, storage, workers: this.d.encoderWorkers, inlineBelow: 64 });
    const copy = await this.encoder.encode(docs);
    const namespaces = [...new Set(docs.map((v) => v.doc.namespace))];
    return encodeCopyMessage(batch, origin, copy, docs.length, namespaces, dims, storage);
  }

  /** Stops the encoder's worker threads. */
  async close(): Promise<void> {
    const e = this.encoder;
    this.encoder = undefined;
    await e?.close();
  }
}
