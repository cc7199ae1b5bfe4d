// The memory actor on real PostgreSQL with pgvector and real NATS (JetStream durable queue): round trip from
// code and from a raw NATS JSON request (what the NATS CLI sends), bad documents rejected with reasons while
// the good ones are stored, redelivery-safe re-ingestion, two nodes sharing one database (any node commits,
// every node's cache is invalidated), and a database that is down answering a typed retryable error.
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Packr, unpack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hive } from '../../../cluster/Hive.js';
import { HiveError } from '../../../protocols/errors.js';
import { silentLogger } from '../../../runtime/logger.js';
import { freePort, NATS_URL, natsAvailable, PG_URL, pgvectorAvailable, uniqueName } from '../../support/services.js';
import { clusteredVectors, documents, exactTopK } from './fixtures.js';

const available = (await natsAvailable()) && (await pgvectorAvailable());
const schema = uniqueName('hive_memactor').toLowerCase();
const hives: Hive[] = [];
const clusters = new Set<string>();

async function node(cluster: string, options: { database?: string; nodeId?: string } = {}): Promise<Hive> {
  clusters.add(cluster);
  const hive = await Hive.start({
    cluster,
    nats: NATS_URL,
    env: false,
    logger: silentLogger(),
    ...(options.nodeId !== undefined && { nodeId: options.nodeId }),
    memory: { database: options.database ?? PG_URL, schema, dims: 16, ingest: { ackWaitMs: 2000 }, connectTimeoutMs: 2000 },
  });
  hives.push(hive);
  return hive;
}

