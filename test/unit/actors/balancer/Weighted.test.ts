import { describe, expect, it } from 'vitest';
import { Weighted } from '../../../../actors/balancer/Weighted.js';
import { countPicks, seeded } from './helpers.js';

describe('Weighted (alias table)', () => {
  it('picks in proportion to the weights', () => {
    const s = new Weighted({ random: seeded(1) });
    s.add({ id: 'a', weight: 1 });
    s.add({ id: 'b', weight: 2 });
    s.add({ id: 'c', weight: 7 });
    const n = 200_000;
    const counts = countPicks(s, n);
    expect(counts.get('a')! / n).toBeCloseTo(0.1, 1);
    expect(counts.get('b')! / n).toBeCloseTo(0.2, 1);
    expect(counts.get('c')! / n).toBeCloseTo(0.7, 1);
    expect(Math.abs(counts.get('c')! / n - 0.7)).toBeLessThan(0.01);
  });

  it('spreads over many agents of equal weight', () => {
    const s = new Weighted({ random: seeded(2) });
    for (let i = 0; i < 100; i++) s.add({ id: `a${i}` });
    const counts = countPicks(s, 100_000);
    expect(counts.size).toBe(100);
    for (const c of counts.values()) {
      expect(c).toBeGreaterThan(700);
      expect(c).toBeLessThan(1300);
    }
  });

  it('never picks weight-0 or dead agents', () => {
    const s = new Weighted({ random: seeded(3) });
    s.add({ id: 'zero', weight: 0 });
    expect(s.pick()).toBeUndefined();
    s.add({ id: 'dead', weight: 5, live: false });
    s.add({ id: 'ok', weight: 1 });
    const counts = countPicks(s, 10_000);
    expect([...counts.keys()]).toEqual(['ok']);
    s.update('ok', { live: false });
    expect(s.pick()).toBeUndefined();
  });

  it('follows weight and membership changes (rebuilding lazily), not load changes', () => {
    const s = new Weighted({ random: seeded(4) });
    s.add({ id: 'a', weight: 1 });
    s.add({ id: 'b', weight: 1 });
    s.pick();
    expect(Reflect.get(s, 'dirty')).toBe(false);
    s.update('a', { load: 3, latencyEwmaMs: 12 });
    expect(Reflect.get(s, 'dirty')).toBe(false);
    s.update('a', { weight: 9 });
    expect(Reflect.get(s, 'dirty')).toBe(true);
    const n = 100_000;
    const counts = countPicks(s, n);
    expect(Reflect.get(s, 'dirty')).toBe(false);
    expect(counts.get('a')! / n).toBeCloseTo(0.9, 1);
    s.remove('a');
    expect(countPicks(s, 1000).get('b')).toBe(1000);
  });

  it('respects capacity: the share of a full agent goes to the others by weight', () => {
    const s = new Weighted({ random: seeded(5) });
    s.add({ id: 'big', weight: 8, capacity: 1, load: 1 });
    s.add({ id: 'a', weight: 1 });
    s.add({ id: 'b', weight: 3 });
    const n = 40_000;
    const counts = countPicks(s, n);
    expect(counts.get('big')).toBeUndefined();
    expect(counts.get('b')! / n).toBeCloseTo(0.75, 1);
  });

  it('finds the one agent with room even when nearly all weight is full', () => {
    const s = new Weighted({ random: seeded(6) });
    for (let i = 0; i < 50; i++) s.add({ id: `full${i}`, weight: 1_000_000, capacity: 1, load: 1 });
    s.add({ id: 'small', weight: 1, capacity: 1 });
    for (let i = 0; i < 100; i++) expect(s.pick()).toBe('small');
    s.update('small', { load: 1 });
    expect(s.pick()).toBeUndefined();
  });
});
