// Supervision through the Hive facade on the in-process transport, with a SimulatedClock so restart delays
// are driven explicitly (a restart happens inside `clock.advance`, exactly when its delay is over).
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { assign, setup } from 'xstate';
import { Hive } from '../../../../cluster/Hive.js';
import { SimulatedClock } from '../../../../runtime/Clock.js';
import { InProcBus, InProcTransport } from '../../../../runtime/InProcTransport.js';
import { silentLogger } from '../../../../runtime/logger.js';
import { reply } from '../../../../runtime/reply.js';
import type { HiveEvent } from '../../../../protocols/envelope.js';
import type { ActorRef } from '../../../../runtime/ActorRef.js';
import { ROOT_SUPERVISOR_ID, type SupervisionEvent } from '../../../../actors/supervisor/index.js';
import { hiveInternals } from '../../../../cluster/internal.js';

interface CounterInput {
  start?: number;
}

/** A counter that throws on `boom` (after an assign that must not survive), and finishes on `finish`. */
const fragileCounter = setup({
  types: { context: {} as { count: number }, events: {} as HiveEvent },
}).createMachine({
  id: 'fragile-counter',
  context: ({ input }) => ({ count: (input as CounterInput | undefined)?.start ?? 0 }),
  initial: 'live',
  states: {
    live: {
      on: {
        inc: { actions: [assign({ count: ({ context }) => context.count + 1 }), ({ context, event }) => reply(event, { type: 'count', value: context.count })] },
        get: { actions: ({ context, event }) => reply(event, { type: 'count', value: context.count }) },
        ping: { actions: ({ event }) => reply(event, { type: 'pong' }) },
        boom: {
          actions: [
            assign({ count: 999 }),
            () => {
              throw new Error('kaboom');
            },
          ],
        },
        finish: { target: 'finished' },
      },
    },
    finished: { type: 'final' },
  },
});

const nodes: Hive[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

type StartOptions = NonNullable<Parameters<typeof Hive.start>[0]>;

async function node(options: StartOptions = {}): Promise<{ hive: Hive; clock: SimulatedClock; events: SupervisionEvent[] }> {
  const clock = new SimulatedClock(1_000_000);
  const hive = await Hive.start({ cluster: 'sup', env: false, logger: silentLogger(), transport: new InProcTransport(new InProcBus()), clock, ...options });
  nodes.push(hive);
  const events: SupervisionEvent[] = [];
  hive.onSupervision((e) => events.push(e));
  return { hive, clock, events };
}

/** Backoff without jitter, so the delays are exact: 100, 200, 400, ... ms. */
const exact = { minMs: 100, maxMs: 10_000, factor: 2, jitter: 'none' } as const;

async function count(ref: ActorRef): Promise<number> {
  return (await ref.ask<{ type: string; value: number }>({ type: 'get' })).value;
}

async function incTimes(ref: ActorRef, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await ref.ask({ type: 'inc' });
}

async function failWith(ref: ActorRef): Promise<void> {
  await expect(ref.ask({ type: 'boom' })).rejects.toMatchObject({ code: 'ACTOR_FAILED' });
}

const restarted = (events: SupervisionEvent[]) => events.filter((e) => e.type === 'restarted').map((e) => (e as { child: string }).child);

describe('supervisor strategies', () => {
  it('one-for-one restarts only the failed child, after its backoff delay, under the same id', async () => {
    const { hive, clock, events } = await node();
    await hive.supervisor('sup', {
      strategy: 'one-for-one',
      backoff: exact,
      children: ['a', 'b', 'c'].map((id) => ({ id, logic: fragileCounter })),
    });
    const [a, b, c] = ['a', 'b', 'c'].map((id) => hive.ref(id)) as [ActorRef, ActorRef, ActorRef];
    await incTimes(a, 2);
    await incTimes(c, 3);
    await failWith(b);
    // while it waits for its restart, the failed child answers ACTOR_FAILED; its siblings keep serving
    await expect(b.ask({ type: 'ping' })).rejects.toMatchObject({ code: 'ACTOR_FAILED' });
    expect(await count(a)).toBe(2);
    expect(await count(c)).toBe(3);
    clock.advance(99);
    expect(hiveInternals(hive).system.has('b')).toBe(false);
    clock.advance(1);
    expect(hiveInternals(hive).system.has('b')).toBe(true);
    expect(await b.ask({ type: 'ping' })).toEqual({ type: 'pong' });
    expect(await count(b)).toBe(0);
    expect(await count(a)).toBe(2);
    expect(await count(c)).toBe(3);
    expect(restarted(events)).toEqual(['b']);
  });

  it('all-for-one stops every child at once and restarts them all, in start order', async () => {
    const { hive, clock, events } = await node();
    await hive.supervisor('sup', { strategy: 'all-for-one', backoff: exact, children: ['a', 'b', 'c'].map((id) => ({ id, logic: fragileCounter })) });
    const [a, b, c] = ['a', 'b', 'c'].map((id) => hive.ref(id)) as [ActorRef, ActorRef, ActorRef];
    await incTimes(a, 1);
    await incTimes(c, 1);
    await failWith(b);
    expect(['a', 'b', 'c'].map((id) => hiveInternals(hive).system.has(id))).toEqual([false, false, false]);
    clock.advance(100);
    expect(restarted(events)).toEqual(['a', 'b', 'c']);
    expect([await count(a), await count(b), await count(c)]).toEqual([0, 0, 0]);
  });

  it('rest-for-one restarts the failed child and those started after it, in start order', async () => {
    const { hive, clock, events } = await node();
    await hive.supervisor('sup', { strategy: 'rest-for-one', backoff: exact, children: ['a', 'b', 'c', 'd'].map((id) => ({ id, logic: fragileCounter })) });
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => hive.ref(id)) as [ActorRef, ActorRef, ActorRef, ActorRef];
    for (const r of [a, b, c, d]) await incTimes(r, 1);
    await failWith(b);
    expect(['a', 'b', 'c', 'd'].map((id) => hiveInternals(hive).system.has(id))).toEqual([true, false, false, false]);
    clock.advance(100);
    expect(restarted(events)).toEqual(['b', 'c', 'd']);
    expect([await count(a), await count(b), await count(c), await count(d)]).toEqual([1, 0, 0, 0]);
  });
});

