// Unit tests for the memory store's metrics in the node's registry: ingestion counts by result, batch and
// search histograms, and pool connections read at scrape time.
import { describe, expect, it } from 'vitest';
import { MemoryMetrics } from '../../../../actors/memory/memoryMetrics.js';
import { MetricsRegistry } from '../../../../runtime/metrics.js';

describe('MemoryMetrics', () => {
  it('registers hive_memory_* metrics and updates them', async () => {
    const registry = new MetricsRegistry({ cluster: 'c', node: 'n' }, { processMetrics: false });
    const m = new MemoryMetrics(registry, 'memory:postgres', () => ({ total: 3, idle: 1, waiting: 0 }));
    m.ingested(10, 2, 1);
    m.batchDone(120);
    m.searched(2);
    const text = await registry.text();
    // The value of the sample `name` whose labels include `labels` (label order varies by metric type).
    const value = (name: string, labels: Record<string, string>) => {
      const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    const store = 'memory:postgres';
    expect(value('hive_memory_ingest_docs_total', { store, result: 'inserted', cluster: 'c', node: 'n' })).toBe(10);
    expect(value('hive_memory_ingest_docs_total', { store, result: 'duplicate' })).toBe(2);
    expect(value('hive_memory_ingest_docs_total', { store, result: 'rejected' })).toBe(1);
    expect(value('hive_memory_ingest_batch_seconds_count', { store })).toBe(1);
    expect(value('hive_memory_ingest_batch_seconds_sum', { store })).toBeCloseTo(0.12, 6);
    expect(value('hive_memory_search_seconds_count', { store })).toBe(1);
    expect(value('hive_memory_db_connections', { store, state: 'total' })).toBe(3);
    expect(value('hive_memory_db_connections', { store, state: 'idle' })).toBe(1);
  });

  it('is a no-op without a registry', () => {
    const m = new MemoryMetrics(undefined, 'x');
    expect(() => {
      m.ingested(1, 0, 0);
      m.batchDone(1);
      m.searched(1);
    }).not.toThrow();
  });
});
