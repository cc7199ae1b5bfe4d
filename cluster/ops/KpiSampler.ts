// Samples a node's KPIs from its own metrics registry every few seconds and keeps a short history, so that any
// node can show the cluster's KPIs and their trend: the samples travel in the node's status answer (section
// `kpis`) and the dashboard charts them. Percentiles are computed from the histogram buckets that grew during
// the interval (like Prometheus's `histogram_quantile` over a `rate`), not since start.
import type { Clock, TimerHandle } from '../../runtime/Clock.js';
import type { MetricsRegistry } from '../../runtime/metrics.js';
import type { KpiId } from './kpis.js';

/** One sample: epoch ms and a value per KPI (null when there was nothing to measure in the interval). */
export type KpiSample = { at: number } & Record<KpiId, number | null>;

/** Memory figures sampled with the KPIs (when the node runs memory and it is open). */
export interface MemorySample {
  documents: number;
  queued: number;
  breaker: string;
}

/** What the `kpis` status section holds. */
export interface KpiSection {
  intervalMs: number;
  /** Oldest first. */
  samples: KpiSample[];
  /** The last memory figures (absent on a node without memory). */
  memory?: MemorySample;
}

/** Sampler options. */
export interface KpiSamplerOptions {
  /** Time between samples (default 5000 ms). */
  intervalMs?: number;
  /** Samples kept (default 60: five minutes at the default interval). */
  keep?: number;
}

interface PromValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** Cumulative bucket counts of a histogram summed over its label sets, by upper bound. */
type Buckets = Map<number, number>;

/** Sums a histogram's `_bucket` values over label sets (optionally only those matching `only`). */
function bucketsOf(values: readonly PromValue[], only?: (labels: Record<string, string | number>) => boolean): Buckets {
  const b: Buckets = new Map();
  for (const v of values) {
    if (v.metricName === undefined || !v.metricName.endsWith('_bucket')) continue;
    if (only !== undefined && !only(v.labels)) continue;
    const le = v.labels['le'] === '+Inf' ? Infinity : Number(v.labels['le']);
    b.set(le, (b.get(le) ?? 0) + v.value);
  }
  return b;
}

/**
 * The `q` quantile of the observations between two cumulative bucket snapshots, interpolated linearly inside
 * the bucket as Prometheus does; null when nothing was observed in between.
 */
export function quantileBetween(before: Buckets | undefined, after: Buckets, q: number): number | null {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((le) => (after.get(le) ?? 0) - (before?.get(le) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (!(total > 0)) return null;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i] >= rank) {
      const upper = bounds[i];
      const lower = i === 0 ? 0 : bounds[i - 1];
      if (upper === Infinity) return lower;
      const below = i === 0 ? 0 : counts[i - 1];
      const inBucket = counts[i] - below;
      return inBucket <= 0 ? upper : lower + ((upper - lower) * (rank - below)) / inBucket;
    }
  }
  return bounds.length > 1 ? bounds[bounds.length - 2] : null;
}

interface Raw {
  at: number;
  search?: Buckets;
  ask?: Buckets;
  inserted: number;
  scaling: number;
  cpuMicros: number;
}

/** Samples KPIs on a timer; {@link section} is what the node puts in its status answer. */
export class KpiSampler {
  private readonly intervalMs: number;
  private readonly keep: number;
  private readonly samples: KpiSample[] = [];
  private last: Raw | undefined;
  private timer: TimerHandle | undefined;
  private running = false;
  private memory: MemorySample | undefined;

  constructor(
    private readonly deps: {
      metrics: MetricsRegistry;
      clock: Clock;
      onError?: (err: unknown) => void;
      /** Memory figures, read once per interval; undefined when the node has no open memory. */
      memory?: () => Promise<MemorySample | undefined>;
    },
    options: KpiSamplerOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 5000;
    this.keep = options.keep ?? 60;
  }

