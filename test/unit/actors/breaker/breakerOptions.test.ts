import { describe, expect, it } from 'vitest';
import { resolveBreakerOptions, type BreakerOptions, type WindowOptions } from '../../../../actors/breaker/breakerOptions.js';
import { CircuitBreaker } from '../../../../actors/breaker/CircuitBreaker.js';
import { HiveError } from '../../../../protocols/errors.js';

function optionOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HiveError);
    expect((err as HiveError).code).toBe('INVALID_CONFIG');
    expect((err as HiveError).message).toContain(String((err as HiveError).details?.['option']));
    return (err as HiveError).details?.['option'] as string;
  }
  throw new Error('expected a ConfigError');
}

describe('breaker options', () => {
  it('fills in defaults', () => {
    const o = resolveBreakerOptions();
    expect(o).toMatchObject({ failureRateThreshold: 0.5, minimumCalls: 20, consecutiveFailures: 5, coolDownMs: 5000, probesToClose: 2, callTimeoutMs: undefined });
    expect(o.window).toEqual({ kind: 'count', size: 100 });
    expect(o.isFailure(new Error('x'))).toBe(true);
  });

  it('refuses each bad option with a ConfigError naming it', () => {
    const bad: Array<[BreakerOptions, string]> = [
      [{ failureRateThreshold: 0 }, 'failureRateThreshold'],
      [{ failureRateThreshold: 1.2 }, 'failureRateThreshold'],
      [{ minimumCalls: 0 }, 'minimumCalls'],
      [{ window: { kind: 'count', size: 0 } }, 'window.size'],
      [{ window: { kind: 'count', size: 10 }, minimumCalls: 11 }, 'minimumCalls'],
      [{ window: { kind: 'time', ms: -5 } }, 'window.ms'],
      [{ window: { kind: 'time', ms: 1000, buckets: 0 } }, 'window.buckets'],
      [{ window: { kind: 'sliding' } as unknown as WindowOptions }, 'window.kind'],
      [{ consecutiveFailures: 0 }, 'consecutiveFailures'],
      [{ coolDownMs: Number.NaN }, 'coolDownMs'],
      [{ coolDownMs: 5000, maxCoolDownMs: 1000 }, 'maxCoolDownMs'],
      [{ coolDownMultiplier: 0.5 }, 'coolDownMultiplier'],
      [{ probesToClose: 0 }, 'probesToClose'],
      [{ probeTimeoutMs: 0 }, 'probeTimeoutMs'],
      [{ callTimeoutMs: Infinity }, 'callTimeoutMs'],
      [{ isFailure: true as unknown as () => boolean }, 'isFailure'],
      [{ coolDown: 5 } as unknown as BreakerOptions, 'coolDown'],
    ];
    for (const [options, option] of bad) expect(optionOf(() => resolveBreakerOptions(options))).toBe(option);
    expect(resolveBreakerOptions({ consecutiveFailures: Infinity }).consecutiveFailures).toBe(Infinity);
  });

  it('the CircuitBreaker constructor refuses bad options and names', () => {
    expect(optionOf(() => new CircuitBreaker('db', { coolDownMs: -1 }))).toBe('coolDownMs');
    expect(optionOf(() => new CircuitBreaker(''))).toBe('name');
  });
});
