// RestartIntensity: "at most N restarts in T ms" (Erlang's MaxR/MaxT). Keeps only the last N restart times
// in a ring buffer, so each check and record is O(1) and the history never grows past N entries.
import type { Clock } from '../../runtime/Clock.js';
import { InvalidArgumentError } from '../../protocols/errors.js';

/** How many restarts a supervisor may perform in a time window before it gives up and escalates. */
export interface IntensityOptions {
  /** Restarts allowed within the window (0: any restart escalates at once). */
  maxRestarts: number;
  /** The sliding window, in ms. */
  withinMs: number;
}

/** Default restart intensity: 10 restarts in 60 s (a child crash-looping through the backoff escalates in seconds). */
export const defaultIntensity: Readonly<IntensityOptions> = Object.freeze({ maxRestarts: 10, withinMs: 60_000 });

/** Fills in defaults and validates; throws `INVALID_ARGUMENT` naming the bad field. */
export function resolveIntensity(options: Partial<IntensityOptions> = {}): IntensityOptions {
  const out = { ...defaultIntensity, ...stripUndefined(options) };
  if (!Number.isInteger(out.maxRestarts) || out.maxRestarts < 0) {
    throw new InvalidArgumentError(`intensity.maxRestarts must be an integer >= 0, got ${String(out.maxRestarts)}`, { details: { option: 'intensity.maxRestarts' } });
  }
  if (typeof out.withinMs !== 'number' || !Number.isFinite(out.withinMs) || out.withinMs <= 0) {
    throw new InvalidArgumentError(`intensity.withinMs must be a finite number > 0, got ${String(out.withinMs)}`, { details: { option: 'intensity.withinMs' } });
  }
  return out;
}

/** Counts restarts in a sliding window on an injected clock. */
export class RestartIntensity {
  readonly maxRestarts: number;
  readonly withinMs: number;
  /** The last `maxRestarts` restart times; `head` is the oldest once the ring is full. */
  private readonly ring: number[] = [];
  private head = 0;

  constructor(
    options: Partial<IntensityOptions>,
    private readonly clock: Clock,
  ) {
    const resolved = resolveIntensity(options);
    this.maxRestarts = resolved.maxRestarts;
    this.withinMs = resolved.withinMs;
  }

  /** True when one more restart at `now` would make more than `maxRestarts` restarts within the window. */
  wouldExceed(now: number = this.clock.now()): boolean {
    if (this.maxRestarts === 0) return true;
    if (this.ring.length < this.maxRestarts) return false;
    return now - this.ring[this.head] < this.withinMs;
  }

  /** Records a restart at `now`. Returns false (and records nothing) when it would exceed the intensity. */
  record(now: number = this.clock.now()): boolean {
    if (this.wouldExceed(now)) return false;
    if (this.ring.length < this.maxRestarts) {
      this.ring.push(now);
    } else {
      this.ring[this.head] = now;
      this.head = (this.head + 1) % this.maxRestarts;
    }
    return true;
  }

  /** Restarts recorded within the window ending at `now` (at most `maxRestarts`). */
  count(now: number = this.clock.now()): number {
    let n = 0;
    for (const t of this.ring) if (now - t < this.withinMs) n++;
    return n;
  }

  /** Forgets every recorded restart. */
  reset(): void {
    this.ring.length = 0;
    this.head = 0;
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
