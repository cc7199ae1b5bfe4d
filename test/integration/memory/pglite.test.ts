// Memory integration tests on PGlite (embedded PostgreSQL with pgvector) in a temporary data folder: the
// store contract, then persistence across a reopen of the folder. One PGlite instance for the whole file
// (the first open of a new folder takes several seconds).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PGliteInterface } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgliteStore } from '../../../actors/memory/PgliteStore.js';
import { storeContract } from './storeContract.js';

const dir = mkdtempSync(join(tmpdir(), 'hive-pglite-'));
let db: PGliteInterface | undefined;

beforeAll(async () => {
  db = await PgliteStore.open(dir);
}, 120_000);

afterAll(async () => {
  if (db && !db.closed) await db.close();
  rmSync(dir, { recursive: true, force: true });
});

storeContract('PGlite', () => ({
  open: (options) => new PgliteStore({ ...options, pglite: db! }),
  sql: async <R>(text: string, params?: unknown[]) => (await db!.query<R>(text, params)).rows,
  schema: (label) => `t_${label}`,
}));

describe('PGlite data folder', () => {
  it('keeps documents across a reopen and does not run migrations again', async () => {
    await db!.close(); // the contract's stores are done with the shared instance
    const store = new PgliteStore({ dataDir: dir, schema: 't_main', dims: 16 });
    try {
      await store.init();
      const stats = await store.stats();
      expect(stats.documents).toBe(407); // what the contract left in t_main
      expect(stats.namespaces.map((n) => n.namespace)).toEqual(['mixed', 'redeliver', 'round']);
      const hits = await store.search({ namespace: 'round', vector: Float32Array.from({ length: 16 }, (_, i) => i + 1), k: 3 });
      expect(hits).toHaveLength(3);
    } finally {
      await store.close();
    }
    const again = await PgliteStore.open(dir);
    try {
      const rows = await again.query<{ version: number; n: number }>(
        "SELECT version, count(*)::int AS n FROM t_main.hive_memory_migrations WHERE table_name = 'memory_documents' GROUP BY version ORDER BY version",
      );
      expect(rows.rows).toEqual([
        { version: 1, n: 1 },
        { version: 2, n: 1 },
      ]);
    } finally {
      await again.close();
    }
  }, 60_000);
});
