// Autoscaler: decides a pool's size from utilization and queue depth. Grows by a factor when utilization
// (or a backlog) stays above the high-water mark for `sustainMs`, shrinks when it stays below the low-water
// mark for `shrinkSustainMs`, within min/max, never sooner than a cooldown after the last change. O(1) per
// observation (it keeps "above since" / "below since" times, not sample lists) and a bounded decision
// history that says why each change was made. Shrinking is stabilized as Kubernetes' HPA does it: the pool
// shrinks only to the highest size recommended during the last `scaleDownWindowMs`, so a short dip in the
// middle of a steady load does not shrink a pool the load still needs (the recommendations kept are bounded
// by the window and by a hard cap).
import { ConfigError } from '../../protocols/errors.js';

/** How a pool scales. */
export interface AutoscaleOptions {
  /** Grow when utilization stays at or above this (default 0.8). */
  highWater: number;
  /** Shrink when utilization stays at or below this (default 0.3). */
  lowWater: number;
  /** Size multiplier when growing (default 2). */
  growFactor: number;
  /** Size multiplier when shrinking (default 0.5). */
  shrinkFactor: number;
  /** How long utilization must stay high before growing (default 1 s). */
  sustainMs: number;
  /** How long utilization must stay low before shrinking (default 10 s). */
  shrinkSustainMs: number;
  /** No change sooner than this after the last one (default 3 s). */
  cooldownMs: number;
  /**
   * Shrink only to the highest size recommended during this window (default 30 s; 0 turns stabilization
   * off). Each observation recommends a size: grown when utilization is high, when low the size that runs
   * the busy slots under the high-water mark, else the current size.
   */
  scaleDownWindowMs: number;
  /** Decisions kept for `hive pools` (default 20). */
  historySize: number;
  /** How often the pool looks (default 500 ms). */
  intervalMs: number;
}

/** The defaults every autoscale option falls back to. */
export const defaultAutoscaleOptions: Readonly<AutoscaleOptions> = Object.freeze({
  highWater: 0.8,
  lowWater: 0.3,
  growFactor: 2,
  shrinkFactor: 0.5,
  sustainMs: 1_000,
  shrinkSustainMs: 10_000,
  cooldownMs: 3_000,
  scaleDownWindowMs: 30_000,
  historySize: 20,
  intervalMs: 500,
});

/** What the autoscaler looks at. */
export interface ScaleSample {
  /** Tasks running, cluster-wide. */
  busy: number;
  /** Slots, cluster-wide. */
  capacity: number;
  /** Tasks waiting in the queue. */
  queued: number;
  /** Current agent count (the target). */
  size: number;
}

/** One scaling decision. */
export interface ScaleDecision {
  /** Epoch ms. */
  at: number;
  from: number;
  to: number;
  reason: string;
}

/** Validates and fills autoscale options; errors name the option (`pool.autoscale.<name>`). */
export function resolveAutoscaleOptions(input: Partial<AutoscaleOptions> = {}): AutoscaleOptions {
  const o = { ...defaultAutoscaleOptions, ...input };
  const bad = (name: keyof AutoscaleOptions, why: string): never => {
    throw new ConfigError(`invalid option pool.autoscale.${name}: ${why} (got ${JSON.stringify(o[name])})`, { details: { option: `pool.autoscale.${name}` } });
  };
  for (const k of Object.keys(input)) if (!(k in defaultAutoscaleOptions)) throw new ConfigError(`invalid option pool.autoscale.${k}: unknown option`, { details: { option: `pool.autoscale.${k}` } });
  const num = (name: keyof AutoscaleOptions, min: number, max: number) => {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) bad(name, `must be a number from ${min} to ${max}`);
  };
  num('highWater', 0.01, 1);
  num('lowWater', 0, 0.99);
  if (o.lowWater >= o.highWater) bad('lowWater', `must be below pool.autoscale.highWater (${o.highWater})`);
  num('growFactor', 1.01, 100);
  num('shrinkFactor', 0.01, 0.99);
  num('sustainMs', 0, 86_400_000);
  num('shrinkSustainMs', 0, 86_400_000);
  num('cooldownMs', 0, 86_400_000);
  num('scaleDownWindowMs', 0, 86_400_000);
  num('historySize', 1, 10_000);
  num('intervalMs', 10, 3_600_000);
  return o;
}

