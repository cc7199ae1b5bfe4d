// The ingest pipeline, request side: validate each document (embedding the content of those without an
// embedding), cut the valid ones into batches, encode each batch as a binary COPY stream on worker threads,
// then either load it at once (an ingest whose caller waits: BatchCommitter.commitNow) or queue it durably
// (`wait: false`, or the database in trouble: BatchCommitter commits it later, on this node or another).
// Bad documents are named with their index, field and reason; the good ones are stored.
import { randomBytes } from 'node:crypto';
import { HiveError, UnavailableError, errorFromReply, toHiveError } from '../../protocols/errors.js';
import type { WorkQueue } from '../../runtime/WorkQueue.js';
import { retryableLater, type BatchCommitter } from './BatchCommitter.js';
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
  /** Commits a batch in the request (waiting ingests, unless `direct` is false). */
  committer: Pick<BatchCommitter, 'commitNow'>;
  nodeId: string;
  /** Most documents / about most bytes in one batch. */
  batchDocs: number;
  batchBytes: number;
  /** Most documents / about most bytes in one batch loaded directly. */
  directBatchDocs: number;
  directBatchBytes: number;
  /** Batches are COPY streams (SQL stores) rather than documents. */
  encoded: boolean;
  /** Worker threads encoding COPY streams (undefined: the default). */
  encoderWorkers: number | undefined;
  /** Whether an ingest whose caller waits loads its batches directly (true) or through the queue. */
  direct: boolean;
  /** Batches of one direct ingest being encoded or committed at once. */
  window: number;
}

/** One batch, validated and encoded. */
interface PreparedBatch {
  id: string;
  count: number;
  namespaces: string[];
  /** The documents (kept to re-cut the batch into queue-sized ones if it must be queued). */
  docs: ValidDocument[];
  copy?: Uint8Array;
}

/** Validates, encodes, and commits or queues documents. */
export class IngestPipeline {
  private encoder: CopyEncoder | undefined;

  constructor(private readonly d: IngestPipelineDeps) {}

