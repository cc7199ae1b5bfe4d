// One activation per virtual actor, fenced, against a real nats-server: a forged `sys.leave` for the node that
// owns a counter, published on the wire while that node lives and a client increments the counter
// concurrently. The test proves its fault (another node took the actor over while its owner lived, and the
// owner's activation was fenced off), then that exactly one activation remains, every node reads the same
// count, and that count equals the increments acknowledged: none lost, none counted twice.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { counterMachine } from '../../../actors/counter.js';
import { Hive } from '../../../cluster/Hive.js';
import { hiveInternals } from '../../../cluster/internal.js';
import { decodePlacement } from '../../../cluster/virtual/placement.js';
import { silentLogger } from '../../../runtime/logger.js';
import { deleteClusterStreams, NATS_URL, natsAvailable, uniqueName } from '../../support/services.js';
import { incrementLoad } from '../../support/incrementLoad.js';
import { metricValue, until } from '../../support/natsNodes.js';

const hasNats = await natsAvailable();

describe.skipIf(!hasNats)('one activation per virtual actor, fenced (real nats-server)', () => {
  const nodes: Hive[] = [];
  const clusters: string[] = [];
  let raw: NatsConnection;

  async function node(cluster: string, nodeId: string, kinds = true): Promise<Hive> {
    const hive = await Hive.start({ cluster, nodeId, nats: NATS_URL, env: false, logger: silentLogger(), heartbeatMs: 100, failureAfterMs: 1_000 });
    nodes.push(hive);
    if (kinds) await hive.register('counter', counterMachine);
    return hive;
  }

  beforeAll(async () => {
    raw = await connect({ servers: NATS_URL });
  });
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
    for (const c of clusters.splice(0)) await deleteClusterStreams(NATS_URL, c);
  });
  afterAll(async () => {
    await raw?.close();
  });

  it('a forged sys.leave while the owner lives: taken over, the owner fenced, count = acknowledged increments', { timeout: 60_000 }, async () => {
    const cluster = uniqueName('fence');
    clusters.push(cluster);
    const a = await node(cluster, 'a');
    const b = await node(cluster, 'b');
    const client = await node(cluster, 'client', false);
    await until(() => [a, b, client].every((h) => h.members().length === 3), 'all three nodes to see each other');
    expect(await client.actor('counter', 'k').ask({ type: 'inc' })).toEqual({ type: 'count', value: 1 });
    const owner = hiveInternals(a).virtual.activations().length === 1 ? a : b;
    const other = owner === a ? b : a;
    expect(hiveInternals(owner).virtual.activations().map((x) => x.id)).toEqual(['counter--k']);
    expect(hiveInternals(other).virtual.activations()).toEqual([]);

    const load = incrementLoad(client, 'k');
    await until(() => load.acks() >= 20, 'increments to flow');
    // the fault: `owner` left, says a message anyone on the wire can publish; it keeps running and heartbeating
    const leaveSubject = `hive.${cluster}.sys.leave`;
    const forged = JSON.stringify({ type: 'hive.leave', node: owner.config.nodeId });
    await until(
      async () => {
        raw.publish(leaveSubject, forged);
        await new Promise((r) => setTimeout(r, 30));
        return hiveInternals(other).virtual.activations().length === 1;
      },
      'another node to take the counter over while its owner lives',
    );
    // the takeover really happened while the owner lived: the owner's activation was fenced off
    await until(async () => (await metricValue(owner, 'hive_virtual_fenced_total', 'reason=')) >= 1, "the owner's activation to be fenced off");
    const acksAtTakeover = load.acks();
    await until(() => load.acks() >= acksAtTakeover + 20, 'increments to flow after the takeover');
    await load.stop();

    // afterwards: exactly one activation, every node reads the same count, and it is the acknowledged count
    const active = [a, b].filter((h) => hiveInternals(h).virtual.activations().length === 1);
    expect(active).toHaveLength(1);
    const placement = (await hiveInternals(client).virtual.stores.placement.get('counter.k'))!;
    expect(decodePlacement(hiveInternals(client).system.codec, placement.value)?.node).toBe(active[0].config.nodeId);
    const expected = { type: 'count', value: 1 + load.acks() };
    expect(load.errors).toEqual([]);
    for (const h of [a, b, client]) expect(await h.actor('counter', 'k').ask({ type: 'get' })).toEqual(expected);
  });
});
