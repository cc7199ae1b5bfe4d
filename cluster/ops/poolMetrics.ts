// Pool metrics, read from the pools' own counters at scrape time: size against target, busy slots,
// utilization, queue depth, breaker state, tasks by outcome and scaling decisions. Nothing on the task path
// changes: the pool managers keep their plain counters and this turns them into `hive_pool_*` series.
import { Counter } from 'prom-client';
import type { PoolStats } from '../../actors/pool/PoolManager.js';
import type { MetricsRegistry } from '../../runtime/metrics.js';

/** Breaker states as `hive_pool_breaker_state` values (the same coding as `hive_breaker_state`; -1 when off). */
export const poolBreakerValue: Readonly<Record<PoolStats['breaker'], number>> = { closed: 0, open: 1, 'half-open': 2, off: -1 };

/** Task outcomes exposed as `hive_pool_tasks_total{result}`, from the fields of {@link PoolStats}. */
const outcomes = [
  ['done', 'done'],
  ['failed', 'failed'],
  ['retried', 'retried'],
  ['dead_lettered', 'deadLettered'],
  ['deduplicated', 'deduplicated'],
] as const;

/**
 * Registers the `hive_pool_*` metrics of a node on `metrics`; `read` returns the pools' counters (it is
 * called once per scrape).
 */
export function registerPoolMetrics(metrics: MetricsRegistry, read: () => PoolStats[]): void {
  // one read per scrape: prom-client collects every metric in the same turn, so the read is kept until the next
  let cached: PoolStats[] | undefined;
  const stats = (): PoolStats[] => {
    if (cached === undefined) {
      cached = read();
      setImmediate(() => (cached = undefined));
    }
    return cached;
  };
  const gauge = (name: string, help: string, value: (s: PoolStats) => number) =>
    metrics.gauge(name, help, ['pool'], function () {
      this.reset();
      for (const s of stats()) this.set({ pool: s.pool }, value(s));
    });
  gauge('hive_pool_agents', 'Agents of the pool on this node', (s) => s.size);
  gauge('hive_pool_target_agents', 'Cluster-wide target size of the pool (what the autoscaler asks for)', (s) => s.target);
  gauge('hive_pool_busy', 'Tasks running on this node’s agents of the pool', (s) => s.busy);
  gauge('hive_pool_capacity', 'Task slots of this node’s agents of the pool', (s) => s.capacity);
  gauge('hive_pool_utilization', 'Busy slots / slots of the pool on this node (0..1)', (s) => s.utilization);
  gauge('hive_pool_queued', 'Tasks waiting in the pool’s durable queue (cluster-wide)', (s) => s.queued);
  gauge('hive_pool_breaker_state', 'State of the breaker around the pool’s handler (0 closed, 1 open, 2 half-open, -1 off)', (s) => poolBreakerValue[s.breaker]);

  // Counters grow by the difference since the last scrape (a pool created again starts from zero: its old
  // totals are kept, so the series never goes down).
  const seen = new Map<string, number>();
  const grow = (counter: Counter<string>, key: string, labels: Record<string, string>, now: number) => {
    const before = seen.get(key) ?? 0;
    if (now > before) counter.inc(labels, now - before);
    seen.set(key, now);
  };
  const tasksName = 'hive_pool_tasks_total';
  if (metrics.registry.getSingleMetric(tasksName) === undefined) {
    new Counter<string>({
      name: tasksName,
      help: 'Tasks of the pool handled on this node, by outcome (done, failed, retried, dead_lettered, deduplicated)',
      labelNames: ['pool', 'result'],
      registers: [metrics.registry],
      collect(this: Counter<string>) {
        for (const s of stats()) for (const [result, field] of outcomes) grow(this, `t\u0000${s.pool}\u0000${result}`, { pool: s.pool, result }, s[field]);
      },
    });
  }
  const lastDecision = new Map<string, number>();
  const decisionsName = 'hive_pool_scale_decisions_total';
  if (metrics.registry.getSingleMetric(decisionsName) === undefined) {
    new Counter<string>({
      name: decisionsName,
      help: 'Scaling decisions of the pool’s autoscaler (on the node that decides), by direction (up, down)',
      labelNames: ['pool', 'direction'],
      registers: [metrics.registry],
      collect(this: Counter<string>) {
        for (const s of stats()) {
          const after = lastDecision.get(s.pool) ?? -Infinity;
          for (const d of s.decisions) {
            if (d.at <= after) continue;
            this.inc({ pool: s.pool, direction: d.to > d.from ? 'up' : 'down' });
            lastDecision.set(s.pool, d.at);
          }
        }
      },
    });
  }
}
