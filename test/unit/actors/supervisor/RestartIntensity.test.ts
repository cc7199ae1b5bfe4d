import { describe, expect, it } from 'vitest';
import { RestartIntensity, defaultIntensity } from '../../../../actors/supervisor/RestartIntensity.js';
import { SimulatedClock } from '../../../../runtime/Clock.js';

describe('RestartIntensity', () => {
  it('allows N restarts within T and refuses the next one', () => {
    const clock = new SimulatedClock(1000);
    const r = new RestartIntensity({ maxRestarts: 3, withinMs: 100 }, clock);
    expect([r.record(), r.record(), r.record()]).toEqual([true, true, true]);
    expect(r.count()).toBe(3);
    expect(r.wouldExceed()).toBe(true);
    expect(r.record()).toBe(false);
    expect(r.count()).toBe(3);
  });

  it('slides: restarts older than T no longer count', () => {
    const clock = new SimulatedClock(0);
    const r = new RestartIntensity({ maxRestarts: 2, withinMs: 100 }, clock);
    r.record(); // t=0
    clock.advance(60);
    r.record(); // t=60
    expect(r.wouldExceed()).toBe(true);
    clock.advance(39); // t=99: the first is still inside the window
    expect(r.wouldExceed()).toBe(true);
    clock.advance(1); // t=100: the first left the window
    expect(r.wouldExceed()).toBe(false);
    expect(r.count()).toBe(1);
    expect(r.record()).toBe(true); // t=100, overwrites t=0 in the ring
    clock.advance(59); // t=159: 60 and 100 inside
    expect(r.record()).toBe(false);
    clock.advance(1); // t=160: 60 left
    expect(r.record()).toBe(true);
  });

  it('keeps a bounded history however many restarts it sees', () => {
    const clock = new SimulatedClock(0);
    const r = new RestartIntensity({ maxRestarts: 5, withinMs: 10 }, clock);
    let refused = 0;
    for (let i = 0; i < 100_000; i++) {
      if (!r.record()) refused++;
      clock.advance(2);
    }
    expect(refused).toBe(0);
    expect((r as unknown as { ring: number[] }).ring.length).toBe(5);
  });

  it('with maxRestarts 0 refuses every restart; reset forgets the history', () => {
    const clock = new SimulatedClock(0);
    expect(new RestartIntensity({ maxRestarts: 0, withinMs: 1000 }, clock).record()).toBe(false);
    const r = new RestartIntensity({ maxRestarts: 1, withinMs: 1000 }, clock);
    r.record();
    expect(r.wouldExceed()).toBe(true);
    r.reset();
    expect(r.wouldExceed()).toBe(false);
  });

  it('defaults to 10 restarts in 60 s and validates its options', () => {
    const r = new RestartIntensity({}, new SimulatedClock());
    expect([r.maxRestarts, r.withinMs]).toEqual([defaultIntensity.maxRestarts, defaultIntensity.withinMs]);
    expect(defaultIntensity).toEqual({ maxRestarts: 10, withinMs: 60_000 });
    expect(() => new RestartIntensity({ maxRestarts: -1 }, new SimulatedClock())).toThrow(/intensity.maxRestarts/);
    expect(() => new RestartIntensity({ maxRestarts: 1.5 }, new SimulatedClock())).toThrow(/intensity.maxRestarts/);
    expect(() => new RestartIntensity({ withinMs: 0 }, new SimulatedClock())).toThrow(/intensity.withinMs/);
  });
});
