// Memory integration tests on real PostgreSQL with pgvector: the store contract in schemas unique to this run
// (dropped afterwards), and a database that is down answering with a typed retryable error.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PgStore } from '../../../actors/memory/PgStore.js';
import { DatabaseError } from '../../../protocols/errors.js';
import { freePort, PG_URL, pgvectorAvailable, uniqueName } from '../../support/services.js';
import { storeContract } from './storeContract.js';

const available = await pgvectorAvailable();
const run = uniqueName('hive_mem');
const schemas = new Set<string>();
const admin = new pg.Pool({ connectionString: PG_URL, max: 2 });

afterAll(async () => {
  if (available) for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`).catch(() => undefined);
  await admin.end();
});

describe.skipIf(!available)('PostgreSQL with pgvector', () => {
  storeContract('PostgreSQL', () => ({
    open: (options) => new PgStore({ ...options, url: PG_URL, poolSize: 3 }),
    sql: async <R>(text: string, params?: unknown[]) => (await admin.query(text, params)).rows as R[],
    schema: (label) => {
      const name = `${run}_${label}`;
      schemas.add(name);
      return name;
    },
  }));
});

describe('PostgreSQL that is down', () => {
  it('answers init, ingest and search with a retryable DatabaseError', async () => {
    const port = await freePort(); // nothing listens there
    const store = new PgStore({ url: `postgres://postgres@127.0.0.1:${port}/test`, dims: 4, connectTimeoutMs: 2000 });
    try {
      const err: unknown = await store.init().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatabaseError);
      expect(err).toMatchObject({ code: 'DATABASE', retryable: true, details: { action: 'init', errno: 'ECONNREFUSED' } });
      await expect(store.ingest([{ namespace: 'n', content: 'c', embedding: [1, 0, 0, 0] }])).rejects.toMatchObject({ code: 'DATABASE', retryable: true });
      await expect(store.search({ namespace: 'n', vector: [1, 0, 0, 0], k: 1 })).rejects.toBeInstanceOf(DatabaseError);
      // Argument errors still come first, without touching the database.
      await expect(store.search({ namespace: 'n', vector: [1, 0, 0, 0], k: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      await store.close();
    }
  });
});
