import { describe, expect, it } from 'vitest';
import { KpiSampler, quantileBetween } from '../../../../cluster/ops/KpiSampler.js';
import { KPIS, kpiLevel } from '../../../../cluster/ops/kpis.js';
import { SimulatedClock } from '../../../../runtime/Clock.js';
import { MetricsRegistry } from '../../../../runtime/metrics.js';

describe('KPI levels', () => {
  const def = (id: string) => KPIS.find((k) => k.id === id)!;
  it('colours a value against its thresholds in the direction that is bad', () => {
    expect(kpiLevel(def('searchP95Ms'), 10)).toBe('ok');
    expect(kpiLevel(def('searchP95Ms'), 50)).toBe('warn');
    expect(kpiLevel(def('searchP95Ms'), 151)).toBe('crit');
    expect(kpiLevel(def('searchP95Ms'), null)).toBe('ok');
    expect(kpiLevel({ id: 'cacheHitRate', label: '', unit: 'ratio', bad: 'below', warn: 0.5, crit: 0.2, source: '' }, 0.3)).toBe('warn');
    expect(kpiLevel({ id: 'cacheHitRate', label: '', unit: 'ratio', bad: 'below', warn: 0.5, crit: 0.2, source: '' }, 0.1)).toBe('crit');
  });
});

describe('quantileBetween', () => {
  it('interpolates inside the bucket over what was observed in the interval only', () => {
    const before = new Map([[0.1, 100], [0.2, 100], [Infinity, 100]]);
    const after = new Map([[0.1, 100], [0.2, 200], [Infinity, 200]]);
    // the 100 new observations all lie in (0.1, 0.2]: p50 is the middle of that bucket
    expect(quantileBetween(before, after, 0.5)).toBeCloseTo(0.15, 6);
    expect(quantileBetween(after, after, 0.95)).toBeNull();
    expect(quantileBetween(undefined, new Map([[1, 0], [Infinity, 4]]), 0.5)).toBe(1);
  });
});

describe('KpiSampler', () => {
  it('samples p95 and rates per interval from the registry, on the injected clock', async () => {
    const clock = new SimulatedClock(1_000_000);
    const metrics = new MetricsRegistry({ cluster: 'c', node: 'n' }, { processMetrics: false });
    const ask = metrics.latencyHistogram('hive_ask_duration_seconds', 'ask', ['target']).labels('remote');
    const docs = metrics.counter('hive_memory_ingest_docs_total', 'docs', ['store', 'result']);
    const sampler = new KpiSampler({ metrics, clock, memory: async () => ({ documents: 7, queued: 1, breaker: 'closed' }) }, { intervalMs: 1000, keep: 3 });
    const first = await sampler.sample();
    expect(first.messageP95Ms).toBeNull();
    expect(first.ingestDocsPerS).toBeNull();
    for (let i = 0; i < 100; i++) ask.observe(0.0015); // all in the (1 ms, 2 ms] bucket
    docs.inc({ store: 's', result: 'inserted' }, 500);
    docs.inc({ store: 's', result: 'duplicate' }, 50);
    clock.advance(1000);
    const second = await sampler.sample();
    expect(second.messageP95Ms).toBeGreaterThan(1);
    expect(second.messageP95Ms).toBeLessThanOrEqual(2);
    expect(second.ingestDocsPerS).toBe(500);
    clock.advance(2000);
    const third = await sampler.sample();
    expect(third.messageP95Ms).toBeNull(); // nothing asked in this interval
    expect(third.ingestDocsPerS).toBe(0);
    await sampler.sample();
    const section = sampler.section();
    expect(section.samples).toHaveLength(3); // bounded
    expect(section.memory).toEqual({ documents: 7, queued: 1, breaker: 'closed' });
  });

  it('samples on its own timer until stopped', async () => {
    const clock = new SimulatedClock(0);
    const metrics = new MetricsRegistry({ cluster: 'c', node: 'n' }, { processMetrics: false });
    const sampler = new KpiSampler({ metrics, clock }, { intervalMs: 500 });
    sampler.start();
    const until = async (n: number) => {
      for (let i = 0; i < 200 && sampler.section().samples.length < n; i++) {
        await new Promise((r) => setImmediate(r));
        if (sampler.section().samples.length < n) clock.advance(500);
      }
    };
    await until(3);
    expect(sampler.section().samples.length).toBeGreaterThanOrEqual(3);
    sampler.stop();
    const n = sampler.section().samples.length;
    clock.advance(5000);
    await new Promise((r) => setImmediate(r));
    expect(sampler.section().samples.length).toBe(n);
  });
});
