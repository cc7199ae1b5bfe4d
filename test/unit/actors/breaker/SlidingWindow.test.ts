import { describe, expect, it } from 'vitest';
import { CountWindow, TimeWindow } from '../../../../actors/breaker/SlidingWindow.js';

describe('sliding windows', () => {
  it('CountWindow keeps the last N outcomes', () => {
    const w = new CountWindow(4);
    for (const f of [true, true, false, false]) w.record(f, 0);
    expect([w.calls(0), w.failures(0)]).toEqual([4, 2]);
    w.record(false, 0);
    w.record(false, 0);
    expect([w.calls(0), w.failures(0)]).toEqual([4, 0]);
    w.record(true, 0);
    expect(w.failures(0)).toBe(1);
    w.reset();
    expect([w.calls(0), w.failures(0)]).toEqual([0, 0]);
  });

  it('TimeWindow forgets buckets older than the window', () => {
    const w = new TimeWindow(1000, 10);
    w.record(true, 0);
    w.record(false, 50);
    w.record(true, 450);
    expect([w.calls(450), w.failures(450)]).toEqual([3, 2]);
    // At 1000 the bucket [0, 100) has left the window.
    expect([w.calls(1000), w.failures(1000)]).toEqual([1, 1]);
    expect([w.calls(1450), w.failures(1450)]).toEqual([0, 0]);
    w.record(true, 1500);
    // A long pause clears everything.
    expect(w.calls(1_000_000)).toBe(0);
    // A clock going backwards records into the current bucket.
    w.record(true, 5);
    expect(w.calls(1_000_000)).toBe(1);
  });

  it('TimeWindow totals match a brute-force count', () => {
    const w = new TimeWindow(1000, 20);
    const events: Array<[number, boolean]> = [];
    let t = 0;
    for (let i = 0; i < 5000; i++) {
      t += Math.floor((i * 37) % 23);
      const f = (i * 13) % 7 < 3;
      w.record(f, t);
      events.push([t, f]);
      if (i % 50 === 0) {
        const start = (Math.floor(t / 50) - 19) * 50;
        const inWindow = events.filter(([at]) => at >= start);
        expect(w.calls(t)).toBe(inWindow.length);
        expect(w.failures(t)).toBe(inWindow.filter(([, fail]) => fail).length);
      }
    }
  });
});
