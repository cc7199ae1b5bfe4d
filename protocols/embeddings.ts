// Embedding codecs: float32 to IEEE half (f16), int8 with a per-vector scale, and packed sign bits with
// hamming distance. Pure functions, no I/O; the COPY encoder and the memory store build on them.

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The largest finite half-precision value (65504); larger magnitudes round to ±Infinity. */
export const F16_MAX = 65504;

/** The smallest positive normal half-precision value (2^-14); below it values are subnormal. */
export const F16_MIN_NORMAL = 2 ** -14;

/**
 * Converts the bits of one float32 (read as an unsigned 32-bit integer) to half-precision bits, rounding
 * to nearest even. The hot-path form of {@link f32ToF16} for callers that view a Float32Array as Uint32Array.
 */
export function f32BitsToF16Bits(x: number): number {
  const abs = x & 0x7fffffff;
  // Fast path, the normal half range [2^-14, 65536): rebias the exponent, then round to nearest even by
  // adding 0xfff plus the lowest kept mantissa bit before dropping 13 bits (a carry may reach Infinity).
  if (abs >= 0x38800000 && abs < 0x47800000) return ((x >>> 16) & 0x8000) | ((abs - 0x38000000 + 0xfff + ((abs >>> 13) & 1)) >>> 13);
  return f32BitsToF16Slow(x);
}

/** Every case outside the normal half range: Infinity/NaN, overflow, subnormals and zero. */
function f32BitsToF16Slow(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) {
    // Infinity keeps a zero mantissa; NaN keeps its top payload bits and stays quiet.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  if (exp > 112) {
    // Normal half range (or overflow): drop 13 mantissa bits, round to nearest even.
    // The rounding carry may run into the exponent; reaching 0x7c00 is the correct overflow to Infinity.
    if (exp >= 143) return sign | 0x7c00;
    let h = ((exp - 112) << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h += 1;
    return sign | h;
  }
  if (exp < 102) return sign; // below half the smallest subnormal (2^-25): rounds to signed zero
  // Subnormal half: value = m * 2^-24, with the implicit bit restored.
  const full = mant | 0x800000;
  const shift = 126 - exp; // 14..24
  let h = full >>> shift;
  const rem = full & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (h & 1) === 1)) h += 1; // may carry into the smallest normal: correct
  return sign | h;
}

/**
 * Rounds one number to half precision (round to nearest, ties to even) and returns its 16 bits.
 * Handles subnormals, signed zeros, ±Infinity (also on overflow above {@link F16_MAX}) and NaN.
 *
 * Error bound: for |x| in the normal range [2^-14, 65504] the relative error is at most 2^-11;
 * below it (subnormals) the absolute error is at most 2^-25.
 */
export function f32ToF16(value: number): number {
  f32Scratch[0] = value;
  return f32BitsToF16Bits(u32Scratch[0]);
}

/** Decodes 16 half-precision bits to the number they represent (exact: every half is a float32). */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

let decodeTable: Float32Array | undefined;

/** A 65,536-entry table of every half value (256 KiB), built on first decode. */
function table(): Float32Array {
  if (decodeTable) return decodeTable;
  const t = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) t[i] = f16ToF32(i);
  decodeTable = t;
  return t;
}

/**
 * Encodes a float32 vector to half precision (IEEE 754 binary16 bits, round to nearest even).
 *
 * Error bound per component: relative error ≤ 2^-11 for |x| in [2^-14, 65504]; absolute error ≤ 2^-25
 * below that; |x| above 65504 (after rounding) becomes ±Infinity, NaN stays NaN.
 *
 * @param src the vector
 * @param out optional destination (length ≥ src.length); a new array is allocated when omitted
 */
export function encodeF16(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  if (out.length < src.length) throw new RangeError(`encodeF16: output holds ${out.length} values, need ${src.length}`);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToF16Bits(bits[i]);
  return out;
}

/**
 * Decodes half-precision bits back to float32 (exact: this direction loses nothing).
 *
 * @param src half-precision bits
 * @param out optional destination (length ≥ src.length)
 */
