// Fenced activations and passivation of virtual actors, in process with a simulated clock: an idle actor
// passivates after passivateAfterMs (state saved, placement deleted) and comes back with its state on the next
// message; an activation whose placement moves on stops serving at once (the KV watch), and one whose snapshot
// was claimed by someone else never acknowledges the change it could not save: the ask is routed again and
// applied exactly once.
import { afterEach, describe, expect, it } from 'vitest';
import { counterMachine } from '../../../../actors/counter.js';
import { Hive } from '../../../../cluster/Hive.js';
import { hiveInternals } from '../../../../cluster/internal.js';
import { decodePlacement, encodePlacement } from '../../../../cluster/virtual/placement.js';
import { SimulatedClock } from '../../../../runtime/Clock.js';
import { DEFAULT_PASSIVATE_AFTER_MS } from '../../../../runtime/config.js';
import { InProcBus, InProcTransport } from '../../../../runtime/InProcTransport.js';
import { silentLogger } from '../../../../runtime/logger.js';

const open: Hive[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.stop()));
});

async function node(nodeId: string, clock: SimulatedClock, bus: InProcBus, passivateAfterMs = 60_000): Promise<Hive> {
  const hive = await Hive.start({
    cluster: 'fence',
    nodeId,
    env: false,
    logger: silentLogger(),
    clock,
    transport: new InProcTransport(bus, clock),
    heartbeatMs: 1_000,
    failureAfterMs: 5_000,
    passivateAfterMs,
  });
  open.push(hive);
  await hive.register('counter', counterMachine);
  return hive;
}

/** Lets promises and I/O callbacks run (the simulated clock does not move). */
async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