/** Recommendations one autoscaler keeps at most (a window over this many observations is cut to it). */
export const MAX_RECOMMENDATIONS = 4096;

/** Sizing decisions for one pool. */
export class Autoscaler {
  private highSince: number | undefined;
  private lowSince: number | undefined;
  private lastChange = -Infinity;
  private readonly decisions: ScaleDecision[] = [];
  /** Recommended sizes of the last `scaleDownWindowMs` (oldest first), at most {@link MAX_RECOMMENDATIONS}. */
  private readonly recommendations: Array<{ at: number; size: number }> = [];

  constructor(
    private readonly o: AutoscaleOptions,
    private readonly min: number,
    private readonly max: number,
  ) {}

  /** Looks at one sample taken at `now`; returns the new size when it should change. */
  observe(s: ScaleSample, now: number): ScaleDecision | undefined {
    const utilization = s.capacity === 0 ? (s.queued > 0 ? 1 : 0) : s.busy / s.capacity;
    // a backlog means demand beyond what the agents take: count it as full utilization
    const pressure = s.queued > 0 ? Math.max(utilization, 1) : utilization;
    if (pressure >= this.o.highWater) {
      this.highSince ??= now;
      this.lowSince = undefined;
    } else if (pressure <= this.o.lowWater) {
      this.lowSince ??= now;
      this.highSince = undefined;
    } else {
      this.highSince = undefined;
      this.lowSince = undefined;
    }
    const grown = Math.min(this.max, Math.max(s.size + 1, Math.ceil(s.size * this.o.growFactor)));
    const shrunk = Math.max(this.min, Math.floor(s.size * this.o.shrinkFactor));
    // a low utilization recommends the size that would run today's busy slots just under the high-water mark
    // (idle: min), so an idle pool steps down as soon as the window has forgotten the load
    const perAgent = s.size > 0 && s.capacity > 0 ? s.capacity / s.size : 1;
    const sized = Math.max(this.min, Math.min(s.size, Math.ceil(s.busy / perAgent / this.o.highWater)));
    const stable = this.recommend(now, pressure >= this.o.highWater ? grown : pressure <= this.o.lowWater ? sized : s.size);
    if (now - this.lastChange < this.o.cooldownMs) return undefined;
    let to = s.size;
    let reason = '';
    if (this.highSince !== undefined && now - this.highSince >= this.o.sustainMs && s.size < this.max) {
      to = grown;
      reason = `utilization ${utilization.toFixed(2)} ≥ ${this.o.highWater} for ${now - this.highSince} ms, ${s.queued} queued`;
    } else if (this.lowSince !== undefined && now - this.lowSince >= this.o.shrinkSustainMs && s.size > this.min) {
      // stabilized: never below the highest size recommended in the window
      to = Math.max(shrunk, Math.min(stable, s.size));
      reason = `utilization ${utilization.toFixed(2)} ≤ ${this.o.lowWater} for ${now - this.lowSince} ms`;
      if (to > shrunk) reason += `; held at ${to} by the ${this.o.scaleDownWindowMs} ms window`;
    }
    if (to === s.size) return undefined;
    const d: ScaleDecision = { at: now, from: s.size, to, reason };
    this.lastChange = now;
    this.highSince = undefined;
    this.lowSince = undefined;
    if (this.decisions.length >= this.o.historySize) this.decisions.shift();
    this.decisions.push(d);
    return d;
  }

  /** Records the size recommended at `now`; returns the highest recommended during the window. */
  private recommend(now: number, size: number): number {
    const r = this.recommendations;
    r.push({ at: now, size });
    while (r.length > 0 && (now - r[0].at > this.o.scaleDownWindowMs || r.length > MAX_RECOMMENDATIONS)) r.shift();
    let highest = size;
    for (const x of r) if (x.size > highest) highest = x.size;
    return highest;
  }

  /** The last decisions, oldest first. */
  history(): readonly ScaleDecision[] {
    return this.decisions;
  }
}
