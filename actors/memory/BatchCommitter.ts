// The ingest pipeline, queue side: takes queued batches through the one DurableConsumer and commits each
// (`loadEncoded` of its COPY stream, or `store.ingest` of its documents for other stores), acknowledged only
// after the commit. Database trouble is retried until the database is back (the waiting ingest hears at once
// that its documents stay queued); a batch that is not one the pipeline produced, or one encoded for another
// store configuration, is dead-lettered with its reason.
import { HiveError, toHiveError } from '../../protocols/errors.js';
import type { Clock } from '../../runtime/Clock.js';
import { DurableConsumer, type WorkContext, type WorkOutcome } from '../../runtime/DurableConsumer.js';
import type { Logger } from '../../runtime/logger.js';
import type { MetricsRegistry } from '../../runtime/metrics.js';
import type { WorkQueue } from '../../runtime/WorkQueue.js';
import type { CommitNotices } from './CommitNotices.js';
import { decodeQueueMessage, type QueueMessage } from './ingestMessage.js';
import type { MemoryDatabase } from './MemoryDatabase.js';
import type { IngestResult, MemoryStore } from './MemoryStore.js';

/**
 * A store that loads batches already encoded as binary COPY streams (`SqlMemoryStore`: PostgreSQL and PGlite).
 * With one, documents are encoded once, on worker threads, before they are queued, and the committer streams
 * the queued bytes to the database as they are.
 */
export interface EncodedLoader {
  loadEncoded(copy: Uint8Array, count: number, direct?: boolean): Promise<IngestResult>;
}

/** The store's `loadEncoded`, when it has one. */
export function encodedLoader(store: MemoryStore): EncodedLoader | undefined {
  return typeof (store as Partial<EncodedLoader>).loadEncoded === 'function' ? (store as unknown as EncodedLoader) : undefined;
}

/** Database trouble worth waiting out (the batch is kept in the durable queue and retried). */
export function retryableLater(err: HiveError): boolean {
  return err.retryable && (err.code === 'DATABASE' || err.code === 'CIRCUIT_OPEN' || err.code === 'TIMEOUT' || err.code === 'UNAVAILABLE');
}

/** What the committer runs on. */
export interface BatchCommitterDeps {
  db: MemoryDatabase;
  queue: WorkQueue;
  queueName: string;
  notices: CommitNotices;
  /** Batches committed at once on this node. */
  consumers: number;
  ackWaitMs: number;
  /** First redelivery delay after a database failure (doubling to 30 s, jittered). */
  retryBaseMs: number;
  clock: Clock;
  logger: Logger;
  metrics?: MetricsRegistry;
  /** Called after each commit that stored documents (cache invalidation, the index counter). */
  onCommitted(namespaces: readonly string[], inserted: number): void;
}

/** A batch committed in the caller's request, without the queue: its COPY stream (SQL stores) or its documents. */
export interface DirectBatch {
  copy?: Uint8Array;
  docs?: readonly unknown[];
  count: number;
  namespaces: readonly string[];
}

/** Commits queued batches. */
export class BatchCommitter {
  private readonly consumer: DurableConsumer<QueueMessage>;
  private readonly loader: EncodedLoader | undefined;
  private readonly batches: ReturnType<MetricsRegistry['counter']> | undefined;
  private readonly direct: ReturnType<MetricsRegistry['counter']> | undefined;
  private ensured: Promise<void> | undefined;
  /** Direct commits running, and those waiting for one of the `consumers` slots (FIFO). */
  private directRunning = 0;
  private readonly directWaiting: Array<() => void> = [];

  constructor(private readonly d: BatchCommitterDeps) {
    this.loader = encodedLoader(d.db.store);
    this.batches = d.metrics?.counter('hive_memory_queue_batches_total', 'Durable ingestion queue messages by outcome (committed, retried, dead)', ['result']);
    this.direct = d.metrics?.counter('hive_memory_direct_batches_total', 'Batches of waiting ingests committed without the queue, by outcome (committed, failed)', ['result']);
    this.consumer = new DurableConsumer<QueueMessage>({
      queue: d.queue,
      name: d.queueName,
      // database trouble is retried until the database is back; only garbage and misconfiguration dead-letter
      maxDeliver: 1_000_000,
      ackWaitMs: d.ackWaitMs,
      capacity: () => d.consumers,
      decode: decodeQueueMessage,
      work: (msg, ctx) => this.commit(msg, ctx),
      onDeadLettered: (msg, err) => {
        this.batches?.inc({ result: 'dead' });
        if (msg !== undefined) d.notices.notify(msg.origin, { batch: msg.batch, inserted: 0, duplicates: 0, rejected: [], error: err.toReply() });
      },
      retry: { minMs: d.retryBaseMs, maxMs: 30_000 },
      clock: d.clock,
      logger: d.logger,
      ...(d.metrics !== undefined && { metrics: d.metrics }),
    });
  }

