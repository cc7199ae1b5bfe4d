// The operator files against real tools: the alert rules pass `promtool check rules` and carry the same
// thresholds as the dashboard; every series the Grafana dashboard and the rules query is one Hive exports; and
// a real Prometheus (Debian's package, on a random port) scrapes two nodes: `up == 1` for both, and Hive KPIs
// that moved after real traffic (pool tasks done, remote asks), with the rules file loaded and healthy.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { echoMachine } from '../../../actors/echo.js';
import { Hive } from '../../../cluster/Hive.js';
import { NodeHttp } from '../../../cluster/ops/NodeHttp.js';
import { KPIS } from '../../../cluster/ops/kpis.js';
import { silentLogger } from '../../../runtime/logger.js';
import { repoRoot } from '../../support/hiveProcess.js';
import { NATS_URL, deleteClusterStreams, freePort, natsAvailable, prometheusAvailable, uniqueName } from '../../support/services.js';

const rulesFile = join(repoRoot, 'ops', 'prometheus', 'hive-rules.yml');
const grafanaFile = join(repoRoot, 'ops', 'grafana', 'hive-dashboard.json');
const hasPrometheus = prometheusAvailable();
const hasNats = hasPrometheus && (await natsAvailable());

/** Alert rules as (name, severity, kpi, threshold): the number after the last comparison of each expression. */
function alertRules(): Array<{ alert: string; severity: string; kpi: string | undefined; threshold: number | undefined; expr: string }> {
  const text = readFileSync(rulesFile, 'utf8');
  const out = [];
  for (const block of text.split(/\n\s*- alert: /).slice(1)) {
    const alert = block.split('\n')[0].trim();
    const expr = /expr: (.+)/.exec(block)?.[1] ?? '';
    const severity = /severity: (\w+)/.exec(block)?.[1] ?? '';
    const kpi = /kpi: (\w+)/.exec(block)?.[1];
    const m = /(?:>|>=)\s*([\d.]+)\s*$/.exec(expr);
    out.push({ alert, severity, kpi, threshold: m === null ? undefined : Number(m[1]), expr });
  }
  return out;
}

/** Every `hive_*` / `hive:*` series name in `text`, without histogram suffixes. */
function seriesIn(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/\bhive[_:][a-z0-9_:]+/g)) names.add(m[0].replace(/_(bucket|sum|count)$/, ''));
  return names;
}

/** Every metric name registered in the sources (string literals `'hive_...'`). */
function registeredInSources(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) for (const m of readFileSync(p, 'utf8').matchAll(/'(hive_[a-z0-9_]+)'/g)) names.add(m[1]);
    }
  };
  for (const d of ['actors', 'cluster', 'runtime']) walk(join(repoRoot, d));
  return names;
}

