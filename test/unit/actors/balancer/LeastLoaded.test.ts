import { describe, expect, it } from 'vitest';
import { LeastLoaded } from '../../../../actors/balancer/LeastLoaded.js';
import { seeded } from './helpers.js';

describe('LeastLoaded', () => {
  it('picks the agent with the lowest load, following updates', () => {
    const s = new LeastLoaded();
    s.add({ id: 'a', load: 3 });
    s.add({ id: 'b', load: 1 });
    s.add({ id: 'c', load: 2 });
    expect(s.pick()).toBe('b');
    s.update('b', { load: 5 });
    expect(s.pick()).toBe('c');
    s.update('a', { load: 0 });
    expect(s.pick()).toBe('a');
  });

  it('compares utilization (load / capacity) when capacities are set', () => {
    const s = new LeastLoaded();
    s.add({ id: 'big', capacity: 10, load: 2 });
    s.add({ id: 'small', capacity: 2, load: 1 });
    expect(s.pick()).toBe('big');
  });

  it('rotates among equally loaded agents', () => {
    const s = new LeastLoaded();
    for (const id of ['a', 'b', 'c']) s.add({ id });
    expect([s.pick(), s.pick(), s.pick(), s.pick()]).toEqual(['a', 'b', 'c', 'a']);
  });

  it('never picks a full or dead agent', () => {
    const s = new LeastLoaded();
    s.add({ id: 'a', capacity: 1, load: 1 });
    s.add({ id: 'b', capacity: 4, load: 3 });
    s.add({ id: 'dead', live: false });
    expect(s.pick()).toBe('b');
    s.update('b', { load: 4 });
    expect(s.pick()).toBeUndefined();
    s.update('dead', { live: true });
    expect(s.pick()).toBe('dead');
    s.remove('dead');
    expect(s.pick()).toBeUndefined();
    s.update('a', { load: 0 });
    expect(s.pick()).toBe('a');
  });

  it('always picks a minimum-utilization agent under random incremental updates (checked against a scan)', () => {
    const next = seeded(7);
    const s = new LeastLoaded();
    const ids: string[] = [];
    for (let step = 0; step < 20_000; step++) {
      const r = next();
      if (r < 0.05 || ids.length < 3) {
        const id = `a${step}`;
        ids.push(id);
        s.add({ id, capacity: 1 + Math.floor(next() * 8), load: Math.floor(next() * 4), live: next() > 0.1 });
      } else if (r < 0.08) {
        const [id] = ids.splice(Math.floor(next() * ids.length), 1);
        s.remove(id);
      } else if (r < 0.6) {
        const id = ids[Math.floor(next() * ids.length)];
        s.update(id, next() < 0.1 ? { live: next() < 0.8 } : { load: Math.floor(next() * 9) });
      } else {
        const picked = s.pick();
        let best = Infinity;
        for (const id of ids) {
          const a = s.get(id)!;
          if (a.live && a.load < a.capacity) best = Math.min(best, a.load / a.capacity);
        }
        if (best === Infinity) expect(picked).toBeUndefined();
        else {
          const a = s.get(picked!)!;
          expect(a.live).toBe(true);
          expect(a.load / a.capacity).toBe(best);
        }
      }
    }
  });
});
