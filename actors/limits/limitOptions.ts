// Limiter and budget options: exported defaults, and validation that refuses a bad value with a ConfigError
// naming the option (`limiter.requestsPerMinute`, `budget.per`, ...), in the style of the breaker's options.
import { ConfigError } from '../../protocols/errors.js';

/** A cluster-wide rate and concurrency limit (say, one provider API key). At least one limit is required. */
export interface LimiterOptions {
  /** Takes admitted per minute, cluster-wide (each `take(n)` is one request). */
  requestsPerMinute?: number;
  /** Units admitted per minute, cluster-wide (each `take(n)` is `n` units, e.g. LLM tokens). */
  tokensPerMinute?: number;
  /** Permits held at once, cluster-wide (a permit is held until `permit.release()`). */
  maxConcurrent?: number;
  /**
   * The most a bucket holds: how far a quiet limiter may run ahead of its steady rate, and the largest `n` a
   * take may ask for. In tokens when `tokensPerMinute` is set, else in requests. Default: one second of that
   * rate (at least 1). The request bucket beside a token bucket holds one second of `requestsPerMinute`.
   */
  burst?: number;
}

/** A spending limit over a period (say, a team's daily LLM spend). */
export interface BudgetOptions {
  /** The most that may be charged in one period (any unit: dollars, tokens, calls). */
  limit: number;
  /** The period: a UTC calendar day, a UTC calendar month, or for ever. */
  per: 'day' | 'month' | 'total';
}

/** One rate of a limiter with everything resolved. */
export interface ResolvedRate {
  /** Units per millisecond. */
  perMs: number;
  /** Bucket size. */
  capacity: number;
  /** What one take of `n` costs here: `n` (units) or 1 (requests). */
  per: 'request' | 'unit';
}

/** {@link LimiterOptions} validated; stored as given, so every node compares and applies the same definition. */
export interface ResolvedLimiterOptions {
  requestsPerMinute: number | undefined;
  tokensPerMinute: number | undefined;
  maxConcurrent: number | undefined;
  burst: number;
}

/** Budget periods. */
export const budgetPeriods = ['day', 'month', 'total'] as const;

/** Largest per-minute rate, concurrency or budget limit accepted (well inside exact float arithmetic). */
export const MAX_LIMIT = 1e12;

function invalid(option: string, message: string, value: unknown): never {
  let shown: string;
  try {
    shown = typeof value === 'function' ? 'a function' : (JSON.stringify(value) ?? String(value));
  } catch {
    shown = String(value);
  }
  throw new ConfigError(`invalid option ${option}: ${message} (got ${shown})`, { details: { option, value: shown } });
}

function positive(option: string, value: unknown, integer: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_LIMIT || (integer && !Number.isInteger(value))) {
    invalid(option, `must be a positive ${integer ? 'integer' : 'number'} up to ${MAX_LIMIT}`, value);
  }
  return value;
}

function checkKeys(prefix: string, options: object, known: readonly string[]): void {
  for (const k of Object.keys(options)) if (!known.includes(k)) invalid(`${prefix}.${k}`, `unknown option; known options are ${known.join(', ')}`, (options as Record<string, unknown>)[k]);
}

const limiterKeys = ['requestsPerMinute', 'tokensPerMinute', 'maxConcurrent', 'burst'] as const;

/** Validates a limiter definition; throws {@link ConfigError} naming the first bad option. */
export function resolveLimiterOptions(options: LimiterOptions): ResolvedLimiterOptions {
  if (typeof options !== 'object' || options === null) invalid('limiter', 'must be an object of limiter options', options);
  checkKeys('limiter', options, limiterKeys);
  const rpm = options.requestsPerMinute === undefined ? undefined : positive('limiter.requestsPerMinute', options.requestsPerMinute, false);
  const tpm = options.tokensPerMinute === undefined ? undefined : positive('limiter.tokensPerMinute', options.tokensPerMinute, false);
  const conc = options.maxConcurrent === undefined ? undefined : positive('limiter.maxConcurrent', options.maxConcurrent, true);
  if (rpm === undefined && tpm === undefined && conc === undefined) {
    invalid('limiter', 'needs at least one of requestsPerMinute, tokensPerMinute, maxConcurrent', options);
  }
  const main = tpm ?? rpm;
  const burst = options.burst === undefined ? Math.max(1, Math.ceil((main ?? 60) / 60)) : positive('limiter.burst', options.burst, true);
  return { requestsPerMinute: rpm, tokensPerMinute: tpm, maxConcurrent: conc, burst };
}

/** The rates of a definition: the request bucket and/or the token bucket. */
export function ratesOf(o: ResolvedLimiterOptions): ResolvedRate[] {
  const rates: ResolvedRate[] = [];
  if (o.tokensPerMinute !== undefined) {
    rates.push({ perMs: o.tokensPerMinute / 60_000, capacity: o.burst, per: 'unit' });
    if (o.requestsPerMinute !== undefined) rates.push({ perMs: o.requestsPerMinute / 60_000, capacity: Math.max(1, Math.ceil(o.requestsPerMinute / 60)), per: 'request' });
  } else if (o.requestsPerMinute !== undefined) {
    rates.push({ perMs: o.requestsPerMinute / 60_000, capacity: o.burst, per: 'unit' });
  }
  return rates;
}

/** True when two definitions are the same. */
export function sameLimiter(a: ResolvedLimiterOptions, b: ResolvedLimiterOptions): boolean {
  return a.requestsPerMinute === b.requestsPerMinute && a.tokensPerMinute === b.tokensPerMinute && a.maxConcurrent === b.maxConcurrent && a.burst === b.burst;
}

/** Validates a budget definition; throws {@link ConfigError} naming the first bad option. */
export function resolveBudgetOptions(options: BudgetOptions): BudgetOptions {
  if (typeof options !== 'object' || options === null) invalid('budget', 'must be an object { limit, per }', options);
  checkKeys('budget', options, ['limit', 'per']);
  const limit = positive('budget.limit', options.limit, false);
  if (!budgetPeriods.includes(options.per)) invalid('budget.per', `must be one of ${budgetPeriods.join(', ')}`, options.per);
  return { limit, per: options.per };
}

/** The key of the period `epochMs` falls in: `2026-11-29` (day, UTC), `2026-11` (month, UTC) or `total`. */
export function periodOf(per: BudgetOptions['per'], epochMs: number): string {
  if (per === 'total') return 'total';
  const iso = new Date(epochMs).toISOString();
  return per === 'day' ? iso.slice(0, 10) : iso.slice(0, 7);
}
