// Balancer benchmark: decisions per second of each strategy over 100 and 10,000 agents, in process, with load/latency updates interleaved.
//
// Usage: npm run bench -- balancer [--duration=ms] [--rounds=n]
//   --duration  measured time per case per round (default 500 ms, after a 200 ms warm-up)
//   --rounds    rounds; the median round counts (default 3)
//
// Each agent has a random weight (1-10), capacity 16 and latency EWMA (1-50 ms). One measured operation is
// one decision `pick(key)` plus one `update(agent, { load, latencyEwmaMs })` of a random agent, as a pool
// sends after every task (loads drawn from 0-16, so about one update in 17 fills an agent and takes it out
// of the available set). Keys are 4,096 conversation ids (used by consistent-hash, ignored by the others).
// The "pick only" column has no updates. The headline `decisions_per_s.<strategy>` is the 10,000-agent
// figure with updates: the pool machine's dispatch calls these very strategies from its actions.
// Writes bench/results/balancer.json.
import { availableParallelism, loadavg } from 'node:os';
import { createStrategy } from '../actors/balancer/createStrategy.js';
import { strategyNames, type Strategy, type StrategyName } from '../actors/balancer/Strategy.js';
import { measure, median, numberArg, parseArgs, printTable, rng, round, writeResults } from './util.js';

const SIZES = [100, 10_000] as const;
const TARGET = 1_000_000;
const TARGETED: readonly StrategyName[] = ['round-robin', 'weighted', 'p2c'];
const OPS = 1 << 16;
const KEYS = Array.from({ length: 4096 }, (_, i) => `conversation-${i}`);

interface Fixture {
  ids: string[];
  updId: string[];
  updLoad: Float64Array;
  updLat: Float64Array;
}

function fixture(n: number, seed: number): Fixture {
  const next = rng(seed);
  const ids = Array.from({ length: n }, (_, i) => `agent-${i.toString(36)}-${Math.floor(next() * 1e6).toString(36)}`);
  const updId: string[] = [];
  const updLoad = new Float64Array(OPS);
  const updLat = new Float64Array(OPS);
  for (let i = 0; i < OPS; i++) {
    updId.push(ids[Math.floor(next() * n)]);
    updLoad[i] = Math.floor(next() * 17);
    updLat[i] = 1 + next() * 49;
  }
  return { ids, updId, updLoad, updLat };
}

function build(name: StrategyName, fx: Fixture, seed: number): { strategy: Strategy; buildMs: number } {
  const next = rng(seed);
  const t0 = performance.now();
  const strategy = createStrategy(name);
  for (const id of fx.ids) strategy.add({ id, weight: 1 + Math.floor(next() * 10), capacity: 16, load: Math.floor(next() * 16), latencyEwmaMs: 1 + next() * 49 });
  strategy.pick('warm'); // lazy tables (alias table, ring) are built here
  return { strategy, buildMs: performance.now() - t0 };
}

function withUpdates(s: Strategy, fx: Fixture): () => unknown {
  let i = 0;
  const { updId, updLoad, updLat } = fx;
  return () => {
    const j = i++ & (OPS - 1);
    const picked = s.pick(KEYS[j & 4095]);
    s.update(updId[j], { load: updLoad[j], latencyEwmaMs: updLat[j] });
    return picked;
  };
}

function pickOnly(s: Strategy): () => unknown {
  let i = 0;
  return () => s.pick(KEYS[i++ & 4095]);
}

interface Row {
  strategy: string;
  agents: number;
  withUpdates: number[];
  pickOnly: number[];
  buildMs: number;
}

/** Runs the benchmark. */
export async function run(argv: string[]): Promise<unknown> {
  const args = parseArgs(argv);
  const durationMs = numberArg(args, 'duration', 500);
  const rounds = numberArg(args, 'rounds', 3);
  const opts = { warmupMs: 200, durationMs };
  const loadBefore = loadavg()[0];

  const rows: Row[] = [];
  const fixtures = new Map(SIZES.map((n) => [n, fixture(n, 0xba1 + n)]));
  const strategies = new Map<string, { strategy: Strategy; buildMs: number }>();
  for (const name of strategyNames) for (const n of SIZES) {
    strategies.set(`${name}/${n}`, build(name, fixtures.get(n)!, 0x5eed + n));
    rows.push({ strategy: name, agents: n, withUpdates: [], pickOnly: [], buildMs: strategies.get(`${name}/${n}`)!.buildMs });
  }
  for (let r = 0; r < rounds; r++) {
    // Alternate the order between rounds so no strategy always runs first.
    const order = r % 2 === 0 ? rows : [...rows].reverse();
    for (const row of order) {
      const { strategy } = strategies.get(`${row.strategy}/${row.agents}`)!;
      row.withUpdates.push(measure(withUpdates(strategy, fixtures.get(row.agents as 100 | 10_000)!), opts).opsPerSec);
      row.pickOnly.push(measure(pickOnly(strategy), opts).opsPerSec);
    }
  }

  const table = rows.map((row) => {
    const up = median(row.withUpdates);
    const only = median(row.pickOnly);
    return [row.strategy, row.agents, Math.round(up), round(1e9 / up, 1), Math.round(only), round(row.buildMs, 1)] as Array<string | number>;
  });
  console.log(`\nBalancer decisions per second (median of ${rounds} rounds of ${durationMs} ms; one decision + one load/latency update per operation)\n`);
  printTable(['strategy', 'agents', 'decisions/s (with updates)', 'ns/decision', 'decisions/s (pick only)', 'build ms'], table);
  const headline: Record<string, number> = {};
  const detail: Record<string, unknown> = {};
  for (const row of rows) {
    const up = Math.round(median(row.withUpdates));
    if (row.agents === 10_000) headline[row.strategy] = up;
    const d = (detail[row.strategy] ??= {}) as Record<string, unknown>;
    d[`agents_${row.agents}`] = { decisions_per_s_with_updates: up, decisions_per_s_pick_only: Math.round(median(row.pickOnly)), build_ms: round(row.buildMs, 1) };
  }
  const targets = Object.fromEntries(TARGETED.map((s) => [s, { target: TARGET, measured: headline[s], met: headline[s] >= TARGET }]));
  console.log('');
  printTable(
    ['target (10,000 agents, with updates)', 'measured', 'met'],
    TARGETED.map((s) => [`${s} >= ${TARGET.toLocaleString('en-US')}/s`, headline[s], headline[s] >= TARGET ? 'yes' : 'NO']),
  );
  const path = writeResults('balancer', {
    settings: { durationMs, rounds, agents: SIZES, capacity: 16, updatesPerDecision: 1, keys: KEYS.length },
    // Other processes share this machine: the 1-minute load average before and after the run.
    load_average: { before: round(loadBefore, 2), after: round(loadavg()[0], 2), cores: availableParallelism() },
    decisions_per_s: headline,
    by_size: detail,
    seed_report: { decisions_per_s: 89, decision_ms: 45 },
    targets,
  });
  console.log(`\nwrote ${path}`);
  return headline;
}
