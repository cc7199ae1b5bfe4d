import { describe, expect, it } from 'vitest';
import { createStrategy, type StrategyOptions } from '../../../../actors/balancer/createStrategy.js';
import { strategyNames, type StrategyName } from '../../../../actors/balancer/Strategy.js';
import { HiveError } from '../../../../protocols/errors.js';

function optionOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HiveError);
    expect((err as HiveError).code).toBe('INVALID_CONFIG');
    return (err as HiveError).details?.['option'] as string;
  }
  return undefined;
}

describe('createStrategy', () => {
  it('creates every strategy by name, each working behind the same interface', () => {
    for (const name of strategyNames) {
      const s = createStrategy(name);
      expect(s.name).toBe(name);
      s.add({ id: 'a', capacity: 2 });
      s.add({ id: 'b', capacity: 2, live: false });
      expect(s.size).toBe(2);
      expect(s.available).toBe(1);
      expect(s.pick('k')).toBe('a');
      s.update('a', { load: 2 });
      expect(s.pick('k')).toBeUndefined();
      expect([...s.ids()].sort()).toEqual(['a', 'b']);
    }
  });

  it('refuses an unknown strategy with a ConfigError naming `strategy`', () => {
    expect(optionOf(() => createStrategy('fastest' as StrategyName))).toBe('strategy');
    expect(optionOf(() => createStrategy(undefined as unknown as StrategyName))).toBe('strategy');
  });

  it('refuses bad options naming them', () => {
    const bad: Array<[StrategyOptions, string]> = [
      [{ vnodes: 0 }, 'vnodes'],
      [{ vnodes: 1.5 }, 'vnodes'],
      [{ respectCapacity: 'yes' as unknown as boolean }, 'respectCapacity'],
      [{ random: 4 as unknown as () => number }, 'random'],
      [{ hash: 'fnv' as unknown as (k: string) => number }, 'hash'],
    ];
    for (const [options, option] of bad) expect(optionOf(() => createStrategy('consistent-hash', options))).toBe(option);
  });
});
