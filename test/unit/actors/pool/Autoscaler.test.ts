// The autoscaler's decisions (pure, on explicit times) and a pool that grows under a burst and shrinks when
// idle, driven by a simulated clock.
import { afterEach, describe, expect, it } from 'vitest';
import { Autoscaler, resolveAutoscaleOptions } from '../../../../actors/pool/Autoscaler.js';
import { Hive } from '../../../../cluster/Hive.js';
import { SimulatedClock } from '../../../../runtime/Clock.js';
import { InProcBus, InProcTransport } from '../../../../runtime/InProcTransport.js';
import { silentLogger } from '../../../../runtime/logger.js';

const options = resolveAutoscaleOptions({ sustainMs: 1000, shrinkSustainMs: 5000, cooldownMs: 2000, scaleDownWindowMs: 0 });

describe('autoscaler', () => {
  it('grows by the factor only after utilization stays high for sustainMs, then respects the cooldown', () => {
    const a = new Autoscaler(options, 1, 10);
    expect(a.observe({ busy: 2, capacity: 2, queued: 0, size: 2 }, 0)).toBeUndefined();
    expect(a.observe({ busy: 2, capacity: 2, queued: 0, size: 2 }, 999)).toBeUndefined();
    expect(a.observe({ busy: 2, capacity: 2, queued: 0, size: 2 }, 1000)).toMatchObject({ from: 2, to: 4 });
    expect(a.observe({ busy: 4, capacity: 4, queued: 9, size: 4 }, 1500)).toBeUndefined(); // high, but in cooldown
    expect(a.observe({ busy: 4, capacity: 4, queued: 9, size: 4 }, 3000)).toMatchObject({ from: 4, to: 8 });
    expect(a.observe({ busy: 8, capacity: 8, queued: 9, size: 8 }, 4000)).toBeUndefined();
    expect(a.observe({ busy: 8, capacity: 8, queued: 9, size: 8 }, 6000)).toMatchObject({ from: 8, to: 10 }); // capped at max
    expect(a.history().map((d) => d.to)).toEqual([4, 8, 10]);
    expect(a.history()[0].reason).toMatch(/utilization 1\.00 ≥ 0\.8/);
  });

  it('shrinks only after utilization stays low for shrinkSustainMs, down to min', () => {
    const a = new Autoscaler(options, 2, 10);
    expect(a.observe({ busy: 0, capacity: 8, queued: 0, size: 8 }, 0)).toBeUndefined();
    expect(a.observe({ busy: 3, capacity: 8, queued: 0, size: 8 }, 3000)).toBeUndefined(); // back in the middle: resets
    expect(a.observe({ busy: 0, capacity: 8, queued: 0, size: 8 }, 4000)).toBeUndefined();
    expect(a.observe({ busy: 0, capacity: 8, queued: 0, size: 8 }, 9000)).toMatchObject({ from: 8, to: 4 });
    expect(a.observe({ busy: 0, capacity: 4, queued: 0, size: 4 }, 15000)).toBeUndefined(); // low again only since 9000 + cooldown
    expect(a.observe({ busy: 0, capacity: 4, queued: 0, size: 4 }, 20000)).toMatchObject({ from: 4, to: 2 });
    expect(a.observe({ busy: 0, capacity: 2, queued: 0, size: 2 }, 40000)).toBeUndefined(); // at min
  });

  it('shrinks only to the highest size recommended in scaleDownWindowMs: short dips under a steady load do not shrink it', () => {
    const a = new Autoscaler(resolveAutoscaleOptions({ sustainMs: 0, shrinkSustainMs: 1000, cooldownMs: 0, scaleDownWindowMs: 10_000 }), 1, 16);
    // a steady load on 16 agents (utilization in the middle band), with dips below the low-water mark
    // lasting 2 s every 5 s: without the window each dip shrinks the pool to 8
    let size = 16;
    const sizes: number[] = [];
    for (let t = 0; t <= 60_000; t += 100) {
      const dip = t % 5000 >= 3000;
      size = a.observe({ busy: dip ? 2 : 50, capacity: size * 4, queued: 0, size }, t)?.to ?? size;
      sizes.push(size);
    }
    expect(Math.min(...sizes)).toBe(16);
    // once the load is gone for longer than the window, it shrinks
    for (let t = 60_100; t <= 80_000; t += 100) size = a.observe({ busy: 0, capacity: size * 4, queued: 0, size }, t)?.to ?? size;
    expect(size).toBeLessThan(16);
    expect(a.history()[0].from).toBe(16);
    expect(a.history()[0].at).toBeGreaterThan(60_000 + 10_000 - 3000);

    // the same dips without the window: it flaps
    const b = new Autoscaler(resolveAutoscaleOptions({ sustainMs: 0, shrinkSustainMs: 1000, cooldownMs: 0, scaleDownWindowMs: 0 }), 1, 16);
    let s2 = 16;
    let shrinks = 0;
    for (let t = 0; t <= 60_000; t += 100) {
      const dip = t % 5000 >= 3000;
      const d = b.observe({ busy: dip ? 2 : 50, capacity: s2 * 4, queued: 0, size: s2 }, t);
      if (d !== undefined && d.to < d.from) shrinks += 1;
      s2 = d?.to ?? s2;
    }
    expect(shrinks).toBeGreaterThan(0);
  });

  it('refuses a negative scaleDownWindowMs naming it', () => {
    expect(() => resolveAutoscaleOptions({ scaleDownWindowMs: -1 })).toThrow(/pool\.autoscale\.scaleDownWindowMs/);
  });

  it('treats a backlog as full utilization and keeps a bounded history', () => {
    const a = new Autoscaler(resolveAutoscaleOptions({ sustainMs: 0, cooldownMs: 0, historySize: 3 }), 1, 1000);
    let size = 1;
    for (let t = 0; t < 10; t++) size = a.observe({ busy: 0, capacity: size, queued: 50, size }, t)?.to ?? size;
    expect(size).toBe(1000);
    expect(a.history()).toHaveLength(3);
  });

  it('refuses invalid options with an error naming the option', () => {
    expect(() => resolveAutoscaleOptions({ highWater: 2 })).toThrow(/pool\.autoscale\.highWater/);
    expect(() => resolveAutoscaleOptions({ lowWater: 0.9, highWater: 0.8 })).toThrow(/pool\.autoscale\.lowWater/);
    expect(() => resolveAutoscaleOptions({ growFactor: 1 })).toThrow(/pool\.autoscale\.growFactor/);
    expect(() => resolveAutoscaleOptions({ bogus: 1 } as never)).toThrow(/pool\.autoscale\.bogus/);
  });
});

