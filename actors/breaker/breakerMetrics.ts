// Breaker metrics on the node's registry: `hive_breaker_state{breaker}` (0 closed, 1 open, 2 half-open) and
// `hive_breaker_calls_total{breaker,result}` (success / failure / rejected). Breakers count calls in plain
// numbers on their hot path; both metrics read them at scrape time (prom-client `collect`).
import { Counter, type Gauge } from 'prom-client';
import type { MetricsRegistry } from '../../runtime/metrics.js';
import type { BreakerState } from './breakerMachine.js';

/** Per-breaker call counts, by result. */
export interface BreakerCounts {
  success: number;
  failure: number;
  rejected: number;
}

/** What the metrics read from a breaker. */
export interface MeteredBreaker {
  readonly name: string;
  readonly state: BreakerState;
  readonly counts: Readonly<BreakerCounts>;
}

/** The gauge value of each state. */
export const breakerStateCode: Readonly<Record<BreakerState, number>> = { closed: 0, open: 1, 'half-open': 2 };

const RESULTS = ['success', 'failure', 'rejected'] as const;

/** The breakers of one registry, and what of their counts the counter already holds. */
class BreakerMetricsHub {
  private readonly breakers = new Map<MeteredBreaker, BreakerCounts>();
  private readonly state: Gauge<'breaker'>;
  private readonly calls: Counter<'breaker' | 'result'>;

  constructor(metrics: MetricsRegistry) {
    const flush = (): void => this.flush();
    const breakers = this.breakers;
    this.state = metrics.gauge('hive_breaker_state', 'Circuit breaker state (0 closed, 1 open, 2 half-open)', ['breaker'], function () {
      flush();
      for (const b of breakers.keys()) this.set({ breaker: b.name }, breakerStateCode[b.state]);
    });
    const name = 'hive_breaker_calls_total';
    const help = 'Calls through a circuit breaker, by result (success, failure, rejected while open)';
    this.calls =
      (metrics.registry.getSingleMetric(name) as Counter<'breaker' | 'result'> | undefined) ??
      new Counter<'breaker' | 'result'>({ name, help, labelNames: ['breaker', 'result'], registers: [metrics.registry], collect: flush });
  }

  add(b: MeteredBreaker): void {
    this.breakers.set(b, { success: b.counts.success, failure: b.counts.failure, rejected: b.counts.rejected });
    this.state.set({ breaker: b.name }, breakerStateCode[b.state]);
    for (const r of RESULTS) this.calls.inc({ breaker: b.name, result: r }, 0);
  }

  remove(b: MeteredBreaker): void {
    this.flushOne(b);
    this.breakers.delete(b);
    this.state.remove({ breaker: b.name });
  }

  /** Moves each breaker's new counts into the counter. */
  flush(): void {
    for (const b of this.breakers.keys()) this.flushOne(b);
  }

  private flushOne(b: MeteredBreaker): void {
    const seen = this.breakers.get(b);
    if (seen === undefined) return;
    for (const r of RESULTS) {
      const delta = b.counts[r] - seen[r];
      if (delta > 0) {
        this.calls.inc({ breaker: b.name, result: r }, delta);
        seen[r] = b.counts[r];
      }
    }
  }
}

const hubs = new WeakMap<MetricsRegistry, BreakerMetricsHub>();

/** Registers a breaker's metrics on `metrics`. @returns a function that unregisters it (after a last flush). */
export function registerBreakerMetrics(metrics: MetricsRegistry, breaker: MeteredBreaker): () => void {
  let hub = hubs.get(metrics);
  if (hub === undefined) {
    hub = new BreakerMetricsHub(metrics);
    hubs.set(metrics, hub);
  }
  const h = hub;
  h.add(breaker);
  return () => h.remove(breaker);
}
