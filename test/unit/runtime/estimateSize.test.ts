// The mailbox's byte estimate: close to the encoded size for ordinary events, bounded work for huge ones.
import { encode } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { MAX_VISITS, estimateSize } from '../../../runtime/estimateSize.js';

describe('estimateSize', () => {
  it('is within a factor of two of the msgpack size for ordinary events', () => {
    const events = [
      { type: 'inc' },
      { type: 'note', text: 'x'.repeat(1000) },
      { type: 'put', key: 'k', value: { a: 1, b: [1, 2, 3], c: 'hello', d: null, e: true } },
      { type: 'rows', rows: Array.from({ length: 100 }, (_, i) => ({ id: i, name: `row ${i}` })) },
      { type: 'blob', data: new Uint8Array(50_000) },
    ];
    for (const e of events) {
      const real = encode(e).length;
      const est = estimateSize(e);
      expect(est, JSON.stringify(e).slice(0, 60)).toBeGreaterThanOrEqual(real / 2);
      expect(est, JSON.stringify(e).slice(0, 60)).toBeLessThanOrEqual(real * 2 + 16);
    }
  });

  it('extrapolates a huge array from the part it measured (bounded work)', () => {
    const big = { type: 'many', items: Array.from({ length: 200_000 }, (_, i) => ({ n: i, s: 'abcdefgh' })) };
    const real = encode(big).length;
    let reads = 0;
    const counted = { ...big, items: new Proxy(big.items, { get: (t, k, r) => (typeof k === 'string' && /^\d+$/.test(k) && (reads += 1), Reflect.get(t, k, r) as unknown) }) };
    const est = estimateSize(counted);
    expect(est).toBeGreaterThanOrEqual(real / 2);
    expect(est).toBeLessThanOrEqual(real * 2);
    expect(reads).toBeLessThanOrEqual(MAX_VISITS); // a few hundred elements read, not 200,000
  });
});