describe('pool autoscaling', () => {
  const nodes: Hive[] = [];
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
  });

  it('grows under a burst of tasks and shrinks back when idle (simulated clock)', async () => {
    const clock = new SimulatedClock(1_000_000);
    const hive = await Hive.start({ cluster: 'scale', env: false, logger: silentLogger(), clock, transport: new InProcTransport(new InProcBus(), clock) });
    nodes.push(hive);
    const release: Array<() => void> = [];
    const pool = await hive.pool('burst', {
      agent: () => new Promise<void>((r) => release.push(r)),
      min: 1,
      max: 8,
      autoscale: { sustainMs: 100, shrinkSustainMs: 1000, cooldownMs: 200, intervalMs: 50, scaleDownWindowMs: 1500 },
    });
    const settle = async () => {
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    };
    const tasks = Array.from({ length: 20 }, () => pool.submit({}, { timeoutMs: 600_000 }));
    await settle();
    expect(pool.status().size).toBe(1);
    for (let t = 0; t < 40 && pool.status().size < 8; t++) {
      clock.advance(50);
      await settle();
    }
    expect(pool.status().size).toBe(8);
    expect(pool.status().decisions.map((d) => d.to)).toEqual([2, 4, 8]);
    // finish everything, then stay idle
    for (let i = 0; i < 50 && release.length > 0; i++) {
      release.splice(0).forEach((r) => r());
      await settle();
    }
    await Promise.all(tasks);
    for (let t = 0; t < 200 && pool.status().size > 1; t++) {
      clock.advance(50);
      await settle();
    }
    expect(pool.status().size).toBe(1);
    expect(pool.status().decisions.slice(-3).map((d) => d.to)).toEqual([4, 2, 1]);
  });
});
