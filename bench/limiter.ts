// Cluster-wide limiter: three node processes, 50 submitters, a 600/min limit; admitted rate, the worst window, and the wait for a permit when capacity exists.
//
// Usage: npm run bench -- limiter [--duration=ms] [--url=nats://127.0.0.1:4222]
//
// What runs: three node processes (test/support/limiterNode.ts) on one nats-server share limiter `api`
// (state in the JetStream KV bucket hive_<cluster>_limits; nodes lease tokens with compare-and-set and hand
// them out locally).
//   saturated   50 submitters (17 + 17 + 16) take permits as fast as they are granted against 600/min,
//               burst 10, for --duration (default 30 s). Admitted rate = (admitted - burst) / duration;
//               the worst window = the most admissions in any sliding 1 s / 10 s / whole-run window less
//               rate x window (at most the burst when the limit holds).
//   capacity    the same 50 submitters, each taking a permit every 100 ms (~500/s in all), against
//               60,000/min (1,000/s, burst 1,000): the wait for a permit when capacity exists (p50/p99),
//               after the first second (each node's first takes wait for its first lease) and over the whole run.
// Writes bench/results/limiter.json.
import { maxExcess, runLimiterNodes } from '../test/support/limiterRun.js';
import { deleteClusterStreams } from '../test/support/services.js';
import { numberArg, parseArgs, percentile, printTable, round, writeResults } from './util.js';

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const args = parseArgs(argv);
  const url = args.get('url') ?? 'nats://127.0.0.1:4222';
  const durationMs = numberArg(args, 'duration', 30_000);
  const cluster = `benchlim${process.pid}${Date.now().toString(36)}`;
  const submitters = [17, 17, 16];
  try {
    const rpm = 600;
    const burst = 10;
    console.log(`saturated: 3 nodes, 50 submitters, ${rpm}/min burst ${burst}, ${durationMs / 1000} s ...`);
    const sat = await runLimiterNodes({ url, cluster, nodes: 3, name: 'api', limiter: { requestsPerMinute: rpm, burst }, submitters, durationMs });
    const all = sat.results.flatMap((r) => r.admitted).filter((t) => t >= sat.start && t < sat.start + durationMs);
    const perMs = rpm / 60_000;
    const ratePerMin = ((all.length - burst) / durationMs) * 60_000;
    const windows = [1000, 10_000, durationMs].map((w) => ({ windowMs: w, ...maxExcess(all, perMs, w) }));
    const perNode = sat.results.map((r) => r.admitted.length);

    console.log('capacity: 50 submitters pacing 100 ms against 60,000/min ...');
    const cap = await runLimiterNodes({ url, cluster, nodes: 3, name: 'roomy', limiter: { requestsPerMinute: 60_000, burst: 1000 }, submitters, durationMs: 10_000, paceMs: 100 });
    const allWaits = cap.results.flatMap((r) => r.waits);
    // steady state: takes asked after the first second (the first takes of each node wait for its first lease)
    const waits = cap.results.flatMap((r) => r.waits.filter((w, i) => (r.admitted[i] ?? 0) - w >= cap.start + 1000));
    const capRate = (allWaits.length / 10_000) * 1000;

    printTable(
      ['run', 'admitted', 'rate/min', 'vs limit', 'worst 1 s over rate', 'worst 10 s over rate', 'whole run over rate', 'per node'],
      [[
        `saturated ${rpm}/min`,
        all.length,
        round(ratePerMin, 1),
        `${round((ratePerMin / rpm) * 100, 1)}%`,
        round(windows[0].excess, 2),
        round(windows[1].excess, 2),
        round(windows[2].excess, 2),
        perNode.join(' / '),
      ]],
    );
    console.log('');
    printTable(['run', 'takes', 'takes/s', 'wait p50 ms', 'wait p99 ms', 'wait max ms'], [
      ['capacity, after the first second', waits.length, round(capRate, 1), round(percentile(waits, 50), 3), round(percentile(waits, 99), 3), round(Math.max(...waits), 2)],
      ['capacity, whole run', allWaits.length, round(capRate, 1), round(percentile(allWaits, 50), 3), round(percentile(allWaits, 99), 3), round(Math.max(...allWaits), 2)],
    ]);
    const result = {
      saturated: { limitPerMin: rpm, burst, durationMs, admitted: all.length, ratePerMin: round(ratePerMin, 2), ratioToLimit: round(ratePerMin / rpm, 4), windows, perNode },
      capacity: { limitPerMin: 60_000, burst: 1000, takes: waits.length, takesPerSec: round(capRate, 1), waitP50Ms: round(percentile(waits, 50), 4), waitP99Ms: round(percentile(waits, 99), 4), waitMaxMs: round(Math.max(...waits), 3), wholeRun: { takes: allWaits.length, waitP50Ms: round(percentile(allWaits, 50), 4), waitP99Ms: round(percentile(allWaits, 99), 4) } },
      targets: { rateWithin: 0.05, excessAtMostBurst: burst, p99WaitMs: 5 },
      met: {
        rate: Math.abs(ratePerMin / rpm - 1) <= 0.05,
        neverAboveLimitPlusBurst: windows.every((w) => w.excess <= burst),
        p99Wait: percentile(waits, 99) < 5,
      },
    };
    console.log(`\nwrote ${writeResults('limiter', result)}`);
    return result;
  } finally {
    await deleteClusterStreams(url, cluster).catch(() => undefined);
  }
}
