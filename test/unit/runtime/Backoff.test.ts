import { describe, expect, it } from 'vitest';
import { Backoff, defaultBackoff, resolveBackoff } from '../../../runtime/Backoff.js';

/** A deterministic random source cycling through `values`. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length];
}

describe('Backoff', () => {
  it('grows exponentially from minMs and is capped at maxMs without jitter', () => {
    const b = new Backoff({ minMs: 10, maxMs: 100, factor: 2, jitter: 'none' });
    expect(Array.from({ length: 7 }, () => b.next())).toEqual([10, 20, 40, 80, 100, 100, 100]);
    expect(b.attempts).toBe(7);
    b.reset();
    expect(b.next()).toBe(10);
  });

  it('draws full jitter uniformly between minMs and the exponential ceiling', () => {
    const low = new Backoff({ minMs: 10, maxMs: 1000, jitter: 'full' }, () => 0);
    const high = new Backoff({ minMs: 10, maxMs: 1000, jitter: 'full' }, () => 0.999999);
    const mid = new Backoff({ minMs: 10, maxMs: 1000, jitter: 'full' }, () => 0.5);
    expect([low.next(), low.next(), low.next()]).toEqual([10, 10, 10]);
    expect([high.next(), high.next(), high.next(), high.next()]).toEqual([10, 20, 40, 80]);
    // ceiling 10, 20, 40, 80 → midpoints with the floor at 10
    expect([mid.next(), mid.next(), mid.next(), mid.next()]).toEqual([10, 15, 25, 45]);
  });

  it('draws decorrelated jitter between minMs and three times the previous delay, capped', () => {
    const b = new Backoff({ minMs: 10, maxMs: 200, jitter: 'decorrelated' }, sequence(1, 1, 1, 1, 0));
    // previous 10 → up to 30 → up to 90 → up to 270 (capped 200) → 200 → then the floor
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([30, 90, 200, 200, 10]);
    b.reset();
    expect(new Backoff({ minMs: 10, maxMs: 200, jitter: 'decorrelated' }, () => 0.5).next()).toBe(20);
  });

  it('stays finite and capped through a very long crash loop', () => {
    const b = new Backoff({ minMs: 1, maxMs: 5000, factor: 10, jitter: 'full' }, () => 0.999);
    let last = 0;
    for (let i = 0; i < 5000; i++) last = b.next();
    expect(Number.isFinite(last)).toBe(true);
    expect(last).toBeLessThanOrEqual(5000);
    const zero = new Backoff({ minMs: 0, maxMs: 0, jitter: 'none' });
    for (let i = 0; i < 2000; i++) expect(zero.next()).toBe(0);
  });

  it('has documented defaults and refuses bad options with INVALID_ARGUMENT naming the field', () => {
    expect(resolveBackoff()).toEqual(defaultBackoff);
    expect(defaultBackoff).toMatchObject({ minMs: 10, maxMs: 5000, factor: 2, jitter: 'full', resetAfterMs: 30_000 });
    expect(() => resolveBackoff({ minMs: -1 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { option: 'backoff.minMs' } }) as Error);
    expect(() => resolveBackoff({ minMs: 100, maxMs: 10 })).toThrow(/backoff.maxMs/);
    expect(() => resolveBackoff({ factor: 0.5 })).toThrow(/backoff.factor/);
    expect(() => resolveBackoff({ jitter: 'sometimes' as never })).toThrow(/backoff.jitter/);
  });
});
