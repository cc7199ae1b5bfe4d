// The runtime's hot-path helpers keep the behaviour they replace: batched ask timeouts fire exactly when a timer
// per ask would have and leave no timer behind, the scheduler lets timers and I/O run during a closed loop of
// local asks, and the cheap ask-latency histogram is scraped like a prom-client histogram.
import { afterEach, describe, expect, it } from 'vitest';
import { Hive } from '../../../cluster/Hive.js';
import { SimulatedClock } from '../../../runtime/Clock.js';
import { InProcBus, InProcTransport } from '../../../runtime/InProcTransport.js';
import { silentLogger } from '../../../runtime/logger.js';
import { MetricsRegistry } from '../../../runtime/metrics.js';
import { Timeouts, type Expiring, type TimeoutBatch } from '../../../runtime/Timeouts.js';
import { echoMachine } from '../../support/machines.js';

class Entry implements Expiring {
  settled = false;
  batch: TimeoutBatch | undefined = undefined;
  expiredAt: number | undefined = undefined;
  constructor(private readonly clock: SimulatedClock) {}
  expire(): void {
    this.expiredAt = this.clock.now();
  }
  settle(): void {
    this.settled = true;
    this.batch?.release(this);
  }
}

describe('batched timeouts', () => {
  it('expire each entry timeoutMs after the millisecond it was created in, one timer per batch', () => {
    const clock = new SimulatedClock(1000);
    const timeouts = new Timeouts(clock);
    const a = new Entry(clock);
    const b = new Entry(clock);
    timeouts.schedule(a, 50);
    timeouts.schedule(b, 50);
    expect(clock.pending).toBe(1);
    clock.advance(10);
    const c = new Entry(clock);
    timeouts.schedule(c, 50);
    expect(clock.pending).toBe(2);
    clock.advance(39);
    expect([a.expiredAt, b.expiredAt, c.expiredAt]).toEqual([undefined, undefined, undefined]);
    clock.advance(1);
    expect([a.expiredAt, b.expiredAt]).toEqual([1050, 1050]);
    expect(a.settled && b.settled).toBe(true);
    clock.advance(10);
    expect(c.expiredAt).toBe(1060);
    expect(clock.pending).toBe(0);
  });

  it('never expire a settled entry, and cancel the timer when the last entry of a batch settles', () => {
    const clock = new SimulatedClock(0);
    const timeouts = new Timeouts(clock);
    const a = new Entry(clock);
    const b = new Entry(clock);
    timeouts.schedule(a, 100);
    timeouts.schedule(b, 100);
    a.settle();
    b.settle();
    // the newest batch keeps its timer for entries of the same millisecond
    expect(clock.pending).toBe(1);
    const c = new Entry(clock);
    timeouts.schedule(c, 100);
    expect(clock.pending).toBe(1);
    // a newer batch seals it: its timer goes once its last entry settles
    clock.advance(1);
    const d = new Entry(clock);
    timeouts.schedule(d, 100);
    expect(clock.pending).toBe(2);
    c.settle();
    expect(clock.pending).toBe(1);
    clock.advance(100);
    expect([a.expiredAt, b.expiredAt, c.expiredAt, d.expiredAt]).toEqual([undefined, undefined, undefined, 101]);
    // disposing cancels an idle newest batch
    const e = new Entry(clock);
    timeouts.schedule(e, 100);
    e.settle();
    timeouts.dispose();
    expect(clock.pending).toBe(0);
  });
});

const nodes: Hive[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

async function node(): Promise<Hive> {
  const hive = await Hive.start({ cluster: 'hot', env: false, logger: silentLogger(), transport: new InProcTransport(new InProcBus()) });
  nodes.push(hive);
  return hive;
}

describe('scheduler', () => {
  it('lets a timer fire while a closed loop of local asks keeps the actor busy', async () => {
    const hive = await node();
    const ref = await hive.spawn(echoMachine, { id: 'e' });
    let fired = false;
    setTimeout(() => (fired = true), 0);
    let asks = 0;
    // Every ask is answered in a microtask: without the turn budget this loop would starve the timer forever.
    while (!fired && asks < 200_000) {
      await ref.ask({ type: 'ping' });
      asks++;
    }
    expect(fired).toBe(true);
    expect(asks).toBeLessThan(200_000);
  });
});

describe('ask latency histogram', () => {
  it('is scraped like a prom-client histogram', async () => {
    const hive = await node();
    const ref = await hive.spawn(echoMachine, { id: 'e' });
    for (let i = 0; i < 5; i++) await ref.ask({ type: 'ping' });
    const text = await hive.metrics.text();
    expect(text).toContain('# TYPE hive_ask_duration_seconds histogram');
    expect(text).toMatch(/hive_ask_duration_seconds_bucket\{[^}]*target="local"[^}]*le="\+Inf"[^}]*\} 5/);
    expect(text).toMatch(/hive_ask_duration_seconds_count\{[^}]*target="local"[^}]*\} 5/);
    expect(text).toMatch(/hive_ask_duration_seconds_sum\{[^}]*target="local"/);
    const json = await hive.metrics.registry.getMetricsAsJSON();
    const h = json.find((m) => m.name === 'hive_ask_duration_seconds');
    expect(h?.values.some((v) => v.labels['cluster'] === 'hot' && v.labels['le'] === 0.0001)).toBe(true);
  });

  it('counts each value in the first bucket whose bound is at least the value', () => {
    const metrics = new MetricsRegistry({ cluster: 'c', node: 'n' }, { processMetrics: false });
    const h = metrics.latencyHistogram('hive_test_seconds', 'test', ['k'], [0.1, 1]);
    const r = h.labels('x');
    for (const v of [0.05, 0.1, 0.5, 1, 2, Number.NaN]) r.observe(v);
    expect(Array.from(r.counts)).toEqual([2, 2, 1]);
    expect(r.count).toBe(5);
    expect(metrics.latencyHistogram('hive_test_seconds', 'test', ['k'])).toBe(h);
  });
});