describe('restart from a snapshot or fresh', () => {
  it('from snapshot keeps the state from before the failing message; fresh starts from the input', async () => {
    const { hive, clock } = await node({ supervision: { backoff: exact } });
    const kept = await hive.spawn(fragileCounter, { id: 'kept', input: { start: 10 }, supervision: { from: 'snapshot' } });
    const fresh = await hive.spawn(fragileCounter, { id: 'fresh', input: { start: 10 } });
    await incTimes(kept, 3);
    await incTimes(fresh, 3);
    await failWith(kept);
    await failWith(fresh);
    clock.advance(100);
    expect(await count(kept)).toBe(13); // not 999: the failing message's assign is not kept
    expect(await count(fresh)).toBe(10);
    // a second failure restores the state reached after the restart
    await incTimes(kept, 1);
    await failWith(kept);
    clock.advance(200);
    expect(await count(kept)).toBe(14);
  });

  it('siblings restarted by all-for-one come back from their own snapshots', async () => {
    const { hive, clock } = await node();
    await hive.supervisor('sup', {
      strategy: 'all-for-one',
      backoff: exact,
      children: [
        { id: 'x', logic: fragileCounter, from: 'snapshot' },
        { id: 'y', logic: fragileCounter },
      ],
    });
    await incTimes(hive.ref('x'), 4);
    await failWith(hive.ref('y'));
    clock.advance(100);
    expect(await count(hive.ref('x'))).toBe(4);
  });
});

