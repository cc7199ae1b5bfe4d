// Unit tests for the query cache on a simulated clock: LRU order, TTL, per-namespace invalidation, racing
// writes, key normalization and hit/miss counting.
import { describe, expect, it } from 'vitest';
import { MAX_GENERATIONS, QueryCache, queryKey } from '../../../../actors/memory/QueryCache.js';
import { SimulatedClock } from '../../../../runtime/Clock.js';

const key = (namespace: string, query: string, k = 10) => ({ namespace, query, k });

describe('QueryCache', () => {
  it('returns cached results and counts hits and misses', () => {
    const c = new QueryCache<string>({ clock: new SimulatedClock() });
    expect(c.get(key('ns', 'q'))).toBeUndefined();
    c.set(key('ns', 'q'), 'result');
    expect(c.get(key('ns', 'q'))).toBe('result');
    expect(c.get(key('ns', 'q', 5))).toBeUndefined(); // another k is another query
    expect(c.stats()).toEqual({ hits: 1, misses: 2, hitRate: 1 / 3, size: 1 });
  });

  it('expires entries after the TTL', () => {
    const clock = new SimulatedClock(1000);
    const c = new QueryCache<string>({ clock, ttlMs: 500 });
    c.set(key('ns', 'q'), 'r');
    clock.advance(499);
    expect(c.get(key('ns', 'q'))).toBe('r');
    clock.advance(1);
    expect(c.get(key('ns', 'q'))).toBeUndefined();
    expect(c.stats().size).toBe(0);
  });

  it('evicts the least recently used entry beyond maxEntries', () => {
    const c = new QueryCache<number>({ clock: new SimulatedClock(), maxEntries: 2 });
    c.set(key('ns', 'a'), 1);
    c.set(key('ns', 'b'), 2);
    expect(c.get(key('ns', 'a'))).toBe(1); // a is now more recent than b
    c.set(key('ns', 'c'), 3);
    expect(c.get(key('ns', 'b'))).toBeUndefined();
    expect(c.get(key('ns', 'a'))).toBe(1);
    expect(c.get(key('ns', 'c'))).toBe(3);
    expect(c.stats().size).toBe(2);
  });

  it('invalidates one namespace on a write, leaving the others', () => {
    const c = new QueryCache<string>({ clock: new SimulatedClock() });
    c.set(key('a', 'q'), 'ra');
    c.set(key('a', 'q2'), 'ra2');
    c.set(key('b', 'q'), 'rb');
    c.invalidate('a');
    expect(c.get(key('a', 'q'))).toBeUndefined();
    expect(c.get(key('a', 'q2'))).toBeUndefined();
    expect(c.get(key('b', 'q'))).toBe('rb');
    expect(c.stats().size).toBe(1);
  });

  it('does not cache a result computed before a write that invalidated its namespace', () => {
    const c = new QueryCache<string>({ clock: new SimulatedClock() });
    const generation = c.generation('ns'); // read before searching
    c.invalidate('ns'); // a write lands while the search runs
    c.set(key('ns', 'q'), 'stale', generation);
    expect(c.get(key('ns', 'q'))).toBeUndefined();
    c.set(key('ns', 'q'), 'fresh', c.generation('ns'));
    expect(c.get(key('ns', 'q'))).toBe('fresh');
    c.clear();
    expect(c.get(key('ns', 'q'))).toBeUndefined();
  });

  it('keeps the generations of at most MAX_GENERATIONS namespaces, and still refuses a result that raced with a write', () => {
    const c = new QueryCache<string>();
    const before = c.generation('first');
    c.invalidate('first');
    for (let i = 0; i < MAX_GENERATIONS + 500; i++) c.invalidate(`ns${i}`);
    expect(c.generationsKept).toBe(MAX_GENERATIONS);
    // 'first' was dropped from the map long ago: its generation still differs from the one read before its write
    expect(c.generation('first')).not.toBe(before);
    c.set(key('first', 'q'), 'stale', before);
    expect(c.get(key('first', 'q'))).toBeUndefined();
    c.set(key('first', 'q'), 'fresh', c.generation('first'));
    expect(c.get(key('first', 'q'))).toBe('fresh');
  });

  it('keys vectors by value and filters regardless of key order', () => {
    expect(queryKey({ namespace: 'n', query: [0.5, 1], k: 3 })).toBe(queryKey({ namespace: 'n', query: Float32Array.of(0.5, 1), k: 3 }));
    expect(queryKey({ namespace: 'n', query: [0.5, 1], k: 3 })).not.toBe(queryKey({ namespace: 'n', query: [0.5, 2], k: 3 }));
    expect(queryKey({ namespace: 'n', query: 'q', k: 3, filter: { a: 1, b: { c: 2, d: 3 } } })).toBe(
      queryKey({ namespace: 'n', query: 'q', k: 3, filter: { b: { d: 3, c: 2 }, a: 1 } }),
    );
    expect(queryKey({ namespace: 'n', query: 'q', k: 3, efSearch: 40 })).not.toBe(queryKey({ namespace: 'n', query: 'q', k: 3, efSearch: 100 }));
    expect(queryKey({ namespace: 'n', query: 'q', k: 3 })).not.toBe(queryKey({ namespace: 'm', query: 'q', k: 3 }));
    // Text and a vector never collide.
    expect(queryKey({ namespace: 'n', query: 'v:x', k: 3 })).not.toBe(queryKey({ namespace: 'n', query: [1], k: 3 }));
  });

  it('refuses bad sizes', () => {
    expect(() => new QueryCache({ maxEntries: 0 })).toThrow(RangeError);
    expect(() => new QueryCache({ ttlMs: 0 })).toThrow(RangeError);
  });
});
