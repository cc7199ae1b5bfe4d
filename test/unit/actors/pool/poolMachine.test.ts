// The pool's machine on the real path: its states (starting, running, breakerOpen, draining, stopped) seen
// through xstate's inspection API and in the pool's status, and the pool supervisor restarting a failed agent
// under the same id (in-process transport).
import { afterEach, describe, expect, it } from 'vitest';
import { setup, type InspectionEvent } from 'xstate';
import { Hive } from '../../../../cluster/Hive.js';
import { hiveInternals } from '../../../../cluster/internal.js';
import type { HiveError } from '../../../../protocols/errors.js';
import { SimulatedClock } from '../../../../runtime/Clock.js';
import { InProcBus, InProcTransport } from '../../../../runtime/InProcTransport.js';
import { silentLogger } from '../../../../runtime/logger.js';
import { reply } from '../../../../runtime/reply.js';
import { metricValue, until } from '../../../support/natsNodes.js';
import type { WorkQueue } from '../../../../runtime/WorkQueue.js';

const nodes: Hive[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

/** The distinct successive state values the inspected pool machine `actorId` went through. */
function statesOf(events: InspectionEvent[], actorId: string): unknown[] {
  const out: unknown[] = [];
  for (const e of events) {
    if (e.type !== '@xstate.snapshot' || (e.actorRef as { id?: string }).id !== actorId) continue;
    const value = (e.snapshot as { value?: unknown }).value;
    if (out[out.length - 1] !== value) out.push(value);
  }
  return out;
}

describe('pool machine', () => {
  it('is observable through the xstate inspection API: starting, running, breakerOpen, running, draining, stopped', async () => {
    const clock = new SimulatedClock(1_000_000);
    const hive = await Hive.start({ cluster: 'pm', nodeId: 'n1', env: false, logger: silentLogger(), clock, transport: new InProcTransport(new InProcBus(), clock) });
    nodes.push(hive);
    const events: InspectionEvent[] = [];
    let healthy = false;
    const pool = await hive.pool('watched', {
      agent: async () => {
        if (!healthy) throw new Error('downstream is down');
        return 'ok';
      },
      maxDeliver: 1,
      autoscale: false,
      breaker: { consecutiveFailures: 2, coolDownMs: 1000, probesToClose: 1 },
      inspect: (e) => events.push(e),
    });
    expect(pool.status().state).toBe('running');
    const settle = async () => {
      for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    };
    const failures = [pool.submit({}).catch((e: HiveError) => e.code), pool.submit({}).catch((e: HiveError) => e.code)];
    await settle();
    expect(await Promise.all(failures)).toEqual(['INTERNAL', 'INTERNAL']);
    expect(pool.status()).toMatchObject({ breaker: 'open', state: 'breakerOpen' });
    healthy = true;
    const probe = pool.submit({});
    clock.advance(1100);
    await settle();
    expect(await probe).toBe('ok');
    expect(pool.status()).toMatchObject({ breaker: 'closed', state: 'running' });
    await hive.stop();
    nodes.splice(0);
    expect(statesOf(events, 'pool-watched-n1')).toEqual(['starting', 'running', 'breakerOpen', 'running', 'draining', 'stopped']);
    // the pool supervisor (holding the breaker) and the agents' supervisor are inspected as its children
    const actors = new Set(events.filter((e) => e.type === '@xstate.actor').map((e) => (e.actorRef.getSnapshot() as { machine?: { id?: string } }).machine?.id));
    expect(actors).toContain('poolSupervisor');
    expect(actors).toContain('supervisor');
  });

  it('answers pool.status with its state and refuses a pool.resize without a numeric size', async () => {
    const hive = await Hive.start({ cluster: 'pm2', nodeId: 'n1', env: false, logger: silentLogger(), transport: new InProcTransport(new InProcBus()) });
    nodes.push(hive);
    await hive.pool('sized', { agent: async () => 1, min: 1, max: 4, autoscale: false });
    const ref = hive.ref('pool-sized-n1');
    expect(await ref.ask({ type: 'pool.status' })).toMatchObject({ type: 'pool.status', state: 'running', size: 1 });
    expect(await ref.ask({ type: 'pool.resize', size: 3 })).toMatchObject({ type: 'pool.status', target: 3 });
    await until(async () => ((await ref.ask({ type: 'pool.status' })) as { size?: number }).size === 3, 'the pool grown to 3 agents');
    await expect(ref.ask({ type: 'pool.resize', size: 'big' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('restarts an agent whose machine fails under the same id (the pool supervisor), and keeps serving', async () => {
    const hive = await Hive.start({ cluster: 'pm3', nodeId: 'n1', env: false, logger: silentLogger(), transport: new InProcTransport(new InProcBus()) });
    nodes.push(hive);
    const agent = setup({}).createMachine({
      on: {
        'agent.task': { actions: ({ event }) => reply(event as never, { type: 'agent.result', result: 'done' }) },
        crash: {
          actions: () => {
            throw new Error('agent bug');
          },
        },
      },
    });
    const pool = await hive.pool('crashy', { agent, min: 2, max: 2, autoscale: false });
    const system = hiveInternals(hive).system;
    const ids = () => system.actors().filter((a) => a.kind === 'agent:crashy' && a.status === 'running').map((a) => a.id).sort();
    const before = ids();
    expect(before).toHaveLength(2);
    system.tell(before[0], { type: 'crash' });
    await until(async () => (await metricValue(hive, 'hive_supervisor_restarts_total', 'supervisor="pool-crashy"')) === 1, 'the agent restarted by the pool supervisor');
    await until(() => ids().length === 2, 'both agents running');
    expect(ids()).toEqual(before);
    expect(pool.status().size).toBe(2);
    expect(await metricValue(hive, 'hive_pool_agents_replaced_total', 'pool="crashy"')).toBe(0);
    expect(await Promise.all(Array.from({ length: 10 }, () => pool.submit({})))).toEqual(Array.from({ length: 10 }, () => 'done'));
  });

  it('logs and counts a queue-depth read that fails, and keeps serving', async () => {
    const hive = await Hive.start({ cluster: 'pm4', nodeId: 'n1', env: false, logger: silentLogger(), transport: new InProcTransport(new InProcBus()) });
    nodes.push(hive);
    const queue = (await (hiveInternals(hive).pools as unknown as { open(): Promise<{ queue: WorkQueue }> }).open()).queue;
    // the real in-process queue, with its depth read failing (as JetStream's does while the stream is unreachable)
    queue.depth = () => Promise.reject(new Error('stream info timed out'));
    const pool = await hive.pool('deep', { agent: async () => 'ok', autoscale: false });
    await until(async () => (await metricValue(hive, 'hive_pool_errors_total', 'op="depth"')) >= 1, 'the failed depth read counted');
    expect(await pool.submit({})).toBe('ok');
    expect(pool.status().state).toBe('running');
  });
});