describe('alert rules and Grafana dashboard files', () => {
  it('alerts on the same thresholds as the dashboard, for every KPI that has one', () => {
    const rules = alertRules();
    for (const def of KPIS) {
      if (def.crit === undefined) continue;
      const mine = rules.filter((r) => r.kpi === def.id);
      expect(mine.length, def.id).toBeGreaterThan(0);
      const crit = mine.find((r) => r.severity === 'critical');
      expect(crit?.threshold === def.crit || (crit?.threshold === 1 && crit.expr.includes('>=')), `${def.id} critical`).toBe(true);
      if (def.warn !== def.crit) expect(mine.find((r) => r.severity === 'warning')?.threshold, `${def.id} warning`).toBe(def.warn);
    }
  });

  it('queries only series Hive exports (or the rules record)', async () => {
    const known = registeredInSources();
    const recorded = new Set([...readFileSync(rulesFile, 'utf8').matchAll(/record: (\S+)/g)].map((m) => m[1]));
    // process metrics come from prom-client's defaults: read them off a live node
    const hive = await Hive.start({ cluster: uniqueName('names'), nodeId: 'n', env: false, logger: silentLogger() });
    const live = seriesIn(await hive.metrics.text());
    await hive.stop();
    const grafana = JSON.parse(readFileSync(grafanaFile, 'utf8')) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
    const exprs = grafana.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
    expect(exprs.length).toBeGreaterThan(100);
    for (const name of [...seriesIn(exprs), ...seriesIn(readFileSync(rulesFile, 'utf8'))]) {
      expect(known.has(name) || recorded.has(name) || live.has(name), name).toBe(true);
    }
  });

  it.skipIf(!hasPrometheus)('passes promtool check rules', () => {
    const r = spawnSync('promtool', ['check', 'rules', rulesFile], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });
});

describe.skipIf(!hasNats)('a real Prometheus scraping two nodes', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });
  afterAll(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  async function query(base: string, promql: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
    const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    return body.status === 'success' ? body.data.result : [];
  }

  async function until<T>(what: string, probe: () => Promise<T | undefined>, limitMs = 45_000): Promise<T> {
    const end = Date.now() + limitMs;
    for (;;) {
      const v = await probe().catch(() => undefined);
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  it('reads up == 1 for both nodes and KPIs that moved after real traffic', async () => {
    const cluster = uniqueName('prom');
    cleanups.push(() => deleteClusterStreams(NATS_URL, cluster));
    const nodes: Array<{ hive: Hive; http: NodeHttp }> = [];
    for (const nodeId of ['p1', 'p2']) {
      const hive = await Hive.start({ cluster, nodeId, nats: NATS_URL, env: false, logger: silentLogger(), heartbeatMs: 100, failureAfterMs: 1500 });
      const http = await NodeHttp.start(hive, { host: '127.0.0.1', port: 0, fallback: false });
      cleanups.push(async () => {
        await http.close();
        await hive.stop();
      });
      await hive.pool<{ n: number }, number>('squares', { agent: async (t) => t.n * t.n, min: 2, max: 2 });
      nodes.push({ hive, http });
    }
    const dir = mkdtempSync(join(tmpdir(), 'hive-prom-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'hive-rules.yml'), readFileSync(rulesFile));
    const targets = nodes.map((n) => `'127.0.0.1:${n.http.port}'`).join(', ');
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['hive-rules.yml']\nscrape_configs:\n  - job_name: hive\n    static_configs:\n      - targets: [${targets}]\n`,
    );
    const port = await freePort();
    const prom: ChildProcess = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          if (prom.exitCode !== null || prom.signalCode !== null) return resolve();
          prom.once('exit', () => resolve());
          prom.kill('SIGTERM');
        }),
    );
    const base = `http://127.0.0.1:${port}`;

    const up = await until('up == 1 for both nodes', async () => {
      const r = await query(base, 'up{job="hive"} == 1');
      return r.length === 2 ? r : undefined;
    });
    expect(up.map((r) => r.metric['node'] ?? r.metric['instance']).length).toBe(2);

    // real traffic: tasks through the pool from both nodes, remote asks between them
    await nodes[1].hive.spawn(echoMachine, { id: 'echo-p2' });
    for (let i = 0; i < 20; i++) expect(await nodes[i % 2].hive.submit('squares', { n: i })).toBe(i * i);
    for (let i = 0; i < 20; i++) expect(await nodes[0].hive.ref('echo-p2').ask({ type: 'ping' })).toEqual({ type: 'pong' });

    const done = await until('20 tasks done in Prometheus', async () => {
      const r = await query(base, `sum(hive_pool_tasks_total{job="hive",cluster="${cluster}",result="done"})`);
      return r.length === 1 && Number(r[0].value[1]) >= 20 ? Number(r[0].value[1]) : undefined;
    });
    expect(done).toBeGreaterThanOrEqual(20);
    const asks = await until('remote asks in Prometheus', async () => {
      const r = await query(base, `sum(hive_ask_duration_seconds_count{cluster="${cluster}",node="p1",target="remote"})`);
      return r.length === 1 && Number(r[0].value[1]) >= 20 ? Number(r[0].value[1]) : undefined;
    });
    expect(asks).toBeGreaterThanOrEqual(20);
    // the percentile a KPI alerts on is computable from the histogram
    const p95 = await until('ask p95 from the histogram', async () => {
      const r = await query(base, `histogram_quantile(0.95, sum by (le) (hive_ask_duration_seconds_bucket{cluster="${cluster}",node="p1",target="remote"}))`);
      return r.length === 1 && Number.isFinite(Number(r[0].value[1])) ? Number(r[0].value[1]) : undefined;
    });
    expect(p95).toBeGreaterThan(0);

    const rules = (await (await fetch(`${base}/api/v1/rules`)).json()) as { data: { groups: Array<{ name: string; rules: Array<{ health: string; name: string }> }> } };
    expect(rules.data.groups.map((g) => g.name).sort()).toEqual(['hive.alerts', 'hive.recording']);
    const unhealthy = await until('rules evaluated without error', async () => {
      const r = (await (await fetch(`${base}/api/v1/rules`)).json()) as typeof rules;
      const all = r.data.groups.flatMap((g) => g.rules);
      return all.every((x) => x.health !== 'unknown') ? all.filter((x) => x.health !== 'ok').map((x) => x.name) : undefined;
    });
    expect(unhealthy).toEqual([]);
  }, 120_000);
});