export function decodeF16(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  if (out.length < src.length) throw new RangeError(`decodeF16: output holds ${out.length} values, need ${src.length}`);
  const t = table();
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]]!;
  return out;
}

/** A vector quantized to int8 with one scale: component i is approximately `values[i] * scale`. */
export interface Int8Vector {
  /** Quantized components in [-127, 127]. */
  readonly values: Int8Array;
  /** The step size: max |x| / 127 (0 for an all-zero vector). */
  readonly scale: number;
}

/**
 * Quantizes a vector to int8, symmetric around zero with a per-vector scale of max|x| / 127
 * (so -128 is never used and the largest component maps to ±127 exactly).
 *
 * Error bound: each component's absolute error after {@link dequantizeInt8} is at most `scale / 2`
 * (plus float32 rounding of the product). Non-finite inputs are not supported (validate first).
 */
export function quantizeInt8(src: Float32Array): Int8Vector {
  let maxAbs = 0;
  for (let i = 0; i < src.length; i++) {
    const a = Math.abs(src[i]);
    if (a > maxAbs) maxAbs = a;
  }
  const values = new Int8Array(src.length);
  if (maxAbs === 0) return { values, scale: 0 };
  const scale = maxAbs / 127;
  const inv = 127 / maxAbs;
  for (let i = 0; i < src.length; i++) {
    const q = Math.round(src[i] * inv);
    values[i] = q > 127 ? 127 : q < -127 ? -127 : q;
  }
  return { values, scale };
}

/** Rebuilds an approximate float32 vector from {@link quantizeInt8}'s output (error ≤ scale / 2 each). */
export function dequantizeInt8(q: Int8Vector, out: Float32Array = new Float32Array(q.values.length)): Float32Array {
  for (let i = 0; i < q.values.length; i++) out[i] = q.values[i] * q.scale;
  return out;
}

/**
 * Binary quantization: one bit per component, set when the component is > 0, packed most significant
 * bit first (component i is bit `7 - i % 8` of byte `i >> 3`, the same layout as pgvector's `bit` type
 * and its `binary_quantize`). Keeps only the sign: magnitudes are lost, so use it to shortlist candidates
 * by {@link hammingDistance} and rerank with the full vectors.
 */
export function binarize(src: Float32Array): Uint8Array {
  const out = new Uint8Array((src.length + 7) >>> 3);
  for (let i = 0; i < src.length; i++) {
    if (src[i] > 0) out[i >>> 3] |= 0x80 >>> (i & 7);
  }
  return out;
}

const POPCOUNT = new Uint8Array(256);
for (let i = 1; i < 256; i++) POPCOUNT[i] = (i & 1) + POPCOUNT[i >>> 1];

/** The number of differing bits between two packed bit vectors of equal byte length. */
export function hammingDistance(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new RangeError(`hammingDistance: lengths differ (${a.length} vs ${b.length})`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d += POPCOUNT[a[i] ^ b[i]];
  return d;
}

/**
 * An embedding as it arrives from the wire, in one of the three forms Hive accepts:
 * - a `Float32Array` (msgpackr's typed-array extension: ext type 0x74, then the code byte 7, then the
 *   little-endian float32 elements);
 * - a msgpack `bin` (a `Uint8Array` here) of little-endian float32, 4 bytes a dimension (numpy's
 *   `astype('<f4').tobytes()`); a length that is not a multiple of 4 is refused;
 * - an array of numbers (JSON).
 * Returns the vector, or the reason it is none (the caller checks the dimension and the values).
 */
export function vectorFromWire(value: unknown, field: string): Float32Array | { reason: string } {
  if (value instanceof Float32Array) return value;
  if (value instanceof Uint8Array) {
    if (value.byteLength % 4 !== 0) {
      return { reason: `${field} as bytes must be little-endian float32, 4 bytes a dimension: ${value.byteLength} bytes is not a multiple of 4` };
    }
    const out = new Float32Array(value.byteLength / 4);
    const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (typeof value[i] !== 'number') return { reason: `${field}[${i}] is not a number` };
    }
    return Float32Array.from(value as number[]);
  }
  return { reason: `${field} must be a Float32Array, bytes of little-endian float32 (msgpack bin, 4 x dims), or an array of numbers` };
}
