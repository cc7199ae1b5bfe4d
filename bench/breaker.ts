// Circuit breaker benchmark: call overhead through a closed breaker vs a bare call, fail-fast latency while open, time to recover.
//
// Usage: npm run bench -- breaker [--calls=n] [--rounds=n] [--trials=n] [--cooldown=ms]
//   --calls     calls per round for the no-op overhead measurement (default 200,000; 1/20 of it for the 50 µs dependency)
//   --rounds    rounds, bare and breaker alternating; the median round counts (default 5)
//   --trials    recovery trials (default 5)
//   --cooldown  the breaker's cool-down in the recovery trials (default 200 ms)
//
// 1. Overhead: `await dep()` against `await breaker.call(dep)` in a sequential loop, with the breaker closed
//    with its defaults (count window of 100 calls) and metrics registered. Two dependencies: an async no-op,
//    and a ~50 µs one (an async function that spins 50 µs); plus the no-op through a breaker with a 10 s
//    time window (one clock read per success). Reported as ns per call and the ratio breaker / bare.
// 2. Fail-fast: the breaker open, each call timed from `call()` to the caller's `catch` (µs, p50/p99/max).
// 3. Recovery, real timers: a caller calls every ~1 ms; the dependency fails, the breaker opens (5
//    consecutive failures), the dependency comes back 50 ms later; measured: time from the dependency's
//    return to the first successful call through the breaker (the cool-down has to run out first), and
//    how long after the cool-down ended that first success came. Writes bench/results/breaker.json.
import { availableParallelism, loadavg } from 'node:os';
import { CircuitBreaker } from '../actors/breaker/CircuitBreaker.js';
import { MetricsRegistry } from '../runtime/metrics.js';
import { median, numberArg, parseArgs, percentile, printTable, round, writeResults } from './util.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** An async no-op dependency. */
const noop = async (): Promise<number> => 1;

/** A ~50 µs dependency: spins 50 µs, then resolves. */
const dep50us = async (): Promise<number> => {
  const end = performance.now() + 0.05;
  let spins = 0;
  while (performance.now() < end) spins++;
  return spins;
};

async function nsPerCall(fn: () => Promise<unknown>, calls: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) await fn();
  return ((performance.now() - t0) * 1e6) / calls;
}

interface Overhead {
  bare_ns: number;
  breaker_ns: number;
  overhead_ns: number;
  ratio: number;
}

async function overhead(dep: () => Promise<number>, calls: number, rounds: number, breaker: CircuitBreaker): Promise<Overhead> {
  const bare = (): Promise<number> => dep();
  const through = (): Promise<number> => breaker.call(dep);
  // Warm-up both paths.
  await nsPerCall(bare, Math.min(calls, 20_000));
  await nsPerCall(through, Math.min(calls, 20_000));
  const b: number[] = [];
  const t: number[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      b.push(await nsPerCall(bare, calls));
      t.push(await nsPerCall(through, calls));
    } else {
      t.push(await nsPerCall(through, calls));
      b.push(await nsPerCall(bare, calls));
    }
  }
  const bareNs = median(b);
  const breakerNs = median(t);
  return { bare_ns: round(bareNs, 1), breaker_ns: round(breakerNs, 1), overhead_ns: round(breakerNs - bareNs, 1), ratio: round(breakerNs / bareNs, 3) };
}

async function failFast(calls: number): Promise<{ p50_us: number; p99_us: number; max_us: number; mean_us: number; sync_mean_us: number }> {
  const b = new CircuitBreaker('bench-open', { coolDownMs: 3_600_000 });
  b.trip();
  const lat = new Float64Array(calls);
  let sync = 0;
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    const p = b.call(noop);
    const t1 = performance.now();
    try {
      await p;
    } catch {
      // expected: CIRCUIT_OPEN
    }
    lat[i] = (performance.now() - t0) * 1000;
    sync += (t1 - t0) * 1000;
  }
  b.dispose();
  const values = Array.from(lat.subarray(Math.floor(calls / 10))); // drop the warm-up tenth
  return {
    p50_us: round(percentile(values, 50), 2),
    p99_us: round(percentile(values, 99), 2),
    max_us: round(values.reduce((a, v) => Math.max(a, v), 0), 1),
    mean_us: round(values.reduce((a, v) => a + v, 0) / values.length, 2),
    sync_mean_us: round(sync / calls, 2),
  };
}

interface Trial {
  opened_after_ms: number;
  first_success_after_return_ms: number;
  first_success_after_cool_down_ms: number;
  closed_after_return_ms: number;
  failed: number;
  rejected: number;
}

async function recoveryTrial(coolDownMs: number, returnAfterMs: number): Promise<Trial> {
  let up = true;
  const dep = async (): Promise<number> => {
    await new Promise<void>((resolve) => setImmediate(resolve)); // an I/O turn
    if (!up) throw new Error('dependency down');
    return 1;
  };
  const b = new CircuitBreaker('bench-recover', { coolDownMs, consecutiveFailures: 5, probesToClose: 2 });
  let downAt = 0;
  let openAt = 0;
  let returnAt = 0;
  let firstSuccessAt = 0;
  let closedAt = 0;
  b.onStateChange((c) => {
    const now = performance.now();
    if (c.to === 'open' && openAt === 0) openAt = now;
    if (c.to === 'closed' && returnAt > 0) closedAt = now;
  });
  // Healthy traffic first.
  for (let i = 0; i < 20; i++) await b.call(dep);
  up = false;
  downAt = performance.now();
  let failed = 0;
  let rejected = 0;
  const returned = (async () => {
    while (openAt === 0) await sleep(1);
    await sleep(returnAfterMs);
    up = true;
    returnAt = performance.now();
  })();
  while (closedAt === 0) {
    try {
      await b.call(dep);
      if (returnAt > 0 && firstSuccessAt === 0) firstSuccessAt = performance.now();
    } catch (err) {
      if ((err as { code?: string }).code === 'CIRCUIT_OPEN') rejected++;
      else failed++;
    }
    await sleep(1);
  }
  await returned;
  b.dispose();
  return {
    opened_after_ms: round(openAt - downAt, 2),
    first_success_after_return_ms: round(firstSuccessAt - returnAt, 2),
    first_success_after_cool_down_ms: round(firstSuccessAt - (openAt + coolDownMs), 2),
    closed_after_return_ms: round(closedAt - returnAt, 2),
    failed,
    rejected,
  };
}

