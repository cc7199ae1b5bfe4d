// The injected clock: wall time plus timers, so tests can drive time with `SimulatedClock`.

/** An opaque timer handle. */
export type TimerHandle = { readonly __timer: true } | NodeJS.Timeout;

/** Time and timers, injected everywhere Hive waits. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Calls `fn` once after `ms`. The timer does not keep the process alive. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

interface SimTimer {
  readonly __timer: true;
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A clock that moves only when told to; timers fire in order of due time during {@link SimulatedClock.advance}. */
export class SimulatedClock implements Clock {
  private time: number;
  private seq = 0;
  private timers: SimTimer[] = [];

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: SimTimer = { __timer: true, at: this.time + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    (handle as SimTimer).cancelled = true;
  }

  /** Number of timers still pending. */
  get pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward by `ms`, firing each due timer at its own time (timers set while firing count too). */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: SimTimer | undefined;
      for (const t of this.timers) {
        if (t.cancelled || t.at > end) continue;
        if (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq)) next = t;
      }
      if (!next) break;
      this.timers = this.timers.filter((t) => t !== next && !t.cancelled);
      this.time = next.at;
      next.fn();
    }
    this.time = end;
  }
}
