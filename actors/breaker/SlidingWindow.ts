// Sliding windows of call outcomes for the circuit breaker: count-based (the last N calls) or time-based
// (buckets over the last T ms). Both keep running totals, so recording and reading are O(1) amortized.

/** A window of recent call outcomes. */
export interface SlidingWindow {
  /** True when `now` matters (time-based windows); count-based windows ignore it. */
  readonly timed: boolean;
  /** Records one call outcome at time `now` (ms). */
  record(failure: boolean, now: number): void;
  /** Calls in the window at `now`. */
  calls(now: number): number;
  /** Failed calls in the window at `now`. */
  failures(now: number): number;
  /** Forgets everything. */
  reset(): void;
}

/** The last `size` call outcomes, in a ring of bytes; the failure count is kept incrementally. */
export class CountWindow implements SlidingWindow {
  readonly timed = false;
  private readonly ring: Uint8Array;
  private head = 0;
  private filled = 0;
  private failed = 0;

  constructor(readonly size: number) {
    this.ring = new Uint8Array(size);
  }

  record(failure: boolean, _now: number): void {
    const bit = failure ? 1 : 0;
    if (this.filled === this.size) this.failed -= this.ring[this.head];
    else this.filled++;
    this.ring[this.head] = bit;
    this.failed += bit;
    if (++this.head === this.size) this.head = 0;
  }

  calls(_now: number): number {
    return this.filled;
  }

  failures(_now: number): number {
    return this.failed;
  }

  reset(): void {
    this.ring.fill(0);
    this.head = 0;
    this.filled = 0;
    this.failed = 0;
  }
}

/**
 * Outcomes of the last `ms` milliseconds in `buckets` buckets of `ms / buckets` each: a bucket older than
 * the window is subtracted from the totals when time reaches it (at most `buckets` steps per call, and
 * only when time moved on), so reads and writes do not scan the calls.
 */
export class TimeWindow implements SlidingWindow {
  readonly timed = true;
  private readonly bucketMs: number;
  private readonly callCounts: Float64Array;
  private readonly failCounts: Float64Array;
  private epoch = -Infinity;
  private totalCalls = 0;
  private totalFailures = 0;

  constructor(
    readonly ms: number,
    readonly buckets: number,
  ) {
    this.bucketMs = ms / buckets;
    this.callCounts = new Float64Array(buckets);
    this.failCounts = new Float64Array(buckets);
  }

  record(failure: boolean, now: number): void {
    const i = this.advance(now);
    this.callCounts[i]++;
    this.totalCalls++;
    if (failure) {
      this.failCounts[i]++;
      this.totalFailures++;
    }
  }

  calls(now: number): number {
    this.advance(now);
    return this.totalCalls;
  }

  failures(now: number): number {
    this.advance(now);
    return this.totalFailures;
  }

  reset(): void {
    this.callCounts.fill(0);
    this.failCounts.fill(0);
    this.totalCalls = 0;
    this.totalFailures = 0;
    this.epoch = -Infinity;
  }

  /** Expires buckets that fell out of the window. @returns the bucket index for `now`. */
  private advance(now: number): number {
    const e = Math.floor(now / this.bucketMs);
    const n = this.buckets;
    if (e > this.epoch) {
      // Clear every bucket between the last epoch seen and this one (all of them after a long pause).
      const steps = Math.min(e - this.epoch, n);
      for (let k = 0; k < steps; k++) {
        const i = (((e - k) % n) + n) % n;
        this.totalCalls -= this.callCounts[i];
        this.totalFailures -= this.failCounts[i];
        this.callCounts[i] = 0;
        this.failCounts[i] = 0;
      }
      this.epoch = e;
    }
    // A clock that went backwards records into the current bucket.
    return ((this.epoch % n) + n) % n;
  }
}
