import { describe, expect, it } from 'vitest';
import { RoundRobin } from '../../../../actors/balancer/RoundRobin.js';
import { HiveError } from '../../../../protocols/errors.js';
import { countPicks } from './helpers.js';

describe('RoundRobin', () => {
  it('cycles evenly over the agents', () => {
    const s = new RoundRobin();
    for (const id of ['a', 'b', 'c', 'd', 'e']) s.add({ id });
    const counts = countPicks(s, 5000);
    expect([...counts.values()]).toEqual([1000, 1000, 1000, 1000, 1000]);
    // Consecutive picks differ.
    const seq = Array.from({ length: 10 }, () => s.pick());
    for (let i = 1; i < seq.length; i++) expect(seq[i]).not.toBe(seq[i - 1]);
  });

  it('returns undefined with no agents, and never picks dead ones', () => {
    const s = new RoundRobin();
    expect(s.pick()).toBeUndefined();
    s.add({ id: 'a' });
    s.add({ id: 'b', live: false });
    s.add({ id: 'c' });
    const counts = countPicks(s, 1000);
    expect(counts.get('b')).toBeUndefined();
    expect(counts.get('a')).toBe(500);
    s.update('a', { live: false });
    s.update('c', { live: false });
    expect(s.pick()).toBeUndefined();
    expect(s.available).toBe(0);
    s.update('b', { live: true });
    expect(s.pick()).toBe('b');
  });

  it('respects capacity (and can be told not to)', () => {
    const s = new RoundRobin();
    s.add({ id: 'a', capacity: 2, load: 2 });
    s.add({ id: 'b', capacity: 2, load: 1 });
    expect(countPicks(s, 100).get('a')).toBeUndefined();
    s.update('b', { load: 2 });
    expect(s.pick()).toBeUndefined();
    s.update('a', { load: 1 });
    expect(s.pick()).toBe('a');

    const loose = new RoundRobin({ respectCapacity: false });
    loose.add({ id: 'a', capacity: 1, load: 5 });
    expect(loose.pick()).toBe('a');
  });

  it('updates incrementally as agents come and go while picking', () => {
    const s = new RoundRobin();
    for (let i = 0; i < 10; i++) s.add({ id: `a${i}` });
    const counts = new Map<string, number>();
    for (let round = 0; round < 200; round++) {
      if (round % 20 === 0) s.remove(`a${Math.floor(round / 20)}`);
      if (round % 20 === 10) s.add({ id: `a${Math.floor(round / 20)}` });
      for (let k = 0; k < 10; k++) {
        const id = s.pick()!;
        expect(s.get(id)?.live).toBe(true);
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
    }
    // Every agent was present at least 90% of the time: each gets a fair share, give or take.
    for (const c of counts.values()) expect(c).toBeGreaterThan(150);
    expect(s.size).toBe(10);
  });

  it('treats add of a known id as an update, and reports unknown ids', () => {
    const s = new RoundRobin();
    s.add({ id: 'a', capacity: 1 });
    s.add({ id: 'a', load: 1 });
    expect(s.size).toBe(1);
    expect(s.get('a')).toMatchObject({ id: 'a', load: 1, capacity: 1, weight: 1, live: true, latencyEwmaMs: 0 });
    expect(s.pick()).toBeUndefined();
    expect(s.update('nope', { load: 1 })).toBe(false);
    expect(s.remove('nope')).toBe(false);
    expect(s.remove('a')).toBe(true);
    expect(s.has('a')).toBe(false);
  });

  it('refuses invalid agent values with INVALID_ARGUMENT naming the field', () => {
    const s = new RoundRobin();
    const cases: Array<[() => void, string]> = [
      [() => s.add({ id: '' }), 'id'],
      [() => s.add({ id: 'x', weight: -1 }), 'weight'],
      [() => s.add({ id: 'x', capacity: 0 }), 'capacity'],
      [() => s.add({ id: 'x', load: Number.NaN }), 'load'],
      [() => s.add({ id: 'x', latencyEwmaMs: Infinity }), 'latencyEwmaMs'],
      [() => s.add({ id: 'x', live: 'yes' as unknown as boolean }), 'live'],
    ];
    for (const [fn, field] of cases) {
      try {
        fn();
        expect.unreachable(`expected ${field} to be refused`);
      } catch (err) {
        expect(err).toBeInstanceOf(HiveError);
        expect((err as HiveError).code).toBe('INVALID_ARGUMENT');
        expect((err as HiveError).details?.['argument']).toBe(field);
      }
    }
    expect(s.size).toBe(0);
  });
});
