// The memory service behind the memory actor, one per node: opens the store in the background (requests that
// arrive first wait for it), embeds text with the node's Embedder, validates and batches documents into the
// durable work queue and commits them from there (acknowledged only after the commit, so a crash loses and
// duplicates nothing), caches search results per namespace, and calls the database through a circuit breaker.
import { randomBytes, randomUUID } from 'node:crypto';
import {
  CircuitOpenError,
  HiveError,
  InvalidArgumentError,
  TimeoutError,
  UnavailableError,
  errorFromReply,
  toHiveError,
  type ErrorReply,
} from '../../protocols/errors.js';
import { decodeJson, encodeJson } from '../../protocols/frame.js';
import type { HiveEvent } from '../../protocols/envelope.js';
import { systemClock, type Clock, type TimerHandle } from '../../runtime/Clock.js';
import { silentLogger, type Logger } from '../../runtime/logger.js';
import type { MetricsRegistry } from '../../runtime/metrics.js';
import type { Transport, TransportSubscription } from '../../runtime/Transport.js';
import type { WorkQueue } from '../../runtime/WorkQueue.js';
import { DurableConsumer, type WorkContext, type WorkOutcome } from '../../runtime/DurableConsumer.js';
import { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import type { BreakerOptions } from '../breaker/breakerOptions.js';
import { validateDocument, type EmbeddingStorage, type Rejection, type ValidDocument, type ValidationLimits } from './Document.js';
import type { Embedder } from './Embedder.js';
import { HashingEmbedder } from './HashingEmbedder.js';
import { decodeQueueMessage, type QueueMessage, encodeCopyMessage, encodeIngestMessage, estimateDocBytes } from './ingestMessage.js';
import { CopyEncoder } from './CopyEncoder.js';
import {
  DEFAULT_NAMESPACE,
  memoryDoneSubject,
  memoryInvalidateSubject,
  parseDelete,
  parseIngest,
  parseSearch,
  parseStats,
  type DeletedAnswer,
  type IngestedAnswer,
  type MemoryAnswer,
  type ParsedSearch,
  type QueuedAnswer,
  type ResultsAnswer,
  type StatsAnswer,
} from './memoryProtocol.js';
import type { IngestResult, MemoryStore, SearchHit, SearchQuery } from './MemoryStore.js';
import { QueryCache, type QueryCacheOptions, type QueryKey } from './QueryCache.js';

/** How documents go through the durable queue. */
export interface MemoryIngestOptions {
  /** Most documents in one queue message (default 1,000). */
  batchDocs?: number;
  /** Most bytes in one queue message, about (default 960 KiB: under the NATS default max_payload of 1 MiB). */
  batchBytes?: number;
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
}

/** Options of {@link MemoryService}. */
export interface MemoryServiceOptions {
  /** The store (not yet initialized: the service opens it in the background). */
  store: MemoryStore;
  /** `postgres` or `pglite` (for stats and logs). */
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
  /**
   * Build the HNSW index (`store.ensureIndex()`) once the store holds this many documents (default 10,000)
   * and ingestion has been idle for `indexIdleMs`. Until then searches scan exactly (exact results, fast at
   * that size) and loads run about ten times faster than into an indexed table (a large ingest loads first,
   * then the index is built once, which is much faster than growing it row by row). false: never from here
   * (the store's `deferIndex` decides).
   */
  indexAfterDocs?: number | false;
  /** Quiet time after the last commit (and after the store opened) before the index is built (default 1.5 x ackWaitMs, at least 1 s). */
  indexIdleMs?: number;
  /** Worker threads encoding batches to COPY streams before queueing (default: available parallelism - 1, at least 1; 0 inline). */
  encoderWorkers?: number;
}

/**
 * A store that loads batches already encoded as binary COPY streams (`SqlMemoryStore`: PostgreSQL and PGlite).
 * With one, documents are encoded once, on worker threads, before they are queued, and the consumer streams
 * the queued bytes to the database as they are.
 */
export interface EncodedLoader {
  loadEncoded(copy: Uint8Array, count: number, direct?: boolean): Promise<IngestResult>;
}

function encodedLoader(store: MemoryStore): EncodedLoader | undefined {
  return typeof (store as Partial<EncodedLoader>).loadEncoded === 'function' ? (store as unknown as EncodedLoader) : undefined;
}

/** The store's state as the service sees it. */
export type MemoryState = 'opening' | 'ready' | 'unavailable';

/** What a consumer tells the node that queued a batch. */
interface BatchNotice {
  batch: string;
  inserted: number;
  duplicates: number;
  rejected: Rejection[];
  error?: ErrorReply;
}

interface Waiter {
  resolve(n: BatchNotice): void;
}

/** Failures that say the database (not the caller) is in trouble: they count against the breaker and are retried. */
export function isDatabaseFailure(err: unknown): boolean {
  if (!(err instanceof HiveError)) return true;
  if (err.code === 'DATABASE' || err.code === 'TIMEOUT') return err.retryable;
  return err.code === 'INTERNAL';
}

function retryableLater(err: HiveError): boolean {
  return err.retryable && (err.code === 'DATABASE' || err.code === 'CIRCUIT_OPEN' || err.code === 'TIMEOUT' || err.code === 'UNAVAILABLE');
}

const DEFAULT_BREAKER: BreakerOptions = { consecutiveFailures: 3, coolDownMs: 1000, coolDownMultiplier: 2, maxCoolDownMs: 15_000, probesToClose: 1, minimumCalls: 10 };

/** One node's semantic memory: what the memory actor calls. */
export class MemoryService {
  readonly store: MemoryStore;
  readonly backend: string;
  readonly embedder: Embedder;
  readonly breaker: CircuitBreaker | undefined;
  readonly cache: QueryCache | undefined;
  private readonly o: MemoryServiceOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly limits: ValidationLimits;
  private readonly batchDocs: number;
  private readonly batchBytes: number;
  private readonly consumers: number;
  private readonly ackWaitMs: number;
  private readonly maxRequestDocs: number;
  private readonly maxWaitMs: number;
  private readonly retryBaseMs: number;
  private currentState: MemoryState = 'opening';
  private readonly stateListeners = new Set<(s: MemoryState) => void>();
  private opening: Promise<void> | undefined;
  private queueReady: Promise<void> | undefined;
  private consumer: DurableConsumer<QueueMessage> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly loader: EncodedLoader | undefined;
  private encoder: CopyEncoder | undefined;
  private readonly waiters = new Map<string, Waiter>();
  private subs: TransportSubscription[] = [];
  private stopped = false;
  /** Documents the store holds, about (counted at open, then by commits), for building the index. */
  private storedDocs = 0;
  private indexState: 'unknown' | 'counting' | 'pending' | 'building' | 'built' | 'off';
  private openAttempted = false;
  private lastCommitAt = 0;
  /** When the store first answered (the index build waits for a quiet period from there too). */
  private openedAt = 0;
  private indexTimer: TimerHandle | undefined;
  private readonly counters: {
    requests: ReturnType<MetricsRegistry['counter']> | undefined;
    seconds: ReturnType<MetricsRegistry['histogram']> | undefined;
    batches: ReturnType<MetricsRegistry['counter']> | undefined;
  };

  constructor(options: MemoryServiceOptions) {
    this.o = options;
    this.store = options.store;
    this.backend = options.backend;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger();
    this.embedder = options.embedder ?? new HashingEmbedder({ dims: options.store.dims });
    if (this.embedder.dims !== options.store.dims) {
      throw new HiveError('INVALID_CONFIG', `memory embedder makes ${this.embedder.dims}-dimension embeddings, but the store keeps ${options.store.dims}`, {
        details: { option: 'embedder' },
      });
    }
    const storage: EmbeddingStorage = options.store.storage;
    this.limits = {
      dims: options.store.dims,
      storage,
      maxContentBytes: options.limits?.maxContentBytes ?? 256 * 1024,
      maxMetadataBytes: options.limits?.maxMetadataBytes ?? 64 * 1024,
      now: () => this.clock.now(),
      newId: randomUUID,
    };
    const ing = options.ingest ?? {};
    this.batchDocs = positive('ingest.batchDocs', ing.batchDocs ?? 1000);
    this.batchBytes = positive('ingest.batchBytes', ing.batchBytes ?? 960 * 1024);
    this.consumers = positive('ingest.consumers', ing.consumers ?? (options.backend === 'pglite' ? 1 : 3));
    this.ackWaitMs = positive('ingest.ackWaitMs', ing.ackWaitMs ?? 10_000);
    this.maxRequestDocs = positive('ingest.maxRequestDocs', ing.maxRequestDocs ?? 100_000);
    this.maxWaitMs = positive('ingest.maxWaitMs', ing.maxWaitMs ?? 600_000);
    this.retryBaseMs = positive('ingest.retryBaseMs', ing.retryBaseMs ?? 250);
    this.indexState = options.indexAfterDocs === false ? 'off' : 'unknown';
    this.loader = encodedLoader(options.store);
    if (options.breaker !== false) {
      const b = { isFailure: isDatabaseFailure, ...DEFAULT_BREAKER, ...(options.breaker ?? {}) };
      this.breaker = new CircuitBreaker(`memory-${options.nodeId}`.slice(0, 128), b, { clock: this.clock, ...(options.metrics !== undefined && { metrics: options.metrics }) });
    }
    if (options.cache !== false) this.cache = new QueryCache({ clock: this.clock, ...(options.cache ?? {}) });
    const m = options.metrics;
    this.counters = {
      requests: m?.counter('hive_memory_requests_total', 'Memory requests by operation and result', ['op', 'result']),
      seconds: m?.histogram('hive_memory_request_seconds', 'Memory request time through the memory actor, by operation', ['op']),
      batches: m?.counter('hive_memory_queue_batches_total', 'Durable ingestion queue messages by outcome (committed, retried, dead)', ['result']),
    };
    if (m !== undefined && this.cache !== undefined) {
      const cache = this.cache;
      m.gauge('hive_memory_cache_hit_ratio', 'Search result cache hits / lookups since start', [], function () {
        this.set(cache.stats().hitRate);
      });
      m.gauge('hive_memory_cache_lookups', 'Search result cache lookups since start, by result', ['result'], function () {
        const s = cache.stats();
        this.set({ result: 'hit' }, s.hits);
        this.set({ result: 'miss' }, s.misses);
      });
    }
  }

  /** The store's state: opening (first open in progress), ready, or unavailable (the last attempt failed). */
  get state(): MemoryState {
    return this.currentState;
  }

  /** Listens to state changes; returns an unsubscribe function. */
  onState(listener: (s: MemoryState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  private setState(s: MemoryState): void {
    if (s === this.currentState) return;
    this.currentState = s;
    if (s === 'ready' && this.openedAt === 0) this.openedAt = this.clock.now();
    if (s === 'ready' && this.indexState === 'unknown') void this.countForIndex();
    for (const l of this.stateListeners) {
      try {
        l(s);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  /**
   * Starts opening the store (in the background: requests wait for it), listens for commit notices and
   * cache invalidations, and starts committing queued documents once the store has opened. Idempotent.
   */
  start(): Promise<void> {
    this.opening ??= (async () => {
      const { transport, cluster, nodeId } = this.o;
      if (transport.connected) {
        this.subs.push(transport.subscribe(memoryDoneSubject(cluster, nodeId), (m) => this.onNotice(m.data)));
        this.subs.push(transport.subscribe(memoryInvalidateSubject(cluster), (m) => this.onInvalidate(m.data)));
      }
      const started = performance.now();
      try {
        await this.store.init();
        this.setState('ready');
        this.logger.info({ backend: this.backend, ms: Math.round(performance.now() - started) }, 'memory store ready');
      } catch (err) {
        this.setState('unavailable');
        this.logger.warn({ err, backend: this.backend }, 'memory store could not open; retrying on use');
      }
      if (this.stopped) return;
      this.openAttempted = true;
      await this.ensureQueue().catch((err: unknown) => this.logger.warn({ err }, 'memory ingestion queue unavailable; retrying on use'));
    })();
    return this.opening;
  }

  /** Once the store answers: counts its documents, for building the index when there are enough. */
  private async countForIndex(): Promise<void> {
    if (this.indexState !== 'unknown') return;
    this.indexState = 'counting';
    const stats = await this.store.stats().catch(() => undefined);
    if (stats === undefined) {
      this.indexState = 'unknown';
      return;
    }
    this.storedDocs += stats.documents;
    this.indexState = 'pending';
    this.maybeIndex();
  }

  private ensureQueue(): Promise<void> {
    this.queueReady ??= this.o.queue.ensure(this.o.queueName, { maxDeliver: 1_000_000, ackWaitMs: this.ackWaitMs }).catch((err: unknown) => {
      this.queueReady = undefined;
      throw new UnavailableError(`memory ingestion queue unavailable: ${(err as Error).message}`, { cause: err });
    });
    return this.queueReady.then(() => {
      if (this.openAttempted) this.startConsumer();
    });
  }

  private startConsumer(): void {
    if (this.consumer !== undefined || this.stopped || this.queueReady === undefined) return;
    this.consumer = new DurableConsumer<QueueMessage>({
      queue: this.o.queue,
      name: this.o.queueName,
      // database trouble is retried until the database is back; only garbage and misconfiguration dead-letter
      maxDeliver: 1_000_000,
      ackWaitMs: this.ackWaitMs,
      capacity: () => (this.stopped ? 0 : this.consumers),
      decode: decodeQueueMessage,
      work: (msg, ctx) => this.commit(msg, ctx),
      onDeadLettered: (msg, err) => {
        this.counters.batches?.inc({ result: 'dead' });
        if (msg !== undefined) this.notify(msg.origin, { batch: msg.batch, inserted: 0, duplicates: 0, rejected: [], error: err.toReply() });
      },
      retry: { minMs: this.retryBaseMs, maxMs: 30_000 },
      clock: this.clock,
      logger: this.logger,
      ...(this.o.metrics !== undefined && { metrics: this.o.metrics }),
    });
    const starting = this.consumer.start();
    this.inFlight.add(starting);
    starting.then(
      () => this.inFlight.delete(starting),
      (err: unknown) => {
        this.inFlight.delete(starting);
        this.consumer = undefined;
        this.logger.warn({ err }, 'memory ingestion consumer could not start; retrying on use');
      },
    );
  }

  /** Runs a database call through the breaker; a success marks the store ready. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    const value = this.breaker ? await this.breaker.call(fn) : await fn();
    this.setState('ready');
    return value;
  }

  private async waitOpen(): Promise<void> {
    if (this.stopped) throw new UnavailableError('memory is stopped', { retryable: false });
    await this.start();
  }

  // ------------------------------------------------------------------------------------------ requests

  /**
   * Handles one memory request event (what the actor forwards) and resolves with its answer event.
   * Bad requests reject with INVALID_ARGUMENT naming the field; database trouble with a retryable
   * DATABASE or CIRCUIT_OPEN error.
   */
  async handle(event: HiveEvent): Promise<MemoryAnswer> {
    const op = event.type.startsWith('memory.') ? event.type.slice(7) : event.type;
    const started = performance.now();
    try {
      let answer: MemoryAnswer;
      switch (event.type) {
        case 'memory.ingest': {
          const r = parseIngest(event, this.maxRequestDocs);
          answer = await this.ingest(r.docs, { wait: r.wait, ...(r.namespace !== undefined && { namespace: r.namespace }) });
          break;
        }
        case 'memory.search':
          answer = { type: 'memory.results', hits: await this.search(parseSearch(event)) } satisfies ResultsAnswer;
          break;
        case 'memory.delete': {
          const r = parseDelete(event);
          answer = { type: 'memory.deleted', deleted: await this.delete(r.namespace, r.ids) } satisfies DeletedAnswer;
          break;
        }
        case 'memory.stats':
          answer = await this.stats(parseStats(event).namespace);
          break;
        default:
          throw new InvalidArgumentError(`unknown memory request "${event.type}" (memory.ingest, memory.search, memory.delete, memory.stats)`, {
            details: { argument: 'type' },
          });
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
   * Validates documents (embedding the content of those without an embedding), queues the valid ones durably
   * in batches, and with `wait` (the default) resolves once every batch has committed. Large requests are
   * validated a chunk at a time, each chunk's batches encoded and queued while the next is validated, so the
   * first batches commit while the rest is still being prepared.
   */
  async ingest(docs: readonly unknown[], options: { namespace?: string; wait?: boolean } = {}): Promise<IngestedAnswer | QueuedAnswer> {
    await this.waitOpen();
    await this.ensureQueue();
    await this.precheck();
    const namespace = options.namespace ?? DEFAULT_NAMESPACE;
    const wait = options.wait !== false;
    const origin = wait ? this.o.nodeId : undefined;
    const requestId = randomBytes(9).toString('base64url');
    const rejected: Rejection[] = [];
    /** Per queued batch: its id, and each document's index in `docs` (to map the consumer's rejections back). */
    const batches: Array<{ id: string; indexOf: number[] }> = [];
    const waits: Promise<BatchNotice>[] = [];
    const timers: TimerHandle[] = [];
    const publishing: Promise<void>[] = [];
    let queued = 0;
    let failed: unknown;
    const chunk = Math.max(this.batchDocs, 2000);
    for (let start = 0; start < docs.length && failed === undefined; start += chunk) {
      const valid: ValidDocument[] = [];
      const indexOf: number[] = [];
      const chunkRejected: Rejection[] = [];
      await this.validate(docs.slice(start, start + chunk), namespace, valid, chunkRejected, indexOf);
      for (const r of chunkRejected) rejected.push({ ...r, index: r.index + start });
      let pos = 0;
      for (const batch of this.cut(valid)) {
        const id = `${requestId}-${batches.length}`;
        batches.push({ id, indexOf: indexOf.slice(pos, pos + batch.length).map((i) => i + start) });
        pos += batch.length;
        queued += batch.length;
        if (wait) waits.push(this.waitFor(id, timers));
        const p = this.queueMessage(id, origin, batch)
          .then((data) => this.o.queue.publish(this.o.queueName, data, id))
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
      for (const b of batches) this.waiters.delete(b.id);
      for (const t of timers) this.clock.clearTimeout(t);
      throw new UnavailableError(`could not queue documents for ingestion: ${(failed as Error).message}`, { cause: failed });
    }
    if (!wait) return { type: 'memory.queued', queued, batches: batches.length, rejected } satisfies QueuedAnswer;
    const notices = await Promise.all(waits);
    for (const t of timers) this.clock.clearTimeout(t);
    let inserted = 0;
    let duplicates = 0;
    for (let i = 0; i < notices.length; i++) {
      const n = notices[i];
      if (n.error !== undefined) throw errorFromReply(n.error);
      inserted += n.inserted;
      duplicates += n.duplicates;
      for (const r of n.rejected) rejected.push({ ...r, index: batches[i].indexOf[r.index] ?? r.index });
    }
    rejected.sort((a, b) => a.index - b.index);
    return { type: 'memory.ingested', inserted, duplicates, rejected } satisfies IngestedAnswer;
  }

  /** Registers a waiter for a batch's commit notice (answered TIMEOUT after maxWaitMs). */
  private waitFor(id: string, timers: TimerHandle[]): Promise<BatchNotice> {
    return new Promise<BatchNotice>((resolve) => {
      this.waiters.set(id, { resolve });
      timers.push(
        this.clock.setTimeout(() => {
          if (!this.waiters.delete(id)) return;
          resolve({
            batch: id,
            inserted: 0,
            duplicates: 0,
            rejected: [],
            error: new TimeoutError(`documents were queued but not committed within ${this.maxWaitMs} ms; they stay queued`, { details: { batch: id, queued: true } }).toReply(),
          });
        }, this.maxWaitMs),
      );
    });
  }

  /** One queue message: the batch encoded as a COPY stream (on a worker thread) for SQL stores, else the documents. */
  private async queueMessage(batch: string, origin: string | undefined, docs: ValidDocument[]): Promise<Uint8Array> {
    const { dims, storage } = this.store;
    if (this.loader === undefined) return encodeIngestMessage(batch, origin, docs, dims, storage);
    this.encoder ??= new CopyEncoder({ dims, storage, workers: this.o.encoderWorkers, inlineBelow: 64 });
    const copy = await this.encoder.encode(docs);
    const namespaces = [...new Set(docs.map((v) => v.doc.namespace))];
    return encodeCopyMessage(batch, origin, copy, docs.length, namespaces, dims, storage);
  }

  /** Refuses at once, with nothing queued, when the database is known to be down. */
  private async precheck(): Promise<void> {
    const b = this.breaker;
    if (b !== undefined && b.state === 'open') {
      const retryAt = b.retryAt ?? this.clock.now();
      if (retryAt > this.clock.now()) {
        throw new CircuitOpenError(`memory database circuit breaker is open: nothing was queued, retry in ${retryAt - this.clock.now()} ms`, {
          details: { breaker: b.name, retryAt, retryInMs: retryAt - this.clock.now() },
        });
      }
    }
    // Connects (and migrates) unless done already: a database that is down answers here, fast.
    await this.guard(() => this.store.init());
  }

  private async validate(docs: readonly unknown[], namespace: string, valid: ValidDocument[], rejected: Rejection[], indexOf: number[]): Promise<void> {
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
      if ((copy['embedding'] === undefined || copy['embedding'] === null) && typeof content === 'string' && content.trim() !== '' && content.length <= this.limits.maxContentBytes) {
        toEmbed.push(i);
      }
      inputs[i] = copy;
    }
    const embedded = new Set<number>();
    if (toEmbed.length > 0) {
      const vectors = await this.embedder.embed(toEmbed.map((i) => (inputs[i] as { content: string }).content));
      if (vectors.length !== toEmbed.length) throw new HiveError('INTERNAL', `embedder returned ${vectors.length} embeddings for ${toEmbed.length} texts`);
      for (let j = 0; j < toEmbed.length; j++) {
        (inputs[toEmbed[j]] as Record<string, unknown>)['embedding'] = vectors[j];
        embedded.add(toEmbed[j]);
      }
    }
    for (let i = 0; i < inputs.length; i++) {
      const r = validateDocument(inputs[i], this.limits, i);
      if (r.ok) {
        valid.push(r);
        indexOf.push(i);
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
      const size = estimateDocBytes(v, this.store.storage);
      if (cur.length > 0 && (cur.length >= this.batchDocs || bytes + size > this.batchBytes)) {
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

  /** The k nearest documents (cached per namespace until a write there, or the cache TTL). */
  async search(q: ParsedSearch): Promise<SearchHit[]> {
    const key: QueryKey = { namespace: q.namespace, query: q.text ?? q.vector!, k: q.k, filter: q.filter, efSearch: q.efSearch };
    const cached = this.cache?.get(key);
    if (cached !== undefined) return cached;
    const generation = this.cache?.generation(q.namespace);
    let vector = q.vector;
    if (vector === undefined) {
      vector = (await this.embedder.embed([q.text!]))[0]!;
      if (!vector.some((x) => x !== 0)) throw new InvalidArgumentError('text has no words to embed (letters or digits)', { details: { argument: 'text' } });
    }
    await this.waitOpen();
    const query: SearchQuery = { namespace: q.namespace, vector, k: q.k };
    if (q.filter !== undefined) query.filter = q.filter;
    if (q.efSearch !== undefined) query.efSearch = q.efSearch;
    const hits = await this.guard(() => this.store.search(query));
    this.cache?.set(key, hits, generation);
    return hits;
  }

  /** Deletes ids of a namespace (or all of it); every node's cache drops the namespace. */
  async delete(namespace: string, ids?: string[]): Promise<number> {
    await this.waitOpen();
    const r = await this.guard(() => this.store.delete(ids === undefined ? { namespace } : { namespace, ids }));
    this.invalidate([namespace]);
    return r.deleted;
  }

  /** Counts, sizes, cache, queue and breaker figures. */
  async stats(namespace?: string): Promise<StatsAnswer> {
    await this.waitOpen();
    const s = await this.guard(() => this.store.stats(namespace));
    // a depth that cannot be read is reported as such, not as 0
    let queueError: string | undefined;
    const queued = await this.o.queue.depth(this.o.queueName).catch((err: unknown) => {
      queueError = (err as Error).message;
      return -1;
    });
    return {
      ...(queueError !== undefined && { queueError }),
      type: 'memory.stats',
      ...s,
      backend: this.backend,
      node: this.o.nodeId,
      ready: this.currentState === 'ready',
      cache: this.cache?.stats() ?? { hits: 0, misses: 0, hitRate: 0, size: 0 },
      queued,
      breaker: this.breaker?.state ?? 'none',
    };
  }

  /** A short status for `hive status`. */
  status(): Record<string, unknown> {
    return {
      backend: this.backend,
      state: this.currentState,
      breaker: this.breaker?.state ?? 'none',
      cache: this.cache?.stats(),
      committing: this.consumer?.stats().inFlight ?? 0,
      index: this.indexState,
      waiting: this.waiters.size,
    };
  }

  // ------------------------------------------------------------------------------------------ the queue side

  /** Commits one queue message: ack after the commit, retry (with a notice to the waiting node) on database trouble, dead-letter otherwise. */
  private async commit(msg: QueueMessage, ctx: WorkContext): Promise<WorkOutcome> {
    if (msg.kind === 'copy' && (msg.dims !== this.store.dims || msg.storage !== this.store.storage || this.loader === undefined)) {
      const err = new HiveError('INVALID_CONFIG', `batch encoded for ${msg.storage}(${msg.dims}), but this node's store keeps ${this.store.storage}(${this.store.dims}): give every node of the cluster the same memory options`, {
        details: { option: 'dims', batch: msg.batch },
      });
      return { kind: 'dead', error: err };
    }
    try {
      const loader = this.loader;
      const r = await this.guard(() => (msg.kind === 'copy' ? loader!.loadEncoded(msg.copy, msg.count, ctx.deliveryCount === 1) : this.store.ingest(msg.docs)));
      this.counters.batches?.inc({ result: 'committed' });
      this.lastCommitAt = this.clock.now();
      if (r.inserted > 0) {
        this.invalidate(msg.namespaces);
        this.storedDocs += r.inserted;
        this.maybeIndex();
      }
      this.notify(msg.origin, { batch: msg.batch, inserted: r.inserted, duplicates: r.duplicates, rejected: r.rejected });
      return { kind: 'ack' };
    } catch (err) {
      const e = toHiveError(err);
      if (!retryableLater(e)) return { kind: 'dead', error: e };
      const fromBreaker = typeof e.details?.['retryInMs'] === 'number' ? Math.max(10, e.details['retryInMs']) : undefined;
      this.counters.batches?.inc({ result: 'retried' });
      if (ctx.deliveryCount === 1) this.logger.warn({ err: e, batch: msg.batch }, 'memory batch not committed: it stays queued and is retried');
      const queued = new HiveError(e.code, `${e.message} (the ${msg.kind === 'copy' ? msg.count : msg.docs.length} documents stay queued and are stored when the database is back)`, {
        retryable: e.retryable,
        details: { ...(e.details ?? {}), queued: true, batch: msg.batch },
      });
      this.notify(msg.origin, { batch: msg.batch, inserted: 0, duplicates: 0, rejected: [], error: queued.toReply() });
      return { kind: 'retry', error: e, ...(fromBreaker !== undefined && { delayMs: fromBreaker }) };
    }
  }

  /**
   * Builds the HNSW index in the background once the store holds `indexAfterDocs` documents and ingestion has
   * been quiet for the idle time (counted from the store's open too, so batches a crashed node left behind are
   * redelivered and committed first) with nothing waiting in the queue.
   */
  private maybeIndex(): void {
    const threshold = this.o.indexAfterDocs ?? 10_000;
    if (this.indexState !== 'pending' || threshold === false || this.storedDocs < threshold || this.stopped || this.indexTimer !== undefined) return;
    const idleMs = this.o.indexIdleMs ?? Math.max(1000, Math.round(this.ackWaitMs * 1.5));
    const quietFor = this.clock.now() - Math.max(this.lastCommitAt, this.openedAt);
    const later = (ms: number) => {
      this.indexTimer = this.clock.setTimeout(() => {
        this.indexTimer = undefined;
        this.maybeIndex();
      }, Math.max(10, ms));
    };
    if (quietFor < idleMs || this.inFlight.size > 0 || (this.consumer?.stats().inFlight ?? 0) > 0) return later(idleMs - Math.max(0, quietFor));
    this.indexState = 'building';
    void this.o.queue.depth(this.o.queueName).then(
      (depth) => {
        if (depth > 0 || this.stopped) {
          this.indexState = 'pending';
          if (!this.stopped) later(idleMs);
          return;
        }
        this.buildIndex();
      },
      () => this.buildIndex(),
    );
  }

  private buildIndex(): void {
    const started = performance.now();
    this.logger.info({ documents: this.storedDocs }, 'building the HNSW index of memory');
    const build = this.guard(() => this.store.ensureIndex()).then(
      () => {
        this.indexState = 'built';
        this.logger.info({ ms: Math.round(performance.now() - started) }, 'memory HNSW index ready');
      },
      (err: unknown) => {
        this.indexState = 'pending'; // tried again after the next commit
        this.logger.warn({ err }, 'building the memory HNSW index failed');
      },
    );
    this.inFlight.add(build);
    void build.finally(() => this.inFlight.delete(build));
  }

  private notify(origin: string | undefined, notice: BatchNotice): void {
    if (origin === undefined) return;
    if (origin === this.o.nodeId) {
      this.settle(notice);
      return;
    }
    try {
      this.o.transport.publish(memoryDoneSubject(this.o.cluster, origin), encodeJson(notice));
    } catch (err) {
      this.logger.warn({ err, origin }, 'could not send a memory commit notice');
    }
  }

  private settle(notice: BatchNotice): void {
    const w = this.waiters.get(notice.batch);
    if (w === undefined) return;
    this.waiters.delete(notice.batch);
    w.resolve(notice);
  }

  private onNotice(data: Uint8Array): void {
    try {
      const n = decodeJson(data) as BatchNotice;
      if (typeof n === 'object' && n !== null && typeof n.batch === 'string') this.settle({ ...n, rejected: Array.isArray(n.rejected) ? n.rejected : [] });
    } catch (err) {
      this.logger.debug({ err }, 'ignoring a malformed memory commit notice');
    }
  }

  /** Drops cached results of the namespaces here and on every other node. */
  private invalidate(namespaces: readonly string[]): void {
    if (this.cache === undefined) return;
    for (const ns of namespaces) this.cache.invalidate(ns);
    if (!this.o.transport.connected) return;
    try {
      this.o.transport.publish(memoryInvalidateSubject(this.o.cluster), encodeJson({ from: this.o.nodeId, namespaces }));
    } catch {
      // other nodes' caches expire by TTL
    }
  }

  private onInvalidate(data: Uint8Array): void {
    if (this.cache === undefined) return;
    try {
      const m = decodeJson(data) as { from?: unknown; namespaces?: unknown };
      if (m.from === this.o.nodeId || !Array.isArray(m.namespaces)) return;
      for (const ns of m.namespaces) if (typeof ns === 'string') this.cache.invalidate(ns);
    } catch {
      // ignore
    }
  }

  /**
   * Stops taking queue messages, lets the batches being committed finish, and answers ingests still waiting
   * with UNAVAILABLE (their documents stay queued). The store is closed by its owner. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.opening?.catch(() => undefined);
    await this.consumer?.stop();
    await Promise.allSettled([...this.inFlight]);
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    const stopping = new UnavailableError('memory stopped before the documents were committed; they stay queued', { details: { queued: true } }).toReply();
    for (const [batch, w] of [...this.waiters]) {
      this.waiters.delete(batch);
      w.resolve({ batch, inserted: 0, duplicates: 0, rejected: [], error: stopping });
    }
    if (this.indexTimer !== undefined) this.clock.clearTimeout(this.indexTimer);
    await this.encoder?.close();
    this.encoder = undefined;
    this.breaker?.dispose();
  }
}

function positive(option: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new HiveError('INVALID_CONFIG', `memory option ${option} must be a positive integer, got ${String(value)}`, { details: { option } });
  return value;
}