describe('restart policies', () => {
  it('transient: restarted after a failure, not after reaching its final state', async () => {
    const { hive, clock, events } = await node({ supervision: { backoff: exact } });
    const t = await hive.spawn(fragileCounter, { id: 't', supervision: { restart: 'transient' } });
    await failWith(t);
    clock.advance(100);
    expect(await t.ask({ type: 'ping' })).toEqual({ type: 'pong' });
    t.tell({ type: 'finish' });
    await new Promise((r) => setImmediate(r));
    clock.advance(60_000);
    expect(hiveInternals(hive).system.has('t')).toBe(false);
    expect(events.filter((e) => e.type === 'removed')).toEqual([{ type: 'removed', supervisor: 'root', child: 't', reason: 'not-restarted' }]);
    expect(hive.supervision.status().children.map((c) => c.id)).not.toContain('t');
  });

  it('temporary: never restarted; its id is freed', async () => {
    const { hive, clock, events } = await node({ supervision: { backoff: exact } });
    const t = await hive.spawn(fragileCounter, { id: 'temp', supervision: { restart: 'temporary' } });
    await failWith(t);
    clock.advance(60_000);
    expect(hiveInternals(hive).system.has('temp')).toBe(false);
    expect(restarted(events)).toEqual([]);
    await expect(t.ask({ type: 'ping' })).rejects.toMatchObject({ code: 'NO_SUCH_ACTOR' });
    // the id can be used again
    const again = await hive.spawn(fragileCounter, { id: 'temp' });
    expect(await again.ask({ type: 'ping' })).toEqual({ type: 'pong' });
  });

  it('permanent: also restarted (fresh) after reaching its final state', async () => {
    const { hive, clock, events } = await node({ supervision: { backoff: exact } });
    const p = await hive.spawn(fragileCounter, { id: 'perm', supervision: { from: 'snapshot' } });
    await incTimes(p, 2);
    p.tell({ type: 'finish' });
    await new Promise((r) => setImmediate(r));
    expect(hiveInternals(hive).system.has('perm')).toBe(false);
    clock.advance(100);
    expect(restarted(events)).toEqual(['perm']);
    expect(await count(p)).toBe(0);
  });

  it('a stopped actor is never restarted, even when stopped while it waits for its restart', async () => {
    const { hive, clock, events } = await node({ supervision: { backoff: exact } });
    const s1 = await hive.spawn(fragileCounter, { id: 's1' });
    const s2 = await hive.spawn(fragileCounter, { id: 's2' });
    await s1.stop();
    await failWith(s2);
    await s2.stop();
    clock.advance(60_000);
    expect(hiveInternals(hive).system.has('s1')).toBe(false);
    expect(hiveInternals(hive).system.has('s2')).toBe(false);
    expect(restarted(events)).toEqual([]);
    expect(hive.supervision.status().childCount).toBe(0);
  });
});

