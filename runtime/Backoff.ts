// Backoff: delays that grow exponentially from `minMs` to `maxMs`, with full or decorrelated jitter (the two
// schemes of the AWS architecture note on backoff), drawn from an injected random source. The one backoff of
// the project: supervisor restarts use a `Backoff` series, durable-queue retries `delayFor(attempt)`.

import { InvalidArgumentError } from '../protocols/errors.js';

/**
 * How jitter spreads the delays:
 * - `none`: exactly `min(maxMs, minMs × factor^attempt)`;
 * - `full`: uniform in `[minMs, min(maxMs, minMs × factor^attempt)]`;
 * - `decorrelated`: `min(maxMs, uniform(minMs, previous × 3))`, starting from `previous = minMs`.
 */
export type Jitter = 'none' | 'full' | 'decorrelated';

/** Restart delay options. */
export interface BackoffOptions {
  /** The first (and smallest) delay, ms. Default 10. */
  minMs?: number;
  /** The largest delay, ms. Default 5,000. */
  maxMs?: number;
  /** Growth per attempt for `none` and `full` jitter. Default 2. */
  factor?: number;
  /** Default `full`. */
  jitter?: Jitter;
  /** A child that stayed up this long since its last (re)start starts over at `minMs`. Default 30,000. */
  resetAfterMs?: number;
}

/** Backoff options with every field set. */
export type ResolvedBackoff = Readonly<Required<BackoffOptions>>;

/**
 * Defaults: start small (10 ms: a one-off crash is back almost at once), double per attempt, cap at 5 s (a
 * crash-looping child neither spins the CPU nor waits long once its cause is gone), full jitter (children
 * that failed together do not restart in lock-step), and start over after 30 s of good health.
 */
export const defaultBackoff: ResolvedBackoff = Object.freeze({ minMs: 10, maxMs: 5_000, factor: 2, jitter: 'full', resetAfterMs: 30_000 });

const jitters: readonly Jitter[] = ['none', 'full', 'decorrelated'];

/** Fills in defaults and validates; throws `INVALID_ARGUMENT` naming the bad field. */
export function resolveBackoff(options: BackoffOptions = {}): ResolvedBackoff {
  const out: Required<BackoffOptions> = { ...defaultBackoff };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  const bad = (field: string, rule: string, value: unknown): never => {
    throw new InvalidArgumentError(`backoff.${field} ${rule}, got ${String(value)}`, { details: { option: `backoff.${field}` } });
  };
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (!finite(out.minMs) || out.minMs < 0) bad('minMs', 'must be a finite number >= 0', out.minMs);
  if (!finite(out.maxMs) || out.maxMs < out.minMs) bad('maxMs', 'must be a finite number >= minMs', out.maxMs);
  if (!finite(out.factor) || out.factor < 1) bad('factor', 'must be a finite number >= 1', out.factor);
  if (!jitters.includes(out.jitter)) bad('jitter', `must be one of ${jitters.join(', ')}`, out.jitter);
  if (!finite(out.resetAfterMs) || out.resetAfterMs < 0) bad('resetAfterMs', 'must be a finite number >= 0', out.resetAfterMs);
  return Object.freeze(out);
}

/** The delays of one child's consecutive restarts. */
export class Backoff {
  private attempt = 0;
  private previous: number;
  private readonly options: ResolvedBackoff;

  constructor(
    options: BackoffOptions = {},
    /** A source of uniform numbers in [0, 1) (inject a fixed one in tests). */
    private readonly random: () => number = Math.random,
  ) {
    this.options = resolveBackoff(options);
    this.previous = this.options.minMs;
  }

  /** Delays handed out since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** The next delay, ms. */
  next(): number {
    const { minMs, maxMs, factor, jitter } = this.options;
    let delay: number;
    if (jitter === 'decorrelated') {
      delay = Math.min(maxMs, minMs + this.random() * (this.previous * 3 - minMs));
      this.previous = delay;
    } else {
      // minMs × factor^attempt reaches Infinity for long crash loops, which min() caps; 0 × Infinity is NaN
      const ceiling = minMs === 0 ? 0 : Math.min(maxMs, minMs * factor ** this.attempt);
      delay = jitter === 'full' ? minMs + this.random() * (ceiling - minMs) : ceiling;
    }
    this.attempt++;
    return Math.round(delay);
  }

  /**
   * The delay before retry number `attempt` (1-based) of a series whose state is kept elsewhere (a queued
   * message's delivery count): full jitter (or none) over `min(maxMs, minMs × factor^(attempt-1))`;
   * `decorrelated` is drawn as `full` here since it needs the previous delay. Does not advance `next()`.
   */
  delayFor(attempt: number): number {
    const { minMs, maxMs, factor, jitter } = this.options;
    const n = Math.max(0, Math.floor(attempt) - 1);
    const ceiling = minMs === 0 ? 0 : Math.min(maxMs, minMs * factor ** n);
    return Math.round(jitter === 'none' ? ceiling : minMs + this.random() * (ceiling - minMs));
  }

  /** Starts over at `minMs`. */
  reset(): void {
    this.attempt = 0;
    this.previous = this.options.minMs;
  }
}
