// The cluster-wide limiter on the simulated clock: several nodes (Limiter handles with their own node ids)
// share one in-memory KV, as NATS nodes share the JetStream KV bucket.
import { describe, expect, it } from 'vitest';
import { Limiter, SLOT_TTL_MS, UNDEFINED_GRACE_MS, type Permit } from '../../../../actors/limits/Limiter.js';
import { SimulatedClock } from '../../../../runtime/Clock.js';
import { MemoryKeyValue } from '../../../../runtime/KeyValueStore.js';
import { silentLogger } from '../../../../runtime/logger.js';
import { codeOf } from '../../../support/errors.js';

const settle = async () => {
  for (let i = 0; i < 4; i++) await new Promise((r) => setImmediate(r));
};

function nodes(n: number, clock: SimulatedClock, kv = new MemoryKeyValue(), name = 'api'): Limiter[] {
  return Array.from({ length: n }, (_, i) => new Limiter({ name, node: `n${i}`, kv, clock, logger: silentLogger() }));
}

describe('Limiter', () => {
  it('three nodes with 50 waiters each admit the rate, never more than rate x window + burst', async () => {
    const clock = new SimulatedClock(1_000_000);
    const ls = nodes(3, clock);
    ls[0].define({ requestsPerMinute: 600, burst: 10 });
    await settle();
    const admitted: number[] = [];
    let stop = false;
    const submitter = async (l: Limiter) => {
      while (!stop) {
        const ok = await l.take(1).then(() => true, () => false);
        if (ok) admitted.push(clock.now());
      }
    };
    for (const l of ls) for (let i = 0; i < 50; i++) void submitter(l);
    const start = clock.now();
    const durationMs = 60_000;
    for (let t = 0; t < durationMs; t += 20) {
      clock.advance(20);
      await settle();
    }
    stop = true;
    const inRun = admitted.filter((t) => t <= start + durationMs);
    // the whole minute: the limit plus the initial burst at most, and within 5% of the limit
    expect(inRun.length).toBeLessThanOrEqual(600 + 10);
    expect(inRun.length).toBeGreaterThanOrEqual(600 * 0.95);
    // every 1 s and 10 s window: at most rate x window + burst
    for (const w of [1000, 10_000]) {
      let j = 0;
      for (let i = 0; i < inRun.length; i++) {
        while (inRun[i] - inRun[j] >= w) j++;
        expect(i - j + 1).toBeLessThanOrEqual((600 * w) / 60_000 + 10);
      }
    }
    // every node got a share
    await Promise.all(ls.map((l) => l.stop()));
  });

  it('a take above the burst fails at once; a bad n is refused', async () => {
    const clock = new SimulatedClock(0);
    const [l] = nodes(1, clock);
    l.define({ tokensPerMinute: 60_000, burst: 2000 });
    expect(await codeOf(l.take(2001))).toBe('INVALID_ARGUMENT');
    await expect(l.take(2001)).rejects.toThrow(/burst \(2000\)/);
    expect(await codeOf(l.take(-1))).toBe('INVALID_ARGUMENT');
    const p = await l.take(2000);
    expect(p.waitedMs).toBe(0);
  });

  it('a take on a limiter nobody defined waits a grace period for a definition, then fails naming it', async () => {
    const clock = new SimulatedClock(0);
    const [l] = nodes(1, clock, new MemoryKeyValue(), 'nobody');
    let settled = false;
    const first = l.take(1).finally(() => (settled = true));
    first.catch(() => undefined);
    for (let t = 0; t < UNDEFINED_GRACE_MS - 200; t += 100) {
      clock.advance(100);
      await settle();
    }
    expect(settled).toBe(false);
    for (let t = 0; t < 1000 && !settled; t += 100) {
      clock.advance(100);
      await settle();
    }
    expect(await codeOf(first)).toBe('INVALID_ARGUMENT');
    await expect(first).rejects.toThrow(/no limiter named "nobody"/);
  });

  it('a waiting take is aborted by its signal and leaves the queue', async () => {
    const clock = new SimulatedClock(0);
    const [l] = nodes(1, clock);
    l.define({ requestsPerMinute: 60, burst: 1 });
    await l.take(1);
    const ac = new AbortController();
    const waiting = l.take(1, { signal: ac.signal });
    await settle();
    expect(l.waiting).toBe(1);
    ac.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    expect(l.waiting).toBe(0);
    // the token it did not take is there for the next one after the refill
    const next = l.take(1);
    clock.advance(1000);
    await settle();
    clock.advance(10);
    await settle();
    await expect(next).resolves.toMatchObject({ waitedMs: expect.any(Number) as number });
  });

  it('maxConcurrent holds across nodes; a release lets the next one in', async () => {
    const clock = new SimulatedClock(0);
    const ls = nodes(3, clock);
    ls[0].define({ maxConcurrent: 2 });
    const granted: Permit[] = [];
    for (const l of ls) for (let i = 0; i < 2; i++) void l.take(1).then((p) => granted.push(p));
    for (let i = 0; i < 10; i++) {
      clock.advance(25);
      await settle();
    }
    expect(granted.length).toBe(2);
    granted[0].release();
    for (let i = 0; i < 10 && granted.length < 3; i++) {
      clock.advance(25);
      await settle();
    }
    expect(granted.length).toBe(3);
    for (let i = 0; i < 10; i++) {
      clock.advance(25);
      await settle();
    }
    expect(granted.length).toBe(3);
  });

  it('the slots of a node that died are free again after the slot lease', async () => {
    const clock = new SimulatedClock(0);
    const kv = new MemoryKeyValue();
    const [dead, alive] = nodes(2, clock, kv);
    dead.define({ maxConcurrent: 1 });
    await dead.take(1).catch(() => undefined);
    await settle();
    // `dead` stops refreshing (as a killed process would): simulate by leaving it without timers
    (dead as unknown as { stopped: boolean }).stopped = true;
    let got = false;
    void alive.take(1).then(() => (got = true));
    for (let t = 0; t < SLOT_TTL_MS - 100; t += 50) {
      clock.advance(50);
      await settle();
    }
    expect(got).toBe(false);
    for (let t = 0; t < 1000 && !got; t += 50) {
      clock.advance(50);
      await settle();
    }
    expect(got).toBe(true);
  });

  it('a token rate and a request rate together: n counts tokens, each take one request', async () => {
    const clock = new SimulatedClock(0);
    const [l] = nodes(1, clock);
    l.define({ requestsPerMinute: 120, tokensPerMinute: 6000, burst: 100 });
    // the request bucket holds 2 (one second of 120/min): two takes at once, the third waits
    await l.take(10);
    await l.take(10);
    let third = false;
    void l.take(10).then(() => (third = true));
    await settle();
    expect(third).toBe(false);
    for (let i = 0; i < 60 && !third; i++) {
      clock.advance(10);
      await settle();
    }
    expect(third).toBe(true);
  });
});
