// Body compression of binary frames: when a msgpack body is deflated, how, and how it is inflated back
// without letting a deflate bomb through. Pure functions, no I/O; the frame codec (protocols/frame.ts)
// calls them and owns the frame layout (flag D, 0x10, of byte 1 marks a deflated body).
//
// Format: raw DEFLATE (RFC 1951, no zlib or gzip wrapper), so any zlib-based client inflates it. Written and
// read with Node's native zlib (`deflateRawSync` / `inflateRawSync`), which is about twice as fast as fflate
// on deflate and 2-3x on inflate on this project's machines, and bounds inflating natively
// (`maxOutputLength`). `npm run bench -- codec --sweep` measures both libraries, their levels, `mem`,
// dictionaries, streaming and async forms side by side (bench/results/codec.json, "sweep").
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { BadFrameError, TooLargeError } from './errors.js';

/** A compressed body is kept only when it saves at least 1/MIN_SAVING_FRACTION of the raw body. */
export const MIN_SAVING_FRACTION = 8;
/** Bodies at least this large are judged from a sample first (see {@link compressBody}). */
export const SAMPLE_FROM_BYTES = 64 * 1024;
/** Size of that sample, taken from the middle of the body. */
export const SAMPLE_BYTES = 8 * 1024;
// The typed-array walk that discounts binary bytes from the threshold stops after this many values.
const MAX_WALK_NODES = 10_000;

/** What {@link compressBody} needs to decide. */
export interface CompressionPolicy {
  /** Bodies with fewer compressible bytes than this are sent raw (`Infinity`: never compress). */
  thresholdBytes: number;
  /** zlib deflate level, 1-9 (0: never compress). */
  level: number;
}

/**
 * Deflates `body` when it pays, else returns `undefined` (send it raw). It pays when:
 * - compression is on (`level` > 0) and `body` has at least `thresholdBytes` bytes that are not typed-array
 *   data (embeddings barely deflate, so their bytes do not count; `value` is what `body` encodes, walked for
 *   typed arrays only when the body is over the threshold at all);
 * - for a body of {@link SAMPLE_FROM_BYTES} or more, an {@link SAMPLE_BYTES} sample from its middle deflates
 *   by at least 1/{@link MIN_SAVING_FRACTION} (so an incompressible megabyte costs one small deflate, not a
 *   whole one);
 * - the deflated body is at least 1/{@link MIN_SAVING_FRACTION} smaller than `body` (else every receiver
 *   would pay an inflate for little).
 */
export function compressBody(body: Uint8Array, value: unknown, policy: Readonly<CompressionPolicy>): Uint8Array | undefined {
  const n = body.length;
  const threshold = policy.thresholdBytes;
  if (policy.level <= 0 || n < threshold || n - typedArrayBytes(value) < threshold) return undefined;
  const options = { level: policy.level };
  if (n >= SAMPLE_FROM_BYTES) {
    const from = (n - SAMPLE_BYTES) >>> 1;
    const sample = body.subarray(from, from + SAMPLE_BYTES);
    if (!pays(deflateRawSync(sample, options).length, SAMPLE_BYTES)) return undefined;
  }
  const deflated = deflateRawSync(body, options);
  return pays(deflated.length, n) ? deflated : undefined;
}

function pays(compressed: number, raw: number): boolean {
  return compressed <= raw - raw / MIN_SAVING_FRACTION;
}

/**
 * Inflates raw DEFLATE `data`, refusing output larger than `maxBytes`: zlib (native) writes the output in
 * chunks and stops at the first chunk that takes it past the limit, so a deflate bomb costs about `maxBytes`
 * of memory and time, never its full size.
 * @returns a plain Uint8Array (a view of zlib's output).
 * @throws TooLargeError when the output would pass `maxBytes`.
 * @throws BadFrameError when the data is not valid raw deflate (corrupt or truncated).
 */
export function inflateBounded(data: Uint8Array, maxBytes: number): Uint8Array {
  let out: Buffer;
  try {
    out = inflateRawSync(data, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new TooLargeError(`compressed body inflates past the limit of ${maxBytes} bytes (maxMessageBytes); refused`, {
        cause: err,
        details: { limit: maxBytes, compressedBytes: data.length },
      });
    }
    throw new BadFrameError(`corrupt deflate body (${data.length} bytes): ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
      details: { compressedBytes: data.length },
    });
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** Sum of the byte lengths of typed arrays (and ArrayBuffers) reachable in `value`, walking at most a bounded number of values. */
export function typedArrayBytes(value: unknown): number {
  let bytes = 0;
  let budget = MAX_WALK_NODES;
  const walk = (v: unknown): void => {
    if (--budget < 0 || typeof v !== 'object' || v === null) return;
    if (ArrayBuffer.isView(v)) {
      bytes += v.byteLength;
      return;
    }
    if (v instanceof ArrayBuffer) {
      bytes += v.byteLength;
      return;
    }
    if (Array.isArray(v)) {
      for (const item of v as unknown[]) {
        if (budget < 0) return;
        walk(item);
      }
      return;
    }
    for (const key in v) {
      if (budget < 0) return;
      walk((v as Record<string, unknown>)[key]);
    }
  };
  walk(value);
  return bytes;
}
