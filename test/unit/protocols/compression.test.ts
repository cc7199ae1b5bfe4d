// Unit tests of body compression: round trips through brotli and raw DEFLATE, the threshold and sample
// policy, and bounded decompression (a bomb in either format is refused without being inflated).
import { randomBytes } from 'node:crypto';
import { brotliCompressSync, brotliDecompressSync, constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  MIN_SAVING_FRACTION,
  SAMPLE_BYTES,
  SAMPLE_FROM_BYTES,
  compressBody,
  decompressBounded,
  inflateBounded,
  typedArrayBytes,
  type CompressionFormat,
} from '../../../protocols/compression.js';
import { HiveError } from '../../../protocols/errors.js';

function thrown(fn: () => unknown): HiveError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HiveError);
    return err as HiveError;
  }
  throw new Error('expected a throw');
}

const WORDS = 'the agent reads a document and writes a short summary of what the customer asked for today while the model waits'.split(' ');
/** `bytes` of word salad (deterministic), as UTF-8 bytes. */
function textBytes(bytes: number, seed = 1): Uint8Array {
  let a = seed;
  let s = '';
  while (s.length < bytes) {
    a = (Math.imul(a, 1103515245) + 12345) >>> 0;
    s += `${WORDS[a % WORDS.length]} `;
  }
  return new TextEncoder().encode(s.slice(0, bytes));
}

/** Raw deflate of `mib` MiB of zeros, built from one compressed MiB repeated (non-final blocks) and an empty final block. */
function zeroBomb(mib: number): Uint8Array {
  const one = deflateRawSync(Buffer.alloc(1 << 20), { level: 9, finishFlush: constants.Z_SYNC_FLUSH });
  const out = new Uint8Array(one.length * mib + 2);
  for (let i = 0; i < mib; i++) out.set(one, i * one.length);
  out[out.length - 2] = 0x03; // BFINAL=1, fixed Huffman, then the 7-bit end-of-block code
  out[out.length - 1] = 0x00;
  return out;
}

/** 64 MiB of zeros as brotli: a few KB that inflate 64 MiB. */
function brotliBomb(): Uint8Array {
  return brotliCompressSync(Buffer.alloc(64 << 20), { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } });
}

const on = { thresholdBytes: 8 * 1024, level: 1, format: 'brotli' } as const;

describe('compressBody', () => {
  it('compresses a text body over the threshold to brotli (the default format) that any brotli decoder reads', () => {
    const body = textBytes(40_000);
    const out = compressBody(body, undefined, on);
    expect(out?.format).toBe('brotli');
    expect(out!.bytes.length).toBeLessThan(body.length / 2);
    expect(new Uint8Array(brotliDecompressSync(out!.bytes))).toEqual(body);
    expect(decompressBounded('brotli', out!.bytes, body.length)).toEqual(body);
  });

  it('deflates to raw DEFLATE that any zlib inflates back when the format is deflate', () => {
    const body = textBytes(40_000);
    const out = compressBody(body, undefined, { ...on, format: 'deflate' });
    expect(out?.format).toBe('deflate');
    expect(out!.bytes.length).toBeLessThan(body.length / 2);
    expect(new Uint8Array(inflateRawSync(out!.bytes))).toEqual(body);
    expect(inflateBounded(out!.bytes, body.length)).toEqual(body);
    expect(decompressBounded('deflate', out!.bytes, body.length)).toEqual(body);
  });

  it('leaves a body under the threshold alone, and compresses one exactly at it', () => {
    expect(compressBody(textBytes(on.thresholdBytes - 1), undefined, on)).toBeUndefined();
    expect(compressBody(textBytes(on.thresholdBytes), undefined, on)).toBeDefined();
  });

  it('does not count typed-array bytes toward the threshold', () => {
    const body = textBytes(13_000);
    expect(compressBody(body, { text: 'x', vec: new Float32Array(1000) }, on)).toBeDefined(); // 13,000 - 4,000 >= 8,192
    expect(compressBody(body, { text: 'x', vec: new Float32Array(1300) }, on)).toBeUndefined(); // 13,000 - 5,200 < 8,192
  });

  it('never compresses at level 0 or with an infinite threshold', () => {
    const body = textBytes(40_000);
    expect(compressBody(body, undefined, { ...on, thresholdBytes: 0, level: 0 })).toBeUndefined();
    expect(compressBody(body, undefined, { ...on, thresholdBytes: Infinity })).toBeUndefined();
  });

  it.each(['brotli', 'deflate'] as CompressionFormat[])('keeps the raw body when %s saves less than 1/8 of it', (format) => {
    const noise = new Uint8Array(randomBytes(20_000));
    expect(compressBody(noise, undefined, { ...on, format })).toBeUndefined();
    // Half noise, half text: compression saves well over 1/8, so it is kept.
    const mixed = new Uint8Array(20_000);
    mixed.set(noise.subarray(0, 10_000));
    mixed.set(textBytes(10_000), 10_000);
    const out = compressBody(mixed, undefined, { ...on, format });
    expect(out).toBeDefined();
    expect(out!.bytes.length).toBeLessThanOrEqual(mixed.length - mixed.length / MIN_SAVING_FRACTION);
  });

  it('judges a large body from a sample of its middle', () => {
    // Compressible at both ends, noise in the middle: the sample says no, so the whole body is not deflated
    // (it would have paid overall, which is the price of judging from a sample).
    const n = SAMPLE_FROM_BYTES * 4;
    const body = new Uint8Array(n);
    body.set(textBytes(n));
    const mid = (n - SAMPLE_BYTES) >>> 1;
    body.set(randomBytes(SAMPLE_BYTES), mid);
    expect(deflateRawSync(body, { level: 1 }).length).toBeLessThan(n / 2);
    expect(compressBody(body, undefined, on)).toBeUndefined();
    // The same body with text in the middle is deflated.
    expect(compressBody(textBytes(n), undefined, on)).toBeDefined();
    // Under SAMPLE_FROM_BYTES there is no sample: the whole body decides.
    const small = textBytes(SAMPLE_FROM_BYTES - 1);
    small.set(randomBytes(SAMPLE_BYTES), (small.length - SAMPLE_BYTES) >>> 1);
    expect(compressBody(small, undefined, on)).toBeDefined();
  });
});