async function metric(hive: Hive, name: string): Promise<number> {
  const line = (await hive.metrics.text()).split('\n').find((l) => l.startsWith(name));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('virtual actors: passivation', () => {
  it('passivates an idle actor after passivateAfterMs (state saved, placement deleted) and reactivates it with its state', async () => {
    const clock = new SimulatedClock(1_000_000);
    const hive = await node('a', clock, new InProcBus());
    const { virtual } = hiveInternals(hive);
    const counter = hive.actor('counter', 'k1');
    for (let i = 0; i < 3; i++) await counter.ask({ type: 'inc' });
    expect(virtual.activations().map((a) => a.id)).toEqual(['counter--k1']);
    const first = (await virtual.stores.placement.get('counter.k1'))!;
    expect(decodePlacement(hiveInternals(hive).system.codec, first.value)?.node).toBe('a');

    // used again 40 s later: still active 40 s after that (idle is counted from the last message)
    clock.advance(40_000);
    counter.tell({ type: 'inc' });
    await settle();
    clock.advance(40_000);
    await settle();
    expect(virtual.activations()).toHaveLength(1);

    // idle for passivateAfterMs: passivated, placement deleted, snapshot kept
    clock.advance(30_000);
    await settle();
    expect(virtual.activations()).toHaveLength(0);
    expect(hiveInternals(hive).system.has('counter--k1')).toBe(false);
    expect(await virtual.stores.placement.get('counter.k1')).toBeUndefined();
    expect(await virtual.stores.snapshots.get('counter.k1')).toBeDefined();
    expect(await metric(hive, 'hive_virtual_passivations_total')).toBe(1);

    // the next message activates it again with the state it had: 3 asks + 1 tell
    expect(await counter.ask({ type: 'get' })).toEqual({ type: 'count', value: 4 });
    const second = (await virtual.stores.placement.get('counter.k1'))!;
    expect(second.revision).toBeGreaterThan(first.revision);
    expect(virtual.local.get('counter--k1')?.placementRevision).toBe(second.revision);
  });

  it('never passivates with passivateAfterMs 0, and defaults to 15 minutes', async () => {
    expect(DEFAULT_PASSIVATE_AFTER_MS).toBe(900_000);
    const clock = new SimulatedClock(0);
    const hive = await node('a', clock, new InProcBus(), 0);
    await hive.actor('counter', 'k').ask({ type: 'inc' });
    clock.advance(10 * DEFAULT_PASSIVATE_AFTER_MS);
    await settle();
    expect(hiveInternals(hive).virtual.activations()).toHaveLength(1);
  });
});

describe('virtual actors: fencing', () => {
  it('stops serving the moment its placement moves on (KV watch), and the next ask reaches the new owner', async () => {
    const clock = new SimulatedClock(0);
    const bus = new InProcBus();
    const a = await node('a', clock, bus);
    const b = await node('b', clock, bus);
    clock.advance(1_000);
    await settle();
    const counter = a.actor('counter', 'k');
    for (let i = 0; i < 5; i++) await counter.ask({ type: 'inc' });
    const va = hiveInternals(a).virtual;
    const vb = hiveInternals(b).virtual;
    const owner = va.activations().length === 1 ? 'a' : 'b';
    const [ownerV, otherV] = owner === 'a' ? [va, vb] : [vb, va];
    expect(ownerV.activations()).toHaveLength(1);
    // the fault: another node wins the placement while the owner lives (what a forged leave led to)
    const entry = (await ownerV.stores.placement.get('counter.k'))!;
    const other = owner === 'a' ? 'b' : 'a';
    expect(await ownerV.stores.placement.update('counter.k', encodePlacement(hiveInternals(a).system.codec, other, clock.now()), entry.revision)).toBeDefined();
    await settle();
    expect(ownerV.activations()).toHaveLength(0);
    expect(await metric(owner === 'a' ? a : b, 'hive_virtual_fenced_total{reason="placement-moved"')).toBe(1);
    // the new owner activates from the saved state: no increment lost, none counted twice
    expect(await a.actor('counter', 'k').ask({ type: 'inc' })).toEqual({ type: 'count', value: 6 });
    expect(await b.actor('counter', 'k').ask({ type: 'get' })).toEqual({ type: 'count', value: 6 });
    expect(otherV.activations()).toHaveLength(1);
    expect(ownerV.activations()).toHaveLength(0);
  });

  it('does not acknowledge a change whose revision-checked save was refused: the ask is routed again and counted once', async () => {
    const clock = new SimulatedClock(0);
    const hive = await node('a', clock, new InProcBus());
    const v = hiveInternals(hive).virtual;
    const counter = hive.actor('counter', 'k');
    for (let i = 0; i < 3; i++) await counter.ask({ type: 'inc' });
    const before = v.local.get('counter--k')!;
    // the fault: someone else claims the snapshot entry (a new owner's claim) without the watch telling us
    const snap = (await v.stores.snapshots.get('counter.k'))!;
    expect(await v.stores.snapshots.update('counter.k', snap.value, snap.revision)).toBeDefined();
    // this inc is applied by the old activation, its save is refused, so it is never acknowledged from there:
    // routed again, it reaches a fresh activation restored from the snapshot and is applied once
    expect(await counter.ask({ type: 'inc' })).toEqual({ type: 'count', value: 4 });
    expect(before.state).toBe('ended');
    const after = v.local.get('counter--k')!;
    expect(after).not.toBe(before);
    expect(after.placementRevision).toBeGreaterThan(before.placementRevision);
    expect(await metric(hive, 'hive_virtual_fenced_total{reason="snapshot-moved"')).toBe(1);
    expect(await counter.ask({ type: 'get' })).toEqual({ type: 'count', value: 4 });
  });

  it('checks its placement before serving after this node stalled for half of failureAfterMs', async () => {
    const sim = new SimulatedClock(0);
    // a clock whose time can jump without its timers running (a SIGSTOP, a long GC pause)
    let stalled = 0;
    const clock = { now: () => sim.now() + stalled, setTimeout: sim.setTimeout.bind(sim), clearTimeout: sim.clearTimeout.bind(sim), advance: (ms: number) => sim.advance(ms) };
    const hive = await node('a', clock as unknown as SimulatedClock, new InProcBus());
    const v = hiveInternals(hive).virtual;
    const store = v.stores.placement;
    const get = store.get.bind(store);
    let reads = 0;
    let forge: number | undefined;
    store.get = async (k) => {
      reads += 1;
      const e = await get(k);
      if (forge === undefined || e === undefined) return e;
      // what the placement says after a takeover this node's watch has not reported yet
      const forged = { ...e, revision: e.revision + forge };
      forge = undefined;
      return forged;
    };
    const counter = hive.actor('counter', 'k');
    await counter.ask({ type: 'inc' });
    const first = v.local.get('counter--k')!;
    reads = 0;
    await counter.ask({ type: 'inc' });
    expect(reads).toBe(0); // served by its activation: no KV read per message
    stalled += 3_000;
    await counter.ask({ type: 'inc' });
    expect(reads).toBe(1); // after the stall: one read proved the placement unchanged
    expect(first.state).toBe('active');
    expect(await counter.ask({ type: 'inc' })).toEqual({ type: 'count', value: 4 });
    expect(reads).toBe(1);
    // another stall, and this time the placement moved on unseen: the activation ends before serving
    stalled += 3_000;
    forge = 1_000;
    expect(await counter.ask({ type: 'inc' })).toEqual({ type: 'count', value: 5 });
    expect(first.state).toBe('ended');
    expect(await metric(hive, 'hive_virtual_fenced_total{reason="placement-moved"')).toBe(1);
    expect(v.local.get('counter--k')).not.toBe(first);
  });
});