describe('backoff and intensity', () => {
  it('applies growing backoff delays between consecutive restarts', async () => {
    const { hive, clock, events } = await node({ supervision: { backoff: exact, intensity: { maxRestarts: 10, withinMs: 60_000 } } });
    const ref = await hive.spawn(fragileCounter, { id: 'loop' });
    for (const delay of [100, 200, 400, 800]) {
      await failWith(ref);
      clock.advance(delay - 1);
      expect(hiveInternals(hive).system.has('loop')).toBe(false);
      clock.advance(1);
      expect(hiveInternals(hive).system.has('loop')).toBe(true);
    }
    expect(events.filter((e) => e.type === 'restarting').map((e) => (e as { delayMs: number }).delayMs)).toEqual([100, 200, 400, 800]);
  });

  it('starts the backoff over after the child stayed up for resetAfterMs', async () => {
    const { hive, clock, events } = await node({ supervision: { backoff: { ...exact, resetAfterMs: 5_000 } } });
    const ref = await hive.spawn(fragileCounter, { id: 'calm' });
    await failWith(ref);
    clock.advance(100);
    await failWith(ref);
    clock.advance(200);
    clock.advance(5_000);
    await failWith(ref);
    clock.advance(100);
    expect(events.filter((e) => e.type === 'restarting').map((e) => (e as { delayMs: number }).delayMs)).toEqual([100, 200, 100]);
  });

  it('past the intensity a supervisor stops its children and escalates; its parent restarts it with its children', async () => {
    const { hive, clock, events } = await node({ supervision: { backoff: exact } });
    const outer = await hive.supervisor('outer', { backoff: exact });
    const inner = outer.supervisor('inner', {
      backoff: exact,
      intensity: { maxRestarts: 2, withinMs: 10_000 },
      children: [
        { id: 'w1', logic: fragileCounter },
        { id: 'w2', logic: fragileCounter },
      ],
    });
    const escalated: string[] = [];
    inner.onEvent((e) => e.type === 'escalated' && escalated.push(e.reason));
    await incTimes(hive.ref('w2'), 5);
    await failWith(hive.ref('w1'));
    clock.advance(100);
    await failWith(hive.ref('w1'));
    clock.advance(200);
    expect(escalated).toEqual([]);
    await failWith(hive.ref('w1')); // the third restart in 10 s: too many
    expect(escalated).toHaveLength(1);
    expect(escalated[0]).toMatch(/more than 2 restarts in 10000 ms/);
    expect(events.find((e) => e.type === 'escalated')).toMatchObject({ supervisor: 'inner', parent: 'outer', children: ['w1', 'w2'] });
    expect(hiveInternals(hive).system.has('w1')).toBe(false);
    expect(hiveInternals(hive).system.has('w2')).toBe(false);
    // the parent got the escalation and applies its strategy (one-for-one): restart `inner` after its backoff
    expect(events.at(-1)).toMatchObject({ type: 'restarting', supervisor: 'outer', child: 'inner', reason: 'escalated', delayMs: 100 });
    expect(inner.running).toBe(false);
    clock.advance(100);
    expect(inner.running).toBe(true);
    expect(inner.status().children.map((c) => [c.id, c.status])).toEqual([
      ['w1', 'running'],
      ['w2', 'running'],
    ]);
    expect(await count(hive.ref('w2'))).toBe(0);
    expect(await hive.ref('w1').ask({ type: 'ping' })).toEqual({ type: 'pong' });
    const text = await hive.metrics.text();
    expect(text).toMatch(/hive_supervisor_escalations_total\{supervisor="inner",cluster="sup",node="[^"]+"\} 1/);
    expect(text).toMatch(/hive_supervisor_restarts_total\{supervisor="outer",cluster="sup",node="[^"]+"\} 1/);
    expect(text).toMatch(/hive_supervisor_restarts_total\{supervisor="inner",cluster="sup",node="[^"]+"\} 2/);
  });

  it('a supervision tree declared in one piece escalates level by level up to the root', async () => {
    const { hive, clock, events } = await node({ supervision: { backoff: exact, intensity: { maxRestarts: 0, withinMs: 1_000 } } });
    await hive.supervisor('top', {
      backoff: exact,
      intensity: { maxRestarts: 0, withinMs: 1_000 },
      children: [{ id: 'mid', supervisor: { backoff: exact, intensity: { maxRestarts: 0, withinMs: 1_000 }, children: [{ id: 'leaf', logic: fragileCounter }] } }],
    });
    expect(hiveInternals(hive).system.has('leaf')).toBe(true);
    await failWith(hive.ref('leaf'));
    expect(events.filter((e) => e.type === 'escalated').map((e) => [e.supervisor, (e as { parent?: string }).parent])).toEqual([
      ['mid', 'top'],
      ['top', 'root'],
      ['root', undefined],
    ]);
    clock.advance(60_000);
    for (const id of ['top', 'mid', 'leaf']) expect(hiveInternals(hive).system.has(id)).toBe(false);
  });
});

describe('children that fail while starting', () => {
  /** Throws in its initial entry action: it can never start. */
  const neverStarts = setup({}).createMachine({
    id: 'never-starts',
    entry: () => {
      throw new Error('cannot start');
    },
  });

  it('are restarted with backoff like any failure, then escalated; the supervisor itself starts', async () => {
    const { hive, clock, events } = await node({ supervision: { backoff: exact } });
    const sup = await hive.supervisor('starter', {
      backoff: exact,
      intensity: { maxRestarts: 2, withinMs: 10_000 },
      children: [
        { id: 'ok', logic: fragileCounter },
        { id: 'never', logic: neverStarts },
      ],
    });
    expect(sup.running).toBe(true);
    expect(hiveInternals(hive).system.has('ok')).toBe(true);
    expect(hiveInternals(hive).system.has('never')).toBe(false);
    clock.advance(100);
    clock.advance(200);
    expect(events.filter((e) => e.supervisor === 'starter').map((e) => e.type)).toEqual(['restarting', 'restarting', 'escalated']);
    expect(events.find((e) => e.type === 'escalated')).toMatchObject({ supervisor: 'starter', parent: 'root', children: ['ok', 'never'] });
    expect(hiveInternals(hive).system.has('ok')).toBe(false);
  });
});

describe('the root supervisor', () => {
  it('supervises every hive.spawn by default: permanent, fresh, 10 ms first delay', async () => {
    const { hive, clock } = await node();
    const ref = await hive.spawn(fragileCounter, { id: 'plain' });
    await incTimes(ref, 2);
    expect(hive.supervision.status().children).toEqual([{ id: 'plain', status: 'running', restart: 'permanent', from: 'fresh', restarts: 0 }]);
    await failWith(ref);
    clock.advance(9);
    await expect(ref.ask({ type: 'ping' })).rejects.toMatchObject({ code: 'ACTOR_FAILED' });
    clock.advance(1);
    expect(await ref.ask({ type: 'ping' })).toEqual({ type: 'pong' });
    expect(await count(ref)).toBe(0);
    expect(hive.supervision.status().children[0]).toMatchObject({ id: 'plain', restarts: 1 });
    expect(await hive.metrics.text()).toMatch(/hive_supervisor_restarts_total\{supervisor="root",cluster="sup",node="[^"]+"\} 1/);
    // the root supervisor is an actor on the node, answering status asks
    expect(hiveInternals(hive).system.actors().find((a) => a.id === ROOT_SUPERVISOR_ID)).toMatchObject({ kind: 'supervisor', status: 'running' });
    expect(await hive.ref(ROOT_SUPERVISOR_ID).ask({ type: 'status' })).toMatchObject({ type: 'supervisor.status', name: 'root', state: 'running', childCount: 1 });
  });

  it('serves again on the same NATS subject after a restart (asks from another node)', async () => {
    const bus = new InProcBus();
    const { hive, clock } = await node({ nodeId: 'host', transport: new InProcTransport(bus), supervision: { backoff: exact } });
    const { hive: other } = await node({ nodeId: 'client', transport: new InProcTransport(bus) });
    await hive.spawn(fragileCounter, { id: 'remote' });
    const far = other.ref('remote');
    expect(await far.ask({ type: 'ping' })).toEqual({ type: 'pong' });
    await expect(far.ask({ type: 'boom' })).rejects.toMatchObject({ code: 'ACTOR_FAILED' });
    clock.advance(100);
    expect(await far.ask({ type: 'ping' })).toEqual({ type: 'pong' });
  });

  it('past its intensity logs at error level, counts and signals the escalation, and leaves the children stopped', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
    const { hive, clock, events } = await node({ logger, supervision: { backoff: exact, intensity: { maxRestarts: 1, withinMs: 10_000 } } });
    const x = await hive.spawn(fragileCounter, { id: 'x' });
    await hive.spawn(fragileCounter, { id: 'y' });
    await failWith(x);
    clock.advance(100);
    await failWith(x);
    expect(hiveInternals(hive).system.has('x')).toBe(false);
    expect(hiveInternals(hive).system.has('y')).toBe(false);
    expect(events.find((e) => e.type === 'escalated')).toEqual({
      type: 'escalated',
      supervisor: 'root',
      parent: undefined,
      reason: 'more than 1 restarts in 10000 ms (last: child "x" failed)',
      children: ['x', 'y'],
    });
    const error = lines.find((l) => l['level'] === 50);
    expect(error).toMatchObject({ supervisor: 'root', msg: expect.stringContaining('root supervisor gave up') as unknown });
    expect(await hive.metrics.text()).toMatch(/hive_supervisor_escalations_total\{supervisor="root",cluster="sup",node="[^"]+"\} 1/);
    clock.advance(60_000);
    expect(hiveInternals(hive).system.has('x')).toBe(false);
    await expect(hive.ref('y').ask({ type: 'ping' })).rejects.toMatchObject({ code: 'NO_SUCH_ACTOR' });
    // the root keeps supervising what is spawned later, with a fresh restart history
    const z = await hive.spawn(fragileCounter, { id: 'z' });
    await failWith(z);
    clock.advance(100);
    expect(await z.ask({ type: 'ping' })).toEqual({ type: 'pong' });
  });

  it('refuses bad supervision options with INVALID_ARGUMENT before spawning anything', async () => {
    const { hive } = await node();
    await expect(hive.spawn(fragileCounter, { id: 'bad', supervision: { restart: 'sometimes' as never } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(hiveInternals(hive).system.has('bad')).toBe(false);
    await expect(hive.supervisor('s', { strategy: 'one-for-all' as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(hive.supervisor('s', { children: [{ id: 'a', logic: fragileCounter }, { id: 'a', logic: fragileCounter }] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(hive.supervisor('s', { children: [{ id: 'a.b', logic: fragileCounter }] })).rejects.toMatchObject({ code: 'INVALID_ID' });
    await hive.spawn(fragileCounter, { id: 'taken' });
    await expect(hive.supervisor('s2', { children: [{ id: 'taken', logic: fragileCounter }] })).rejects.toMatchObject({ code: 'ACTOR_FAILED' });
    expect(hiveInternals(hive).system.has('s2')).toBe(false);
  });

  it('stopping a supervisor stops its children; a node stops cleanly with restarts pending', async () => {
    const { hive, clock, events } = await node({ supervision: { backoff: exact } });
    const sup = await hive.supervisor('sup', { backoff: exact, children: [{ id: 'k1', logic: fragileCounter }, { id: 'k2', logic: fragileCounter }] });
    await sup.stop();
    expect(hiveInternals(hive).system.has('k1') || hiveInternals(hive).system.has('k2') || hiveInternals(hive).system.has('sup')).toBe(false);
    expect(events.filter((e) => e.type === 'removed').map((e) => e.child)).toEqual(['sup']);
    clock.advance(60_000);
    expect(hiveInternals(hive).system.has('sup')).toBe(false);
    const p = await hive.spawn(fragileCounter, { id: 'pending' });
    await failWith(p);
    await hive.stop();
    expect(clock.pending).toBe(0);
  });
});
