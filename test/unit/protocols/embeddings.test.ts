// Unit tests for the embedding codecs: exact f16 cases, the documented error bounds on random vectors,
// int8 bounds and binary packing/hamming distance.
import { describe, expect, it } from 'vitest';
import {
  binarize,
  vectorFromWire,
  decodeF16,
  dequantizeInt8,
  encodeF16,
  F16_MAX,
  F16_MIN_NORMAL,
  f16ToF32,
  f32ToF16,
  hammingDistance,
  quantizeInt8,
} from '../../../protocols/embeddings.js';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomVector(rand: () => number, n: number, scale = 1): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (rand() * 2 - 1) * scale;
  return v;
}

describe('f16', () => {
  it('encodes exact values and special cases bit for bit', () => {
    expect(f32ToF16(0)).toBe(0x0000);
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(-2)).toBe(0xc000);
    expect(f32ToF16(0.5)).toBe(0x3800);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(F16_MIN_NORMAL)).toBe(0x0400);
    expect(f32ToF16(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f32ToF16(2 ** -24 * 1023)).toBe(0x03ff); // largest subnormal
    expect(f32ToF16(Infinity)).toBe(0x7c00);
    expect(f32ToF16(-Infinity)).toBe(0xfc00);
    expect(f32ToF16(1e6)).toBe(0x7c00); // overflow
    expect(f32ToF16(65520)).toBe(0x7c00); // rounds up past F16_MAX
    expect(f32ToF16(65519)).toBe(0x7bff);
    expect(f16ToF32(f32ToF16(NaN))).toBeNaN();
    expect(f32ToF16(1e-10)).toBe(0x0000); // underflow to zero
    expect(f32ToF16(-1e-10)).toBe(0x8000);
  });

  it('rounds ties to even', () => {
    // 1 + 2^-11 is exactly half way between 1 and 1 + 2^-10: the even mantissa (1) wins.
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00);
    // 1 + 3 * 2^-11 is half way between 1 + 2^-10 (odd) and 1 + 2^-9 (even).
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    // Just above the tie rounds up.
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
    // Subnormal ties: 2^-25 is half the smallest subnormal, rounds to zero (even); 3 * 2^-25 to 2 * 2^-24.
    expect(f32ToF16(2 ** -25)).toBe(0x0000);
    expect(f32ToF16(3 * 2 ** -25)).toBe(0x0002);
    // Rounding up the largest subnormal gives the smallest normal.
    expect(f32ToF16(2 ** -24 * 1023.75)).toBe(0x0400);
  });

  it('decodes every one of the 65,536 half values consistently with encoding', () => {
    const all = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) all[i] = i;
    const decoded = decodeF16(all);
    const mismatches: number[] = [];
    for (let i = 0; i < 65536; i++) {
      const x = decoded[i];
      if (Number.isNaN(x)) {
        if (!((i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0)) mismatches.push(i);
        continue;
      }
      if (f32ToF16(x) !== i) mismatches.push(i); // every half value round-trips exactly
    }
    expect(mismatches).toEqual([]);
  });

  it('keeps relative error ≤ 2^-11 in the normal range on random vectors', () => {
    const rand = rng(42);
    let worst = 0;
    for (let trial = 0; trial < 200; trial++) {
      // Magnitudes spread over the whole normal range (2^-14 .. 2^15).
      const v = new Float32Array(384);
      for (let i = 0; i < v.length; i++) {
        const mag = 2 ** (-14 + rand() * 29);
        v[i] = Math.min(mag, F16_MAX) * (rand() < 0.5 ? -1 : 1);
      }
      const back = decodeF16(encodeF16(v));
      for (let i = 0; i < v.length; i++) {
        const rel = Math.abs(back[i] - v[i]) / Math.abs(v[i]);
        if (rel > worst) worst = rel;
      }
    }
    expect(worst).toBeLessThanOrEqual(2 ** -11);
    expect(worst).toBeGreaterThan(2 ** -13); // the bound is tight-ish, not vacuous
  });

  it('keeps absolute error ≤ 2^-25 for subnormals', () => {
    const rand = rng(7);
    const v = randomVector(rand, 4096, F16_MIN_NORMAL);
    const back = decodeF16(encodeF16(v));
    let worst = 0;
    for (let i = 0; i < v.length; i++) worst = Math.max(worst, Math.abs(back[i] - v[i]));
    expect(worst).toBeLessThanOrEqual(2 ** -25);
  });

  it('encodes typical unit-norm embeddings with small cosine loss', () => {
    const rand = rng(3);
    const v = randomVector(rand, 384);
    const back = decodeF16(encodeF16(v));
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let i = 0; i < v.length; i++) {
      dot += v[i] * back[i];
      na += v[i] ** 2;
      nb += back[i] ** 2;
    }
    expect(1 - dot / Math.sqrt(na * nb)).toBeLessThan(1e-6);
  });

  it('writes into a given output and refuses a short one', () => {
    const out = new Uint16Array(4);
    expect(encodeF16(Float32Array.of(1, 2, 3), out)).toBe(out);
    expect(Array.from(out)).toEqual([0x3c00, 0x4000, 0x4200, 0]);
    expect(() => encodeF16(Float32Array.of(1, 2), new Uint16Array(1))).toThrow(RangeError);
    expect(() => decodeF16(Uint16Array.of(1, 2), new Float32Array(1))).toThrow(RangeError);
  });
});