  /**
   * Validates documents and stores the valid ones in batches. With `wait` (the default) each batch is loaded
   * directly, encoding the next batches while the database copies the current ones, and the answer comes once
   * all committed: the commit is durable and ids are fixed before loading, so a caller that gets an error can
   * retry safely. A batch the database cannot take now (down, breaker open) goes to the durable queue instead,
   * with the rest of the request, and the answer is a retryable error saying the documents stay queued. With
   * `wait: false` every batch goes to the durable queue and the answer comes once they are queued. Large
   * requests are validated a chunk at a time, so the first batches commit while the rest is being prepared.
   */
  async ingest(docs: readonly unknown[], options: { namespace?: string; wait?: boolean } = {}): Promise<IngestedAnswer | QueuedAnswer> {
    const { db, notices } = this.d;
    const wait = options.wait !== false;
    const direct = wait && this.d.direct;
    if (!direct) await this.d.queueReady();
    await db.precheck();
    const namespace = options.namespace ?? DEFAULT_NAMESPACE;
    const origin = wait ? this.d.nodeId : undefined;
    const requestId = randomBytes(9).toString('base64url');
    const rejected: Rejection[] = [];
    /** Per batch: its id, and each document's index in `docs` (to map the store's rejections back). */
    const batches: Array<{ id: string; indexOf: number[] }> = [];
    const outcomes: Promise<BatchNotice>[] = [];
    const inflight = new Set<Promise<unknown>>();
    const state = { queueRest: false };
    let queued = 0;
    let failed: unknown;
    // every text is embedded before anything is stored: an embedder that fails or answers wrong stores nothing
    const { inputs, embedded } = await this.embedAll(docs, namespace);
    const [batchDocs, batchBytes] = direct ? [this.d.directBatchDocs, this.d.directBatchBytes] : [this.d.batchDocs, this.d.batchBytes];
    const chunk = Math.max(batchDocs, 2000);
    for (let start = 0; start < docs.length && failed === undefined; start += chunk) {
      const valid: ValidDocument[] = [];
      const indexOf: number[] = [];
      const chunkRejected: Rejection[] = [];
      this.validate(inputs, embedded, start, Math.min(docs.length, start + chunk), valid, chunkRejected, indexOf);
      for (const r of chunkRejected) rejected.push({ ...r, index: r.index + start });
      let pos = 0;
      for (const batch of this.cut(valid, batchDocs, batchBytes)) {
        const id = `${requestId}-${batches.length}`;
        batches.push({ id, indexOf: indexOf.slice(pos, pos + batch.length).map((i) => i + start) });
        pos += batch.length;
        queued += batch.length;
        const prepared = this.prepare(id, batch);
        let outcome: Promise<BatchNotice>;
        if (direct) {
          outcome = prepared.then((p) => this.commitOrQueue(p, state)).catch((err: unknown) => failedNotice(id, err));
        } else {
          if (wait) outcomes.push(notices.waitFor(id));
          outcome = prepared
            .then((p) => this.d.queue.publish(this.d.queueName, this.message(p, origin), id))
            .then(() => ({ batch: id, inserted: 0, duplicates: 0, rejected: [] }))
            .catch((err: unknown) => {
              failed ??= err;
              return failedNotice(id, err);
            });
        }
        if (direct) outcomes.push(outcome);
        inflight.add(outcome);
        void outcome.finally(() => inflight.delete(outcome));
        // a direct ingest keeps `window` batches ahead (encoding while the database copies), no more
        if (direct && inflight.size >= this.d.window) await Promise.race(inflight);
      }
      // Let the queue and the database make progress (commits of earlier batches) before the next chunk.
      if (start + chunk < docs.length) await new Promise<void>((r) => setImmediate(r));
    }
    await Promise.all(inflight);
    if (failed !== undefined) {
      notices.cancel(batches.map((b) => b.id));
      throw new UnavailableError(`could not queue documents for ingestion: ${(failed as Error).message}`, { cause: failed });
    }
    if (!wait) return { type: 'memory.queued', queued, batches: batches.length, rejected } satisfies QueuedAnswer;
    const answers = await Promise.all(outcomes);
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

  /**
   * Commits one batch directly; when the database is in trouble (retryably), queues it, and every later batch
   * of the request, durably instead, answering with the database's error marked `queued`.
   */
  private async commitOrQueue(p: PreparedBatch, state: { queueRest: boolean }): Promise<BatchNotice> {
    let cause: HiveError | undefined;
    if (!state.queueRest) {
      try {
        const r = await this.d.committer.commitNow({ count: p.count, namespaces: p.namespaces, ...(p.copy !== undefined ? { copy: p.copy } : { docs: p.docs.map((v) => v.doc) }) });
        return { batch: p.id, inserted: r.inserted, duplicates: r.duplicates, rejected: r.rejected };
      } catch (err) {
        cause = toHiveError(err);
        if (!retryableLater(cause)) return failedNotice(p.id, cause);
        state.queueRest = true;
      }
    }
    const why = cause ?? new UnavailableError('an earlier batch of this ingest could not be committed', { details: { batch: p.id } });
    try {
      await this.d.queueReady();
      // a direct batch may be larger than a queue message may be: queued in queue-sized parts
      const parts = this.cut(p.docs, this.d.batchDocs, this.d.batchBytes);
      for (let i = 0; i < parts.length; i++) {
        const part = parts.length === 1 ? p : await this.prepare(`${p.id}.${i}`, parts[i]);
        await this.d.queue.publish(this.d.queueName, this.message(part, undefined), part.id);
      }
    } catch (err) {
      return failedNotice(p.id, new UnavailableError(`documents not stored (${why.message}) and the queue is unavailable (${(err as Error).message}): retry the ingest`, { cause: err, details: { batch: p.id } }));
    }
    const queuedError = new HiveError(why.code, `${why.message} (the ${p.count} documents stay queued and are stored when the database is back)`, {
      retryable: true,
      details: { ...(why.details ?? {}), queued: true, batch: p.id },
    });
    return failedNotice(p.id, queuedError);
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

  /** Cuts validated documents into batches of at most `batchDocs` documents and about `batchBytes`. */
  private cut(valid: readonly ValidDocument[], batchDocs: number, batchBytes: number): ValidDocument[][] {
    const out: ValidDocument[][] = [];
    let cur: ValidDocument[] = [];
    let bytes = 0;
    for (const v of valid) {
      const size = estimateDocBytes(v, this.d.limits.storage);
      if (cur.length > 0 && (cur.length >= batchDocs || bytes + size > batchBytes)) {
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

  /** One batch ready to load: encoded as a COPY stream (on a worker thread) for SQL stores, else the documents. */
  private async prepare(id: string, docs: ValidDocument[]): Promise<PreparedBatch> {
    const namespaces = [...new Set(docs.map((v) => v.doc.namespace))];
    if (!this.d.encoded) return { id, count: docs.length, namespaces, docs };
    const { dims, storage } = this.d.limits;
    this.encoder ??= new CopyEncoder({ dims, storage, workers: this.d.encoderWorkers, inlineBelow: 64 });
    return { id, count: docs.length, namespaces, docs, copy: await this.encoder.encode(docs) };
  }

  /** The batch as a queue message. */
  private message(p: PreparedBatch, origin: string | undefined): Uint8Array {
    const { dims, storage } = this.d.limits;
    if (p.copy !== undefined) return encodeCopyMessage(p.id, origin, p.copy, p.count, p.namespaces, dims, storage);
    return encodeIngestMessage(p.id, origin, p.docs, dims, storage);
  }

  /** Stops the encoder's worker threads. */
  async close(): Promise<void> {
    const e = this.encoder;
    this.encoder = undefined;
    await e?.close();
  }
}

/** A batch's notice carrying `err`. */
function failedNotice(batch: string, err: unknown): BatchNotice {
  return { batch, inserted: 0, duplicates: 0, rejected: [], error: toHiveError(err).toReply() };
}
