import { describe, expect, it } from 'vitest';
import { PowerOfTwo } from '../../../../actors/balancer/PowerOfTwo.js';
import { countPicks, seeded } from './helpers.js';

/** A random source replaying fixed values. */
function fixed(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length];
}

describe('PowerOfTwo (p2c)', () => {
  it('keeps the sampled agent with the lower latency EWMA', () => {
    // First draw index 0 of 3, second index 1 of the remaining 2 (so agent 2).
    const s = new PowerOfTwo({ random: fixed(0, 0.6) });
    s.add({ id: 'a', latencyEwmaMs: 30 });
    s.add({ id: 'b', latencyEwmaMs: 1 });
    s.add({ id: 'c', latencyEwmaMs: 10 });
    expect(s.pick()).toBe('c');
    s.update('c', { latencyEwmaMs: 50 });
    expect(s.pick()).toBe('a');
  });

  it('breaks latency ties by load', () => {
    const s = new PowerOfTwo({ random: fixed(0, 0) });
    s.add({ id: 'a', load: 3 });
    s.add({ id: 'b', load: 1 });
    expect(s.pick()).toBe('b');
    s.update('b', { load: 3 });
    expect(s.pick()).toBe('a');
  });

  it('sends more work to faster agents and none to the slowest', () => {
    const s = new PowerOfTwo({ random: seeded(8) });
    for (let i = 0; i < 10; i++) s.add({ id: `a${i}`, latencyEwmaMs: 1 + i });
    const counts = countPicks(s, 50_000);
    expect(counts.get('a9')).toBeUndefined();
    expect(counts.get('a0')!).toBeGreaterThan(counts.get('a5')!);
    // The fastest wins every pair it is in: 2/n of the picks.
    expect(counts.get('a0')! / 50_000).toBeCloseTo(0.2, 1);
  });

  it('never picks dead or full agents; handles 0 and 1 available', () => {
    const s = new PowerOfTwo({ random: seeded(9) });
    expect(s.pick()).toBeUndefined();
    s.add({ id: 'only' });
    expect(s.pick()).toBe('only');
    s.add({ id: 'dead', live: false, latencyEwmaMs: 0 });
    s.add({ id: 'full', capacity: 2, load: 2 });
    s.update('only', { latencyEwmaMs: 100 });
    expect([...countPicks(s, 1000).keys()]).toEqual(['only']);
    s.update('only', { live: false });
    expect(s.pick()).toBeUndefined();
  });

  it('is deterministic for a given random source', () => {
    const make = (): PowerOfTwo => {
      const s = new PowerOfTwo({ random: seeded(10) });
      for (let i = 0; i < 20; i++) s.add({ id: `a${i}`, latencyEwmaMs: (i * 7) % 11 });
      return s;
    };
    const a = make();
    const b = make();
    for (let i = 0; i < 100; i++) expect(a.pick()).toBe(b.pick());
  });
});
