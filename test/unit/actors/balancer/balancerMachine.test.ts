import { afterEach, describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { Hive } from '../../../../cluster/Hive.js';
import { balancerMachine } from '../../../../actors/balancer/balancerMachine.js';
import { ConsistentHash } from '../../../../actors/balancer/ConsistentHash.js';
import type { HiveError } from '../../../../protocols/errors.js';
import { SimulatedClock } from '../../../../runtime/Clock.js';
import { InProcBus, InProcTransport } from '../../../../runtime/InProcTransport.js';
import { silentLogger } from '../../../../runtime/logger.js';
import { MetricsRegistry } from '../../../../runtime/metrics.js';
import { codeOf } from '../../../support/errors.js';

const nodes: Hive[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

async function node(): Promise<Hive> {
  const hive = await Hive.start({ cluster: 'unit', env: false, logger: silentLogger(), transport: new InProcTransport(new InProcBus()) });
  nodes.push(hive);
  return hive;
}

describe('balancerMachine', () => {
  it('runs as a Hive actor: agents come up, report, and `pick` answers with a live agent', async () => {
    const hive = await node();
    const clock = new SimulatedClock(1_000);
    const ref = await hive.spawn(balancerMachine, { id: 'bal-1', input: { strategy: 'least-loaded', ttlMs: 500, clock } });
    expect(await ref.ask({ type: 'pick' })).toEqual({ type: 'picked', agent: null });
    ref.tell({ type: 'agent.up', agent: 'a', capacity: 2 });
    expect(await ref.ask({ type: 'agent.up', agent: 'b', capacity: 2 })).toEqual({ type: 'balancer.ack', agent: 'b', known: true });
    expect(await ref.ask({ type: 'agent.report', agent: 'a', load: 2 })).toMatchObject({ known: true });
    expect(await ref.ask({ type: 'pick' })).toEqual({ type: 'picked', agent: 'b' });
    expect(await ref.ask({ type: 'balancer.status' })).toEqual({ type: 'balancer.status', strategy: 'least-loaded', agents: 2, fresh: 2, available: 1 });

    // b stops reporting: after the TTL only a (which reports) is picked.
    clock.advance(400);
    await ref.ask({ type: 'agent.report', agent: 'a', load: 0 });
    clock.advance(100);
    expect(await ref.ask({ type: 'pick' })).toEqual({ type: 'picked', agent: 'a' });
    expect(await ref.ask({ type: 'balancer.status' })).toMatchObject({ fresh: 1, available: 1 });

    expect(await ref.ask({ type: 'agent.down', agent: 'a' })).toEqual({ type: 'balancer.ack', agent: 'a', known: true });
    expect(await ref.ask({ type: 'pick' })).toEqual({ type: 'picked', agent: null });
  });

  it('answers bad events with typed errors and keeps working', async () => {
    const hive = await node();
    const ref = await hive.spawn(balancerMachine, { id: 'bal-2', input: { strategy: 'round-robin' } });
    expect(await codeOf(ref.ask({ type: 'agent.up' }))).toBe('INVALID_EVENT');
    expect(await codeOf(ref.ask({ type: 'agent.up', agent: 'x', capacity: -3 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(ref.ask({ type: 'pick', key: 42 }))).toBe('INVALID_EVENT');
    ref.tell({ type: 'agent.report', agent: 12 });
    await ref.ask({ type: 'agent.up', agent: 'ok' });
    expect(await ref.ask({ type: 'pick' })).toEqual({ type: 'picked', agent: 'ok' });
  });

  it('routes by key with a consistent-hash strategy instance, and counts decisions in metrics', async () => {
    const metrics = new MetricsRegistry({ cluster: 'unit', node: 'n1' }, { processMetrics: false });
    const actor = createActor(balancerMachine, { input: { strategy: new ConsistentHash(), name: 'chat', metrics } }).start();
    for (const a of ['a', 'b', 'c']) actor.send({ type: 'agent.up', agent: a });
    const cache = actor.getSnapshot().context.cache;
    const home = cache.pick('conversation-42');
    for (let i = 0; i < 5; i++) actor.send({ type: 'pick', key: 'conversation-42' });
    expect(cache.pick('conversation-42')).toBe(home);
    const text = await metrics.text();
    expect(text).toContain('hive_balancer_decisions_total{balancer="chat",result="picked",cluster="unit",node="n1"} 5');
    expect(text).toContain('hive_balancer_agents{balancer="chat",state="known",cluster="unit",node="n1"} 3');
    actor.stop();
  });

  it('refuses an unknown strategy name', () => {
    const actor = createActor(balancerMachine, { input: { strategy: 'nope' as 'p2c' } });
    const errors: unknown[] = [];
    actor.subscribe({ error: (e) => errors.push(e) });
    actor.start();
    expect((errors[0] as HiveError).details?.['option']).toBe('strategy');
  });
});
