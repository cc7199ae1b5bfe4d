// The memory store's `hive_memory_*` metrics, registered in the node's registry when one is given
// (anything shaped like runtime's MetricsRegistry), or kept as no-ops when none is.
import type { Counter, Gauge, Histogram } from 'prom-client';

/** The registry methods the memory store uses (runtime's `MetricsRegistry` has them). */
export interface MetricsLike {
  counter<L extends string = string>(name: string, help: string, labelNames?: readonly L[]): Counter<L>;
  gauge<L extends string = string>(name: string, help: string, labelNames?: readonly L[], collect?: (this: Gauge<L>) => void): Gauge<L>;
  histogram<L extends string = string>(name: string, help: string, labelNames?: readonly L[], buckets?: number[]): Histogram<L>;
}

/** Batch-time buckets in seconds (ingestion batches take milliseconds to seconds). */
const BATCH_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The memory store's metrics; every method is cheap and safe to call without a registry. */
export class MemoryMetrics {
  private readonly docs: Counter<'store' | 'result'> | undefined;
  private readonly batch: Histogram<'store'> | undefined;
  private readonly search: Histogram<'store'> | undefined;
  private readonly label: { store: string };

  /**
   * @param registry where to register (none: no-op)
   * @param store the `store` label value
   * @param poolStats read at scrape time for `hive_memory_db_connections{state}`
   */
  constructor(registry: MetricsLike | undefined, store: string, poolStats?: () => { total: number; idle: number; waiting: number }) {
    this.label = { store };
    if (!registry) return;
    this.docs = registry.counter('hive_memory_ingest_docs_total', 'Documents through ingestion, by result (inserted, duplicate, rejected)', ['store', 'result']);
    this.batch = registry.histogram('hive_memory_ingest_batch_seconds', 'Ingestion batch time from encoding to commit', ['store'], BATCH_BUCKETS);
    this.search = registry.histogram('hive_memory_search_seconds', 'Search latency in the store (database round trip)', ['store']);
    if (poolStats) {
      registry.gauge('hive_memory_db_connections', 'Database pool connections by state (total, idle, waiting clients)', ['store', 'state'], function collect() {
        const s = poolStats();
        this.set({ store, state: 'total' }, s.total);
        this.set({ store, state: 'idle' }, s.idle);
        this.set({ store, state: 'waiting' }, s.waiting);
      });
    }
  }

  /** Counts ingested documents. */
  ingested(inserted: number, duplicates: number, rejected: number): void {
    if (!this.docs) return;
    if (inserted) this.docs.inc({ ...this.label, result: 'inserted' }, inserted);
    if (duplicates) this.docs.inc({ ...this.label, result: 'duplicate' }, duplicates);
    if (rejected) this.docs.inc({ ...this.label, result: 'rejected' }, rejected);
  }

  /** Records one committed batch. */
  batchDone(ms: number): void {
    this.batch?.observe(this.label, ms / 1000);
  }

  /** Records one search. */
  searched(ms: number): void {
    this.search?.observe(this.label, ms / 1000);
  }
}
