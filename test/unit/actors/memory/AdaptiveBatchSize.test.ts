// Unit tests for AIMD batch sizing: additive growth on fast full batches, halving on slow ones, bounds.
import { describe, expect, it } from 'vitest';
import { AdaptiveBatchSize } from '../../../../actors/memory/AdaptiveBatchSize.js';

describe('AdaptiveBatchSize', () => {
  it('grows by a step while full batches beat the target, up to max', () => {
    const b = new AdaptiveBatchSize({ initial: 1000, step: 500, max: 2200, targetMs: 100 });
    b.observe(1000, 50);
    expect(b.size).toBe(1500);
    b.observe(1500, 99);
    expect(b.size).toBe(2000);
    b.observe(2000, 10);
    expect(b.size).toBe(2200);
    b.observe(2200, 10);
    expect(b.size).toBe(2200);
  });

  it('halves on a slow batch, down to min', () => {
    const b = new AdaptiveBatchSize({ initial: 1000, min: 300, targetMs: 100 });
    b.observe(1000, 150);
    expect(b.size).toBe(500);
    b.observe(500, 500);
    expect(b.size).toBe(300);
    b.observe(300, 500);
    expect(b.size).toBe(300);
  });

  it('does not grow on a short tail batch, and shrinks from the batch actually sent', () => {
    const b = new AdaptiveBatchSize({ initial: 1000, targetMs: 100, min: 10 });
    b.observe(20, 1);
    expect(b.size).toBe(1000);
    b.observe(100, 200);
    expect(b.size).toBe(50);
  });

  it('converges toward the batch size that meets the target', () => {
    // Simulated database: 0.1 ms per document plus 5 ms per batch; target 100 ms → about 950 documents.
    const b = new AdaptiveBatchSize({ initial: 64, min: 64, max: 20_000, targetMs: 100, step: 100 });
    const sizes: number[] = [];
    for (let i = 0; i < 200; i++) {
      b.observe(b.size, 5 + b.size * 0.1);
      sizes.push(b.size);
    }
    const tail = sizes.slice(-50);
    expect(Math.max(...tail)).toBeLessThanOrEqual(1050);
    expect(Math.min(...tail)).toBeGreaterThanOrEqual(400);
  });

  it('clamps the initial size and refuses nonsense', () => {
    expect(new AdaptiveBatchSize({ initial: 5, min: 64 }).size).toBe(64);
    expect(() => new AdaptiveBatchSize({ min: 10, max: 5 })).toThrow(RangeError);
    expect(() => new AdaptiveBatchSize({ decrease: 1 })).toThrow(RangeError);
    expect(() => new AdaptiveBatchSize({ targetMs: 0 })).toThrow(RangeError);
  });
});
