// One memory per cluster, whichever node answers: two nodes on their own embedded PGlite and one without memory,
// on a real nats-server. The first node's store is the cluster's memory; the second does not answer for the
// cluster (its hive.memory goes to the cluster's too), so a search gives the same answer through every node and
// every raw request on hive.<cluster>.memory; when the owner stops, the other node answers for the cluster.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hive } from '../../../cluster/Hive.js';
import { silentLogger } from '../../../runtime/logger.js';
import { NATS_URL, deleteClusterStreams, natsAvailable, uniqueName } from '../../support/services.js';

const hasNats = await natsAvailable();

describe.skipIf(!hasNats)('one memory per cluster on embedded stores', () => {
  const cluster = uniqueName('onemem');
  const dir = mkdtempSync(join(tmpdir(), 'hive-onemem-'));
  let a: Hive;
  let b: Hive;
  let c: Hive;
  const start = (nodeId: string, memory: false | { dataDir: string }) =>
    Hive.start({ cluster, nodeId, nats: NATS_URL, env: false, logger: silentLogger(), heartbeatMs: 200, failureAfterMs: 1000, ...(memory !== false && { memory }) });

  beforeAll(async () => {
    a = await start('a', { dataDir: join(dir, 'a') });
    b = await start('b', { dataDir: join(dir, 'b') });
    c = await start('c', false);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([a, b, c].map((h) => h?.stop()));
    await deleteClusterStreams(NATS_URL, cluster);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a search gives the same answer whichever node takes the request', async () => {
    expect((a.status().extra?.['memory'] as { cluster: boolean }).cluster).toBe(true);
    expect((b.status().extra?.['memory'] as { cluster: boolean; owner: string })).toMatchObject({ cluster: false, owner: 'a' });
    const docs = ['hive nodes share one memory', 'pgvector keeps embeddings', 'nats carries the frames'].map((content, i) => ({ id: `d${i}`, content }));
    expect((await b.memory.ingest(docs, { namespace: 'docs', timeoutMs: 120_000 })).inserted).toBe(3);
    const ids = async (h: Hive) => (await h.memory.search({ namespace: 'docs', text: 'which memory do nodes share', k: 3, timeoutMs: 120_000 })).map((x) => x.id);
    const expected = await ids(a);
    expect(expected).toHaveLength(3);
    expect(await ids(b)).toEqual(expected);
    expect(await ids(c)).toEqual(expected);
    const nc = await connect({ servers: NATS_URL });
    try {
      for (let i = 0; i < 6; i++) {
        const r = await nc.request(`hive.${cluster}.memory`, JSON.stringify({ type: 'memory.search', namespace: 'docs', text: 'which memory do nodes share', k: 3 }), { timeout: 60_000 });
        const hits = (JSON.parse(new TextDecoder().decode(r.data)) as { hits: Array<{ id: string }> }).hits.map((h) => h.id);
        expect(hits).toEqual(expected);
      }
    } finally {
      await nc.close();
    }
  }, 180_000);

  it('when the owner stops, the other node answers for the cluster', async () => {
    await a.stop();
    const end = Date.now() + 30_000;
    let node: unknown;
    while (Date.now() < end) {
      node = await c.memory.stats().then((s) => (s as { node?: unknown }).node, () => undefined);
      if (node === 'b') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(node).toBe('b');
    expect((b.status().extra?.['memory'] as { cluster: boolean }).cluster).toBe(true);
  }, 60_000);
});
