import { describe, expect, it } from 'vitest';
import { periodOf, ratesOf, resolveBudgetOptions, resolveLimiterOptions, type LimiterOptions } from '../../../../actors/limits/limitOptions.js';
import { ConfigError } from '../../../../protocols/errors.js';

function optionOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return String((err as ConfigError).details?.['option']);
  }
  throw new Error('expected a ConfigError');
}

describe('limiter and budget options', () => {
  it('name the bad option', () => {
    expect(optionOf(() => resolveLimiterOptions({ requestsPerMinute: -1 }))).toBe('limiter.requestsPerMinute');
    expect(optionOf(() => resolveLimiterOptions({ tokensPerMinute: Number.NaN }))).toBe('limiter.tokensPerMinute');
    expect(optionOf(() => resolveLimiterOptions({ maxConcurrent: 1.5 }))).toBe('limiter.maxConcurrent');
    expect(optionOf(() => resolveLimiterOptions({ requestsPerMinute: 60, burst: 0 }))).toBe('limiter.burst');
    expect(optionOf(() => resolveLimiterOptions({ rpm: 5 } as LimiterOptions))).toBe('limiter.rpm');
    expect(optionOf(() => resolveLimiterOptions({}))).toBe('limiter');
    expect(optionOf(() => resolveBudgetOptions({ limit: 0, per: 'day' }))).toBe('budget.limit');
    expect(optionOf(() => resolveBudgetOptions({ limit: 1, per: 'year' as 'day' }))).toBe('budget.per');
  });

  it('default the burst to one second of the main rate, at least 1', () => {
    expect(resolveLimiterOptions({ requestsPerMinute: 600 }).burst).toBe(10);
    expect(resolveLimiterOptions({ requestsPerMinute: 6 }).burst).toBe(1);
    expect(resolveLimiterOptions({ requestsPerMinute: 600, tokensPerMinute: 60_000 }).burst).toBe(1000);
    const rates = ratesOf(resolveLimiterOptions({ requestsPerMinute: 120, tokensPerMinute: 6000, burst: 100 }));
    expect(rates.map((r) => [r.per, r.capacity])).toEqual([['unit', 100], ['request', 2]]);
  });

  it('periods are UTC days and months', () => {
    const t = Date.UTC(2026, 0, 31, 23, 59);
    expect(periodOf('day', t)).toBe('2026-01-31');
    expect(periodOf('month', t)).toBe('2026-01');
    expect(periodOf('total', t)).toBe('total');
  });
});
