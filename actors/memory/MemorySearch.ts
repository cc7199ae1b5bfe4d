// Search with its cache: the k nearest documents (text embedded by the node's embedder), cached per namespace
// until a write there or the cache TTL; every write drops the namespace on every node of the cluster
// (`hive.<cluster>.sys.memory.invalidate`). Also delete and stats, which read and write the same store.
import { InvalidArgumentError } from '../../protocols/errors.js';
import { decodeJson, encodeJson } from '../../protocols/frame.js';
import type { Logger } from '../../runtime/logger.js';
import type { MetricsRegistry } from '../../runtime/metrics.js';
import type { Transport, TransportSubscription } from '../../runtime/Transport.js';
import type { Embedder } from './Embedder.js';
import type { MemoryDatabase } from './MemoryDatabase.js';
import { memoryInvalidateSubject, type ParsedSearch, type StatsAnswer } from './memoryProtocol.js';
import type { SearchHit, SearchQuery } from './MemoryStore.js';
import { QueryCache, type QueryCacheOptions, type QueryKey } from './QueryCache.js';

/** What search runs on. */
export interface MemorySearchDeps {
  db: MemoryDatabase;
  embedder: Embedder;
  transport: Transport;
  cluster: string;
  nodeId: string;
  backend: string;
  logger: Logger;
  metrics?: MetricsRegistry;
  /** Search result cache, or false for none. */
  cache: (QueryCacheOptions & { clock: QueryCacheOptions['clock'] }) | false;
  /** The ingestion queue's depth (rejects when it cannot be read). */
  queueDepth(): Promise<number>;
}

/** Search, delete and stats of one node's memory. */
export class MemorySearch {
  readonly cache: QueryCache | undefined;
  private sub: TransportSubscription | undefined;

  constructor(private readonly d: MemorySearchDeps) {
    if (d.cache !== false) this.cache = new QueryCache(d.cache);
    const m = d.metrics;
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

  /** Listens for other nodes' invalidations (idempotent). */
  listen(): void {
    if (this.sub !== undefined || this.cache === undefined || !this.d.transport.connected) return;
    this.sub = this.d.transport.subscribe(memoryInvalidateSubject(this.d.cluster), (m) => this.onInvalidate(m.data));
  }

  /** The k nearest documents (cached per namespace until a write there, or the cache TTL). */
  async search(q: ParsedSearch): Promise<SearchHit[]> {
    const key: QueryKey = { namespace: q.namespace, query: q.text ?? q.vector!, k: q.k, filter: q.filter, efSearch: q.efSearch };
    const cached = this.cache?.get(key);
    if (cached !== undefined) return cached;
    const generation = this.cache?.generation(q.namespace);
    let vector = q.vector;
    if (vector === undefined) {
      vector = (await this.d.embedder.embed([q.text!]))[0]!;
      if (!vector.some((x) => x !== 0)) throw new InvalidArgumentError('text has no words to embed (letters or digits)', { details: { argument: 'text' } });
    }
    const query: SearchQuery = { namespace: q.namespace, vector, k: q.k };
    if (q.filter !== undefined) query.filter = q.filter;
    if (q.efSearch !== undefined) query.efSearch = q.efSearch;
    const store = this.d.db.store;
    const hits = await this.d.db.guard(() => store.search(query));
    this.cache?.set(key, hits, generation);
    return hits;
  }

  /** Deletes ids of a namespace (or all of it); every node's cache drops the namespace. */
  async delete(namespace: string, ids?: string[]): Promise<number> {
    const store = this.d.db.store;
    const r = await this.d.db.guard(() => store.delete(ids === undefined ? { namespace } : { namespace, ids }));
    this.invalidate([namespace]);
    return r.deleted;
  }

  /** Counts, sizes, cache, queue and breaker figures. */
  async stats(namespace: string | undefined): Promise<StatsAnswer> {
    const store = this.d.db.store;
    const s = await this.d.db.guard(() => store.stats(namespace));
    let queueError: string | undefined;
    // a depth that cannot be read is reported as such, not as 0
    const queued = await this.d.queueDepth().catch((err: unknown) => {
      queueError = (err as Error).message;
      return -1;
    });
    return {
      type: 'memory.stats',
      ...s,
      backend: this.d.backend,
      node: this.d.nodeId,
      // the store just answered
      ready: true,
      cache: this.cache?.stats() ?? { hits: 0, misses: 0, hitRate: 0, size: 0 },
      queued,
      ...(queueError !== undefined && { queueError }),
      breaker: this.d.db.breaker?.state ?? 'none',
    };
  }

  /** Drops cached results of the namespaces here and on every other node. */
  invalidate(namespaces: readonly string[]): void {
    if (this.cache === undefined) return;
    for (const ns of namespaces) this.cache.invalidate(ns);
    if (!this.d.transport.connected) return;
    try {
      this.d.transport.publish(memoryInvalidateSubject(this.d.cluster), encodeJson({ from: this.d.nodeId, namespaces }));
    } catch (err) {
      // other nodes' caches expire by TTL
      this.d.logger.debug({ err }, 'could not publish a memory cache invalidation');
    }
  }

  private onInvalidate(data: Uint8Array): void {
    if (this.cache === undefined) return;
    try {
      const m = decodeJson(data) as { from?: unknown; namespaces?: unknown };
      if (m.from === this.d.nodeId || !Array.isArray(m.namespaces)) return;
      for (const ns of m.namespaces.slice(0, 10_000)) if (typeof ns === 'string') this.cache.invalidate(ns);
    } catch {
      // not an invalidation
    }
  }

  close(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
  }
}