describe('int8', () => {
  it('keeps absolute error ≤ scale / 2 per component on random vectors', () => {
    const rand = rng(11);
    for (let trial = 0; trial < 200; trial++) {
      const v = randomVector(rand, 384, 10 ** (rand() * 6 - 3));
      const q = quantizeInt8(v);
      let maxAbs = 0;
      for (const x of v) maxAbs = Math.max(maxAbs, Math.abs(x));
      expect(q.scale).toBeCloseTo(maxAbs / 127, 12);
      const back = dequantizeInt8(q);
      let violations = 0;
      for (let i = 0; i < v.length; i++) {
        // float32 storage of the product adds at most one float32 ulp of the value.
        const bound = (q.scale / 2) * (1 + 1e-6) + Math.abs(v[i]) * 2 ** -23;
        if (Math.abs(back[i] - v[i]) > bound) violations++;
        if (q.values[i] < -127 || q.values[i] > 127) violations++;
      }
      expect(violations).toBe(0);
    }
  });

  it('maps the largest component to ±127 and handles the zero vector', () => {
    const q = quantizeInt8(Float32Array.of(0.5, -1, 0.25));
    expect(Array.from(q.values)).toEqual([64, -127, 32]);
    const z = quantizeInt8(new Float32Array(3));
    expect(z.scale).toBe(0);
    expect(Array.from(dequantizeInt8(z))).toEqual([0, 0, 0]);
  });
});

describe('binary', () => {
  it('packs sign bits most significant bit first, like pgvector binary_quantize', () => {
    const bits = binarize(Float32Array.of(1, -1, 0, 2, -3, 4, 5, -6, 7));
    expect(Array.from(bits)).toEqual([0b10010110, 0b10000000]);
  });

  it('measures hamming distance and keeps only the sign', () => {
    const rand = rng(5);
    const v = randomVector(rand, 384);
    const scaled = v.map((x) => x * 1000);
    expect(hammingDistance(binarize(v), binarize(scaled))).toBe(0);
    const neg = v.map((x) => -x);
    expect(hammingDistance(binarize(v), binarize(neg))).toBe(384 - v.filter((x) => x === 0).length);
    expect(hammingDistance(Uint8Array.of(0xff, 0x0f), Uint8Array.of(0x00, 0x0e))).toBe(9);
    expect(() => hammingDistance(new Uint8Array(1), new Uint8Array(2))).toThrow(RangeError);
  });

  it('keeps similar vectors closer than unrelated ones', () => {
    const rand = rng(9);
    const a = randomVector(rand, 384);
    const near = a.map((x) => x + (rand() - 0.5) * 0.1);
    const far = randomVector(rand, 384);
    expect(hammingDistance(binarize(a), binarize(near))).toBeLessThan(hammingDistance(binarize(a), binarize(far)));
  });
});

describe('vectorFromWire', () => {
  it('reads msgpack bin as little-endian float32, 4 bytes a dimension, and refuses other lengths', () => {
    const bytes = new Uint8Array(12);
    const view = new DataView(bytes.buffer);
    [1.5, -2, 0.25].forEach((x, i) => view.setFloat32(i * 4, x, true));
    expect(Array.from(vectorFromWire(bytes, 'vector') as Float32Array)).toEqual([1.5, -2, 0.25]);
    // an unaligned view (a bin inside a larger frame) reads the same
    const framed = new Uint8Array(13);
    framed.set(bytes, 1);
    expect(Array.from(vectorFromWire(framed.subarray(1), 'vector') as Float32Array)).toEqual([1.5, -2, 0.25]);
    expect(vectorFromWire(bytes.subarray(0, 10), 'embedding')).toEqual({ reason: expect.stringContaining('embedding as bytes must be little-endian float32') });
  });

  it('takes a Float32Array as it is and an array of numbers, and names what is wrong otherwise', () => {
    const f = Float32Array.of(1, 2);
    expect(vectorFromWire(f, 'vector')).toBe(f);
    expect(Array.from(vectorFromWire([1, 2], 'vector') as Float32Array)).toEqual([1, 2]);
    expect(vectorFromWire([1, 'x'], 'vector')).toEqual({ reason: 'vector[1] is not a number' });
    expect(vectorFromWire('1,2', 'vector')).toEqual({ reason: expect.stringContaining('vector must be a Float32Array, bytes of little-endian float32') });
  });
});
