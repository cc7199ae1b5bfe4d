// The one exponentially weighted moving average of Hive: O(1) per sample, no history kept. The agent's
// latency (agentMachine, an immutable xstate context) and the pool's view of an agent whose answer carried
// no load report both use `ewmaStep`; `Ewma` is the stateful form of the same rule.

/** Weight of each new sample when none is given (the agents' and pools' latency average). */
export const DEFAULT_EWMA_ALPHA = 0.2;

/**
 * One step of the average: `current + alpha * (sample - current)`, or `sample` itself for the first sample
 * (no bias toward an arbitrary start). A non-finite sample leaves the average as it is.
 */
export function ewmaStep(current: number, sample: number, first: boolean, alpha: number = DEFAULT_EWMA_ALPHA): number {
  if (!Number.isFinite(sample)) return current;
  return first ? sample : current + alpha * (sample - current);
}

/** Options of {@link Ewma}. */
export interface EwmaOptions {
  /** Weight of each new sample, in (0, 1] (default 0.2). Exclusive with `halfLife`. */
  alpha?: number;
  /** Samples after which an old sample's weight has halved (sets `alpha = 1 - 2^(-1/halfLife)`). */
  halfLife?: number;
}

/**
 * An exponentially weighted moving average: `value = alpha * sample + (1 - alpha) * value`.
 * The first sample sets the value directly (no bias toward an arbitrary start).
 * @example
 * const latency = new Ewma({ halfLife: 10 });
 * latency.add(12.5); // after each task
 */
export class Ewma {
  /** Weight of each new sample. */
  readonly alpha: number;
  private current = 0;
  private samples = 0;

  constructor(options: EwmaOptions = {}) {
    if (options.alpha !== undefined && options.halfLife !== undefined) throw new RangeError('Ewma: give alpha or halfLife, not both');
    if (options.halfLife !== undefined) {
      if (!(options.halfLife > 0 && options.halfLife < Infinity)) throw new RangeError(`Ewma: halfLife must be a positive number, got ${options.halfLife}`);
      this.alpha = 1 - 2 ** (-1 / options.halfLife);
    } else {
      const alpha = options.alpha ?? DEFAULT_EWMA_ALPHA;
      if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`Ewma: alpha must be in (0, 1], got ${alpha}`);
      this.alpha = alpha;
    }
  }

  /** The current average (0 before the first sample). */
  get value(): number {
    return this.current;
  }

  /** Number of samples added since construction or the last reset. */
  get count(): number {
    return this.samples;
  }

  /** Adds a sample (non-finite samples are ignored). @returns the new average. */
  add(sample: number): number {
    if (!Number.isFinite(sample)) return this.current;
    this.current = ewmaStep(this.current, sample, this.samples++ === 0, this.alpha);
    return this.current;
  }

  /** Forgets every sample. */
  reset(): void {
    this.current = 0;
    this.samples = 0;
  }
}
