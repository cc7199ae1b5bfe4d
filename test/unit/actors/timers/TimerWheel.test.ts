import { describe, expect, it } from 'vitest';
import { TimerWheel } from '../../../../actors/timers/TimerWheel.js';
import { SimulatedClock } from '../../../../runtime/Clock.js';

describe('TimerWheel', () => {
  it('fires in due order, each once, at its time; moved and deleted timers are honoured', () => {
    const clock = new SimulatedClock(0);
    const fired: Array<[string, number]> = [];
    const w = new TimerWheel(clock, (id) => fired.push([id, clock.now()]));
    w.set('c', 300);
    w.set('a', 100);
    w.set('b', 200);
    w.set('gone', 150);
    w.delete('gone');
    w.set('b', 250);
    clock.advance(1000);
    expect(fired).toEqual([
      ['a', 100],
      ['b', 250],
      ['c', 300],
    ]);
    expect(w.size).toBe(0);
  });

  it('waits for timers further ahead than a host timer can (re-armed hourly)', () => {
    const clock = new SimulatedClock(0);
    const fired: number[] = [];
    const w = new TimerWheel(clock, () => fired.push(clock.now()));
    const yearAway = 365 * 24 * 3600_000;
    w.set('far', yearAway);
    clock.advance(yearAway - 1);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([yearAway]);
  });
});
