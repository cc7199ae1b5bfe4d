// The transit between Hive nodes on a real nats-server: deadlines end to end (the receiver lets go of asks at
// their deadline, a forwarded hop carries the caller's deadline), and breakers on virtual-actor asks.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { counterMachine } from '../../../actors/counter.js';
import { FrameCodec } from '../../../protocols/frame.js';
import { laterMachine } from '../../support/machines.js';
import { NATS_URL, natsAvailable, uniqueName } from '../../support/services.js';
import { metricValue, startNatsNode, stopNatsNodes, until } from '../../support/natsNodes.js';
import { codeOf } from '../../support/errors.js';
import { hiveInternals } from '../../../cluster/internal.js';

const hasNats = await natsAvailable();
afterEach(stopNatsNodes);

describe.skipIf(!hasNats)('transit over NATS', () => {
  let raw: NatsConnection;
  beforeAll(async () => {
    raw = await connect({ servers: NATS_URL });
  });
  afterAll(async () => {
    await raw?.close();
  });

  it('lets go of asks nobody answers at their deadline on the serving node (300 asks of 200 KB)', async () => {
    const cluster = uniqueName('expire');
    const a = await startNatsNode(cluster, 'a');
    const b = await startNatsNode(cluster, 'b');
    await b.spawn(laterMachine, { id: 'mute' });
    const payload = new Float32Array(50_000); // 200 KB, not compressed
    const asks = Array.from({ length: 300 }, () => codeOf(a.ref('mute').ask({ type: 'silent', payload }, { timeoutMs: 1500 })));
    expect(new Set(await Promise.all(asks))).toEqual(new Set(['TIMEOUT']));
    // the serving node dropped every one at its deadline: nothing held for them any more
    // (on a loaded machine some may even arrive past their deadline: refused at arrival, counted there)
    const expired = async () => (await metricValue(b, 'hive_expired_total', 'stage="waiting"')) + (await metricValue(b, 'hive_expired_total', 'stage="arrival"'));
    await until(async () => (await expired()) === 300, 'the serving node to count 300 expired asks');
    expect(hiveInternals(b).system.transit.servedInProgress).toBe(0);
    expect(hiveInternals(b).system.actors().find((x) => x.id === 'mute')?.awaiting).toBe(0);
    expect(hiveInternals(a).system.transit.pendingRequests).toBe(0);
  });

  it('forwards a virtual-actor ask to its owner with the caller deadline, not a fresh one', async () => {
    const cluster = uniqueName('hop');
    const a = await startNatsNode(cluster, 'a');
    const b = await startNatsNode(cluster, 'b');
    const c = await startNatsNode(cluster, 'c');
    await b.register('counter', counterMachine);
    await c.register('counter', counterMachine);
    await until(() => a.members().filter((m) => m.kinds.includes('counter')).length === 2, 'kinds announced');
    const codec = new FrameCodec();
    const forwarded: Array<{ n: number; d: number }> = [];
    const sub = raw.subscribe(`hive.${cluster}.sys.node.*.kind.counter.k`, {
      callback: (_e, m) => {
        const env = codec.decode(m.data) as { e: { n: number }; d: number };
        forwarded.push({ n: env.e.n, d: env.d });
      },
    });
    await raw.flush();
    // a client asks through the kind's subject with its own deadline; the node of the queue group that gets
    // it and is not the owner forwards it
    const deadlines = new Map<number, number>();
    for (let n = 0; n < 40 && forwarded.length < 3; n++) {
      const d = Date.now() + 10_000 + n;
      deadlines.set(n, d);
      const answer = await raw.request(`hive.${cluster}.kind.counter.k`, codec.encode({ v: 1, k: 'a', e: { type: 'inc', n }, c: `c${n}`, d }), { timeout: 10_000 });
      expect(codec.decode(answer.data)).toMatchObject({ k: 'r', ok: { type: 'count' } });
    }
    sub.unsubscribe();
    expect(forwarded.length).toBeGreaterThan(0);
    for (const f of forwarded) expect(f.d).toBe(deadlines.get(f.n));
    expect(await a.actor('counter', 'k').ask({ type: 'get' })).toMatchObject({ type: 'count' });
  });

  it('guards virtual-actor asks with the per-node breaker: a node that keeps timing out fails fast', async () => {
    const cluster = uniqueName('vbreak');
    const a = await startNatsNode(cluster, 'a');
    const b = await startNatsNode(cluster, 'b');
    await b.register('later', laterMachine);
    await until(() => a.members().some((m) => m.kinds.includes('later')), 'kind announced');
    const ref = a.actor('later', 'x');
    // one answer tells the asker which node serves it; then five asks it never answers
    let answered = false;
    const held = ref.ask({ type: 'hold' }, { timeoutMs: 10_000 }).then(() => (answered = true));
    await until(() => {
      if (hiveInternals(b).system.has('later--x')) b.actor('later', 'x').tell({ type: 'release' });
      return answered;
    }, 'the first answer');
    await held;
    for (let i = 0; i < 6; i++) await ref.ask({ type: 'silent' }, { timeoutMs: 200 }).catch(() => undefined);
    expect(hiveInternals(a).nodeBreakers.states()).toEqual({ b: 'open' });
    expect(await codeOf(ref.ask({ type: 'silent' }, { timeoutMs: 5000 }))).toBe('CIRCUIT_OPEN');
  });

  it('sends a message for a virtual actor active on another node straight to its owner once placement is cached: no KV read', async () => {
    const cluster = uniqueName('vcache');
    const a = await startNatsNode(cluster, 'a');
    const b = await startNatsNode(cluster, 'b');
    await b.register('counter', counterMachine);
    await until(() => a.members().some((m) => m.kinds.includes('counter')), 'kind announced');
    const ref = a.actor('counter', 'k');
    await ref.ask({ type: 'inc' }); // activates it on b
    await ref.ask({ type: 'inc' }); // a reads the placement once and caches it
    const kvReads = async () => (await metricValue(a, 'hive_placement_lookups_total', 'source="kv"')) + (await metricValue(b, 'hive_placement_lookups_total', 'source="kv"'));
    const reads = await kvReads();
    const hits = await metricValue(a, 'hive_placement_lookups_total', 'source="cache"');
    for (let i = 0; i < 20; i++) await ref.ask({ type: 'inc' });
    expect(await ref.ask({ type: 'get' })).toEqual({ type: 'count', value: 22 });
    expect(await kvReads()).toBe(reads);
    expect(await metricValue(a, 'hive_placement_lookups_total', 'source="cache"')).toBe(hits + 21);
    // the owner leaves: the cache forgets it, and the actor is taken over from its persisted state
    await b.stop();
    const c = await startNatsNode(cluster, 'c');
    await c.register('counter', counterMachine);
    await until(() => a.members().some((m) => m.node === 'c' && m.kinds.includes('counter')) && !a.members().some((m) => m.node === 'b'), 'b gone, c announced');
    expect(await ref.ask({ type: 'get' }, { timeoutMs: 10_000 })).toEqual({ type: 'count', value: 22 });
  });
});
