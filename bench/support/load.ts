// Closed-loop load for request/reply benchmarks: keeps N requests in flight (N loops, each sends its next request
// when the previous one is answered) for a warm-up and then a measured window, and records every round trip's
// latency plus the process CPU time the window used. The same driver serves every system a benchmark compares,
// so they are measured the same way. CPU time per request is reported next to wall-clock throughput because the
// benchmark machines are shared: CPU time moves much less than wall time when other processes take the cores.
import { cpuUsage } from 'node:process';

/** What one closed-loop run measured. */
export interface LoadResult {
  /** Requests in flight (concurrent loops). */
  inflight: number;
  /** Requests answered in the measured window. */
  requests: number;
  /** Measured wall time, s. */
  seconds: number;
  /** Answered requests per wall-clock second. */
  perSec: number;
  /** Process CPU time (user + system, all threads) per answered request, µs. */
  cpuUsPerOp: number;
  /** Round-trip latency percentiles over the measured requests, µs. */
  p50Us: number;
  p90Us: number;
  p99Us: number;
}

/** Options of {@link closedLoop}. */
export interface LoadOptions {
  /** Concurrent loops (requests in flight). */
  inflight: number;
  /** Un-measured time first (JIT, connection and buffer warm-up), ms. */
  warmupMs: number;
  /** Measured time, ms. */
  durationMs: number;
  /** Called when the measured window opens and closes (say, to read another process's CPU time). */
  hooks?: WindowHooks;
}

/** Callbacks at the two edges of a measured window. */
export interface WindowHooks {
  open(): void;
  close(): void;
}

/** Grows a Float64Array of samples without per-sample allocation. */
export class Samples {
  private data = new Float64Array(1 << 16);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  /** A sorted copy of the samples. */
  sorted(): Float64Array {
    return this.data.slice(0, this.length).sort();
  }
}

/** The `p`-th percentile (0-100) of an ascending array, nearest rank. NaN when empty. */
export function percentileSorted(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

/** Process CPU time so far, µs (user + system, every thread). */
export function cpuMicros(): number {
  const u = cpuUsage();
  return u.user + u.system;
}

/**
 * The measured window of a closed-loop run. The window opens at the first completion after `measureFrom` and
 * closes at the first completion after `endAt`; wall time and process CPU time are read at those two moments,
 * and every completion after the opening one counts (its latency measured from its own send time).
 */
export class Window {
  private readonly samples = new Samples();
  private count = 0;
  private wallStart = NaN;
  private wallEnd = NaN;
  private cpuStart = NaN;
  private cpuEnd = NaN;

  constructor(
    readonly measureFrom: number,
    readonly endAt: number,
    private readonly hooks?: WindowHooks,
  ) {}

  /** Records a request sent at `t0` and answered at `t1`; false once the window has closed (stop sending). */
  record(t0: number, t1: number): boolean {
    if (t1 < this.measureFrom) return true;
    if (Number.isNaN(this.wallStart)) {
      this.wallStart = t1;
      this.cpuStart = cpuMicros();
      this.hooks?.open();
      return true;
    }
    if (!Number.isNaN(this.wallEnd)) return false;
    this.count++;
    this.samples.push((t1 - t0) * 1000);
    if (t1 < this.endAt) return true;
    this.wallEnd = t1;
    this.cpuEnd = cpuMicros();
    this.hooks?.close();
    return false;
  }

  /** True once the window has closed. */
  get closed(): boolean {
    return !Number.isNaN(this.wallEnd);
  }

  /** The figures of the window (NaN when it never opened or closed). */
  result(inflight: number): LoadResult {
    const sorted = this.samples.sorted();
    const seconds = (this.wallEnd - this.wallStart) / 1000;
    return {
      inflight,
      requests: this.count,
      seconds,
      perSec: this.count / seconds,
      cpuUsPerOp: (this.cpuEnd - this.cpuStart) / this.count,
      p50Us: percentileSorted(sorted, 50),
      p90Us: percentileSorted(sorted, 90),
      p99Us: percentileSorted(sorted, 99),
    };
  }
}

/**
 * Runs `send` in `inflight` closed loops: `warmupMs` without measuring, then about `durationMs` measured (see
 * {@link Window}). The loops read the clock themselves (no timer decides when to stop), so a system that keeps
 * the event loop busy is still stopped on time. A request that rejects stops the run and the error is rethrown
 * (a benchmark of failing requests would measure nothing useful).
 */
export async function closedLoop(send: () => Promise<unknown>, options: LoadOptions): Promise<LoadResult> {
  const { inflight, warmupMs, durationMs } = options;
  const measureFrom = performance.now() + warmupMs;
  const window = new Window(measureFrom, measureFrom + durationMs, options.hooks);
  let failed = false;
  let failure: unknown;

  const loop = async (): Promise<void> => {
    for (;;) {
      const t0 = performance.now();
      if (failed || window.closed) return;
      try {
        await send();
      } catch (err) {
        if (!failed) failure = err;
        failed = true;
        return;
      }
      if (!window.record(t0, performance.now())) return;
    }
  };

  await Promise.all(Array.from({ length: inflight }, loop));
  if (failed) throw failure instanceof Error ? failure : new Error(`request failed: ${String(failure)}`);
  return window.result(inflight);
}

/** Measures a synchronous `fn` the same way: warm-up, then calls/s and CPU µs per call over `durationMs`. */
export function syncLoop(fn: () => void, warmupMs: number, durationMs: number): { perSec: number; cpuUsPerOp: number; calls: number } {
  const warmEnd = performance.now() + warmupMs;
  while (performance.now() < warmEnd) for (let i = 0; i < 1000; i++) fn();
  const cpu0 = cpuMicros();
  const t0 = performance.now();
  const end = t0 + durationMs;
  let calls = 0;
  let now = t0;
  while (now < end) {
    for (let i = 0; i < 1000; i++) fn();
    calls += 1000;
    now = performance.now();
  }
  const cpu = cpuMicros() - cpu0;
  return { perSec: (calls * 1000) / (now - t0), cpuUsPerOp: cpu / calls, calls };
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
