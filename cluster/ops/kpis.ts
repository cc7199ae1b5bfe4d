// The seed report's KPIs as Hive measures them, each with its warning and critical thresholds. The dashboard
// colours each value against these, `ops/prometheus/hive-rules.yml` alerts on the same figures (keep them
// equal: a unit test compares the two), and the README's Operations section lists them.

/** One KPI and its alert thresholds. */
export interface KpiDefinition {
  /** Key in a node's `kpis` status section and in the dashboard. */
  readonly id: KpiId;
  readonly label: string;
  readonly unit: string;
  /** `above`: a higher value is worse; `below`: a lower value is worse. */
  readonly bad: 'above' | 'below';
  /** Warning and critical thresholds; undefined when the KPI is shown without an alert. */
  readonly warn?: number;
  readonly crit?: number;
  /** Where it comes from (Prometheus series or expression). */
  readonly source: string;
}

/** KPI keys. */
export type KpiId =
  | 'searchP95Ms'
  | 'ingestDocsPerS'
  | 'dbPoolUtilization'
  | 'cacheHitRate'
  | 'messageP95Ms'
  | 'compressionSavings'
  | 'breakersOpen'
  | 'memoryMb'
  | 'cpu'
  | 'scalingPerMin';

/**
 * The KPIs with Hive's thresholds. The seed's were sized for a Python service whose search p95 was 150 ms and
 * whose Redis hop took 8 ms; Hive's measured figures are one to two orders of magnitude lower (search p95 of
 * a few ms on PostgreSQL + pgvector, remote ask p95 well under 1 ms on loopback), so the latency thresholds
 * are lowered to stay meaningful; the memory thresholds are raised because a node with embedded PGlite
 * holds its database in process (about 250 MB on its own).
 */
export const KPIS: readonly KpiDefinition[] = [
  { id: 'searchP95Ms', label: 'search p95', unit: 'ms', bad: 'above', warn: 50, crit: 150, source: 'histogram_quantile(0.95, hive_memory_search_seconds)' },
  { id: 'ingestDocsPerS', label: 'ingestion', unit: 'docs/s', bad: 'below', source: 'rate(hive_memory_ingest_docs_total{result="inserted"})' },
  { id: 'dbPoolUtilization', label: 'db pool in use', unit: 'ratio', bad: 'above', warn: 0.85, crit: 0.95, source: 'hive_memory_db_connections (total - idle) / total' },
  { id: 'cacheHitRate', label: 'cache hit rate', unit: 'ratio', bad: 'below', source: 'hive_memory_cache_hit_ratio' },
  { id: 'messageP95Ms', label: 'message p95', unit: 'ms', bad: 'above', warn: 5, crit: 20, source: 'histogram_quantile(0.95, hive_ask_duration_seconds)' },
  { id: 'compressionSavings', label: 'compression savings', unit: 'ratio', bad: 'below', source: '1 - hive_frame_bytes{size="wire"} / hive_frame_bytes{size="raw"}' },
  { id: 'breakersOpen', label: 'breakers open', unit: '', bad: 'above', warn: 1, crit: 1, source: 'hive_breaker_state == 1, hive_pool_breaker_state == 1' },
  { id: 'memoryMb', label: 'memory (RSS)', unit: 'MB', bad: 'above', warn: 600, crit: 900, source: 'hive_process_resident_memory_bytes' },
  { id: 'cpu', label: 'CPU', unit: 'cores', bad: 'above', warn: 0.8, crit: 0.95, source: 'rate(hive_process_cpu_seconds_total)' },
  { id: 'scalingPerMin', label: 'scaling decisions', unit: '/min', bad: 'above', warn: 6, crit: 12, source: 'rate(hive_pool_scale_decisions_total) * 60' },
];

/** `ok`, `warn` or `crit` for `value` of KPI `def` (`ok` when it has no thresholds or no value). */
export function kpiLevel(def: KpiDefinition, value: number | null | undefined): 'ok' | 'warn' | 'crit' {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'ok';
  const worse = (limit: number | undefined) => limit !== undefined && (def.bad === 'above' ? value >= limit : value <= limit);
  if (worse(def.crit)) return 'crit';
  if (worse(def.warn)) return 'warn';
  return 'ok';
}
