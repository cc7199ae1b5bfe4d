// NATS as a cluster: three nats-servers on loopback as one JetStream cluster, Hive nodes with jsReplicas 3.
// One server is killed (SIGKILL) under a steady load of durable pool tasks. The test proves its fault (the
// server's process is gone, the nodes connected to it saw the disconnect) and then that the nodes reconnected
// to the other servers and every task whose queueing JetStream acknowledged ran: nothing acknowledged is lost.
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hive } from '../../../cluster/Hive.js';
import { hiveInternals } from '../../../cluster/internal.js';
import { silentLogger } from '../../../runtime/logger.js';
import type { TransportStatus } from '../../../runtime/Transport.js';
import { startNatsCluster, type OwnNatsCluster } from '../../support/natsCluster.js';
import { until } from '../../support/natsNodes.js';
import { natsBinaryAvailable, startNatsServer, uniqueName } from '../../support/services.js';
import { NatsTransport } from '../../../cluster/NatsTransport.js';
import { NatsKeyValue } from '../../../cluster/NatsKeyValue.js';
import { JetStreamWorkQueue } from '../../../cluster/JetStreamWorkQueue.js';

describe.skipIf(!natsBinaryAvailable())('a three-server NATS cluster (replicas 3)', () => {
  let nats: OwnNatsCluster;
  const cluster = uniqueName('natscl');
  const nodes: Hive[] = [];
  const statuses = new Map<string, TransportStatus[]>();
  /** Task id -> how many times an agent ran it (the side effect the test checks). */
  const runs = new Map<string, number>();

  const transportOf = (h: Hive) => hiveInternals(h).transport as NatsTransport;

  async function startNode(nodeId: string, pool: boolean): Promise<Hive> {
    const hive = await Hive.start({ cluster, nodeId, nats: nats.urls, jsReplicas: 3, env: false, logger: silentLogger(), heartbeatMs: 200, failureAfterMs: 3000 });
    nodes.push(hive);
    const seen: TransportStatus[] = [];
    statuses.set(nodeId, seen);
    transportOf(hive).onStatus((s) => seen.push(s));
    if (pool) {
      await hive.pool<{ id: string }, string>('durable', {
        agent: async (task) => {
          await new Promise((r) => setTimeout(r, 5));
          runs.set(task.id, (runs.get(task.id) ?? 0) + 1);
          return task.id;
        },
        min: 2,
        max: 2,
        concurrency: 4,
        ackWaitMs: 3_000,
      });
    }
    return hive;
  }

  beforeAll(async () => {
    nats = await startNatsCluster({ size: 3 });
    await startNode('n1', true);
    await startNode('n2', true);
    await startNode('client', false);
    await until(() => nodes[2].members().filter((m) => m.pools?.includes('durable')).length === 2, 'both pool nodes in the client view');
  }, 60_000);

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
    await nats?.stop();
  });

  it('creates the streams and KV buckets with 3 replicas', async () => {
    const client = nodes[2];
    await hiveInternals(client).pools.enqueue('durable', { id: 'warmup' }, 'warmup');
    await until(() => runs.has('warmup'), 'the warm-up task to run');
    const jsm = await jetstreamManager(transportOf(client).connection);
    for (const stream of [`HIVE_${cluster}_TASKS`, `HIVE_${cluster}_DLQ`, `KV_hive_${cluster}_placement`, `KV_hive_${cluster}_snapshots`, `KV_hive_${cluster}_results`]) {
      const info = await jsm.streams.info(stream);
      expect(info.config.num_replicas, stream).toBe(3);
    }
  });

  it('a server killed under load of durable tasks: nodes reconnect to the others, every acknowledged task runs', { timeout: 120_000 }, async () => {
    const client = nodes[2];
    const acked: string[] = [];
    let refused = 0;
    let stop = false;
    let next = 0;
    const submitter = async () => {
      while (!stop) {
        const id = `t${next++}`;
        try {
          // resolves once JetStream acknowledged the publish: from here on the task must run
          await hiveInternals(client).pools.enqueue('durable', { id }, id, 10_000);
          acked.push(id);
        } catch {
          refused++; // not acknowledged: the client knows it was not taken
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    const load = Promise.all(Array.from({ length: 6 }, submitter));
    await until(() => acked.length >= 100, '100 acknowledged tasks before the fault', 30_000);

    // the victim: the server node n1 is connected to, so at least one node must fail over
    const victimPort = Number(transportOf(nodes[0]).connection.getServer().split(':').pop());
    const victim = nats.servers.find((s) => s.port === victimPort)!;
    expect(victim).toBeDefined();
    const onVictim = nodes.filter((n) => Number(transportOf(n).connection.getServer().split(':').pop()) === victimPort).map((n) => n.nodeId);
    const ackedAtKill = acked.length;
    const pid = victim.pid!;
    await victim.kill();
    // the fault really happened: the process is gone, and the nodes that were on it saw the disconnect
    expect(victim.alive()).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow();
    await until(() => onVictim.every((id) => statuses.get(id)!.includes('disconnected') || statuses.get(id)!.includes('reconnecting')), `a disconnect seen by ${onVictim.join(', ')}`);
    // ... they reconnected to another server, and the cluster kept taking tasks
    await until(() => nodes.every((n) => transportOf(n).connected && Number(transportOf(n).connection.getServer().split(':').pop()) !== victimPort), 'every node connected to a surviving server', 30_000);
    await until(() => acked.length >= ackedAtKill + 100, '100 more acknowledged tasks after the kill', 60_000);
    stop = true;
    await load;

    // nothing acknowledged is lost: every acknowledged task ran
    await until(() => acked.every((id) => runs.has(id)), () => `every acknowledged task to run; missing ${acked.filter((id) => !runs.has(id)).slice(0, 10).join(', ')}`, 60_000);
    for (const id of onVictim) expect(statuses.get(id)).toContain('reconnected');
    expect(acked.length).toBeGreaterThanOrEqual(ackedAtKill + 100);
    console.info(`[natsCluster] acknowledged ${acked.length} tasks (${acked.length - ackedAtKill} after the kill), ${refused} submissions refused during the fault, ${[...runs.values()].filter((n) => n > 1).length} ran twice`);
  });
});

describe.skipIf(!natsBinaryAvailable())('jsReplicas above the servers there are', () => {
  it('a stream or bucket that cannot have its replicas fails naming the option and the fix', async () => {
    const server = await startNatsServer();
    const t = await NatsTransport.connect({ servers: [server.url] }, { jsReplicas: 3 });
    try {
      await expect(NatsKeyValue.open(t, uniqueName('kv'))).rejects.toThrow(/jsReplicas = 3 \(--replicas, HIVE_JS_REPLICAS\): needs a JetStream cluster of at least 3 servers/);
      const queue = await JetStreamWorkQueue.open(t, uniqueName('q'));
      await expect(queue.ensure('p', { maxDeliver: 3, ackWaitMs: 1_000 })).rejects.toThrow(/cannot create JetStream stream .*jsReplicas = 3/);
    } finally {
      await t.close();
      await server.stop();
    }
  });
});
