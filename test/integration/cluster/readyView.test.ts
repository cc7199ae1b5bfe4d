// Ready when it says so: a node started with `Hive.start({ nats })` submits to a pool another node hosts, and
// asks a virtual actor whose kind another node registers a moment later, right away: it waits for its view of
// the cluster (within the request's deadline) instead of failing NO_SUCH_ACTOR while membership arrives.
import { afterEach, describe, expect, it } from 'vitest';
import { counterMachine } from '../../../actors/counter.js';
import { Hive } from '../../../cluster/Hive.js';
import { silentLogger } from '../../../runtime/logger.js';
import { codeOf } from '../../support/errors.js';
import { NATS_URL, deleteClusterStreams, natsAvailable, uniqueName } from '../../support/services.js';

const hasNats = await natsAvailable();
const nodes: Hive[] = [];
const clusters: string[] = [];

async function node(cluster: string, nodeId: string, heartbeatMs = 1000): Promise<Hive> {
  if (!clusters.includes(cluster)) clusters.push(cluster);
  const hive = await Hive.start({ cluster, nodeId, nats: NATS_URL, env: false, logger: silentLogger(), heartbeatMs, failureAfterMs: 5 * heartbeatMs });
  nodes.push(hive);
  return hive;
}

afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
  for (const c of clusters.splice(0)) await deleteClusterStreams(NATS_URL, c);
});

describe.skipIf(!hasNats)('the cluster view right after Hive.start', () => {
  it('hive.submit right after start reaches the pool another node hosts (every time)', async () => {
    const cluster = uniqueName('ready');
    const host = await node(cluster, 'host');
    await host.pool('double', { agent: async (task: { n: number }) => ({ doubled: task.n * 2 }), min: 1, max: 1 });
    for (let i = 0; i < 5; i++) {
      const client = await node(cluster, `client${i}`);
      // no wait of any kind between start and submit
      expect(await client.submit('double', { n: i }, { timeoutMs: 10_000 })).toEqual({ doubled: i * 2 });
      await client.stop();
    }
  }, 60_000);

  it('a virtual ask waits for a node that registers the kind while the view is arriving', async () => {
    const cluster = uniqueName('readyv');
    const other = await node(cluster, 'other', 200);
    const client = await node(cluster, 'client');
    // nobody serves "late" yet: the ask waits, and the other node registers the kind meanwhile
    const answer = client.actor('late', 'k1').ask({ type: 'inc' }, { timeoutMs: 10_000 });
    await other.register('late', counterMachine);
    expect(await answer).toEqual({ type: 'count', value: 1 });
  }, 60_000);

  it('a pool nobody hosts is still NO_SUCH_ACTOR, at once on a node whose view has settled', async () => {
    const cluster = uniqueName('readyn');
    const fresh = await node(cluster, 'fresh', 100);
    expect(await codeOf(fresh.submit('nobody', { n: 1 }, { timeoutMs: 30_000 }))).toBe('NO_SUCH_ACTOR');
    // settled now (two heartbeat intervals passed during the first call): the same answer, without waiting
    expect(await codeOf(fresh.submit('nobody', { n: 1 }, { timeoutMs: 30_000 }))).toBe('NO_SUCH_ACTOR');
    expect(await codeOf(fresh.actor('unknown', 'k').ask({ type: 'ping' }, { timeoutMs: 30_000 }))).toBe('NO_SUCH_ACTOR');
  }, 60_000);
});
