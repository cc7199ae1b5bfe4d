import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../../runtime/Clock.js';
import { RandomIds, SequentialIds } from '../../../runtime/ids.js';
import { isToken } from '../../../protocols/subjects.js';

describe('simulated clock', () => {
  it('fires timers in due order at their own time, including timers set while firing', () => {
    const clock = new SimulatedClock(100);
    const fired: Array<[string, number]> = [];
    clock.setTimeout(() => fired.push(['b', clock.now()]), 20);
    clock.setTimeout(() => {
      fired.push(['a', clock.now()]);
      clock.setTimeout(() => fired.push(['c', clock.now()]), 5);
    }, 10);
    const cancelled = clock.setTimeout(() => fired.push(['x', clock.now()]), 15);
    clock.clearTimeout(cancelled);
    clock.advance(30);
    expect(fired).toEqual([
      ['a', 110],
      ['c', 115],
      ['b', 120],
    ]);
    expect(clock.now()).toBe(130);
    expect(clock.pending).toBe(0);
  });
});

describe('ids', () => {
  it('random ids are unique subject tokens', () => {
    const ids = new RandomIds();
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const id = ids.next();
      expect(isToken(id)).toBe(true);
      seen.add(id);
    }
    expect(seen.size).toBe(10_000);
  });

  it('sequential ids are predictable', () => {
    const ids = new SequentialIds('t');
    expect([ids.next(), ids.next()]).toEqual(['t1', 't2']);
  });
});
