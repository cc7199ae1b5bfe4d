// Unit tests of the frame codec: binary round trips, compression policy, limits (deflate bombs) and every
// kind of bad input, plus the JSON path used by the NATS CLI.
import { brotliCompressSync, constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { HiveError } from '../../../protocols/errors.js';
import {
  FRAME_FLAG_BROTLI,
  FRAME_FLAG_DEFLATE,
  FrameCodec,
  decodeJson,
  defaultFrameOptions,
  encodeJson,
  isBinaryFrame,
} from '../../../protocols/frame.js';

/** Runs `fn` and returns what it threw (failing the test when it does not throw). */
function thrown(fn: () => unknown): HiveError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HiveError);
    return err as HiveError;
  }
  throw new Error('expected a throw');
}

/** Deterministic pseudo-random numbers in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = 'the agent reads a document and writes a short summary of what the customer asked for today while the model waits'.split(' ');
function text(bytes: number, seed = 1): string {
  const next = prng(seed);
  let s = '';
  while (s.length < bytes) s += `${WORDS[Math.floor(next() * WORDS.length)]} `;
  return s.slice(0, bytes);
}

function embedding(dim: number, seed = 2): Float32Array {
  const next = prng(seed);
  return Float32Array.from({ length: dim }, () => next() * 2 - 1);
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

function frameOf(flags: number, body: Uint8Array | number[]): Uint8Array {
  const b = body instanceof Uint8Array ? body : Uint8Array.from(body);
  const f = new Uint8Array(b.length + 2);
  f[0] = 0xc1;
  f[1] = flags;
  f.set(b, 2);
  return f;
}

describe('frame codec', () => {
  it('round-trips a task message and keeps the embedding a Float32Array', () => {
    const codec = new FrameCodec();
    const vec = embedding(384);
    const msg = { v: 1, k: 'a', c: 'c1', d: 1_764_230_000_000, e: { type: 'task.submit', prompt: text(2048), priority: 3, embedding: vec } };
    const frame = codec.encode(msg);
    expect(frame[0]).toBe(0xc1);
    const back = codec.decode(frame) as typeof msg;
    expect(back.e.embedding).toBeInstanceOf(Float32Array);
    expect(back.e.embedding).toEqual(vec);
    expect(back).toEqual(msg);
  });

  it('round-trips nested objects, arrays, unicode strings, numbers, booleans, null and bytes (dates arrive as epoch ms)', () => {
    const codec = new FrameCodec();
    const value = {
      type: 'nested',
      a: [1, -2, 3.5, 2 ** 40, -(2 ** 53 - 1), true, false, null, 'é中文🙂'],
      o: { deep: { deeper: { list: [{ x: 1 }, { y: [2, [3, [4]]] }], empty: {}, none: [] } } },
      when: new Date(1_764_230_000_000),
      bytes: new Uint8Array([0, 1, 255]),
    };
    expect(codec.decode(codec.encode(value))).toEqual({ ...value, when: 1_764_230_000_000 });
    expect(codec.decode(codec.encode('just a string'))).toBe('just a string');
    expect(codec.decode(codec.encode(42))).toBe(42);
  });

  it('leaves a small body uncompressed (flags byte 0x01)', () => {
    const codec = new FrameCodec();
    const frame = codec.encode({ type: 'ping', text: text(500) });
    expect(frame[1]).toBe(0x01);
    expect(codec.stats.compressedOut).toBe(0);
  });

  it('keeps a task message (2 KB prompt + 384-d embedding) uncompressed with the default options', () => {
    const frame = new FrameCodec().encode({ type: 'task', prompt: text(2048), embedding: embedding(384) });
    expect(frame[1]).toBe(0x01);
    expect(frame.length).toBeLessThan(3800);
  });

  it('deflates a large text body with compressFormat deflate (flags byte 0x11), and any node reads it', () => {
    const codec = new FrameCodec({ compressFormat: 'deflate' });
    const msg = { type: 'context', turns: Array.from({ length: 40 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', text: text(1600, i) })) };
    const frame = codec.encode(msg);
    expect(frame[1]).toBe(0x01 | FRAME_FLAG_DEFLATE);
    expect(new FrameCodec().decode(frame)).toEqual(msg);
    expect(new Uint8Array(inflateRawSync(frame.subarray(2)))).toEqual(Uint8Array.from(new FrameCodec({ compressLevel: 0 }).encode(msg).subarray(2)));
    expect(frame.length).toBeLessThan(JSON.stringify(msg).length * 0.45);
    expect(codec.decode(frame)).toEqual(msg);
    expect(codec.stats.compressedOut).toBe(1);
    expect(codec.stats.compressedIn).toBe(1);
  });

  it('compresses a large text body with brotli by default (flags byte 0x21) and round-trips it', () => {
    const codec = new FrameCodec();
    const msg = { type: 'context', turns: Array.from({ length: 40 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', text: text(1600, i) })) };
    const frame = codec.encode(msg);
    expect(frame[1]).toBe(0x01 | FRAME_FLAG_BROTLI);
    expect(frame.length).toBeLessThan(JSON.stringify(msg).length * 0.45);
    expect(codec.decode(frame)).toEqual(msg);
    expect(codec.stats.compressedOut).toBe(1);
    expect(codec.stats.compressedIn).toBe(1);
  });

  it('reads a brotli frame written by another brotli implementation', () => {
    const body = Uint8Array.from([0x81, 0xa4, ...Buffer.from('type'), 0xa4, ...Buffer.from('ping')]);
    expect(new FrameCodec().decode(frameOf(0x21, brotliCompressSync(body)))).toEqual({ type: 'ping' });
  });

  it('compresses above a configured threshold and not below it', () => {
    const codec = new FrameCodec({ compressThresholdBytes: 1024, compressLevel: 6 });
    expect(codec.encode({ t: text(900) })[1]).toBe(0x01);
    expect(codec.encode({ t: text(2000) })[1]).toBe(0x21);
    expect(new FrameCodec({ compressLevel: 0, compressThresholdBytes: 0 }).encode({ t: text(20_000) })[1]).toBe(0x01);
    expect(new FrameCodec({ compressThresholdBytes: Infinity }).encode({ t: text(20_000) })[1]).toBe(0x01);
  });

  it('does not spend a deflate on a body that is mostly embeddings', () => {
    const codec = new FrameCodec();
    const batch = { type: 'vectors', items: Array.from({ length: 40 }, (_, i) => embedding(384, i)) };
    const frame = codec.encode(batch);
    expect(frame.length).toBeGreaterThan(defaultFrameOptions.compressThresholdBytes);
    expect(frame[1]).toBe(0x01);
    expect(codec.decode(frame)).toEqual(batch);
  });

  it('keeps the uncompressed body when deflate does not save enough', () => {
    const codec = new FrameCodec({ compressThresholdBytes: 0 });
    const next = prng(9);
    // float64 values with random mantissas: deflate saves well under 1/8 of them
    const noise = Array.from({ length: 2000 }, () => next() + next() * 1e-9);
    const frame = codec.encode(noise);
    expect(frame[1]).toBe(0x01);
    expect(codec.decode(frame)).toEqual(noise);
  });

  it('counts frames, raw and wire bytes and compressed frames in stats', () => {
    const codec = new FrameCodec();
    const small = codec.encode({ type: 'a' });
    const big = codec.encode({ type: 'b', t: text(40_000) });
    codec.decode(small);
    codec.decode(big);
    expect(() => codec.decode(new Uint8Array([1, 2, 3]))).toThrow();
    const s = codec.stats;
    expect(s.framesOut).toBe(2);
    expect(s.framesIn).toBe(2);
    expect(s.compressedOut).toBe(1);
    expect(s.compressedIn).toBe(1);
    expect(s.wireBytesOut).toBe(small.length + big.length);
    expect(s.wireBytesIn).toBe(s.wireBytesOut);
    expect(s.rawBytesOut).toBeGreaterThan(40_000);
    expect(s.rawBytesIn).toBe(s.rawBytesOut);
    expect(s.rawBytesOut).toBeGreaterThan(s.wireBytesOut);
    expect(s.rejected).toBe(1);
  });

  it('reads frames written by other msgpack and deflate implementations', () => {
    const codec = new FrameCodec();
    // {"type":"ping"} as a msgpack fixmap, the way any msgpack library writes it
    const body = [0x81, 0xa4, ...Buffer.from('type'), 0xa4, ...Buffer.from('ping')];
    expect(codec.decode(frameOf(0x01, body))).toEqual({ type: 'ping' });
    expect(codec.decode(frameOf(0x11, deflateRawSync(Uint8Array.from(body))))).toEqual({ type: 'ping' });
    // uint64 from another language: always a number (never a bigint), as JSON would read it
    expect(codec.decode(frameOf(0x01, [0xcf, 0, 0, 0x01, 0, 0, 0, 0, 0]))).toBe(2 ** 40);
    expect(codec.decode(frameOf(0x01, [0xcf, 0x10, 0, 0, 0, 0, 0, 0, 0]))).toBe(2 ** 60);
  });

  it('refuses a frame longer than maxMessageBytes as TOO_LARGE', () => {
    const codec = new FrameCodec({ maxMessageBytes: 1024 });
    const err = thrown(() => codec.decode(frameOf(0x01, new Uint8Array(2000))));
    expect(err.code).toBe('TOO_LARGE');
    expect(err.details).toMatchObject({ bytes: 2002, limit: 1024 });
  });

  it('refuses to encode a message larger than maxMessageBytes as TOO_LARGE, even if it would compress', () => {
    const codec = new FrameCodec({ maxMessageBytes: 4096 });
    expect(thrown(() => codec.encode({ t: 'x'.repeat(5000) })).code).toBe('TOO_LARGE');
    expect(codec.stats.framesOut).toBe(0);
  });

  it('refuses a deflate bomb as TOO_LARGE without inflating it', () => {
    const bomb = zeroBomb(1024); // 1 GiB of zeros in about 1 MB
    expect(bomb.length).toBeLessThan(2 << 20);
    expect(inflateRawSync(zeroBomb(4)).length).toBe(4 << 20); // the construction is a valid deflate stream
    const codec = new FrameCodec();
    const frame = frameOf(0x11, bomb);
    expect(frame.length).toBeLessThan(defaultFrameOptions.maxMessageBytes);
    const peakBefore = process.resourceUsage().maxRSS; // KiB, high-water mark of this process
    const err = thrown(() => codec.decode(frame));
    expect(err.code).toBe('TOO_LARGE');
    expect(err.message).toMatch(/inflates past the limit/);
    expect(err.details).toMatchObject({ limit: defaultFrameOptions.maxMessageBytes, compressedBytes: bomb.length });
    // Inflating the gigabyte would have raised the memory high-water mark by a gigabyte at least.
    const peakGrowthMiB = (process.resourceUsage().maxRSS - peakBefore) / 1024;
    expect(peakGrowthMiB).toBeLessThan(128);
    expect(codec.stats.rejected).toBe(1);
  });

  it('refuses an empty or truncated frame as BAD_FRAME', () => {
    const codec = new FrameCodec();
    const good = codec.encode({ type: 'x', list: [1, 2, 3], s: 'hello' });
    const compressed = codec.encode({ type: 'y', t: text(30_000) });
    expect(compressed[1]).toBe(0x21);
    for (const bytes of [new Uint8Array(0), new Uint8Array([0xc1]), new Uint8Array([0xc1, 0x01]), good.subarray(0, good.length - 3), compressed.subarray(0, compressed.length / 2)]) {
      const err = thrown(() => codec.decode(bytes));
      expect(err.code).toBe('BAD_FRAME');
      expect(err.message.length).toBeGreaterThan(10);
    }
    expect(thrown(() => codec.decode(new Uint8Array([0xc1]))).message).toMatch(/truncated/);
  });

  it('refuses garbage that does not start with 0xC1 as BAD_FRAME', () => {
    const codec = new FrameCodec();
    const err = thrown(() => codec.decode(new TextEncoder().encode('{"type":"ping"}')));
    expect(err.code).toBe('BAD_FRAME');
    expect(err.message).toMatch(/0x7B/);
    expect(thrown(() => codec.decode(new Uint8Array([0x00, 0x01, 0x02, 0x03]))).code).toBe('BAD_FRAME');
  });

  it('refuses an unknown frame version or reserved flag bits as BAD_FRAME', () => {
    const codec = new FrameCodec();
    const body = [0xa1, 0x61];
    expect(codec.decode(frameOf(0x01, body))).toBe('a');
    const v2 = thrown(() => codec.decode(frameOf(0x02, body)));
    expect(v2.code).toBe('BAD_FRAME');
    expect(v2.message).toMatch(/version 2/);
    expect(thrown(() => codec.decode(frameOf(0x00, body))).code).toBe('BAD_FRAME');
    expect(thrown(() => codec.decode(frameOf(0x81, body))).message).toMatch(/flags/);
    expect(thrown(() => codec.decode(frameOf(0x41, body))).message).toMatch(/flags/);
    // deflate and brotli at once
    const both = thrown(() => codec.decode(frameOf(0x31, body)));
    expect(both.code).toBe('BAD_FRAME');
    expect(both.message).toMatch(/both deflate/);
  });

  it('refuses corrupt deflate data as BAD_FRAME and keeps the cause', () => {
    const codec = new FrameCodec();
    // 0xFF: final block with the reserved block type 3
    const err = thrown(() => codec.decode(frameOf(0x11, [0xff, 0xff, 0xff, 0xff])));
    expect(err.code).toBe('BAD_FRAME');
    expect(err.message).toMatch(/deflate/);
    expect(err.cause).toBeInstanceOf(Error);
    // a frame flagged compressed whose body is plain msgpack
    expect(thrown(() => codec.decode(frameOf(0x11, [0x81, 0xa4, ...Buffer.from('type'), 0xa4, ...Buffer.from('ping')]))).code).toBe('BAD_FRAME');
    const br = thrown(() => codec.decode(frameOf(0x21, [0xff, 0xff, 0xff, 0xff])));
    expect(br.code).toBe('BAD_FRAME');
    expect(br.message).toMatch(/brotli/);
  });

  it('refuses a brotli bomb as TOO_LARGE without inflating it', () => {
    const bomb = brotliCompressSync(Buffer.alloc(64 << 20), { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } });
    const codec = new FrameCodec({ maxMessageBytes: 1 << 20 });
    const err = thrown(() => codec.decode(frameOf(0x21, bomb)));
    expect(err.code).toBe('TOO_LARGE');
    expect(err.message).toMatch(/inflates past the limit/);
    expect(codec.stats.rejected).toBe(1);
  });

  it('refuses a body that is not exactly one msgpack value as BAD_FRAME', () => {
    const codec = new FrameCodec();
    const trailing = thrown(() => codec.decode(frameOf(0x01, [0x01, 0x02])));
    expect(trailing.code).toBe('BAD_FRAME');
    expect(trailing.cause).toBeInstanceOf(Error);
    expect(thrown(() => codec.decode(frameOf(0x01, [0xc1]))).code).toBe('BAD_FRAME');
    expect(thrown(() => codec.decode(frameOf(0x01, [0xdd, 0xff, 0xff, 0xff, 0xff]))).code).toBe('BAD_FRAME');
  });

  it('refuses a value msgpack cannot encode with INVALID_ARGUMENT', () => {
    const codec = new FrameCodec();
    expect(thrown(() => codec.encode({ type: 'x', s: Symbol('nope') })).code).toBe('INVALID_ARGUMENT');
    const cyclic: Record<string, unknown> = { type: 'loop' };
    cyclic['self'] = cyclic;
    expect(thrown(() => codec.encode(cyclic)).code).toBe('INVALID_ARGUMENT');
    // the codec still works afterwards
    expect(codec.decode(codec.encode({ type: 'ok' }))).toEqual({ type: 'ok' });
  });

  it('refuses invalid options with INVALID_CONFIG naming the option', () => {
    for (const [options, name] of [
      [{ compressLevel: 10 }, 'compressLevel'],
      [{ compressLevel: 1.5 }, 'compressLevel'],
      [{ compressFormat: 'zstd' as never }, 'compressFormat'],
      [{ compressThresholdBytes: -1 }, 'compressThresholdBytes'],
      [{ compressThresholdBytes: NaN }, 'compressThresholdBytes'],
      [{ maxMessageBytes: 0 }, 'maxMessageBytes'],
      [{ maxMessageBytes: Infinity }, 'maxMessageBytes'],
    ] as const) {
      const err = thrown(() => new FrameCodec(options));
      expect(err.code).toBe('INVALID_CONFIG');
      expect(err.details?.['option']).toBe(name);
    }
    expect(new FrameCodec({}).options).toEqual(defaultFrameOptions);
  });
});

describe('JSON payloads', () => {
  it('tells binary frames from JSON text by the first byte', () => {
    expect(isBinaryFrame(new FrameCodec().encode({ type: 'ping' }))).toBe(true);
    expect(isBinaryFrame(new TextEncoder().encode('{"type":"ping"}'))).toBe(false);
    expect(isBinaryFrame(new Uint8Array(0))).toBe(false);
  });

  it('encodes Float32Array as a plain number array and round-trips through decodeJson', () => {
    const vec = new Float32Array([0.5, -0.25, 1]);
    const bytes = encodeJson({ type: 'vec', vec, n: 2n, big: 2n ** 64n, tags: new Set(['a']), m: new Map([['k', 1]]) });
    expect(new TextDecoder().decode(bytes)).toBe('{"type":"vec","vec":[0.5,-0.25,1],"n":2,"big":"18446744073709551616","tags":["a"],"m":{"k":1}}');
    expect(decodeJson(bytes, 1024)).toEqual({ type: 'vec', vec: [0.5, -0.25, 1], n: 2, big: '18446744073709551616', tags: ['a'], m: { k: 1 } });
    expect(new TextDecoder().decode(encodeJson(undefined))).toBe('null');
  });

  it('refuses a JSON payload over the size limit as TOO_LARGE before parsing it', () => {
    const bytes = new TextEncoder().encode(`{"type":"x","pad":"${'y'.repeat(2000)}"`); // also invalid JSON
    const err = thrown(() => decodeJson(bytes, 1000));
    expect(err.code).toBe('TOO_LARGE');
    expect(err.details).toMatchObject({ limit: 1000 });
  });

  it('refuses invalid JSON, invalid UTF-8 and empty payloads as BAD_FRAME', () => {
    const invalid = thrown(() => decodeJson(new TextEncoder().encode('{"type":'), 1000));
    expect(invalid.code).toBe('BAD_FRAME');
    expect(invalid.message).toMatch(/not valid JSON/);
    expect(invalid.cause).toBeInstanceOf(SyntaxError);
    const utf8 = thrown(() => decodeJson(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), 1000));
    expect(utf8.code).toBe('BAD_FRAME');
    expect(utf8.message).toMatch(/UTF-8/);
    expect(thrown(() => decodeJson(new Uint8Array(0), 1000)).code).toBe('BAD_FRAME');
    expect(thrown(() => decodeJson(new TextEncoder().encode('  \n'), 1000)).code).toBe('BAD_FRAME');
  });

  it('refuses a value JSON cannot encode with INVALID_ARGUMENT', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(thrown(() => encodeJson(cyclic)).code).toBe('INVALID_ARGUMENT');
  });
});