  /** Takes a first sample now and then one per interval. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.tick();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The samples so far (oldest first). */
  section(): KpiSection {
    const section: KpiSection = { intervalMs: this.intervalMs, samples: this.samples.slice() };
    if (this.memory !== undefined) section.memory = this.memory;
    return section;
  }

  private readonly tick = (): void => {
    this.sample().then(
      () => undefined,
      (err: unknown) => this.deps.onError?.(err),
    ).finally(() => {
      if (this.running) this.timer = this.deps.clock.setTimeout(this.tick, this.intervalMs);
    });
  };

  private async values(name: string): Promise<PromValue[]> {
    const m = this.deps.metrics.registry.getSingleMetric(name);
    if (m === undefined) return [];
    const got = (await m.get()) as { values: PromValue[] };
    return got.values;
  }

  private async sum(name: string, only?: (labels: Record<string, string | number>) => boolean): Promise<number> {
    let total = 0;
    for (const v of await this.values(name)) if (only === undefined || only(v.labels)) total += v.value;
    return total;
  }

  /** Takes one sample now (exposed for tests that drive the clock). */
  async sample(): Promise<KpiSample> {
    const at = this.deps.clock.now();
    const cpu = process.cpuUsage();
    const raw: Raw = {
      at,
      search: bucketsOf(await this.values('hive_memory_search_seconds')),
      ask: bucketsOf(await this.values('hive_ask_duration_seconds')),
      inserted: await this.sum('hive_memory_ingest_docs_total', (l) => l['result'] === 'inserted'),
      scaling: await this.sum('hive_pool_scale_decisions_total'),
      cpuMicros: cpu.user + cpu.system,
    };
    const prev = this.last;
    const dtS = prev === undefined ? 0 : (at - prev.at) / 1000;
    const rate = (now: number, before: number | undefined) => (dtS > 0 && before !== undefined ? Math.max(0, now - before) / dtS : null);

    const conns = await this.values('hive_memory_db_connections');
    const connOf = (state: string) => conns.filter((v) => v.labels['state'] === state).reduce((a, v) => a + v.value, 0);
    const connTotal = connOf('total');
    const frames = await this.values('hive_frame_bytes');
    const bytesOf = (size: string) => frames.filter((v) => v.labels['size'] === size).reduce((a, v) => a + v.value, 0);
    const raws = bytesOf('raw');
    const hit = await this.values('hive_memory_cache_hit_ratio');
    const breakers = (await this.values('hive_breaker_state')).filter((v) => v.value === 1).length + (await this.values('hive_pool_breaker_state')).filter((v) => v.value === 1).length;
    const p95 = (before: Buckets | undefined, after: Buckets | undefined) => {
      if (after === undefined || after.size === 0) return null;
      const s = quantileBetween(before, after, 0.95);
      return s === null ? null : s * 1000;
    };
    const cpuRate = rate(raw.cpuMicros / 1e6, prev === undefined ? undefined : prev.cpuMicros / 1e6);
    const sample: KpiSample = {
      at,
      searchP95Ms: p95(prev?.search, raw.search),
      ingestDocsPerS: rate(raw.inserted, prev?.inserted),
      dbPoolUtilization: connTotal > 0 ? (connTotal - connOf('idle')) / connTotal : null,
      cacheHitRate: hit.length > 0 ? hit[0].value : null,
      messageP95Ms: p95(prev?.ask, raw.ask),
      compressionSavings: raws > 0 ? 1 - bytesOf('wire') / raws : null,
      breakersOpen: breakers,
      memoryMb: process.memoryUsage().rss / (1024 * 1024),
      cpu: cpuRate,
      scalingPerMin: (() => {
        const r = rate(raw.scaling, prev?.scaling);
        return r === null ? null : r * 60;
      })(),
    };
    if (this.deps.memory !== undefined) {
      try {
        this.memory = await this.deps.memory();
      } catch (err) {
        this.deps.onError?.(err);
      }
    }
    this.last = raw;
    this.samples.push(sample);
    if (this.samples.length > this.keep) this.samples.shift();
    return sample;
  }
}
