// Each node is service `hive` of the NATS services protocol, seen by a plain NATS client with nothing
// Hive-specific: $SRV.PING finds both nodes, $SRV.INFO lists the endpoints with cluster and node in the
// metadata, $SRV.STATS counts the requests (and errors) the node served.
import { connect, createInbox, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { echoMachine } from '../../../actors/echo.js';
import { Hive } from '../../../cluster/Hive.js';
import { silentLogger } from '../../../runtime/logger.js';
import { NATS_URL, deleteClusterStreams, natsAvailable, uniqueName } from '../../support/services.js';

const hasNats = await natsAvailable();

interface Answer {
  type: string;
  name: string;
  id: string;
  version: string;
  metadata: Record<string, string>;
  endpoints?: Array<{ name: string; subject: string; num_requests?: number; num_errors?: number; last_error?: string; processing_time?: number }>;
}

describe.skipIf(!hasNats)('NATS services protocol', () => {
  let nc: NatsConnection;
  const nodes: Hive[] = [];
  const clusters: string[] = [];
  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL });
  });
  afterAll(async () => {
    await nc?.close();
  });
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
    for (const c of clusters.splice(0)) await deleteClusterStreams(NATS_URL, c);
  });

  /** Collects every answer to `subject` for `ms` (services answer a scatter request once each). */
  async function gather(subject: string, ms = 700): Promise<Answer[]> {
    const inbox = createInbox();
    const out: Answer[] = [];
    const sub = nc.subscribe(inbox, { callback: (_e, m) => void out.push(m.json<Answer>()) });
    nc.publish(subject, '', { reply: inbox });
    await new Promise((r) => setTimeout(r, ms));
    sub.unsubscribe();
    return out;
  }

  it('finds both nodes as service hive, with endpoints, metadata and request counts', async () => {
    const cluster = uniqueName('srv');
    clusters.push(cluster);
    for (const nodeId of ['s1', 's2']) nodes.push(await Hive.start({ cluster, nodeId, nats: NATS_URL, env: false, logger: silentLogger(), heartbeatMs: 100, failureAfterMs: 1500 }));
    await nodes[1].spawn(echoMachine, { id: 'echo-s2' });
    for (let i = 0; i < 5; i++) expect(await nodes[0].ref('echo-s2').ask({ type: 'ping' })).toEqual({ type: 'pong' });
    // a request that fails on the serving node counts as an error there
    const bad = await nc.request(`hive.${cluster}.actor.echo-s2`, JSON.stringify({ type: 'xstate.stop' }), { timeout: 5000 });
    expect(bad.json<{ type: string }>().type).toBe('hive.error');

    const mine = (a: Answer[]) => a.filter((x) => x.metadata?.['cluster'] === cluster);
    const pings = mine(await gather('$SRV.PING.hive'));
    expect(pings.map((p) => p.metadata['node']).sort()).toEqual(['s1', 's2']);
    expect(pings.every((p) => p.type === 'io.nats.micro.v1.ping_response' && p.name === 'hive' && /^\d+\.\d+\.\d+/.test(p.version))).toBe(true);

    const info = mine(await gather('$SRV.INFO.hive'));
    expect(info).toHaveLength(2);
    expect(info[0].type).toBe('io.nats.micro.v1.info_response');
    expect(info[0].endpoints!.map((e) => e.name).sort()).toEqual(['actors', 'memory', 'pools', 'virtual']);

    const s2 = pings.find((p) => p.metadata['node'] === 's2')!;
    const stats = (await nc.request(`$SRV.STATS.hive.${s2.id}`, '', { timeout: 5000 })).json<Answer>();
    expect(stats.type).toBe('io.nats.micro.v1.stats_response');
    const actors = stats.endpoints!.find((e) => e.name === 'actors')!;
    expect(actors.subject).toBe(`hive.${cluster}.actor.>`);
    // the five asks plus the refused event, which is counted as an error
    expect(actors.num_requests).toBeGreaterThanOrEqual(5);
    expect(actors.processing_time).toBeGreaterThan(0);
    expect(actors.num_errors).toBeGreaterThanOrEqual(1);
    expect(actors.last_error).toContain('INVALID_EVENT');
  });
});