  /** Whether batches go to the queue encoded (the store loads COPY streams). */
  get encoded(): boolean {
    return this.loader !== undefined;
  }

  /** Creates the queue (retried on the next call after a failure) and starts committing. */
  start(): Promise<void> {
    this.ensured ??= this.consumer.start().catch((err: unknown) => {
      this.ensured = undefined;
      throw err;
    });
    return this.ensured;
  }

  /** Batches being committed now. */
  get committing(): number {
    return this.consumer.stats().inFlight;
  }

  /** Queue messages waiting (rejects when the depth cannot be read). */
  depth(): Promise<number> {
    return this.d.queue.depth(this.d.queueName);
  }

  /** Stops taking batches and lets those being committed finish (the rest stays queued). */
  stop(): Promise<void> {
    return this.consumer.stop();
  }

  /**
   * Commits one batch now, for an ingest whose caller waits (its ids are fixed, so a retry is idempotent):
   * at most `consumers` at once on this node (the others wait their turn here), through the breaker. Rejects
   * with the database's error; the caller decides whether the batch goes to the queue instead.
   */
  async commitNow(batch: DirectBatch): Promise<IngestResult> {
    const { db } = this.d;
    const store = db.store;
    const loader = this.loader;
    if (this.directRunning >= this.d.consumers) await new Promise<void>((resolve) => this.directWaiting.push(resolve));
    else this.directRunning++;
    try {
      const r = await db.guard(() => (batch.copy !== undefined && loader !== undefined ? loader.loadEncoded(batch.copy, batch.count, true) : store.ingest(batch.docs ?? [])));
      this.direct?.inc({ result: 'committed' });
      if (r.inserted > 0) this.d.onCommitted(batch.namespaces, r.inserted);
      return r;
    } catch (err) {
      this.direct?.inc({ result: 'failed' });
      throw err;
    } finally {
      // hand the slot to the next waiter, or free it
      const next = this.directWaiting.shift();
      if (next !== undefined) next();
      else this.directRunning--;
    }
  }

  private async commit(msg: QueueMessage, ctx: WorkContext): Promise<WorkOutcome> {
    const { db, notices } = this.d;
    const store = db.store;
    if (msg.kind === 'copy' && (msg.dims !== store.dims || msg.storage !== store.storage || this.loader === undefined)) {
      const err = new HiveError('INVALID_CONFIG', `batch encoded for ${msg.storage}(${msg.dims}), but this node's store keeps ${store.storage}(${store.dims}): give every node of the cluster the same memory options`, {
        details: { option: 'dims', batch: msg.batch },
      });
      return { kind: 'dead', error: err };
    }
    try {
      const loader = this.loader;
      const r = await db.guard(() => (msg.kind === 'copy' ? loader!.loadEncoded(msg.copy, msg.count, ctx.deliveryCount === 1) : store.ingest(msg.docs)));
      this.batches?.inc({ result: 'committed' });
      if (r.inserted > 0) this.d.onCommitted(msg.namespaces, r.inserted);
      notices.notify(msg.origin, { batch: msg.batch, inserted: r.inserted, duplicates: r.duplicates, rejected: r.rejected });
      return { kind: 'ack' };
    } catch (err) {
      const e = toHiveError(err);
      if (!retryableLater(e)) return { kind: 'dead', error: e };
      const fromBreaker = typeof e.details?.['retryInMs'] === 'number' ? Math.max(10, e.details['retryInMs']) : undefined;
      this.batches?.inc({ result: 'retried' });
      if (ctx.deliveryCount === 1) this.d.logger.warn({ err: e, batch: msg.batch }, 'memory batch not committed: it stays queued and is retried');
      const queued = new HiveError(e.code, `${e.message} (the ${msg.kind === 'copy' ? msg.count : msg.docs.length} documents stay queued and are stored when the database is back)`, {
        retryable: e.retryable,
        details: { ...(e.details ?? {}), queued: true, batch: msg.batch },
      });
      notices.notify(msg.origin, { batch: msg.batch, inserted: 0, duplicates: 0, rejected: [], error: queued.toReply() });
      return { kind: 'retry', error: e, ...(fromBreaker !== undefined && { delayMs: fromBreaker }) };
    }
  }
}
