// The memory actor on PGlite in a temporary folder, on an in-process node: the COPY-encoded durable ingestion
// path, text and vector search, bad documents, redelivery, delete, and the HNSW index built once the store
// holds enough documents. One PGlite instance for the file (the first open of a new folder takes seconds).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PGliteInterface } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgliteStore } from '../../../actors/memory/PgliteStore.js';
import { Hive } from '../../../cluster/Hive.js';
import { silentLogger } from '../../../runtime/logger.js';
import { uniqueName } from '../../support/services.js';
import { clusteredVectors, documents } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'hive-pglite-actor-'));
let db: PGliteInterface;
let hive: Hive;

beforeAll(async () => {
  db = await PgliteStore.open(dir);
  hive = await Hive.start({
    cluster: uniqueName('mempgl'),
    env: false,
    logger: silentLogger(),
    memory: { store: new PgliteStore({ pglite: db, schema: 'actor', dims: 16, deferIndex: true, workers: 1 }), indexAfterDocs: 400, indexIdleMs: 50, ingest: { ackWaitMs: 2000 } },
  });
}, 120_000);

afterAll(async () => {
  await hive?.stop();
  if (db && !db.closed) await db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('memory actor on PGlite', () => {
  it('memory pglite - ingests text and vectors, searches both ways, and re-ingestion is all duplicates', async () => {
    const r = await hive.memory.ingest([
      { id: 't1', content: 'the embedded database needs nothing installed' },
      { id: 't2', content: 'jetstream keeps queued documents durable' },
    ], { namespace: 'text' });
    expect(r).toEqual({ type: 'memory.ingested', inserted: 2, duplicates: 0, rejected: [] });
    // Text search needs the same dimension as the store: 16 here, the node's hashing embedder follows it.
    expect((await hive.memory.search({ namespace: 'text', text: 'queued documents durable', k: 1 }))[0]?.id).toBe('t2');

    const vectors = clusteredVectors(500, 16, { seed: 9 });
    const docs = documents('vec', vectors);
    expect(await hive.memory.ingest(docs)).toMatchObject({ inserted: 500, duplicates: 0 });
    const hits = await hive.memory.search({ namespace: 'vec', vector: vectors[3], k: 5 });
    expect(hits[0]).toMatchObject({ id: 'doc-3', metadata: { n: 3, parity: 'odd' } });
    expect(hits[0].score).toBeCloseTo(1, 2);
    expect(await hive.memory.ingest(docs.slice(0, 100))).toMatchObject({ inserted: 0, duplicates: 100 });
    expect((await hive.memory.stats('vec')).documents).toBe(500);
  });

  it('memory pglite - builds the HNSW index once the store holds enough documents, and search still works', async () => {
    const end = Date.now() + 60_000;
    while (Date.now() < end && (hive.status().extra?.['memory'] as { index?: string }).index !== 'indexed') await new Promise((r) => setTimeout(r, 100));
    expect((hive.status().extra?.['memory'] as { index?: string }).index).toBe('indexed');
    const rows = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname = 'actor' AND indexdef ILIKE '%hnsw%'");
    expect(rows.rows[0].n).toBe(1);
    const vectors = clusteredVectors(500, 16, { seed: 9 });
    expect((await hive.memory.search({ namespace: 'vec', vector: vectors[10], k: 3, efSearch: 64 }))[0]?.id).toBe('doc-10');
  }, 90_000);

  it('memory pglite - rejects bad documents with reasons while the good ones are stored, and deletes', async () => {
    const r = await hive.memory.ingest(
      [{ id: 'ok', content: 'fine' }, { id: 'dims', content: 'x', embedding: [1] }, { id: 'meta', content: 'x', metadata: 5 }, { content: '' }],
      { namespace: 'mixed' },
    );
    expect(r.inserted).toBe(1);
    expect(r.rejected.map((x) => [x.index, x.field])).toEqual([
      [1, 'embedding'],
      [2, 'metadata'],
      [3, 'content'],
    ]);
    expect(await hive.memory.delete('mixed')).toBe(1);
    expect(await hive.memory.search({ namespace: 'mixed', text: 'fine' })).toEqual([]);
  });
});