/** Runs the benchmark. */
export async function run(argv: string[]): Promise<unknown> {
  const args = parseArgs(argv);
  const calls = numberArg(args, 'calls', 200_000);
  const rounds = numberArg(args, 'rounds', 5);
  const trials = numberArg(args, 'trials', 5);
  const coolDownMs = numberArg(args, 'cooldown', 200);
  const returnAfterMs = 50;
  const loadBefore = loadavg()[0];

  const metrics = new MetricsRegistry({ cluster: 'bench', node: 'bench' }, { processMetrics: false });
  const closed = new CircuitBreaker('bench-closed', {}, { metrics });
  const noopOverhead = await overhead(noop, calls, rounds, closed);
  const slowOverhead = await overhead(dep50us, Math.max(1000, Math.floor(calls / 20)), rounds, closed);
  const timed = new CircuitBreaker('bench-closed-time-window', { window: { kind: 'time', ms: 10_000, buckets: 10 } }, { metrics });
  const timedOverhead = await overhead(noop, calls, rounds, timed);
  if (closed.state !== 'closed' || timed.state !== 'closed') throw new Error('a closed breaker opened during the overhead run');
  closed.dispose();
  timed.dispose();

  const fast = await failFast(calls);

  const results: Trial[] = [];
  for (let i = 0; i < trials; i++) results.push(await recoveryTrial(coolDownMs, returnAfterMs));
  const med = (k: keyof Trial): number => round(median(results.map((r) => r[k])), 2);
  const max = (k: keyof Trial): number => round(Math.max(...results.map((r) => r[k])), 2);

  console.log('\nCircuit breaker: overhead when closed (sequential awaits, median of rounds)\n');
  printTable(
    ['dependency', 'bare ns/call', 'breaker ns/call', 'overhead ns', 'ratio'],
    [
      ['async no-op', noopOverhead.bare_ns, noopOverhead.breaker_ns, noopOverhead.overhead_ns, noopOverhead.ratio],
      ['~50 µs', slowOverhead.bare_ns, slowOverhead.breaker_ns, slowOverhead.overhead_ns, slowOverhead.ratio],
      ['async no-op, 10 s time window', timedOverhead.bare_ns, timedOverhead.breaker_ns, timedOverhead.overhead_ns, timedOverhead.ratio],
    ],
  );
  console.log('\nFail-fast while open (call() to the caller\'s catch)\n');
  printTable(['p50 µs', 'p99 µs', 'max µs', 'mean µs', 'call() returns, mean µs'], [[fast.p50_us, fast.p99_us, fast.max_us, fast.mean_us, fast.sync_mean_us]]);
  console.log(`\nRecovery with real timers (cool-down ${coolDownMs} ms; the dependency returns ${returnAfterMs} ms after the breaker opened; ${trials} trials)\n`);
  printTable(
    ['measure', 'median ms', 'max ms'],
    [
      ['breaker opened after the dependency failed', med('opened_after_ms'), max('opened_after_ms')],
      ['first success after the dependency returned', med('first_success_after_return_ms'), max('first_success_after_return_ms')],
      ['first success after the cool-down ended', med('first_success_after_cool_down_ms'), max('first_success_after_cool_down_ms')],
      ['closed (2 probes) after the dependency returned', med('closed_after_return_ms'), max('closed_after_return_ms')],
    ],
  );
  const failFastMet = fast.p99_us < 1000;
  console.log(`\ntarget: fail-fast < 1 ms while open: p99 ${fast.p99_us} µs -> ${failFastMet ? 'met' : 'NOT met'}; recovers by itself: yes (no reset in any trial)`);

  const path = writeResults('breaker', {
    settings: { calls, rounds, trials, coolDownMs, dependencyReturnsAfterOpenMs: returnAfterMs, breakerOptions: 'defaults (count window of 100 calls), metrics registered' },
    load_average: { before: round(loadBefore, 2), after: round(loadavg()[0], 2), cores: availableParallelism() },
    closed_overhead: { async_noop: noopOverhead, dep_50us: slowOverhead, async_noop_time_window: timedOverhead },
    overhead_ratio: { async_noop: noopOverhead.ratio, dep_50us: slowOverhead.ratio, async_noop_time_window: timedOverhead.ratio },
    fail_fast_us: fast,
    recovery: {
      time_to_first_success_after_dependency_returns_ms: { median: med('first_success_after_return_ms'), max: max('first_success_after_return_ms') },
      first_success_after_cool_down_ends_ms: { median: med('first_success_after_cool_down_ms'), max: max('first_success_after_cool_down_ms') },
      closed_after_dependency_returns_ms: { median: med('closed_after_return_ms'), max: max('closed_after_return_ms') },
      opened_after_dependency_failed_ms: { median: med('opened_after_ms'), max: max('opened_after_ms') },
      trials: results,
    },
    targets: { fail_fast_under_1ms: { p99_us: fast.p99_us, met: failFastMet }, recovers_by_itself: true },
  });
  console.log(`\nwrote ${path}`);
  return { noop: noopOverhead, dep50us: slowOverhead, failFast: fast };
}
