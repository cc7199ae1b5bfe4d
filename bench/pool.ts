// Pool load test (the seed report's): 50 concurrent submitters against a pool on two node processes, durable
// queue on; tasks/s and p50/p95, against BullMQ on Redis doing the same work with the same concurrency, and
// against direct asks to agent actors (no durability), in one run.
//
// Usage: npm run bench -- pool [--submitters=50] [--duration=ms] [--warmup=ms] [--rounds=2]
//                              [--url=nats://127.0.0.1:4222 | --own-nats] [--redis=redis://127.0.0.1:6379]
//   --own-nats  start a private nats-server (JetStream, temporary store) for the run: on a machine whose shared
//               nats-server carries other work, as Redis here carries none, so both sides get a broker of their own
//
// What runs: two child node processes (bench/support/poolNode.ts) on one nats-server, each hosting half of
// the `bench` pool (8 agents x 4 concurrent tasks per node) and 8 plain actors doing the same work. This
// process joins the cluster as a client node and keeps `--submitters` submissions in flight:
//   hive pool      pool.submit: JetStream publish (de-duplicated by task id), a node pulls it, the balancer
//                  picks an agent, the agent runs it, the result is stored by id, acknowledged, and the
//                  outcome published back. Nothing is lost if a node dies (see test/e2e/pool.test.ts).
//   bullmq         the baseline most Node users pick: two worker processes (bench/support/bullmqNode.ts),
//                  each a BullMQ Worker with concurrency 32 (= 8 agents x 4 slots), on the local Redis; this
//                  process adds each job (`Queue.add`, bounded `removeOnComplete`) and waits for its result
//                  (`job.waitUntilFinished` over `QueueEvents`).
//   direct ask     the baseline without durability: ask a plain actor on one of the nodes (round robin)
//                  that does the same work and replies.
// Hive and BullMQ alternate over `--rounds` rounds (the median round counts), so a load spike on this
// shared machine does not land on one side only. CPU ms per task: user+system CPU of this process and the
// two worker processes over the measured window (the brokers, nats-server and redis-server, not counted).
// The work per task: four SHA-256 hashes of 4 KB (tens of µs). Writes bench/results/pool.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import { Hive } from '../cluster/Hive.js';
import { silentLogger } from '../runtime/logger.js';
import { deleteClusterStreams, probeNats, requireService, startNatsServer, type OwnNatsServer } from '../test/support/services.js';
import { numberArg, parseArgs, percentile, printTable, round, writeResults } from './util.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Starts a benchmark node process (`script` under bench/support, default the Hive pool node) and resolves once it prints "ready". */
export async function startBenchNode(args: string[], script = 'poolNode.ts'): Promise<ChildProcess> {
  // HIVE_BENCH_CPU_PROF=<dir>: each node process writes a V8 CPU profile there when it stops
  const prof = process.env['HIVE_BENCH_CPU_PROF'];
  const flags = prof === undefined || prof === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}`];
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', join(here, 'support', script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
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
  /** CPU ms per completed task, this process and the worker processes. */
  cpuMsPerTask: number;
}

/** User+system CPU ms of a child process so far (Linux /proc; 0 when unreadable). */
function childCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // utime and stime are fields 14 and 15 of the line (11 and 12 after the command name), in clock ticks (100/s)
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** CPU ms used so far by this process and `children`. */
function cpuMs(children: readonly ChildProcess[]): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000 + children.reduce((a, c) => a + childCpuMs(c.pid), 0);
}

/** Undefined when Redis answers PING at `url`, else what is missing. */
export async function probeRedis(url: string): Promise<string | undefined> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 6379) });
    const done = (missing: string | undefined) => {
      socket.destroy();
      resolve(missing);
    };
    socket.setTimeout(1000, () => done(`Redis at ${url} (no answer)`));
    socket.once('error', (err) => done(`Redis at ${url} (${err.message})`));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(d.toString().startsWith('+PONG') ? undefined : `Redis at ${url} (answered ${JSON.stringify(d.toString().slice(0, 40))})`));
  });
}

/** Keeps `inflight` calls going: `warmupMs` unmeasured, then `durationMs` measured, timing every call. */
async function closedLoop(send: () => Promise<unknown>, inflight: number, warmupMs: number, durationMs: number, workers: readonly ChildProcess[] = []): Promise<Load> {
  const start = performance.now() + warmupMs;
  const end = start + durationMs;
  const latencies: number[] = [];
  let errors = 0;
  let cpuStart = 0;
  let cpuEnd = 0;
  const marks = [
    setTimeout(() => (cpuStart = cpuMs(workers)), warmupMs),
    setTimeout(() => (cpuEnd = cpuMs(workers)), warmupMs + durationMs),
  ];
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
  marks.forEach(clearTimeout);
  if (cpuEnd === 0) cpuEnd = cpuMs(workers);
  return { perSec: latencies.length / (durationMs / 1000), p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99), errors, cpuMsPerTask: latencies.length === 0 ? 0 : (cpuEnd - cpuStart) / latencies.length };
}

/** The median round of several (by tasks/s). */
function medianRound(rounds: Load[]): Load {
  const sorted = [...rounds].sort((a, b) => a.perSec - b.perSec);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  let ownNats: OwnNatsServer | undefined;
  if (args.has('own-nats')) ownNats = await startNatsServer();
  const url = ownNats?.url ?? args.get('url') ?? 'nats://127.0.0.1:4222';
  const redisUrl = args.get('redis') ?? 'redis://127.0.0.1:6379';
  requireService(await probeNats(url));
  const submitters = numberArg(args, 'submitters', 50);
  const durationMs = numberArg(args, 'duration', 5000);
  const warmupMs = numberArg(args, 'warmup', 1500);
  const rounds = numberArg(args, 'rounds', 2);
  const cluster = `bench_pool_${process.pid}`;
  const queueName = `bench-pool-${process.pid}`;
  const redisMissing = await probeRedis(redisUrl);
  if (redisMissing !== undefined) console.log(`skipping the BullMQ row: ${redisMissing} is not available`);
  const children: ChildProcess[] = [];
  const bullWorkers: ChildProcess[] = [];
  const cleanup = () => [...children, ...bullWorkers].forEach((c) => c.kill('SIGKILL'));
  process.once('SIGINT', cleanup);
  let client: Hive | undefined;
  let bull: { queue: Queue; events: QueueEvents } | undefined;
  const load = loadavg().map((x) => round(x, 2));
  try {
    for (const id of ['n1', 'n2']) children.push(await startBenchNode([url, cluster, id, '8', '4']));
    client = await Hive.start({ cluster, nodeId: 'client', nats: url, env: false, logger: silentLogger(), heartbeatMs: 250, failureAfterMs: 2000 });
    for (let i = 0; i < 100 && client.members().filter((m) => m.pools?.includes('bench')).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    if (redisMissing === undefined) {
      for (let i = 0; i < 2; i++) bullWorkers.push(await startBenchNode([redisUrl, queueName, '32'], 'bullmqNode.ts'));
      const { hostname, port } = new URL(redisUrl);
      const connection = { host: hostname, port: Number(port || 6379), maxRetriesPerRequest: null };
      bull = { queue: new Queue(queueName, { connection }), events: new QueueEvents(queueName, { connection }) };
      // each waiting job adds a listener to both: as many as there are submitters
      bull.queue.setMaxListeners(submitters + 10);
      bull.events.setMaxListeners(submitters + 10);
      await Promise.all([bull.queue.waitUntilReady(), bull.events.waitUntilReady()]);
    }
    const c = client;
    let n = 0;
    const hiveRounds: Load[] = [];
    const bullRounds: Load[] = [];
    const runHive = async () => hiveRounds.push(await closedLoop(() => c.submit('bench', { n: n++ }, { timeoutMs: 30_000 }), submitters, warmupMs, durationMs, children));
    const b = bull;
    const runBull = async () => {
      if (b === undefined) return;
      const opts = { removeOnComplete: { count: 10_000 }, removeOnFail: { count: 10_000 } };
      bullRounds.push(await closedLoop(async () => (await b.queue.add('t', { n: n++ }, opts)).waitUntilFinished(b.events, 30_000), submitters, warmupMs, durationMs, bullWorkers));
    };
    // alternate the order between rounds so neither side always runs first
    for (let r = 0; r < rounds; r++) {
      if (r % 2 === 0) {
        await runHive();
        await runBull();
      } else {
        await runBull();
        await runHive();
      }
    }
    const pool = medianRound(hiveRounds);
    const bullmq = bullRounds.length === 0 ? undefined : medianRound(bullRounds);
    const targets = ['n1', 'n2'].flatMap((node) => Array.from({ length: 8 }, (_, i) => c.ref(`bench-agent-${node}-${i}`)));
    let k = 0;
    const direct = await closedLoop(() => targets[k++ % targets.length].ask({ type: 'work', n: k }), submitters, warmupMs, durationMs, children);
    const row = (name: string, r: Load) => [name, r.perSec, r.p50, r.p95, r.p99, round(r.cpuMsPerTask, 3), r.errors];
    console.log(`\npool load test: ${submitters} concurrent submitters, 2 worker processes x 32 concurrent tasks, durable queue on (median of ${rounds} rounds; load average ${load.join(' ')}; ${ownNats === undefined ? `NATS at ${url}` : 'a private nats-server'})\n`);
    const rows = [row('hive pool (durable, NATS JetStream)', pool)];
    if (bullmq !== undefined) rows.push(row('bullmq (durable, Redis)', bullmq));
    rows.push(row('direct ask (no durability)', direct));
    printTable(['path', 'tasks/s', 'p50 ms', 'p95 ms', 'p99 ms', 'CPU ms/task', 'errors'], rows);
    const ratios: Record<string, number> = { pool_vs_direct_ask: round(pool.perSec / direct.perSec) };
    if (bullmq !== undefined) {
      ratios['tasks_per_s_vs_bullmq'] = round(pool.perSec / bullmq.perSec);
      ratios['p95_vs_bullmq'] = round(pool.p95 / bullmq.p95);
      ratios['cpu_per_task_vs_bullmq'] = round(pool.cpuMsPerTask / bullmq.cpuMsPerTask);
      console.log(`\nhive vs bullmq: ${ratios['tasks_per_s_vs_bullmq']}x tasks/s (target >= 1), p95 ${ratios['p95_vs_bullmq']}x (target <= 1), CPU per task ${ratios['cpu_per_task_vs_bullmq']}x`);
    }
    const summary = (r: Load) => ({ tasks_per_s: round(r.perSec, 1), p50_ms: round(r.p50), p95_ms: round(r.p95), p99_ms: round(r.p99), cpu_ms_per_task: round(r.cpuMsPerTask, 4), errors: r.errors });
    const file = writeResults('pool', {
      submitters,
      nodes: 2,
      agents: 16,
      concurrency_per_agent: 4,
      rounds,
      load_average: load,
      nats: ownNats === undefined ? url : 'private nats-server (--own-nats)',
      tasks_per_s: round(pool.perSec, 1),
      p50_ms: round(pool.p50),
      p95_ms: round(pool.p95),
      p99_ms: round(pool.p99),
      cpu_ms_per_task: round(pool.cpuMsPerTask, 4),
      errors: pool.errors,
      rounds_tasks_per_s: { hive: hiveRounds.map((r) => round(r.perSec, 1)), bullmq: bullRounds.map((r) => round(r.perSec, 1)) },
      baseline_bullmq: bullmq === undefined ? { skipped: redisMissing } : { ...summary(bullmq), workers: 2, concurrency_per_worker: 32, redis: redisUrl },
      baseline_direct_ask: summary(direct),
      ratios,
      targets: bullmq === undefined ? undefined : { tasks_per_s_vs_bullmq: { target: '>= 1', met: pool.perSec >= bullmq.perSec }, p95_vs_bullmq: { target: '<= 1', met: pool.p95 <= bullmq.p95 } },
      seed_report: { decision_ms: 45, decisions_per_s: 89 },
    });
    console.log(`\nwrote ${file}`);
  } finally {
    await client?.stop();
    if (bull !== undefined) {
      await bull.queue.obliterate({ force: true }).catch(() => undefined);
      await Promise.all([bull.queue.close(), bull.events.close()]).catch(() => undefined);
    }
    await stopBenchNodes([...children, ...bullWorkers]);
    await deleteClusterStreams(url, cluster).catch(() => undefined);
    await ownNats?.stop();
    process.off('SIGINT', cleanup);
  }
}
