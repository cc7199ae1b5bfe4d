import { describe, expect, it } from 'vitest';
import { Ewma, ewmaStep } from '../../../../actors/balancer/Ewma.js';

describe('Ewma', () => {
  it('starts at the first sample and moves by alpha', () => {
    const e = new Ewma({ alpha: 0.5 });
    expect(e.value).toBe(0);
    expect(e.add(10)).toBe(10);
    expect(e.add(20)).toBe(15);
    expect(e.add(Number.NaN)).toBe(15);
    expect(e.count).toBe(2);
    e.reset();
    expect(e.count).toBe(0);
    expect(e.add(4)).toBe(4);
  });

  it('derives alpha from a half-life and converges to a constant input', () => {
    const e = new Ewma({ halfLife: 10 });
    expect(e.alpha).toBeCloseTo(1 - 2 ** -0.1, 12);
    e.add(0);
    for (let i = 0; i < 10; i++) e.add(100);
    expect(e.value).toBeCloseTo(50, 6);
    for (let i = 0; i < 200; i++) e.add(100);
    expect(e.value).toBeCloseTo(100, 3);
  });

  it('refuses a bad alpha or half-life', () => {
    expect(() => new Ewma({ alpha: 0 })).toThrow(RangeError);
    expect(() => new Ewma({ alpha: 1.5 })).toThrow(RangeError);
    expect(() => new Ewma({ halfLife: -1 })).toThrow(RangeError);
    expect(() => new Ewma({ alpha: 0.1, halfLife: 2 })).toThrow(RangeError);
  });
});

describe('ewmaStep (the one EWMA rule the agents and pools use)', () => {
  it('takes the first sample as is, then moves by alpha, and ignores non-finite samples', () => {
    expect(ewmaStep(0, 10, true)).toBe(10);
    expect(ewmaStep(10, 20, false)).toBeCloseTo(12, 12);
    expect(ewmaStep(10, 20, false, 0.5)).toBe(15);
    expect(ewmaStep(7, Number.POSITIVE_INFINITY, false)).toBe(7);
    const e = new Ewma();
    e.add(10);
    expect(e.add(20)).toBe(ewmaStep(10, 20, false));
  });
});
