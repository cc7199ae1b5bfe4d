// The node's prom-client registry: one per node, labelled with cluster and node. Every component registers
// its own `hive_*` metrics here as it is built; hot paths update cheap counters and gauges are read at scrape.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Latency buckets in seconds, from 20 µs to 10 s. */
export const latencyBuckets = [
  0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** One node's metrics registry plus helpers that create-or-reuse `hive_*` metrics. */
export class MetricsRegistry {
  /** The prom-client registry (scrape it with `registry.metrics()`). */
  readonly registry: Registry;

  constructor(labels: { cluster: string; node: string }, options: { processMetrics?: boolean } = {}) {
    this.registry = new Registry();
    this.registry.setDefaultLabels(labels);
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'hive_process_' });
  }

  /** A counter named `name`, created on first use. */
  counter<L extends string = string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return (this.registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter<L>({ name, help, labelNames, registers: [this.registry] });
  }

  /** A gauge named `name`, created on first use; `collect` runs at scrape time. */
  gauge<L extends string = string>(name: string, help: string, labelNames: readonly L[] = [], collect?: (this: Gauge<L>) => void): Gauge<L> {
    const existing = this.registry.getSingleMetric(name) as Gauge<L> | undefined;
    if (existing) return existing;
    return new Gauge<L>(collect ? { name, help, labelNames, registers: [this.registry], collect } : { name, help, labelNames, registers: [this.registry] });
  }

  /** A histogram named `name` (seconds, {@link latencyBuckets} by default), created on first use. */
  histogram<L extends string = string>(name: string, help: string, labelNames: readonly L[] = [], buckets: number[] = latencyBuckets): Histogram<L> {
    return (this.registry.getSingleMetric(name) as Histogram<L> | undefined) ?? new Histogram<L>({ name, help, labelNames, buckets, registers: [this.registry] });
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
