// The node's prom-client registry: one per node, labelled with cluster and node. Every component registers
// its own `hive_*` metrics here as it is built; hot paths update cheap counters and gauges are read at scrape.
// Per-message latencies go to a {@link LatencyHistogram}: exposed like a prom-client Histogram, but observing
// is a few array writes (prom-client's `observe` costs about 0.3 µs: it rebuilds the label-set hash and turns
// the bucket bound into a string key on every call).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';

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
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'hive_' }); // hive_process_cpu_seconds_total, hive_process_resident_memory_bytes, hive_nodejs_*
  }

  /** A counter named `name`, created on first use. */
  counter<L extends string = string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return (this.registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter<L>({ name, help, labelNames, registers: [this.registry] });
  }

  /** A gauge named `name`, created on first use; `collect` runs at scrape time (it may be async). */
  gauge<L extends string = string>(name: string, help: string, labelNames: readonly L[] = [], collect?: (this: Gauge<L>) => void | Promise<void>): Gauge<L> {
    const existing = this.registry.getSingleMetric(name) as Gauge<L> | undefined;
    if (existing) return existing;
    return new Gauge<L>(collect ? { name, help, labelNames, registers: [this.registry], collect } : { name, help, labelNames, registers: [this.registry] });
  }

  /** A histogram named `name` (seconds, {@link latencyBuckets} by default), created on first use. */
  histogram<L extends string = string>(name: string, help: string, labelNames: readonly L[] = [], buckets: number[] = latencyBuckets): Histogram<L> {
    return (this.registry.getSingleMetric(name) as Histogram<L> | undefined) ?? new Histogram<L>({ name, help, labelNames, buckets, registers: [this.registry] });
  }

  /**
   * A {@link LatencyHistogram} named `name` (seconds, {@link latencyBuckets} by default), created on first use,
   * for hot paths. Scraped like a prom-client Histogram.
   */
  latencyHistogram<L extends string = string>(name: string, help: string, labelNames: readonly L[] = [], buckets: readonly number[] = latencyBuckets): LatencyHistogram<L> {
    const existing: unknown = this.registry.getSingleMetric(name);
    if (existing instanceof LatencyHistogram) return existing as LatencyHistogram<L>;
    const h = new LatencyHistogram<L>(name, help, labelNames, buckets);
    this.registry.registerMetric(h as unknown as Metric);
    return h;
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** One exposed value, in prom-client's metric protocol. */
interface ExposedValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/** What `get()` returns, in prom-client's metric protocol. */
interface ExposedMetric {
  name: string;
  help: string;
  type: 'histogram';
  values: ExposedValue[];
  aggregator: 'sum';
}

/** One label set of a {@link LatencyHistogram}: counts per bucket, sum and count. */
export class LatencyRecorder {
  /** Count per bucket (not cumulative); the last slot counts values above every bound (+Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    private readonly bounds: Float64Array,
    readonly labels: Readonly<Record<string, string>>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Records one value (seconds). Non-finite values are ignored. */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

/**
 * A histogram for hot paths, registered in the prom-client Registry as a custom metric. `labels(...values)`
 * returns a {@link LatencyRecorder}: keep it, observing through it allocates nothing. Exposed exactly like a
 * prom-client Histogram: `<name>_bucket` with cumulative `le` buckets and `+Inf`, `<name>_sum`, `<name>_count`.
 */
export class LatencyHistogram<L extends string = string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: Float64Array;
  private readonly children = new Map<string, LatencyRecorder>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
    buckets: readonly number[],
  ) {
    this.bounds = Float64Array.from([...buckets].sort((a, b) => a - b));
  }

  /** The recorder of one label set (values in the order of `labelNames`). */
  labels(...values: string[]): LatencyRecorder {
    if (values.length !== this.labelNames.length) {
      throw new Error(`histogram ${this.name} takes ${this.labelNames.length} label value(s) (${this.labelNames.join(', ')}), got ${values.length}`);
    }
    const key = values.join('\u0000');
    let r = this.children.get(key);
    if (r === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]));
      r = new LatencyRecorder(this.bounds, labels);
      this.children.set(key, r);
    }
    return r;
  }

  /** prom-client's metric protocol: the values to expose. */
  get(): Promise<ExposedMetric> {
    const values: ExposedValue[] = [];
    for (const r of this.children.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += r.counts[i];
        values.push({ labels: { ...r.labels, le: this.bounds[i] }, value: acc, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { ...r.labels, le: '+Inf' }, value: r.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...r.labels }, value: r.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...r.labels }, value: r.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' });
  }

  /** prom-client's metric protocol: zero every label set. */
  reset(): void {
    for (const r of this.children.values()) {
      r.counts.fill(0);
      r.sum = 0;
      r.count = 0;
    }
  }
}
