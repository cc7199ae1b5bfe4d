import { describe, expect, it } from 'vitest';
import { AgentStateCache } from '../../../../actors/balancer/AgentStateCache.js';
import { createStrategy } from '../../../../actors/balancer/createStrategy.js';
import { HiveError } from '../../../../protocols/errors.js';
import { SimulatedClock } from '../../../../runtime/Clock.js';

function setup(ttlMs = 1000): { clock: SimulatedClock; cache: AgentStateCache } {
  const clock = new SimulatedClock(5_000);
  const cache = new AgentStateCache(createStrategy('round-robin'), { ttlMs, clock });
  return { clock, cache };
}

describe('AgentStateCache', () => {
  it('stops picking agents whose state expired until they report again', () => {
    const { clock, cache } = setup();
    for (const id of ['a', 'b', 'c']) cache.up({ id });
    clock.advance(999);
    expect(new Set([cache.pick(), cache.pick(), cache.pick()])).toEqual(new Set(['a', 'b', 'c']));
    cache.report('a', { load: 0 });
    clock.advance(1);
    // b and c expired at 6000; a was refreshed at 5999.
    for (let i = 0; i < 10; i++) expect(cache.pick()).toBe('a');
    expect(cache.isFresh('b')).toBe(false);
    expect(cache.freshCount).toBe(1);
    expect(cache.size).toBe(3);
    expect(cache.strategy.get('b')?.live).toBe(false);
    cache.report('b', { load: 1 });
    expect(cache.isFresh('b')).toBe(true);
    expect(new Set(Array.from({ length: 4 }, () => cache.pick()))).toEqual(new Set(['a', 'b']));
    clock.advance(1000);
    expect(cache.pick()).toBeUndefined();
  });

  it('keeps an agent that declared itself not live out, even when fresh', () => {
    const { cache } = setup();
    cache.up({ id: 'a' });
    cache.report('a', { live: false });
    expect(cache.pick()).toBeUndefined();
    cache.report('a', { live: true });
    expect(cache.pick()).toBe('a');
  });

  it('an agent that expired while draining stays out when it reports again', () => {
    const { clock, cache } = setup();
    cache.up({ id: 'a', live: false });
    clock.advance(2000);
    expect(cache.pick()).toBeUndefined();
    cache.report('a', { load: 0 });
    expect(cache.pick()).toBeUndefined();
    cache.up({ id: 'a' });
    expect(cache.pick()).toBe('a');
  });

  it('removes agents that go down; ignores reports of unknown agents', () => {
    const { cache } = setup();
    cache.up({ id: 'a' });
    expect(cache.down('a')).toBe(true);
    expect(cache.down('a')).toBe(false);
    expect(cache.report('a', { load: 1 })).toBe(false);
    expect(cache.pick()).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('folds raw latency samples into an EWMA, or takes the agent’s own EWMA', () => {
    const clock = new SimulatedClock();
    const cache = new AgentStateCache(createStrategy('p2c'), { clock, latencyAlpha: 0.5 });
    cache.up({ id: 'a' });
    cache.report('a', { latencyMs: 10 });
    cache.report('a', { latencyMs: 20 });
    expect(cache.strategy.get('a')?.latencyEwmaMs).toBe(15);
    cache.report('a', { latencyEwmaMs: 3, latencyMs: 100 });
    expect(cache.strategy.get('a')?.latencyEwmaMs).toBe(3);
    expect(() => cache.report('a', { latencyMs: -1 })).toThrow(HiveError);
  });

  it('expires on its own timer, oldest first, and never with an infinite TTL', () => {
    const { clock, cache } = setup(100);
    for (let i = 0; i < 1000; i++) {
      cache.up({ id: `a${i}` });
      clock.advance(1);
    }
    // Now is 6000: agent i reported at 5000 + i is live until 5100 + i (excluded), so agents 0..900 expired.
    expect(cache.freshCount).toBe(99);
    expect(cache.strategy.get('a900')?.live).toBe(false);
    expect(cache.strategy.get('a901')?.live).toBe(true);
    expect(cache.strategy.available).toBe(99);
    expect(clock.pending).toBe(1);
    expect(cache.expire()).toBe(0);

    const forever = new AgentStateCache(createStrategy('round-robin'), { ttlMs: Infinity, clock });
    forever.up({ id: 'x' });
    clock.advance(1e12);
    expect(forever.pick()).toBe('x');
    cache.dispose();
    expect(clock.pending).toBe(0);
  });

  it('expire() catches up by hand when timers could not run', () => {
    let now = 0;
    const clock = { now: () => now, setTimeout: () => ({ __timer: true as const }), clearTimeout: () => undefined };
    const cache = new AgentStateCache(createStrategy('round-robin'), { ttlMs: 10, clock });
    cache.up({ id: 'a' });
    now = 5;
    cache.up({ id: 'b' });
    now = 12;
    expect(cache.isFresh('a')).toBe(false);
    expect(cache.isFresh('b')).toBe(true);
    expect(cache.expire()).toBe(1);
    expect(cache.pick()).toBe('b');
  });

  it('refuses a bad TTL with a ConfigError naming it', () => {
    try {
      new AgentStateCache(createStrategy('p2c'), { ttlMs: 0 });
      expect.unreachable();
    } catch (err) {
      expect((err as HiveError).code).toBe('INVALID_CONFIG');
      expect((err as HiveError).details?.['option']).toBe('ttlMs');
    }
  });
});
