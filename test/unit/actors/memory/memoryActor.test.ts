// The memory actor on an in-process node over an in-memory store: ingest through the durable queue (embedding
// text), rejections naming index and field, search by text and vector with the query cache, typed errors for
// bad requests, a database that is down (fast retryable errors, the breaker, queued documents kept and stored
// once it is back), requests made while the store is still opening, and raw JSON on the cluster subject.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Hive } from '../../../../cluster/Hive.js';
import type { MemoryOptions } from '../../../../cluster/NodeMemory.js';
import { memoryActorId, memorySubject } from '../../../../actors/memory/memoryProtocol.js';
import { decodeJson, encodeJson } from '../../../../protocols/frame.js';
import { uniqueName } from '../../../support/services.js';
import { metricValue } from '../../../support/natsNodes.js';
import { FakeStore } from './fakeStore.js';
import { HashingEmbedder } from '../../../../actors/memory/HashingEmbedder.js';
import { hiveInternals } from '../../../../cluster/internal.js';
import { errorOf } from '../../../support/errors.js';

const hives: Hive[] = [];

async function node(store: FakeStore, options: MemoryOptions = {}): Promise<Hive> {
  const hive = await Hive.start({
    cluster: uniqueName('mem'),
    env: false,
    logLevel: 'silent',
    memory: { store, breaker: { coolDownMs: 50, maxCoolDownMs: 200 }, ingest: { ackWaitMs: 1000, retryBaseMs: 20 }, ...options },
  });
  hives.push(hive);
  return hive;
}

afterEach(async () => {
  await Promise.all(hives.splice(0).map((h) => h.stop()));
});

const vec = (...xs: number[]) => Float32Array.from({ length: 8 }, (_, i) => xs[i] ?? 0);


