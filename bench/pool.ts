// Pool load test (the seed report's): 50 concurrent submitters against a pool on two node processes, durable queue on; tasks/s and p50/p95, vs direct asks to agent actors.
//
// Usage: npm run bench -- pool [--submitters=50] [--duration=ms] [--warmup=ms] [--url=nats://127.0.0.1:4222]
//
// What runs: two child node processes (bench/support/poolNode.ts) on one nats-server, each hosting half of
// the `bench` pool (8 agents x 4 concurrent tasks per node) and 8 plain actors doing the same work. This
// process joins the cluster as a client node and keeps `--submitters` submissions in flight:
//   hive pool      pool.submit: JetStream publish (de-duplicated by task id), a node pulls it, the balancer
//                  picks an agent, the agent runs it, the result is stored by id, acknowledged, and the
//                  outcome published back. Nothing is lost if a node dies (see test/e2e/pool.test.ts).
//   direct ask     the baseline without durability: ask a plain actor on one of the nodes (round robin)
//                  that does the same work and replies.
// The work per task: four SHA-256 hashes of 4 KB (tens of µs). Writes bench/results/pool.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hive } from '../cluster/Hive.js';
import { silentLogger } from '../runtime/logger.js';
import { deleteClusterStreams, probeNats, requireService } from '../test/support/services.js';
import { numberArg, parseArgs, percentile, printTable, round, writeResults } from './util.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Starts a benchmark node process and resolves once it prints "ready". */
export async function startBenchNode(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'support', 'poolNode.ts'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`bench node exited with ${code}`)));
  });
  return child;
}

/** Stops benchmark node processes. */
export async function stopBenchNodes(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null) return r();
          const t = setTimeout(() => c.kill('SIGKILL'), 5000);
          c.once('exit', () => {
            clearTimeout(t);
            r();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
}

/** What one closed-loop run measured (latencies in ms). */
interface Load {
  perSec: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
}

/** Keeps `inflight` calls going: `warmupMs` unmeasured, then `durationMs` measured, timing every call. */
async function closedLoop(send: () => Promise<unknown>, inflight: number, warmupMs: number, durationMs: number): Promise<Load> {
  const start = performance.now() + warmupMs;
  const end = start + durationMs;
  const latencies: number[] = [];
  let errors = 0;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      for (;;) {
        const t0 = performance.now();
        if (t0 >= end) return;
        try {
          await send();
        } catch {
          if (t0 >= start) errors++;
          continue;
        }
        const t1 = performance.now();
        if (t0 >= start && t1 <= end) latencies.push(t1 - t0);
      }
    }),
  );
  return { perSec: latencies.length / (durationMs / 1000), p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99), errors };
}

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const url = args.get('url') ?? 'nats://127.0.0.1:4222';
  requireService(await probeNats(url));
  const submitters = numberArg(args, 'submitters', 50);
  const durationMs = numberArg(args, 'duration', 5000);
  const warmupMs = numberArg(args, 'warmup', 1500);
  const cluster = `bench_pool_${process.pid}`;
  const children: ChildProcess[] = [];
  const cleanup = () => children.forEach((c) => c.kill('SIGKILL'));
  process.once('SIGINT', cleanup);
  let client: Hive | undefined;
  try {
    for (const id of ['n1', 'n2']) children.push(await startBenchNode([url, cluster, id, '8', '4']));
    client = await Hive.start({ cluster, nodeId: 'client', nats: url, env: false, logger: silentLogger(), heartbeatMs: 250, failureAfterMs: 2000 });
    for (let i = 0; i < 100 && client.members().filter((m) => m.pools?.includes('bench')).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    const c = client;
    let n = 0;
    const pool = await closedLoop(() => c.submit('bench', { n: n++ }, { timeoutMs: 30_000 }), submitters, warmupMs, durationMs);
    const targets = ['n1', 'n2'].flatMap((node) => Array.from({ length: 8 }, (_, i) => c.ref(`bench-agent-${node}-${i}`)));
    let k = 0;
    const direct = await closedLoop(() => targets[k++ % targets.length].ask({ type: 'work', n: k }), submitters, warmupMs, durationMs);
    const row = (name: string, r: Load) => [name, r.perSec, r.p50, r.p95, r.p99, r.errors];
    console.log(`\npool load test: ${submitters} concurrent submitters, 2 node processes, 16 agents x 4 slots, durable queue on\n`);
    printTable(['path', 'tasks/s', 'p50 ms', 'p95 ms', 'p99 ms', 'errors'], [row('hive pool (durable)', pool), row('direct ask (no durability)', direct)]);
    const file = writeResults('pool', {
      submitters,
      nodes: 2,
      agents: 16,
      concurrency_per_agent: 4,
      tasks_per_s: round(pool.perSec, 1),
      p50_ms: round(pool.p50),
      p95_ms: round(pool.p95),
      p99_ms: round(pool.p99),
      errors: pool.errors,
      baseline_direct_ask: { tasks_per_s: round(direct.perSec, 1), p50_ms: round(direct.p50), p95_ms: round(direct.p95), p99_ms: round(direct.p99) },
      ratios: { pool_vs_direct_ask: round(pool.perSec / direct.perSec) },
      seed_report: { decision_ms: 45, decisions_per_s: 89 },
    });
    console.log(`\nwrote ${file}`);
  } finally {
    await client?.stop();
    await stopBenchNodes(children);
    await deleteClusterStreams(url, cluster).catch(() => undefined);
    process.off('SIGINT', cleanup);
  }
}