describe('decompressBounded', () => {
  it('refuses a brotli bomb as TOO_LARGE without inflating it', () => {
    const bomb = brotliBomb(); // 64 MiB of zeros in a few KB
    expect(bomb.length).toBeLessThan(64 * 1024);
    const peakBefore = process.resourceUsage().maxRSS; // KiB
    const err = thrown(() => decompressBounded('brotli', bomb, 1 << 20));
    expect(err.code).toBe('TOO_LARGE');
    expect(err.details).toMatchObject({ limit: 1 << 20, compressedBytes: bomb.length, format: 'brotli' });
    expect((process.resourceUsage().maxRSS - peakBefore) / 1024).toBeLessThan(32);
  });

  it('refuses a deflate bomb as TOO_LARGE without inflating it', () => {
    const bomb = zeroBomb(1024); // 1 GiB of zeros in about 1 MB
    expect(inflateRawSync(zeroBomb(4)).length).toBe(4 << 20); // the construction is a valid deflate stream
    const peakBefore = process.resourceUsage().maxRSS; // KiB
    const err = thrown(() => inflateBounded(bomb, 8 << 20));
    expect(err.code).toBe('TOO_LARGE');
    expect(err.details).toMatchObject({ limit: 8 << 20, compressedBytes: bomb.length });
    expect((process.resourceUsage().maxRSS - peakBefore) / 1024).toBeLessThan(128);
  });

  it('refuses a bomb against a small limit and inflates a body exactly at the limit', () => {
    expect(thrown(() => inflateBounded(zeroBomb(64), 100_000)).code).toBe('TOO_LARGE');
    const exact = deflateRawSync(Buffer.alloc(100_000, 7));
    expect(inflateBounded(exact, 100_000).length).toBe(100_000);
    expect(thrown(() => inflateBounded(exact, 99_999)).code).toBe('TOO_LARGE');
  });

  it('refuses corrupt or truncated deflate and brotli data as BAD_FRAME', () => {
    const good = deflateRawSync(textBytes(20_000));
    expect(thrown(() => inflateBounded(good.subarray(0, good.length >> 1), 1 << 20)).code).toBe('BAD_FRAME');
    expect(thrown(() => inflateBounded(Uint8Array.from([0xff, 0xff, 0xff, 0xff]), 1 << 20)).code).toBe('BAD_FRAME');
    const br = brotliCompressSync(textBytes(20_000));
    expect(thrown(() => decompressBounded('brotli', br.subarray(0, br.length >> 1), 1 << 20)).code).toBe('BAD_FRAME');
    expect(thrown(() => decompressBounded('brotli', Uint8Array.from([0xff, 0xff, 0xff, 0xff]), 1 << 20)).code).toBe('BAD_FRAME');
  });
});

describe('typedArrayBytes', () => {
  it('adds up typed arrays and ArrayBuffers anywhere in a value, and nothing else', () => {
    expect(typedArrayBytes({ a: new Float32Array(10), b: [new Uint8Array(3), { c: new ArrayBuffer(5) }], s: 'text' })).toBe(48);
    expect(typedArrayBytes('text')).toBe(0);
    expect(typedArrayBytes(null)).toBe(0);
  });
});