describe('memory actor', () => {
  it('memory - ingests through the queue, embeds text without an embedding, and finds it by text and by vector', async () => {
    const store = new FakeStore();
    const hive = await node(store);
    const r = await hive.memory.ingest([
      { id: 'a', namespace: 'docs', content: 'postgres stores vectors with pgvector' },
      { id: 'b', namespace: 'docs', content: 'nats carries messages between nodes' },
      { id: 'c', namespace: 'docs', content: 'explicit vector', embedding: vec(1, 2, 3) },
    ]);
    expect(r).toEqual({ type: 'memory.ingested', inserted: 3, duplicates: 0, rejected: [] });
    const byText = await hive.memory.search({ namespace: 'docs', text: 'nats messages', k: 2 });
    expect(byText[0]).toMatchObject({ id: 'b', content: 'nats carries messages between nodes', metadata: {} });
    expect(byText[0].score).toBeGreaterThan(byText[1].score);
    const byVector = await hive.memory.search({ namespace: 'docs', vector: [1, 2, 3, 0, 0, 0, 0, 0], k: 1 });
    expect(byVector.map((h) => h.id)).toEqual(['c']);
    // Again: redelivery-safe, everything is a duplicate.
    expect(await hive.memory.ingest([{ id: 'a', namespace: 'docs', content: 'postgres stores vectors with pgvector' }])).toMatchObject({ inserted: 0, duplicates: 1 });
    const stats = await hive.memory.stats('docs');
    expect(stats).toMatchObject({ type: 'memory.stats', documents: 3, backend: 'custom', ready: true, breaker: 'closed' });
  });

  it('memory - rejects bad documents naming index and field while the good ones are stored', async () => {
    const store = new FakeStore();
    const hive = await node(store, { maxContentBytes: 100 });
    const r = await hive.memory.ingest(
      [
        { id: 'ok1', content: 'fine' },
        { id: 'dims', content: 'x', embedding: [1, 2, 3] },
        { id: 'nan', content: 'x', embedding: [1, NaN, 0, 0, 0, 0, 0, 0] },
        { id: 'empty', content: '   ' },
        { id: 'big', content: 'y'.repeat(101) },
        { id: 'meta', content: 'x', metadata: [1, 2] },
        'not a document',
        { id: 'nowords', content: '!!! ???' },
        { id: 'ok2', content: 'also fine', metadata: { tag: 't' } },
      ],
      { namespace: 'bad' },
    );
    expect(r.inserted).toBe(2);
    expect(r.rejected.map((x) => [x.index, x.id, x.field])).toEqual([
      [1, 'dims', 'embedding'],
      [2, 'nan', 'embedding'],
      [3, 'empty', 'content'],
      [4, 'big', 'content'],
      [5, 'meta', 'metadata'],
      [6, undefined, 'document'],
      [7, 'nowords', 'content'],
    ]);
    expect(r.rejected[0].reason).toContain('3 dimensions, expected 8');
    expect(r.rejected[1].reason).toContain('NaN');
    expect(r.rejected[3].reason).toContain('over the 100-byte limit');
    expect([...store.docs.values()].map((d) => d.id).sort()).toEqual(['ok1', 'ok2']);
  });

  it('memory - answers bad requests with INVALID_ARGUMENT naming the field', async () => {
    const hive = await node(new FakeStore());
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ namespace: 'n', text: 'q', k: 0 }, 'k'],
      [{ namespace: 'n', text: 'q', k: 'ten' }, 'k'],
      [{ namespace: 'n', text: 'q', k: 1_000_000 }, 'k'],
      [{ namespace: 'n', vector: [1, 2, 3] }, 'vector'],
      [{ namespace: 'n', vector: [1, 'x'] }, 'vector'],
      [{ namespace: 'n', text: 'q', vector: [1] }, 'text'],
      [{ namespace: 'n' }, 'text'],
      [{ namespace: 'not a token', text: 'q' }, 'namespace'],
      [{ namespace: 'n', text: 'q', filter: [1] }, 'filter'],
      [{ namespace: 'n', text: 'q', efSearch: 5000 }, 'efSearch'],
    ];
    for (const [query, argument] of cases) {
      const err = await errorOf(hive.memory.search(query as never));
      expect([err.code, err.details?.['argument']], JSON.stringify(query)).toEqual(['INVALID_ARGUMENT', argument]);
    }
    const notArray = await errorOf(hive.ref(memoryActorId(hive.nodeId)).ask({ type: 'memory.ingest', docs: 'nope' }));
    expect([notArray.code, notArray.details?.['argument']]).toEqual(['INVALID_ARGUMENT', 'docs']);
    // An unknown namespace is not an error: nothing was ever written there.
    expect(await hive.memory.search({ namespace: 'never-written', text: 'anything' })).toEqual([]);
  });

  it('memory - caches search results per namespace until a write there, counting the hit rate', async () => {
    const store = new FakeStore();
    const hive = await node(store);
    await hive.memory.ingest([{ id: '1', namespace: 'c', content: 'alpha beta' }]);
    await hive.memory.search({ namespace: 'c', text: 'alpha' });
    await hive.memory.search({ namespace: 'c', text: 'alpha' });
    expect(store.calls.search).toBe(1);
    expect((await hive.memory.stats()).cache).toMatchObject({ hits: 1, misses: 1, hitRate: 0.5 });
    await hive.memory.ingest([{ id: '2', namespace: 'c', content: 'alpha gamma' }]);
    const hits = await hive.memory.search({ namespace: 'c', text: 'alpha' });
    expect(store.calls.search).toBe(2);
    expect(hits.map((h) => h.id).sort()).toEqual(['1', '2']);
    expect(await hive.memory.delete('c', ['1'])).toBe(1);
    expect((await hive.memory.search({ namespace: 'c', text: 'alpha' })).map((h) => h.id)).toEqual(['2']);
    expect(await hive.memory.delete('c')).toBe(1);
  });

  it('memory - answers requests made while the store is still opening once it is open', async () => {
    const store = new FakeStore();
    let open!: () => void;
    store.opened = new Promise<void>((r) => (open = r));
    const hive = await node(store);
    const actor = () => hiveInternals(hive).system.localActor(memoryActorId(hive.nodeId))!.getSnapshot() as { value: unknown; context: { waiting: unknown[]; running: number } };
    expect(actor().value).toMatchObject({ live: { store: 'opening' } });
    const ingest = hive.memory.ingest([{ id: 'early', namespace: 'o', content: 'before the store opened' }]);
    const search = hive.memory.search({ namespace: 'o', text: 'store' });
    // both wait in the memory actor while the store opens (none runs yet)
    await vi.waitFor(() => expect(actor().context.waiting).toHaveLength(2));
    expect(actor().context.running).toBe(0);
    open();
    expect(await ingest).toMatchObject({ inserted: 1 });
    expect(await search).toEqual([]);
    expect(actor().value).toMatchObject({ live: { store: 'ready' } });
  });

  it('memory - a database that is down gets a typed retryable error fast, then CIRCUIT_OPEN with nothing queued', async () => {
    const store = new FakeStore();
    const hive = await node(store);
    await hive.memory.ingest([{ id: 'x', namespace: 'd', content: 'before the outage' }]);
    store.down = true;
    const first = await errorOf(hive.memory.search({ namespace: 'd', text: 'outage one' }));
    expect(first).toMatchObject({ code: 'DATABASE', retryable: true });
    await errorOf(hive.memory.search({ namespace: 'd', text: 'outage two' }));
    await errorOf(hive.memory.search({ namespace: 'd', text: 'outage three' }));
    const open = await errorOf(hive.memory.search({ namespace: 'd', text: 'outage four' }));
    expect(open).toMatchObject({ code: 'CIRCUIT_OPEN', retryable: true });
    const ingest = await errorOf(hive.memory.ingest([{ id: 'y', namespace: 'd', content: 'during the outage' }]));
    expect(ingest.code === 'CIRCUIT_OPEN' || ingest.code === 'DATABASE').toBe(true);
    expect(ingest.retryable).toBe(true);
    const state = () => (hive.status().extra?.['memory'] as { state: string }).state;
    expect(state()).toBe('degraded');
    store.down = false;
    await vi.waitFor(async () => expect(await hive.memory.search({ namespace: 'd', text: 'before the outage' })).toHaveLength(1), { timeout: 5000 });
    expect(store.docs.has('d\u0000y')).toBe(false);
    expect(state()).toBe('ready');
  });

  it('memory - requests beyond the concurrency wait in the actor, and beyond maxQueued are answered OVERLOADED', async () => {
    const store = new FakeStore();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const hashing = new HashingEmbedder({ dims: 8 });
    // an embedder that holds every text query until the gate opens (a slow model)
    const embedder = { dims: 8, embed: async (texts: readonly string[]) => (await gate, hashing.embed(texts)) };
    const hive = await node(store, { embedder, concurrency: 1, maxQueued: 1 });
    await vi.waitFor(() => expect((hive.status().extra?.['memory'] as { state: string }).state).toBe('ready'));
    const a = hive.memory.search({ namespace: 'q', text: 'first' });
    const b = hive.memory.search({ namespace: 'q', text: 'second' });
    await vi.waitFor(() => expect((hive.status().extra?.['memory'] as { requests: unknown }).requests).toEqual({ running: 1, queued: 1 }));
    const c = await errorOf(hive.memory.search({ namespace: 'q', text: 'third' }));
    expect(c).toMatchObject({ code: 'OVERLOADED' });
    release();
    expect(await a).toEqual([]);
    expect(await b).toEqual([]);
    expect((hive.status().extra?.['memory'] as { requests: unknown }).requests).toEqual({ running: 0, queued: 0 });
  });

  it('memory - queued documents wait out an outage and are stored exactly once when the database is back', async () => {
    const store = new FakeStore();
    const hive = await node(store);
    await hive.memory.stats(); // the store is open
    // The first attempt commits and then loses its connection: redelivered, it finds everything stored.
    store.failAfterCommit = 1;
    const queued = await hive.memory.ingest(
      Array.from({ length: 50 }, (_, i) => ({ id: `q${i}`, namespace: 'q', content: `queued document ${i}` })),
      { wait: false },
    );
    expect(queued).toMatchObject({ type: 'memory.queued', queued: 50, batches: 1, rejected: [] });
    await vi.waitFor(() => expect(store.calls.ingest).toBe(2), { timeout: 5000 });
    expect(store.docs.size).toBe(50);
    // An outage after queueing: the batch is retried (nak with a delay; the breaker opens) until it commits.
    store.failIngest = 4;
    await hive.memory.ingest([{ id: 'late', namespace: 'q', content: 'queued just before the outage' }], { wait: false });
    await vi.waitFor(() => expect(store.docs.has('q\u0000late')).toBe(true), { timeout: 10_000, interval: 50 });
    expect(store.calls.ingest).toBeGreaterThanOrEqual(7);
    expect(store.docs.size).toBe(51);
  });

  it('memory - a batch whose commit fails answers the waiting ingest with a retryable error saying it stays queued', async () => {
    const store = new FakeStore();
    const hive = await node(store);
    await hive.memory.stats(); // opened
    store.failAfterCommit = 1;
    const err = await errorOf(hive.memory.ingest([{ id: 'w', namespace: 'w', content: 'committed, then the connection dropped' }]));
    expect(err).toMatchObject({ code: 'DATABASE', retryable: true, details: { queued: true } });
    await vi.waitFor(() => expect(store.calls.ingest).toBeGreaterThanOrEqual(2), { timeout: 5000 });
    expect(store.docs.size).toBe(1);
  });

  it('memory - a waiting ingest loads its batches directly, without the queue; direct: false sends them through it', async () => {
    const store = new FakeStore();
    const hive = await node(store, { ingest: { ackWaitMs: 1000, retryBaseMs: 20, directBatchDocs: 10 } });
    const r = await hive.memory.ingest(Array.from({ length: 35 }, (_, i) => ({ id: `d${i}`, namespace: 'direct', content: `direct document ${i}` })));
    expect(r).toEqual({ type: 'memory.ingested', inserted: 35, duplicates: 0, rejected: [] });
    expect(await metricValue(hive, 'hive_memory_direct_batches_total', 'result="committed"')).toBe(4);
    expect(await metricValue(hive, 'hive_memory_queue_batches_total', 'result="committed"')).toBe(0);
    const viaQueue = await node(new FakeStore(), { ingest: { ackWaitMs: 1000, retryBaseMs: 20, batchDocs: 10, direct: false } });
    expect(await viaQueue.memory.ingest(Array.from({ length: 15 }, (_, i) => ({ id: `q${i}`, namespace: 'queue', content: `queued document ${i}` })))).toMatchObject({ inserted: 15 });
    expect(await metricValue(viaQueue, 'hive_memory_queue_batches_total', 'result="committed"')).toBe(2);
    expect(await metricValue(viaQueue, 'hive_memory_direct_batches_total', 'result="committed"')).toBe(0);
  });

  it('memory - a direct ingest whose database fails mid-way queues the rest and loses nothing: each document stored once', async () => {
    const store = new FakeStore();
    // direct batches of 25, queue messages of 10: a failed direct batch is queued in parts
    const hive = await node(store, { ingest: { ackWaitMs: 1000, retryBaseMs: 20, directBatchDocs: 25, batchDocs: 10, consumers: 1 } });
    await hive.memory.stats(); // opened
    store.failIngest = 1; // the first batch fails: it and every later batch of the request go to the queue
    const docs = Array.from({ length: 50 }, (_, i) => ({ id: `m${i}`, namespace: 'mid', content: `mid-way document ${i}` }));
    const err = await errorOf(hive.memory.ingest(docs));
    expect(err).toMatchObject({ code: 'DATABASE', retryable: true, details: { queued: true } });
    await vi.waitFor(() => expect(store.docs.size).toBe(50), { timeout: 10_000, interval: 50 });
    // the failed batch of 25 went to the queue as 3 messages (10 + 10 + 5)
    expect(await metricValue(hive, 'hive_memory_queue_batches_total', 'result="committed"')).toBeGreaterThanOrEqual(3);
    // the caller's retry is idempotent (the ids are its own)
    expect(await hive.memory.ingest(docs)).toMatchObject({ inserted: 0, duplicates: 50 });
  });

  it('memory - a direct ingest that fails after its commit (connection lost) retries idempotently: duplicates, never twice', async () => {
    const store = new FakeStore();
    const hive = await node(store, { ingest: { ackWaitMs: 1000, retryBaseMs: 20, directBatchDocs: 10 } });
    await hive.memory.stats();
    store.failAfterCommit = 3;
    const docs = Array.from({ length: 30 }, (_, i) => ({ id: `r${i}`, namespace: 'retry', content: `retried document ${i}` }));
    const err = await errorOf(hive.memory.ingest(docs));
    expect(err.retryable).toBe(true);
    await vi.waitFor(async () => expect(await hive.memory.ingest(docs)).toMatchObject({ inserted: 0, duplicates: 30 }), { timeout: 10_000, interval: 50 });
    expect(store.docs.size).toBe(30);
  });

  it('memory - builds the HNSW index once the store holds indexAfterDocs documents', async () => {
    const store = new FakeStore();
    const hive = await node(store, { indexAfterDocs: 20, indexIdleMs: 20 });
    await hive.memory.ingest(Array.from({ length: 15 }, (_, i) => ({ id: `i${i}`, namespace: 'ix', content: `doc ${i}` })));
    expect(store.calls.ensureIndex).toBe(0);
    await hive.memory.ingest(Array.from({ length: 10 }, (_, i) => ({ id: `j${i}`, namespace: 'ix', content: `doc ${i}` })));
    await vi.waitFor(() => expect(store.calls.ensureIndex).toBe(1));
    await hive.memory.ingest([{ id: 'k', namespace: 'ix', content: 'one more' }]);
    expect(store.calls.ensureIndex).toBe(1);
    expect(hive.status().extra?.['memory']).toMatchObject({ index: 'indexed', state: 'ready' });
  });

  it('memory - the cluster subject answers a raw JSON request with JSON, and the actor id is memory-<node>', async () => {
    const store = new FakeStore();
    const hive = await node(store);
    await hive.memory.ingest([{ id: 'j', namespace: 'json', content: 'json over the subject' }]);
    const ask = async (body: unknown) => decodeJson(await hiveInternals(hive).transport.request(memorySubject(hive.cluster), encodeJson(body), 5000));
    expect(await ask({ type: 'memory.search', text: 'json subject', namespace: 'json' })).toMatchObject({ type: 'memory.results', hits: [{ id: 'j' }] });
    expect(await ask({ type: 'memory.search', text: 'json', namespace: 'json', k: -1 })).toMatchObject({ type: 'hive.error', code: 'INVALID_ARGUMENT' });
    expect(await ask({ type: 'memory.ingest', docs: [{ id: 'k', content: 'from json', embedding: [0, 1, 0, 0, 0, 0, 0, 0] }], namespace: 'json' })).toEqual({
      type: 'memory.ingested',
      inserted: 1,
      duplicates: 0,
      rejected: [],
    });
    expect(decodeJson(await hiveInternals(hive).transport.request(memorySubject(hive.cluster), encodeJson('nope'), 5000))).toMatchObject({ type: 'hive.error' });
    const viaActor = await hive.ref(`memory-${hive.nodeId}`).ask({ type: 'memory.stats' });
    expect(viaActor).toMatchObject({ type: 'memory.stats', documents: 2 });
    expect(hive.status().extra?.['memory']).toMatchObject({ actor: `memory-${hive.nodeId}`, state: 'ready' });
  });

  it('memory - a node without memory reaches the cluster memory of another node, and pool agents get it as ctx.memory', async () => {
    const store = new FakeStore();
    const withMemory = await node(store);
    const without = await Hive.start({ cluster: withMemory.cluster, env: false, logLevel: 'silent' });
    hives.push(without);
    expect(without.memory.isLocal).toBe(false);
    await without.memory.ingest([{ id: 'r', namespace: 'remote', content: 'remote memory' }]);
    expect(store.docs.size).toBe(1);
    const pool = await without.pool('m', {
      agent: async (task: { text: string }, ctx) => {
        const memory = ctx.memory as Hive['memory'];
        return (await memory.search({ namespace: 'remote', text: task.text, k: 1 })).map((h) => h.id);
      },
      min: 1,
      max: 1,
    });
    expect(await pool.submit({ text: 'remote' })).toEqual(['r']);
  });
});
