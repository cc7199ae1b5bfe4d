// Body compression of binary frames: when a msgpack body is compressed, how, and how it is decompressed
// without letting a decompression bomb through. Pure functions, no I/O; the frame codec (protocols/frame.ts)
// calls them and owns the frame layout (a flag bit of byte 1 names the format of a compressed body).
//
// Two formats, both in Node's native zlib binding (no extra dependency), both read by every node:
//   brotli   (RFC 7932; flag B, 0x20) written by default: at quality 1 it compresses the 64 KB context
//            transcript to the same size as deflate level 1 for about half the CPU (decompressing costs
//            about the same), so a compressed round trip is ~1.3x faster;
//   deflate  (raw DEFLATE, RFC 1951, no zlib or gzip wrapper; flag D, 0x10) what nodes before brotli wrote
//            and read; `format: 'deflate'` writes it (a cluster with such nodes, a client with only zlib).
// Both are decompressed with `maxOutputLength`, so the output is bounded natively. Node's zlib deflates about
// twice as fast as fflate and inflates 2-3x as fast on this project's machines; `npm run bench -- codec
// --sweep` measures fflate's levels, `mem`, dictionaries, streaming and async forms, zlib's and brotli's
// side by side (bench/results/codec.json, "sweep").
import { brotliCompressSync, brotliDecompressSync, constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { BadFrameError, TooLargeError } from './errors.js';

/** How a compressed body is encoded: brotli (the default) or raw DEFLATE. */
export type CompressionFormat = 'brotli' | 'deflate';
/** The formats, for option validation. */
export const COMPRESSION_FORMATS: readonly CompressionFormat[] = Object.freeze(['brotli', 'deflate']);

/** A compressed body is kept only when it saves at least 1/MIN_SAVING_FRACTION of the raw body. */
export const MIN_SAVING_FRACTION = 8;
/**
 * Bodies at least this large are judged from a sample first (see {@link compressBody}). Not lower: a sample
 * costs a compressor call with its fixed setup (brotli q1 on 8 KiB is ~14% of the call on a 64 KiB body), so
 * below this size judging by the whole body is cheaper than sampling every compressible message.
 */
export const SAMPLE_FROM_BYTES = 256 * 1024;
/** Size of that sample, taken from the middle of the body. */
export const SAMPLE_BYTES = 4 * 1024;
// The typed-array walk that discounts binary bytes from the threshold stops after this many values.
const MAX_WALK_NODES = 10_000;

/** What {@link compressBody} needs to decide. */
export interface CompressionPolicy {
  /** Bodies with fewer compressible bytes than this are sent raw (`Infinity`: never compress). */
  thresholdBytes: number;
  /** zlib deflate level or brotli quality, 1-9 (0: never compress). */
  level: number;
  /** The format written. */
  format: CompressionFormat;
}

/** A compressed body and its format. */
export interface CompressedBody {
  format: CompressionFormat;
  bytes: Uint8Array;
}

/**
 * Compresses `body` in `policy.format` when it pays, else returns `undefined` (send it raw). It pays when:
 * - compression is on (`level` > 0) and `body` has at least `thresholdBytes` bytes that are not typed-array
 *   data (embeddings barely deflate, so their bytes do not count; `value` is what `body` encodes, walked for
 *   typed arrays only when the body is over the threshold at all);
 * - for a body of {@link SAMPLE_FROM_BYTES} or more, an {@link SAMPLE_BYTES} sample from its middle deflates
 *   by at least 1/{@link MIN_SAVING_FRACTION} (so an incompressible megabyte costs one small deflate, not a
 *   whole one);
 * - the deflated body is at least 1/{@link MIN_SAVING_FRACTION} smaller than `body` (else every receiver
 *   would pay an inflate for little).
 */
export function compressBody(body: Uint8Array, value: unknown, policy: Readonly<CompressionPolicy>): CompressedBody | undefined {
  const n = body.length;
  const threshold = policy.thresholdBytes;
  if (policy.level <= 0 || n < threshold || n - typedArrayBytes(value) < threshold) return undefined;
  const compress = policy.format === 'brotli' ? brotli : deflate;
  if (n >= SAMPLE_FROM_BYTES) {
    const from = (n - SAMPLE_BYTES) >>> 1;
    if (!pays(compress(body.subarray(from, from + SAMPLE_BYTES), policy.level).length, SAMPLE_BYTES)) return undefined;
  }
  const bytes = compress(body, policy.level);
  return pays(bytes.length, n) ? { format: policy.format, bytes } : undefined;
}

function deflate(data: Uint8Array, level: number): Uint8Array {
  return deflateRawSync(data, { level });
}

function brotli(data: Uint8Array, quality: number): Uint8Array {
  return brotliCompressSync(data, {
    params: { [constants.BROTLI_PARAM_QUALITY]: quality, [constants.BROTLI_PARAM_SIZE_HINT]: data.length },
  });
}

function pays(compressed: number, raw: number): boolean {
  return compressed <= raw - raw / MIN_SAVING_FRACTION;
}

/**
 * Decompresses `data` (a body in `format`), refusing output larger than `maxBytes`: zlib (native) writes the
 * output in chunks and stops at the first chunk that takes it past the limit, so a decompression bomb costs
 * about `maxBytes` of memory and time, never its full size.
 * @returns a plain Uint8Array (a view of zlib's output).
 * @throws TooLargeError when the output would pass `maxBytes`.
 * @throws BadFrameError when the data is not valid in that format (corrupt or truncated).
 */
export function decompressBounded(format: CompressionFormat, data: Uint8Array, maxBytes: number): Uint8Array {
  let out: Buffer;
  try {
    out = format === 'brotli' ? brotliDecompressSync(data, { maxOutputLength: maxBytes }) : inflateRawSync(data, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new TooLargeError(`compressed body (${format}) inflates past the limit of ${maxBytes} bytes (maxMessageBytes); refused`, {
        cause: err,
        details: { limit: maxBytes, compressedBytes: data.length, format },
      });
    }
    throw new BadFrameError(`corrupt ${format} body (${data.length} bytes): ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
      details: { compressedBytes: data.length, format },
    });
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** {@link decompressBounded} for raw DEFLATE. */
export function inflateBounded(data: Uint8Array, maxBytes: number): Uint8Array {
  return decompressBounded('deflate', data, maxBytes);
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
