// The parts the memory actor calls, built from its options: the database behind its breaker, the ingest
// pipeline (request side) and the batch committer (queue side) with their commit notices, and search with its
// cache. They do I/O and keep no lifecycle: the memory machine (memoryMachine.ts) decides when to open, serve,
// build the index and close.
import { randomUUID } from 'node:crypto';
import { HiveError, InvalidArgumentError, UnavailableError, toHiveError } from '../../protocols/errors.js';
import type { HiveEvent } from '../../protocols/envelope.js';
import { systemClock, type Clock } from '../../runtime/Clock.js';
import { silentLogger, type Logger } from '../../runtime/logger.js';
import type { MetricsRegistry } from '../../runtime/metrics.js';
import type { Transport } from '../../runtime/Transport.js';
import type { WorkQueue } from '../../runtime/WorkQueue.js';
import type { BreakerOptions } from '../breaker/breakerOptions.js';
import { BatchCommitter } from './BatchCommitter.js';
import { CommitNotices } from './CommitNotices.js';
import type { EmbeddingStorage, ValidationLimits } from './Document.js';
import type { Embedder } from './Embedder.js';
import { HashingEmbedder } from './HashingEmbedder.js';
import { IngestPipeline } from './IngestPipeline.js';
import { MemoryDatabase } from './MemoryDatabase.js';
import { parseDelete, parseIngest, parseSearch, parseStats, type MemoryAnswer } from './memoryProtocol.js';
import { MemorySearch } from './MemorySearch.js';
import type { MemoryStore } from './MemoryStore.js';
import type { QueryCacheOptions } from './QueryCache.js';

/** How documents go through the durable queue. */
export interface MemoryIngestOptions {
  /** Most documents in one queue message (default 1,000). */
  batchDocs?: number;
  /** Most bytes in one queue message, about (default 960 KiB: under the NATS default max_payload of 1 MiB). */
  batchBytes?: number;
  /** Most documents in one batch of a waiting ingest loaded directly (default 1,000; at most about 16 MiB). */
  directBatchDocs?: number;
  /** Queue messages committed at once on this node (default 3; 1 for PGlite, which has one backend). */
  consumers?: number;
  /** A message not acknowledged within this long is redelivered (default 10,000 ms; kept alive while committing). */
  ackWaitMs?: number;
  /** Most documents in one ingest request (default 100,000). */
  maxRequestDocs?: number;
  /** Longest an ingest waits for its commit notices before answering TIMEOUT (default 10 minutes). */
  maxWaitMs?: number;
  /** First redelivery delay after a database failure, doubling per attempt up to 30 s (default 250 ms). */
  retryBaseMs?: number;
  /**
   * An ingest whose caller waits loads its batches directly (default true): encoded on workers while the
   * database copies the previous ones, at most `consumers` at once per node; the queue takes them only when
   * the database is in trouble. false: they go through the durable queue too (as `wait: false` always does).
   */
  direct?: boolean;
}

/** Options of {@link MemoryParts}. */
export interface MemoryPartsOptions {
  /** The store (not yet initialized: the memory machine opens it). */
  store: MemoryStore;
  /** `postgres`, `pglite` or `custom` (for stats and logs). */
  backend: string;
  /** Embeds texts without an embedding and text queries (default: a {@link HashingEmbedder} of the store's dims). */
  embedder?: Embedder;
  /** The durable queue (JetStream, or in memory) and the queue's name (one per store). */
  queue: WorkQueue;
  queueName: string;
  /** Carries commit notices and cache invalidations between the cluster's nodes. */
  transport: Transport;
  cluster: string;
  nodeId: string;
  clock?: Clock;
  logger?: Logger;
  metrics?: MetricsRegistry;
  /** The database circuit breaker's options, or false for none (default: trips after 3 failures in a row). */
  breaker?: BreakerOptions | false;
  /** Search result cache, or false for none. */
  cache?: QueryCacheOptions | false;
  ingest?: MemoryIngestOptions;
  /** Content and metadata limits for validation before queueing (default the store's defaults). */
  limits?: { maxContentBytes?: number; maxMetadataBytes?: number };
  /** Worker threads encoding batches to COPY streams before queueing (default: available parallelism - 1, at least 1; 0 inline). */
  encoderWorkers?: number;
}