afterAll(async () => {
  await Promise.all(hives.map((h) => h.stop()));
  // The JetStream streams and KV buckets these clusters made on the shared server.
  if (clusters.size > 0) {
    const nc = await connect({ servers: NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      for (const c of clusters) {
        for (const stream of [`HIVE_${c}_TASKS`, `HIVE_${c}_DLQ`, `KV_hive_${c}_placement`, `KV_hive_${c}_snapshots`, `KV_hive_${c}_timers`]) await jsm.streams.delete(stream).catch(() => undefined);
      }
    } finally {
      await nc.close();
    }
  }
  if (!available) return;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

describe.skipIf(!available)('memory actor on PostgreSQL and NATS', () => {
  const cluster = uniqueName('memactor');
  let a: Hive;
  let b: Hive;

  beforeAll(async () => {
    a = await node(cluster, { nodeId: 'a' });
    b = await node(cluster, { nodeId: 'b' });
  }, 60_000);

  it('memory pg - round trip from code: vectors in, nearest out with recall against exact search', async () => {
    const vectors = clusteredVectors(300, 16, { seed: 5 });
    const docs = documents('round', vectors);
    const r = await a.memory.ingest(docs);
    expect(r).toEqual({ type: 'memory.ingested', inserted: 300, duplicates: 0, rejected: [] });
    const ids = docs.map((d) => d.id!);
    let found = 0;
    for (let q = 0; q < 20; q++) {
      const hits = await b.memory.search({ namespace: 'round', vector: vectors[q * 7], k: 10 });
      const truth = new Set(exactTopK(vectors[q * 7], ids, vectors, 10));
      found += hits.filter((h) => truth.has(h.id)).length;
    }
    expect(found / 200).toBeGreaterThanOrEqual(0.9); // exact scan below the index threshold
    const filtered = await a.memory.search({ namespace: 'round', vector: vectors[0], k: 5, filter: { parity: 'odd' } });
    expect(filtered.every((h) => (h.metadata as { parity: string }).parity === 'odd')).toBe(true);
    // Redelivery-safe: the same documents again are all duplicates.
    expect(await b.memory.ingest(docs.slice(0, 50))).toMatchObject({ inserted: 0, duplicates: 50 });
    expect((await a.memory.stats('round')).documents).toBe(300);
  });

  it('memory pg - a raw NATS JSON request (as the NATS CLI sends it) gets a JSON answer', async () => {
    const nc = await connect({ servers: NATS_URL });
    try {
      const ask = async (body: string) => JSON.parse(new TextDecoder().decode((await nc.request(`hive.${cluster}.memory`, body, { timeout: 30_000 })).data)) as Record<string, unknown>;
      expect(await ask('{"type":"memory.ingest","namespace":"cli","docs":[{"id":"n1","content":"nats carries json requests to hive memory"},{"id":"n2","content":"postgres stores the vectors"}]}')).toEqual({
        type: 'memory.ingested',
        inserted: 2,
        duplicates: 0,
        rejected: [],
      });
      const found = await ask('{"type":"memory.search","text":"json requests over nats","namespace":"cli","k":1}');
      expect(found).toMatchObject({ type: 'memory.results', hits: [{ id: 'n1', content: 'nats carries json requests to hive memory' }] });
      expect(await ask('{"type":"memory.search","vector":[1,2,3],"namespace":"cli"}')).toMatchObject({ type: 'hive.error', code: 'INVALID_ARGUMENT', details: { argument: 'vector' } });
      expect(await ask('{"type":"memory.search","text":"x","namespace":"cli","k":0}')).toMatchObject({ type: 'hive.error', code: 'INVALID_ARGUMENT', details: { argument: 'k' } });
      expect(await ask('{"type":"memory.stats","namespace":"cli"}')).toMatchObject({ type: 'memory.stats', documents: 2, backend: 'postgres' });
      expect(await ask('{"type":"memory.delete","namespace":"cli","ids":["n2"]}')).toEqual({ type: 'memory.deleted', deleted: 1 });
      // The actor subject of one node answers too.
      expect(await nc.request(`hive.${cluster}.actor.memory-a`, '{"type":"memory.stats"}', { timeout: 30_000 }).then((m) => JSON.parse(new TextDecoder().decode(m.data)) as unknown)).toMatchObject({
        type: 'memory.stats',
        node: 'a',
      });
    } finally {
      await nc.close();
    }
  });

  it('memory pg - a binary frame as another language builds it: vectors as msgpack bin of little-endian float32', async () => {
    // What a Python client sends: msgpack with the vector as bytes (numpy's astype('<f4').tobytes()), in a
    // Hive frame (0xC1, version 1, msgpack body), and reads the msgpack reply.
    const packr = new Packr({ useRecords: false });
    const le = (v: number[]) => {
      const b = new Uint8Array(v.length * 4);
      const view = new DataView(b.buffer);
      v.forEach((x, i) => view.setFloat32(i * 4, x, true));
      return b;
    };
    const frame = (e: Record<string, unknown>) => {
      const body = packr.pack({ v: 1, k: 'a', e, c: 'py-1', d: Date.now() + 30_000 });
      const out = new Uint8Array(2 + body.length);
      out.set([0xc1, 0x01]);
      out.set(body, 2);
      return out;
    };
    const nc = await connect({ servers: NATS_URL });
    try {
      const ask = async (e: Record<string, unknown>) => {
        const m = await nc.request(`hive.${cluster}.memory`, frame(e), { timeout: 30_000 });
        expect(m.data[0]).toBe(0xc1);
        expect(m.data[1] & 0x10).toBe(0); // small replies are not compressed
        return unpack(m.data.subarray(2)) as { ok?: Record<string, unknown>; err?: Record<string, unknown> };
      };
      const v1 = Array.from({ length: 16 }, (_, i) => (i === 3 ? 1 : 0.01 * i));
      const v2 = Array.from({ length: 16 }, (_, i) => (i === 9 ? 1 : -0.01 * i));
      expect((await ask({ type: 'memory.ingest', namespace: 'bin', docs: [{ id: 'b1', content: 'one', embedding: le(v1) }, { id: 'b2', content: 'two', embedding: le(v2) }] })).ok).toEqual({
        type: 'memory.ingested',
        inserted: 2,
        duplicates: 0,
        rejected: [],
      });
      const found = await ask({ type: 'memory.search', namespace: 'bin', vector: le(v2), k: 1 });
      expect(found.ok).toMatchObject({ type: 'memory.results', hits: [{ id: 'b2' }] });
      // 4 x dims bytes, or refused naming the field
      expect((await ask({ type: 'memory.search', namespace: 'bin', vector: le(v2).subarray(0, 62), k: 1 })).err).toMatchObject({ code: 'INVALID_ARGUMENT', details: { argument: 'vector' } });
      expect((await ask({ type: 'memory.search', namespace: 'bin', vector: le(v2.slice(0, 15)), k: 1 })).err).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('15 dimensions, expected 16') });
      const bad = await ask({ type: 'memory.ingest', namespace: 'bin', docs: [{ id: 'b3', content: 'three', embedding: le(v1).subarray(0, 7) }] });
      expect(bad.ok).toMatchObject({ inserted: 0, rejected: [{ index: 0, field: 'embedding', reason: expect.stringContaining('not a multiple of 4') }] });
    } finally {
      await nc.close();
    }
  });

  it('memory pg - bad documents are rejected naming the field while the good ones in the batch are stored', async () => {
    const v = (x: number) => Float32Array.from({ length: 16 }, (_, i) => (i === 0 ? x : 0.1));
    const r = await a.memory.ingest(
      [
        { id: 'good-1', content: 'a good document', embedding: v(1) },
        { id: 'dims', content: 'wrong dimension', embedding: [1, 2, 3] },
        { id: 'nan', content: 'nan inside', embedding: v(NaN) },
        { id: 'inf', content: 'infinity inside', embedding: v(Infinity) },
        { id: 'empty', content: '' },
        { id: 'huge', content: 'z'.repeat(300 * 1024) },
        { id: 'meta', content: 'metadata is a string', metadata: 'nope' },
        { id: 'good-2', content: 'another good document', metadata: { ok: true } },
      ],
      { namespace: 'bad' },
    );
    expect(r.inserted).toBe(2);
    expect(r.rejected.map((x) => `${x.index}:${x.id}:${x.field}`)).toEqual(['1:dims:embedding', '2:nan:embedding', '3:inf:embedding', '4:empty:content', '5:huge:content', '6:meta:metadata']);
    expect(r.rejected.every((x) => x.reason.length > 0)).toBe(true);
    expect((await b.memory.stats('bad')).documents).toBe(2);
  });

  it('memory pg - a write through one node invalidates the cached results of every node', async () => {
    await a.memory.ingest([{ id: 'c1', namespace: 'cached', content: 'cache invalidation across nodes' }]);
    const first = await a.memory.search({ namespace: 'cached', text: 'cache invalidation nodes' });
    expect(first.map((h) => h.id)).toEqual(['c1']);
    await a.memory.search({ namespace: 'cached', text: 'cache invalidation nodes' }); // a cache hit on a
    await b.memory.ingest([{ id: 'c2', namespace: 'cached', content: 'cache invalidation across all the nodes' }]);
    const end = Date.now() + 10_000;
    let ids: string[] = [];
    while (Date.now() < end) {
      ids = (await a.memory.search({ namespace: 'cached', text: 'cache invalidation nodes' })).map((h) => h.id).sort();
      if (ids.length === 2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(ids).toEqual(['c1', 'c2']);
    expect((await a.memory.stats()).cache.hits).toBeGreaterThanOrEqual(1);
  });
});

describe.skipIf(!(await natsAvailable()))('memory actor with its database down', () => {
  it('memory pg - answers a typed retryable error, then CIRCUIT_OPEN, and queues nothing', async () => {
    const port = await freePort(); // nothing listens there
    const hive = await node(uniqueName('memdown'), { database: `postgres://postgres@127.0.0.1:${port}/test` });
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) {
      const err = await hive.memory.search({ namespace: 'x', text: `query ${i}` }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(HiveError);
      expect((err as HiveError).retryable).toBe(true);
      codes.push((err as HiveError).code);
    }
    expect(codes[0]).toBe('DATABASE');
    expect(codes.at(-1)).toBe('CIRCUIT_OPEN');
    const ingest = await hive.memory.ingest([{ namespace: 'x', content: 'not stored' }]).then(
      () => undefined,
      (e: unknown) => e as HiveError,
    );
    expect(ingest?.retryable).toBe(true);
    expect(['CIRCUIT_OPEN', 'DATABASE']).toContain(ingest?.code);
    expect((await hive.memory.stats().catch((e: unknown) => e)) as HiveError).toBeInstanceOf(HiveError);
  }, 60_000);
});
