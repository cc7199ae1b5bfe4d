// Durable timers through the Hive API on in-process nodes and the simulated clock: delivery to an actor, a
// virtual actor and a pool; de-duplication by id; cancel; past and too-far schedules; failover when the
// owner stops.
import { afterEach, describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { Hive } from '../../../cluster/Hive.js';
import { LEASE_MS, RENEW_MS } from '../../../cluster/NodeTimers.js';
import type { HiveEvent } from '../../../protocols/envelope.js';
import { SimulatedClock } from '../../../runtime/Clock.js';
import { InProcBus, InProcTransport } from '../../../runtime/InProcTransport.js';
import { silentLogger } from '../../../runtime/logger.js';
import { reply } from '../../../runtime/reply.js';
import { codeOf } from '../../support/errors.js';
import { DAY_MS, approvalAgent } from './approvalAgent.js';

const open: Hive[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.stop()));
});

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

async function advance(clock: SimulatedClock, ms: number, step = 100): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(Math.min(step, ms - t));
    await settle();
  }
}

const received: HiveEvent[] = [];
const sink = setup({ types: { events: {} as HiveEvent } }).createMachine({
  on: { '*': { actions: ({ event }) => received.push(event) } },
});
const counter = setup({ types: { context: {} as { n: number }, events: {} as HiveEvent } }).createMachine({
  context: { n: 0 },
  on: {
    tick: { actions: assign({ n: ({ context }) => context.n + 1 }) },
    get: { actions: ({ context, event }) => reply(event, { type: 'count', n: context.n }) },
  },
});

async function node(bus: InProcBus, clock: SimulatedClock, nodeId: string): Promise<Hive> {
  const h = await Hive.start({ cluster: 'tim', nodeId, env: false, logger: silentLogger(), clock, transport: new InProcTransport(bus, clock) });
  open.push(h);
  await advance(clock, 10, 10);
  return h;
}

describe('hive.schedule', () => {
  it('delivers to an actor at its time, once per id; cancel stops it; the past fires at once; too far is refused', async () => {
    received.length = 0;
    const clock = new SimulatedClock(Date.UTC(2026, 10, 29));
    const bus = new InProcBus();
    const h = await node(bus, clock, 'a');
    await h.spawn(sink, { id: 'sink' });
    expect(h.timers.isOwner).toBe(true);
    const first = await h.schedule('sink', { type: 'wake', n: 1 }, { afterMs: 5000, id: 'w1' });
    expect(first).toMatchObject({ id: 'w1', created: true });
    // the same id again: nothing changes
    expect(await h.schedule('sink', { type: 'wake', n: 2 }, { afterMs: 1, id: 'w1' })).toMatchObject({ created: false, at: first.at });
    await h.schedule({ actor: 'sink' }, { type: 'never' }, { afterMs: 3000, id: 'w2' });
    expect(await h.cancelSchedule('w2')).toBe(true);
    expect(await h.cancelSchedule('w2')).toBe(false);
    await advance(clock, 4900);
    expect(received).toEqual([]);
    await advance(clock, 300);
    expect(received).toEqual([{ type: 'wake', n: 1, timerId: 'w1' }]);
    await h.schedule('sink', { type: 'late' }, { at: clock.now() - 60_000 });
    await advance(clock, 100);
    expect(received.map((e) => e.type)).toEqual(['wake', 'late']);
    expect(await codeOf(h.schedule('sink', { type: 'x' }, { afterMs: 367 * 86_400_000 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(h.schedule('sink', { type: 'x' }, {}))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(h.schedule('not a token', { type: 'x' }, { afterMs: 1 }))).toBe('INVALID_ARGUMENT');
  });

  it('activates a virtual actor, and queues a pool task', async () => {
    const clock = new SimulatedClock(0);
    const bus = new InProcBus();
    const h = await node(bus, clock, 'a');
    await h.register('counter', counter);
    const ran: unknown[] = [];
    await h.pool('later', { agent: (task) => ran.push(task), min: 1, max: 1 });
    await h.schedule({ kind: 'counter', key: 'k1' }, { type: 'tick' }, { afterMs: 1000 });
    await h.schedule({ pool: 'later' }, { type: 'job', n: 7 }, { afterMs: 1000, id: 'job7' });
    await advance(clock, 1500);
    for (let i = 0; i < 20 && ran.length === 0; i++) await advance(clock, 100);
    expect(ran).toEqual([{ type: 'job', n: 7 }]);
    const count = h.actor('counter', 'k1').ask({ type: 'get' });
    await advance(clock, 100);
    expect(await count).toEqual({ type: 'count', n: 1 });
  });

  it('another node fires the timers once the owner is gone', async () => {
    received.length = 0;
    const clock = new SimulatedClock(0);
    const bus = new InProcBus();
    const a = await node(bus, clock, 'a');
    const b = await node(bus, clock, 'b');
    await b.spawn(sink, { id: 'sink' });
    expect(a.timers.isOwner).toBe(true);
    expect(b.timers.isOwner).toBe(false);
    await b.schedule('sink', { type: 'after-failover' }, { afterMs: 2000, id: 'f1' });
    await a.stop();
    await advance(clock, 2000 + LEASE_MS + RENEW_MS);
    expect(b.timers.isOwner).toBe(true);
    expect(received).toEqual([{ type: 'after-failover', timerId: 'f1' }]);
  });

  it('the README approval agent: escalates after a day without an answer; an approval in time cancels the deadline', async () => {
    received.length = 0;
    const clock = new SimulatedClock(0);
    const bus = new InProcBus();
    const h = await node(bus, clock, 'a');
    await h.spawn(sink, { id: 'oncall' });
    await h.register('approval', approvalAgent(h));
    h.actor('approval', 'req1').tell({ type: 'request', id: 'req1', what: 'deploy' });
    h.actor('approval', 'req2').tell({ type: 'request', id: 'req2', what: 'refund' });
    await advance(clock, 1000);
    h.actor('approval', 'req2').tell({ type: 'approve' });
    await advance(clock, DAY_MS, 600_000);
    await advance(clock, 2000);
    expect(received).toEqual([{ type: 'escalation', id: 'req1', what: 'deploy' }]);
    const states = [h.actor('approval', 'req1').ask({ type: 'status' }), h.actor('approval', 'req2').ask({ type: 'status' })];
    await advance(clock, 100);
    expect(await Promise.all(states)).toEqual([
      { type: 'status', state: '"escalated"' },
      { type: 'status', state: '"approved"' },
    ]);
  });
});