function positive(option: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new HiveError('INVALID_CONFIG', `memory option ${option} must be a positive integer, got ${String(value)}`, { details: { option } });
  return value;
}

/** One node's memory parts. */
export class MemoryParts {
  readonly store: MemoryStore;
  readonly backend: string;
  readonly embedder: Embedder;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly db: MemoryDatabase;
  readonly notices: CommitNotices;
  readonly pipeline: IngestPipeline;
  readonly committer: BatchCommitter;
  readonly search: MemorySearch;
  /** Ack wait of the ingestion queue (the index build waits 1.5 x this after the last commit by default). */
  readonly ackWaitMs: number;
  private readonly maxRequestDocs: number;
  private readonly committed = new Set<(inserted: number) => void>();
  private readonly counters: {
    requests: ReturnType<MetricsRegistry['counter']> | undefined;
    seconds: ReturnType<MetricsRegistry['histogram']> | undefined;
  };

  constructor(o: MemoryPartsOptions) {
    this.store = o.store;
    this.backend = o.backend;
    this.clock = o.clock ?? systemClock;
    this.logger = o.logger ?? silentLogger();
    this.embedder = o.embedder ?? new HashingEmbedder({ dims: o.store.dims });
    if (this.embedder.dims !== o.store.dims) {
      throw new HiveError('INVALID_CONFIG', `memory embedder makes ${this.embedder.dims}-dimension embeddings, but the store keeps ${o.store.dims}`, { details: { option: 'embedder' } });
    }
    const storage: EmbeddingStorage = o.store.storage;
    const limits: ValidationLimits & { storage: EmbeddingStorage; maxContentBytes: number } = {
      dims: o.store.dims,
      storage,
      maxContentBytes: o.limits?.maxContentBytes ?? 256 * 1024,
      maxMetadataBytes: o.limits?.maxMetadataBytes ?? 64 * 1024,
      now: () => this.clock.now(),
      newId: randomUUID,
    };
    const ing = o.ingest ?? {};
    this.ackWaitMs = positive('ingest.ackWaitMs', ing.ackWaitMs ?? 10_000);
    this.maxRequestDocs = positive('ingest.maxRequestDocs', ing.maxRequestDocs ?? 100_000);
    const m = o.metrics;
    this.db = new MemoryDatabase(o.store, this.clock, { name: `memory-${o.nodeId}`, ...(o.breaker !== undefined && { breaker: o.breaker }), ...(m !== undefined && { metrics: m }) });
    this.notices = new CommitNotices({ transport: o.transport, cluster: o.cluster, nodeId: o.nodeId, clock: this.clock, logger: this.logger, maxWaitMs: positive('ingest.maxWaitMs', ing.maxWaitMs ?? 600_000) });
    this.search = new MemorySearch({
      db: this.db,
      embedder: this.embedder,
      transport: o.transport,
      cluster: o.cluster,
      nodeId: o.nodeId,
      backend: o.backend,
      logger: this.logger,
      ...(m !== undefined && { metrics: m }),
      cache: o.cache === false ? false : { clock: this.clock, ...(o.cache ?? {}) },
      queueDepth: () => this.committer.depth(),
    });
    const consumers = positive('ingest.consumers', ing.consumers ?? (o.backend === 'pglite' ? 1 : 3));
    this.committer = new BatchCommitter({
      db: this.db,
      queue: o.queue,
      queueName: o.queueName,
      notices: this.notices,
      consumers,
      ackWaitMs: this.ackWaitMs,
      retryBaseMs: positive('ingest.retryBaseMs', ing.retryBaseMs ?? 250),
      clock: this.clock,
      logger: this.logger,
      ...(m !== undefined && { metrics: m }),
      onCommitted: (namespaces, inserted) => {
        this.search.invalidate(namespaces);
        for (const l of this.committed) l(inserted);
      },
    });
    this.pipeline = new IngestPipeline({
      db: this.db,
      embedder: this.embedder,
      limits,
      queue: o.queue,
      queueName: o.queueName,
      queueReady: () => this.committer.start().catch((err: unknown) => {
        throw new UnavailableError(`memory ingestion queue unavailable: ${(err as Error).message}`, { cause: err });
      }),
      notices: this.notices,
      committer: this.committer,
      direct: ing.direct !== false,
      window: Math.max(2, 2 * consumers),
      nodeId: o.nodeId,
      batchDocs: positive('ingest.batchDocs', ing.batchDocs ?? 1000),
      batchBytes: positive('ingest.batchBytes', ing.batchBytes ?? 960 * 1024),
      directBatchDocs: positive('ingest.directBatchDocs', ing.directBatchDocs ?? 1000),
      directBatchBytes: 16 * 1024 * 1024,
      encoded: this.committer.encoded,
      encoderWorkers: o.encoderWorkers,
    });
    this.counters = {
      requests: m?.counter('hive_memory_requests_total', 'Memory requests by operation and result', ['op', 'result']),
      seconds: m?.histogram('hive_memory_request_seconds', 'Memory request time through the memory actor, by operation', ['op']),
    };
  }

