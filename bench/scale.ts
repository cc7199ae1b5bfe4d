// Autoscaling under a load step: idle, then 50 concurrent submitters, then idle again; time for the pool to reach the size the load needs and to shrink back.
//
// Usage: npm run bench -- scale [--submitters=50] [--hold=ms] [--window=ms] [--url=nats://127.0.0.1:4222]
//
// Two child node processes (bench/support/poolNode.ts) host the `bench` pool with autoscaling on
// (min 1, max 16 agents x 4 slots; grow x2 when utilization ≥ 0.8 for 300 ms, shrink x0.5 when ≤ 0.3 for
// 1 s, cooldown 500 ms, scale-down stabilization window `--window`, default 10 s). This process joins as a client and steps the load: 50 closed-loop submitters for
// `--hold` ms, then none. It samples the pool's size (from the nodes' status) every 100 ms. The size the
// load "needs" is the smallest size whose slots cover the submitters (ceil(50 / 4) = 13, so the first
// power-of-two step at or above it: 16). Writes bench/results/scale.json.
import type { ChildProcess } from 'node:child_process';
import { Hive } from '../cluster/Hive.js';
import { silentLogger } from '../runtime/logger.js';
import { deleteClusterStreams, probeNats, requireService } from '../test/support/services.js';
import { startBenchNode, stopBenchNodes } from './pool.js';
import { numberArg, parseArgs, printTable, round, writeResults } from './util.js';

interface PoolRow {
  size: number;
  target: number;
}

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const url = args.get('url') ?? 'nats://127.0.0.1:4222';
  requireService(await probeNats(url));
  const submitters = numberArg(args, 'submitters', 50);
  const holdMs = numberArg(args, 'hold', 8000);
  const cluster = `bench_scale_${process.pid}`;
  const windowMs = numberArg(args, 'window', 10_000);
  const autoscale = JSON.stringify({ sustainMs: 300, shrinkSustainMs: 1000, cooldownMs: 500, intervalMs: 100, scaleDownWindowMs: windowMs });
  const children: ChildProcess[] = [];
  let client: Hive | undefined;
  try {
    for (const id of ['s1', 's2']) children.push(await startBenchNode([url, cluster, id, '8', '4', autoscale]));
    client = await Hive.start({ cluster, nodeId: 'client', nats: url, env: false, logger: silentLogger(), heartbeatMs: 100, failureAfterMs: 2000 });
    const c = client;
    for (let i = 0; i < 100 && c.members().filter((m) => m.pools?.includes('bench')).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    const sizeNow = async (): Promise<PoolRow> => {
      // the pool's cluster size: the sum of the agents each node runs, and the decided target
      const rows = await Promise.all(
        ['s1', 's2'].map((n) =>
          c
            .ref(`pool-bench-${n}`)
            .ask({ type: 'pool.status' }, { timeoutMs: 2000 })
            .then((r) => r as unknown as PoolRow)
            .catch(() => ({ size: 0, target: 0 })),
        ),
      );
      return { size: rows.reduce((a, r) => a + r.size, 0), target: Math.max(...rows.map((r) => r.target)) };
    };
    const needed = Math.min(16, 2 ** Math.ceil(Math.log2(Math.ceil(submitters / 4))));
    const start = await sizeNow();
    const timeline: Array<{ t: number; size: number; target: number; phase: string }> = [];
    let phase = 'load';
    let stop = false;
    const t0 = performance.now();
    let n = 0;
    const load = Promise.all(
      Array.from({ length: submitters }, async () => {
        while (!stop) await c.submit('bench', { n: n++ }, { timeoutMs: 60_000 }).catch(() => undefined);
      }),
    );
    let reachedMs: number | undefined;
    let shrunkMs: number | undefined;
    let idleAt = 0;
    while (performance.now() - t0 < holdMs + windowMs + 30_000) {
      const s = await sizeNow();
      const t = performance.now() - t0;
      timeline.push({ t: round(t, 0), ...s, phase });
      if (phase === 'load' && reachedMs === undefined && s.size >= needed) reachedMs = t;
      if (phase === 'load' && t >= holdMs) {
        phase = 'idle';
        stop = true;
        await load;
        idleAt = performance.now() - t0;
      }
      if (phase === 'idle' && s.size <= start.size) {
        shrunkMs = performance.now() - t0 - idleAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    stop = true;
    await load;
    const peak = Math.max(...timeline.map((p) => p.size));
    // shrinks while the load lasted: the decided target going down between two samples of the load phase
    let shrinksDuringLoad = 0;
    for (let i = 1; i < timeline.length; i++) if (timeline[i].phase === 'load' && timeline[i - 1].phase === 'load' && timeline[i].target < timeline[i - 1].target) shrinksDuringLoad += 1;
    console.log(`\nautoscaling under a load step: ${submitters} submitters for ${holdMs} ms, then idle (pool min 1, max 16)\n`);
    printTable(
      ['measure', 'value'],
      [
        ['size at start', start.size],
        ['size the load needs', needed],
        ['peak size', peak],
        ['time to reach needed size, ms', reachedMs === undefined ? 'not reached' : round(reachedMs, 0)],
        ['shrinks during the load', shrinksDuringLoad],
        ['scale-down stabilization window, ms', windowMs],
        ['time to shrink back after the load, ms', shrunkMs === undefined ? 'not shrunk' : round(shrunkMs, 0)],
      ],
    );
    const file = writeResults('scale', {
      submitters,
      hold_ms: holdMs,
      start_size: start.size,
      needed_size: needed,
      peak_size: peak,
      time_to_needed_ms: reachedMs === undefined ? null : round(reachedMs, 0),
      shrinks_during_load: shrinksDuringLoad,
      scale_down_window_ms: windowMs,
      time_to_shrink_ms: shrunkMs === undefined ? null : round(shrunkMs, 0),
      autoscale: JSON.parse(autoscale) as unknown,
      timeline: timeline.filter((_, i) => i % 5 === 0),
    });
    console.log(`\nwrote ${file}`);
  } finally {
    await client?.stop();
    await stopBenchNodes(children);
    await deleteClusterStreams(url, cluster).catch(() => undefined);
  }
}
