// The behaviour every MemoryStore backend must show, run against PGlite and real PostgreSQL: round trip,
// recall against exact search, idempotent redelivery, bad documents, bad arguments, migrations, closing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemoryStore, MemoryStoreOptions } from '../../../actors/memory/MemoryStore.js';
import { DatabaseError, InvalidArgumentError, UnavailableError } from '../../../protocols/errors.js';
import { clusteredVectors, documents, exactTopK } from './fixtures.js';

/** How a test file gives the contract its backend. */
export interface StoreBackend {
  /** A store on this backend with these options (the schema option is always set by the contract). */
  open(options: MemoryStoreOptions): MemoryStore;
  /** Runs SQL on the backend directly (for checks behind the store's back). */
  sql<R>(text: string, params?: unknown[]): Promise<R[]>;
  /** A schema name unique to this run; the backend drops it afterwards. */
  schema(label: string): string;
}

/** Registers the contract tests for one backend. */
export function storeContract(name: string, backend: () => StoreBackend): void {
  describe(`${name}: MemoryStore contract`, () => {
    const opened: MemoryStore[] = [];
    const open = (label: string, options: MemoryStoreOptions = {}) => {
      const store = backend().open({ schema: backend().schema(label), ...options });
      opened.push(store);
      return store;
    };
    afterAll(async () => {
      await Promise.allSettled(opened.map((s) => s.close()));
    });

    describe('with a 16-d store', () => {
      let store: MemoryStore;
      const vectors = clusteredVectors(400, 16, { seed: 3 });
      beforeAll(async () => {
        // Small adaptive batches and a worker thread, so that one ingest runs several batches through piscina.
        store = open('main', { dims: 16, workers: 1, inlineBelow: 8, ingestBatchDocs: 64 });
        await store.init();
      });

      it('round-trips documents: content, metadata and an exact match scoring 1', async () => {
        const r = await store.ingest([
          { id: 'a', namespace: 'round', content: 'alpha ✓ "quoted"\nline two', metadata: { tags: ['x', 'y'], nested: { n: 1.5 } }, embedding: vectors[0], createdAt: '2026-01-01T00:00:00Z' },
          { id: 'b', namespace: 'round', content: 'beta', embedding: Array.from(vectors[1]) },
          { namespace: 'round', content: 'gamma, id generated', embedding: vectors[2] },
        ]);
        expect(r).toEqual({ inserted: 3, duplicates: 0, rejected: [] });
        const hits = await store.search({ namespace: 'round', vector: vectors[0], k: 3 });
        expect(hits).toHaveLength(3);
        expect(hits[0]).toMatchObject({ id: 'a', content: 'alpha ✓ "quoted"\nline two', metadata: { tags: ['x', 'y'], nested: { n: 1.5 } } });
        expect(hits[0].score).toBeCloseTo(1, 3); // halfvec storage: within f16 error of 1
        expect(hits[1].score).toBeLessThanOrEqual(hits[0].score);
        expect(hits.map((h) => h.id)).toContain('b');
        expect(hits.find((h) => h.id !== 'a' && h.id !== 'b')?.id).toMatch(/^[0-9a-f-]{36}$/);
        const rows = await backend().sql<{ created: string }>(`SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS created FROM "${backend().schema('main')}".memory_documents WHERE namespace = 'round' AND id = 'a'`);
        expect(rows[0].created).toBe('2026-01-01 00:00:00');
        expect(await store.stats('round')).toMatchObject({ documents: 3, namespaces: [{ namespace: 'round', documents: 3 }] });
      });

      it('is idempotent under redelivery: the same documents are never stored twice', async () => {
        const docs = documents('redeliver', vectors.slice(0, 300));
        expect(await store.ingest(docs)).toEqual({ inserted: 300, duplicates: 0, rejected: [] });
        expect(await store.ingest(docs)).toEqual({ inserted: 0, duplicates: 300, rejected: [] });
        // Half old, half new, and one id twice in the same batch.
        const mixed = [...documents('redeliver', vectors.slice(150, 300)), ...documents('redeliver', vectors.slice(300, 400), 'new'), documents('redeliver', vectors.slice(0, 1), 'new')[0]];
        expect(await store.ingest(mixed)).toEqual({ inserted: 100, duplicates: 151, rejected: [] });
        // Two redeliveries racing each other.
        const [x, y] = await Promise.all([store.ingest(docs), store.ingest(docs)]);
        expect(x.inserted + y.inserted).toBe(0);
        expect((await store.stats('redeliver')).documents).toBe(400);
        // The same ids in another namespace are other documents.
        expect((await store.ingest(documents('redeliver2', vectors.slice(0, 10)))).inserted).toBe(10);
      });

      it('rejects bad documents with reasons and still stores every good one in the batch', async () => {
        const good = documents('mixed', vectors.slice(0, 4), 'good');
        const batch: unknown[] = [
          good[0],
          { ...good[1], id: 'bad-dims', embedding: vectors[1].slice(0, 8) },
          { ...good[1], id: 'bad-nan', embedding: Float32Array.from(vectors[1], (x, i) => (i === 3 ? NaN : x)) },
          good[1],
          { ...good[2], id: 'bad-empty', content: '' },
          { ...good[2], id: 'bad-big', content: 'x'.repeat(300 * 1024) },
          { ...good[2], id: 'bad-meta', metadata: ['not', 'an', 'object'] },
          { ...good[2], id: 'bad-nul', content: 'a\u0000b' },
          { ...good[2], id: 'bad-ns', namespace: 'no spaces' },
          'not a document',
          good[2],
          { ...good[3], id: 'bad-inf', embedding: Array.from(vectors[3], (x, i) => (i === 0 ? Infinity : x)) },
          good[3],
        ];
        const r = await store.ingest(batch);
        expect(r.inserted).toBe(4);
        expect(r.duplicates).toBe(0);
        expect(r.rejected.map((x) => [x.index, x.id, x.field])).toEqual([
          [1, 'bad-dims', 'embedding'],
          [2, 'bad-nan', 'embedding'],
          [4, 'bad-empty', 'content'],
          [5, 'bad-big', 'content'],
          [6, 'bad-meta', 'metadata'],
          [7, 'bad-nul', 'content'],
          [8, 'bad-ns', 'namespace'],
          [9, undefined, 'document'],
          [11, 'bad-inf', 'embedding'],
        ]);
        expect(r.rejected[0].reason).toBe('embedding has 8 dimensions, expected 16');
        expect(r.rejected[1].reason).toBe('embedding[3] is NaN');
        const stored = await store.search({ namespace: 'mixed', vector: vectors[0], k: 10 });
        expect(stored.map((h) => h.id).sort()).toEqual(['good-0', 'good-1', 'good-2', 'good-3']);
        expect(await store.ingest([])).toEqual({ inserted: 0, duplicates: 0, rejected: [] });
      });

      it('filters by metadata containment', async () => {
        const hits = await store.search({ namespace: 'redeliver', vector: vectors[5], k: 20, filter: { parity: 'odd' } });
        expect(hits).toHaveLength(20);
        expect(hits.every((h) => h.metadata['parity'] === 'odd')).toBe(true);
        const seven = await store.search({ namespace: 'redeliver', vector: vectors[5], k: 5, filter: { n: 7, parity: 'odd' } });
        expect(seven.map((h) => h.id).sort()).toEqual(['doc-7', 'new-7']);
        expect(await store.search({ namespace: 'redeliver', vector: vectors[5], k: 5, filter: { parity: 'none' } })).toEqual([]);
      });

      it('answers an unknown namespace with no hits, and bad arguments with typed errors', async () => {
        expect(await store.search({ namespace: 'never-written', vector: vectors[0], k: 5 })).toEqual([]);
        expect((await store.stats('never-written')).documents).toBe(0);
        const bad = async (q: Parameters<MemoryStore['search']>[0], argument: string) => {
          const err: unknown = await store.search(q).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err).toBeInstanceOf(InvalidArgumentError);
          expect((err as InvalidArgumentError).details?.['argument']).toBe(argument);
          return err as Error;
        };
        expect((await bad({ namespace: 'round', vector: vectors[0], k: 0 }, 'k')).message).toBe('k must be an integer from 1 to 1000, got 0');
        await bad({ namespace: 'round', vector: vectors[0], k: 2.5 }, 'k');
        await bad({ namespace: 'round', vector: vectors[0], k: 1001 }, 'k');
        expect((await bad({ namespace: 'round', vector: vectors[0].slice(0, 15), k: 3 }, 'vector')).message).toBe('vector has 15 dimensions, expected 16');
        await bad({ namespace: 'round', vector: new Float32Array(16), k: 3 }, 'vector');
        await bad({ namespace: 'bad namespace', vector: vectors[0], k: 3 }, 'namespace');
        await expect(store.delete({ namespace: 'round', ids: [''] })).rejects.toBeInstanceOf(InvalidArgumentError);
        await expect(store.stats('bad namespace')).rejects.toBeInstanceOf(InvalidArgumentError);
      });

      it('deletes by ids and by namespace', async () => {
        expect(await store.delete({ namespace: 'redeliver2', ids: ['doc-0', 'doc-1', 'missing'] })).toEqual({ deleted: 2 });
        expect(await store.delete({ namespace: 'redeliver2', ids: [] })).toEqual({ deleted: 0 });
        expect((await store.stats('redeliver2')).documents).toBe(8);
        expect(await store.delete({ namespace: 'redeliver2' })).toEqual({ deleted: 8 });
        expect(await store.search({ namespace: 'redeliver2', vector: vectors[0], k: 5 })).toEqual([]);
        const stats = await store.stats();
        expect(stats.namespaces.map((n) => n.namespace)).toEqual(['mixed', 'redeliver', 'round']);
        expect(stats.documents).toBe(4 + 400 + 3);
        expect(stats.tableBytes).toBeGreaterThan(0);
        expect(stats.indexBytes).toBeGreaterThan(0);
      });

      it('ran each migration once, and refuses a store configured for other dimensions', async () => {
        const again = open('main', { dims: 16 });
        await again.init();
        const rows = await backend().sql<{ version: number; n: number }>(
          `SELECT version, count(*)::int AS n FROM "${backend().schema('main')}".hive_memory_migrations WHERE table_name = 'memory_documents' GROUP BY version ORDER BY version`,
        );
        expect(rows).toEqual([
          { version: 1, n: 1 },
          { version: 2, n: 1 },
        ]);
        const wrong = open('main', { dims: 32 });
        await expect(wrong.init()).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
      });
    });

    it('reaches recall@10 ≥ 0.9 against exact search on a clustered set (2,000 × 64, ef_search 100)', async () => {
      const store = open('recall', { dims: 64, deferIndex: true });
      const vectors = clusteredVectors(2000, 64, { clusters: 40, noise: 0.7, seed: 11 });
      const docs = documents('recall', vectors);
      expect((await store.ingest(docs)).inserted).toBe(2000);
      await store.ensureIndex(); // built once after the bulk load
      await store.ensureIndex(); // and idempotent
      // ensureIndex also refreshed the planner statistics (else the planner takes the fresh load for a tiny table).
      const [estimate] = await backend().sql<{ rows: number }>(`SELECT reltuples::float8 AS rows FROM pg_class WHERE oid = '"${backend().schema('recall')}".memory_documents'::regclass`);
      expect(estimate.rows).toBeGreaterThanOrEqual(1900);
      const ids = docs.map((d) => d.id!);
      const queries = clusteredVectors(40, 64, { clusters: 40, noise: 0.7, seed: 11 + 1000 });
      let found = 0;
      for (const q of queries) {
        const truth = new Set(exactTopK(q, ids, vectors, 10));
        const hits = await store.search({ namespace: 'recall', vector: q, k: 10, efSearch: 100 });
        expect(hits).toHaveLength(10);
        found += hits.filter((h) => truth.has(h.id)).length;
      }
      const recall = found / (queries.length * 10);
      expect(recall).toBeGreaterThanOrEqual(0.9);
    });

    it('loads directly when asked, falling back to staging for duplicates', async () => {
      const store = open('direct', { dims: 8, directCopy: true, workers: 0, ingestBatchDocs: 50 });
      const vectors = clusteredVectors(200, 8, { seed: 5 });
      expect(await store.ingest(documents('d', vectors.slice(0, 120)))).toEqual({ inserted: 120, duplicates: 0, rejected: [] });
      expect(await store.ingest(documents('d', vectors))).toEqual({ inserted: 80, duplicates: 120, rejected: [] });
      expect(await store.ingest(documents('d', vectors))).toEqual({ inserted: 0, duplicates: 200, rejected: [] });
      expect((await store.stats('d')).documents).toBe(200);
    });

    it('stores full-precision vectors with storage: vector', async () => {
      const store = open('fullvec', { dims: 4, storage: 'vector' });
      const v = Float32Array.of(0.1, 0.2, 0.3, 1e6); // beyond the halfvec range, fine as vector
      expect((await store.ingest([{ id: 'v', namespace: 'n', content: 'c', embedding: v }])).inserted).toBe(1);
      const rows = await backend().sql<{ e: string }>(`SELECT embedding::text AS e FROM "${backend().schema('fullvec')}".memory_documents`);
      // Exactly the float32 values sent (text output may use exponents).
      expect(Float32Array.from(rows[0].e.slice(1, -1).split(','), Number)).toEqual(v);
      const [hit] = await store.search({ namespace: 'n', vector: v, k: 1 });
      expect(hit.score).toBeCloseTo(1, 6);
    });

    it('refuses every call after close with a typed error', async () => {
      const store = open('closed', { dims: 4 });
      await store.init();
      await store.close();
      await store.close(); // idempotent
      const err: unknown = await store.ingest([]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnavailableError);
      expect(err).not.toBeInstanceOf(DatabaseError);
      await expect(store.search({ namespace: 'n', vector: [1, 0, 0, 0], k: 1 })).rejects.toBeInstanceOf(UnavailableError);
    });
  });
}