  /** Calls `listener` with the documents each commit stored; returns an unsubscribe function. */
  onCommitted(listener: (inserted: number) => void): () => void {
    this.committed.add(listener);
    return () => this.committed.delete(listener);
  }

  /**
   * Listens for commit notices and invalidations, opens the store, and starts committing queued batches
   * (also when the store did not open: batches wait in the queue). Rejects when the store did not open.
   */
  async open(): Promise<void> {
    this.notices.listen();
    this.search.listen();
    const started = performance.now();
    try {
      await this.db.open();
      this.logger.info({ backend: this.backend, ms: Math.round(performance.now() - started) }, 'memory store ready');
    } finally {
      this.committer.start().catch((err: unknown) => this.logger.warn({ err }, 'memory ingestion queue unavailable; retrying on use'));
    }
  }

  /**
   * Answers one memory request event. Bad requests reject with INVALID_ARGUMENT naming the field; database
   * trouble with a retryable DATABASE or CIRCUIT_OPEN error.
   */
  async handle(event: HiveEvent): Promise<MemoryAnswer> {
    const op = event.type.startsWith('memory.') ? event.type.slice(7) : event.type;
    const started = performance.now();
    try {
      let answer: MemoryAnswer;
      switch (event.type) {
        case 'memory.ingest': {
          const r = parseIngest(event, this.maxRequestDocs);
          answer = await this.pipeline.ingest(r.docs, { wait: r.wait, ...(r.namespace !== undefined && { namespace: r.namespace }) });
          break;
        }
        case 'memory.search':
          answer = { type: 'memory.results', hits: await this.search.search(parseSearch(event)) };
          break;
        case 'memory.delete': {
          const r = parseDelete(event);
          answer = { type: 'memory.deleted', deleted: await this.search.delete(r.namespace, r.ids) };
          break;
        }
        case 'memory.stats':
          answer = await this.search.stats(parseStats(event).namespace);
          break;
        default:
          throw new InvalidArgumentError(`unknown memory request "${event.type}" (memory.ingest, memory.search, memory.delete, memory.stats)`, { details: { argument: 'type' } });
      }
      this.counters.requests?.inc({ op, result: 'ok' });
      this.counters.seconds?.observe({ op }, (performance.now() - started) / 1000);
      return answer;
    } catch (err) {
      this.counters.requests?.inc({ op, result: 'error' });
      throw toHiveError(err);
    }
  }

  /**
   * Stops committing (batches being committed finish), answers ingests still waiting with UNAVAILABLE (their
   * documents stay queued), stops listening and the encoder workers. The store is closed by its owner.
   */
  async close(): Promise<void> {
    await this.committer.stop();
    this.notices.close(new UnavailableError('memory stopped before the documents were committed; they stay queued', { details: { queued: true } }).toReply());
    this.search.close();
    await this.pipeline.close();
    this.db.dispose();
  }
}
