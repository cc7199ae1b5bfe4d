// The frame codec: how a value crosses a process boundary. Binary frames (msgpack, compressed when it pays)
// between nodes and code clients; JSON text for the NATS CLI. Pure functions and counters, no I/O.
//
// Binary frame layout (all frames, every version):
//
//   byte 0     0xC1                      magic: never used by MessagePack and invalid as UTF-8, so a payload
//                                        starting with it cannot be JSON text or a bare msgpack value
//   byte 1     flags/version             bit 7  6  5  4  3  2  1  0
//                                            0  0  0  D  v  v  v  v
//                                        vvvv (bits 0-3): frame version, currently 1
//                                        D    (bit 4, 0x10): the body is raw DEFLATE (RFC 1951, no zlib or
//                                             gzip wrapper) of the msgpack body
//                                        bits 5-7: reserved, must be 0 (a frame using them is refused)
//   bytes 2..  body                      exactly one MessagePack value (msgpack.org spec), deflated when D is set
//
// So an uncompressed v1 frame starts `C1 01`, a compressed one `C1 11`. The body is plain msgpack
// (objects are maps, no msgpackr records) so other-language clients can read it; JavaScript-only values
// use msgpackr's extensions: typed arrays are ext type 0x74 (first data byte: msgpackr's typed-array code,
// then the little-endian elements; a Float32Array is code 7), `undefined` is fixext1 type 0, Date is the
// standard timestamp ext (-1, read back as epoch ms). Embeddings travel as Float32Array: 4 bytes a dimension.
//
// Values: decoding yields data only: null, booleans, numbers, strings, arrays, plain objects, `undefined`,
// and the two binary types Hive documents: Uint8Array (msgpack bin) and Float32Array (embeddings). msgpack
// int64 decodes as a number (precision is lost past 2^53, as in JSON) and a timestamp (a Date where it was
// encoded) as epoch milliseconds. Anything else msgpackr could build (BigInt, Set, Map, RegExp, Error, other
// typed arrays, ArrayBuffer, DataView, deeper than 512 levels) is refused as BAD_FRAME naming where it was
// found, so a value from the wire is never a class instance.
//
// Limits: a frame, or the body it inflates to, larger than `maxMessageBytes` is refused with TOO_LARGE; a
// compressed body is decompressed with an output cap that stops as soon as the output passes the limit, so
// a decompression bomb costs at most about the limit in memory and time. Anything else malformed is BAD_FRAME.
//
// When a body is compressed, in which format, and how it is decompressed is protocols/compression.ts.
import { C1, Packr, RESERVE_START_SPACE, type Options } from 'msgpackr';
import { COMPRESSION_FORMATS, compressBody, decompressBounded, type CompressionFormat, type CompressionPolicy } from './compression.js';
import { BadFrameError, ConfigError, InvalidArgumentError, TooLargeError } from './errors.js';

/** First byte of every binary frame. */
export const FRAME_MAGIC = 0xc1;
/** The frame version this codec writes and reads (low 4 bits of byte 1). */
export const FRAME_VERSION = 1;
/** Flag bit in byte 1: the body is raw-deflate compressed. */
export const FRAME_FLAG_DEFLATE = 0x10;
/** Flag bit in byte 1: the body is brotli compressed. */
export const FRAME_FLAG_BROTLI = 0x20;
/** Bytes before the body: magic and flags/version. */
export const FRAME_HEADER_BYTES = 2;

const VERSION_MASK = 0x0f;
const RESERVED_MASK = 0xc0;
const COMPRESSED_MASK = FRAME_FLAG_DEFLATE | FRAME_FLAG_BROTLI;

/** Options of a {@link FrameCodec}. */
export interface FrameOptions {
  /**
   * Bodies smaller than this are never compressed. Bytes of typed arrays (embeddings) in the value do not
   * count toward it: float data barely deflates. `Infinity` turns compression off.
   */
  compressThresholdBytes: number;
  /** Brotli quality or zlib deflate level, 0-9 (0 turns compression off). */
  compressLevel: number;
  /** The format compressed bodies are written in: `brotli` (flag 0x20) or `deflate` (0x10). Both are always read. */
  compressFormat: CompressionFormat;
  /** Largest frame accepted or produced, and largest body a compressed frame may inflate to. */
  maxMessageBytes: number;
}

/**
 * Defaults, chosen from measurements on this project's machine kind (2 cores, Node 20; figures from
 * `npm run bench -- codec --sweep`, which writes bench/results/codec.json; CPU µs from `process.cpuUsage()`):
 *
 * - Compressing is the whole cost of a compressed frame. On the 64 KB context transcript (70.4 KB msgpack
 *   body) msgpack pack + unpack take ~100 µs of CPU and JSON's round trip (stringify + UTF-8 bytes, parse)
 *   ~360 µs, while brotli quality 1 takes ~410 µs to compress and ~270-300 µs to decompress, zlib's level-1
 *   deflate ~800 µs and its inflate ~250 µs (fflate: ~1,800 and ~600-750 µs). So a compressed frame runs
 *   at ~0.4x JSON's throughput (brotli; deflate ~0.3x) at 0.42 of its bytes, an uncompressed one at ~3.2x
 *   at 0.98 of its bytes. The in-process transport therefore never compresses (see `ActorSystem`).
 * - `compressFormat` brotli: same bytes as deflate level 1 on the transcript (30.1 vs 30.2 KB) for half the
 *   compress CPU; about 5% larger than deflate on 8-16 KB bodies. Deflate stays readable and writable.
 * - A task message (2 KB prompt, 10 metadata fields, 384-d Float32Array embedding) is a ~3.8 KB body that
 *   encodes and decodes in ~7 µs uncompressed; compressing would save ~0.9 KB, which a 1 Gbit/s link
 *   carries in 7 µs, for a round trip ~10x slower. The binary embedding alone already takes it to 0.37 of
 *   its JSON size. Compressing small bodies is a loss on any LAN, so the seed system's 1 KiB threshold is
 *   not used.
 * - `compressThresholdBytes` 8 KiB, counting only compressible (non-typed-array) bytes: twice a task
 *   message, so events, asks and task messages never pay a compression; transcripts, documents and batches
 *   of text do, where bytes start to matter (JetStream storage, NATS' 1 MB default max_payload, WAN links).
 * - `compressLevel` 1: brotli quality 2 gives 28.4 KB for ~1.7x the compress time; deflate level 6 27.2 KB
 *   (0.377 of JSON's bytes) for ~2.8x its level 1. The bytes target (≤ 0.45 of JSON's) is met at level 1.
 * - A compressed body is kept only when it is at least 1/8 smaller than the raw one, and a body of 256 KiB
 *   or more is first judged from a 4 KiB sample (protocols/compression.ts).
 * - `maxMessageBytes` 8 MiB: room for a long transcript, far below what would hurt a node.
 */
export const defaultFrameOptions: Readonly<FrameOptions> = Object.freeze({
  compressThresholdBytes: 8 * 1024,
  compressLevel: 1,
  compressFormat: 'brotli',
  maxMessageBytes: 8 * 1024 * 1024,
});

/**
 * Cheap running counters of a {@link FrameCodec}, for metrics: plain numbers, read them at scrape time.
 * "Out" is what `encode` produced, "in" what `decode` accepted. Raw bytes are msgpack body bytes before
 * compression (after inflating, for decoded frames); wire bytes are whole frames, header included, so
 * `rawBytesOut - wireBytesOut` is roughly what compression saved.
 */
export interface FrameStats {
  /** Frames encoded. */
  framesOut: number;
  /** Frames decoded. */
  framesIn: number;
  /** Body bytes encoded, before compression. */
  rawBytesOut: number;
  /** Body bytes decoded, after inflating. */
  rawBytesIn: number;
  /** Frame bytes produced by `encode`. */
  wireBytesOut: number;
  /** Frame bytes accepted by `decode`. */
  wireBytesIn: number;
  /** Encoded frames whose body was compressed (either format). */
  compressedOut: number;
  /** Decoded frames whose body was compressed (either format). */
  compressedIn: number;
  /** Frames refused by `decode` (BAD_FRAME or TOO_LARGE). */
  rejected: number;
}

// Plain msgpack maps (no records) so frames are self-describing; typed arrays kept; no structured clone.
// int64 from other-language clients decodes as a number (never a bigint; msgpackr's `int64AsType`).
const PACKR_OPTIONS = { moreTypes: true, useRecords: false, structuredClone: false, int64AsType: 'number', mapsAsObjects: true } as unknown as Options;
// Values deeper than this are refused (a deeply nested body is an attack, not a message).
const MAX_DEPTH = 512;

/**
 * Encodes values into binary frames and decodes them back (see the module header for the layout). One
 * instance per node (or per connection) is enough: it keeps a msgpackr encoder and counters.
 */
export class FrameCodec {
  /** The options in effect (defaults filled in). */
  readonly options: Readonly<FrameOptions>;
  /** Running counters, updated by every call. */
  readonly stats: FrameStats = {
    framesOut: 0,
    framesIn: 0,
    rawBytesOut: 0,
    rawBytesIn: 0,
    wireBytesOut: 0,
    wireBytesIn: 0,
    compressedOut: 0,
    compressedIn: 0,
    rejected: 0,
  };

  readonly #packr = new Packr(PACKR_OPTIONS);
  readonly #compression: Readonly<CompressionPolicy>;

  /** @throws ConfigError when an option is out of range (`details.option` names it). */
  constructor(options: Partial<FrameOptions> = {}) {
    const o: FrameOptions = { ...defaultFrameOptions, ...stripUndefined(options) };
    if (!(o.compressThresholdBytes >= 0)) invalid('compressThresholdBytes', o.compressThresholdBytes, 'a number >= 0 (Infinity: never compress)');
    if (!Number.isInteger(o.compressLevel) || o.compressLevel < 0 || o.compressLevel > 9) invalid('compressLevel', o.compressLevel, 'an integer 0-9');
    if (!Number.isSafeInteger(o.maxMessageBytes) || o.maxMessageBytes < 64) invalid('maxMessageBytes', o.maxMessageBytes, 'an integer >= 64');
    this.options = Object.freeze(o);
    if (!COMPRESSION_FORMATS.includes(o.compressFormat)) invalid('compressFormat', o.compressFormat, COMPRESSION_FORMATS.join(' or '));
    this.#compression = Object.freeze({ thresholdBytes: o.compressThresholdBytes, level: o.compressLevel, format: o.compressFormat });
  }

  /**
   * Encodes `value` as one binary frame, compressing the body when it is over the threshold and that pays.
   * @throws TooLargeError when the body or the frame would pass `maxMessageBytes`.
   * @throws InvalidArgumentError when msgpack cannot encode the value (a cycle, a symbol, ...).
   */
  encode(value: unknown): Uint8Array {
    let frame: Uint8Array;
    try {
      // msgpackr leaves the 2 header bytes free at the start of its output: no copy for uncompressed frames.
      // Its output is a fresh slice of a buffer it never writes again, so the frame is ours to hand out.
      frame = this.#packr.pack(value, RESERVE_START_SPACE | FRAME_HEADER_BYTES);
    } catch (err) {
      throw new InvalidArgumentError(`cannot encode the value as a frame: ${messageOf(err)}`, { cause: err });
    }
    const max = this.options.maxMessageBytes;
    const raw = frame.length - FRAME_HEADER_BYTES;
    if (frame.length > max) {
      throw new TooLargeError(`message of ${raw} bytes passes the limit of ${max} bytes (maxMessageBytes)`, {
        details: { bytes: raw, limit: max },
      });
    }
    let flags = FRAME_VERSION;
    const compressed = compressBody(frame.subarray(FRAME_HEADER_BYTES), value, this.#compression);
    if (compressed !== undefined) {
      frame = new Uint8Array(FRAME_HEADER_BYTES + compressed.bytes.length);
      frame.set(compressed.bytes, FRAME_HEADER_BYTES);
      flags |= compressed.format === 'brotli' ? FRAME_FLAG_BROTLI : FRAME_FLAG_DEFLATE;
    }
    frame[0] = FRAME_MAGIC;
    frame[1] = flags;
    const s = this.stats;
    s.framesOut++;
    s.rawBytesOut += raw;
    s.wireBytesOut += frame.length;
    if (flags & COMPRESSED_MASK) s.compressedOut++;
    return frame;
  }

  /**
   * Decodes one binary frame.
   * @throws TooLargeError when the frame, or the body it inflates to, passes `maxMessageBytes` (a deflate
   *   bomb is stopped at about the limit, never inflated whole).
   * @throws BadFrameError when the bytes are not a valid frame: too short, no 0xC1 magic, unknown version
   *   or flags, corrupt deflate data, or a body that is not exactly one msgpack value.
   */
  decode(bytes: Uint8Array): unknown {
    try {
      return this.#decode(bytes);
    } catch (err) {
      this.stats.rejected++;
      throw err;
    }
  }

  #decode(bytes: Uint8Array): unknown {
    const n = bytes.length;
    const max = this.options.maxMessageBytes;
    if (n > max) {
      throw new TooLargeError(`frame of ${n} bytes passes the limit of ${max} bytes (maxMessageBytes)`, { details: { bytes: n, limit: max } });
    }
    if (n < FRAME_HEADER_BYTES + 1) {
      throw new BadFrameError(
        n === 0 ? 'empty frame' : `truncated frame: ${n} byte${n === 1 ? '' : 's'}, a frame is a 2-byte header and a body`,
        { details: { bytes: n } },
      );
    }
    if (bytes[0] !== FRAME_MAGIC) {
      throw new BadFrameError(`not a binary frame: first byte is ${hex(bytes[0])}, expected 0xC1 (JSON payloads go to decodeJson)`, {
        details: { firstByte: bytes[0] },
      });
    }
    const flags = bytes[1];
    const version = flags & VERSION_MASK;
    if (version !== FRAME_VERSION) {
      throw new BadFrameError(`unsupported frame version ${version} (flags byte ${hex(flags)}); this node reads version ${FRAME_VERSION}`, {
        details: { version, flags },
      });
    }
    if (flags & RESERVED_MASK) {
      throw new BadFrameError(`unknown frame flags ${hex(flags & RESERVED_MASK)} in flags byte ${hex(flags)}`, { details: { flags } });
    }
    const compression = flags & COMPRESSED_MASK;
    if (compression === COMPRESSED_MASK) {
      throw new BadFrameError(`frame flags ${hex(flags)} mark the body both deflate (0x10) and brotli (0x20) compressed`, { details: { flags } });
    }
    const compressed = compression !== 0;
    // A plain Uint8Array view, not `bytes.subarray()`: on a Buffer that would build a Buffer, which costs
    // more here and in msgpackr's own slicing.
    let body = new Uint8Array(bytes.buffer, bytes.byteOffset + FRAME_HEADER_BYTES, n - FRAME_HEADER_BYTES);
    if (compressed) body = decompressBounded(compression === FRAME_FLAG_BROTLI ? 'brotli' : 'deflate', body, max);
    let value: unknown;
    try {
      value = this.#packr.unpack(body);
    } catch (err) {
      throw new BadFrameError(`invalid msgpack body (${body.length} bytes${compressed ? ' after inflating' : ''}): ${messageOf(err)}`, {
        cause: err,
        details: { bodyBytes: body.length, compressed },
      });
    }
    if (value === C1) throw new BadFrameError('invalid msgpack body: it starts with the never-used byte 0xC1');
    if (value instanceof Date) value = value.getTime();
    else if (typeof value === 'object' && value !== null ? !isData(value, 0) : !isScalar(value) && value !== null) {
      throw refusal(value, '', 0) ?? new BadFrameError('frame body is not data');
    }
    const s = this.stats;
    s.framesIn++;
    s.rawBytesIn += body.length;
    s.wireBytesIn += n;
    if (compressed) s.compressedIn++;
    return value;
  }
}

/** True when `bytes` is a binary frame (starts with 0xC1); anything else is JSON text. */
export function isBinaryFrame(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === FRAME_MAGIC;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * `JSON.stringify` replacer for replies to JSON clients: typed arrays (embeddings) become plain number
 * arrays, bigints numbers (strings when unsafe), Maps objects and Sets arrays.
 */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null) {
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      if (value instanceof BigInt64Array || value instanceof BigUint64Array) return Array.from(value, bigintToJson);
      return Array.from(value as unknown as ArrayLike<number>);
    }
    if (value instanceof ArrayBuffer) return Array.from(new Uint8Array(value));
    if (value instanceof Map) return Object.fromEntries(value);
    if (value instanceof Set) return Array.from(value);
    return value;
  }
  if (typeof value === 'bigint') return bigintToJson(value);
  return value;
}

function bigintToJson(v: bigint): number | string {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

/**
 * Encodes `value` as UTF-8 JSON text (the reply format for JSON clients such as the NATS CLI), with
 * {@link jsonReplacer} (Float32Array → number array). `undefined` encodes as `null`.
 * @throws InvalidArgumentError when the value cannot be JSON-encoded (a cycle).
 */
export function encodeJson(value: unknown): Uint8Array {
  let text: string | undefined;
  try {
    text = JSON.stringify(value, jsonReplacer);
  } catch (err) {
    throw new InvalidArgumentError(`cannot encode the value as JSON: ${messageOf(err)}`, { cause: err });
  }
  return utf8Encoder.encode(text ?? 'null');
}

/**
 * Decodes a JSON payload (UTF-8 text, as the NATS CLI sends it). The size is checked first.
 * @param maxBytes the size limit (default: the default `maxMessageBytes`, 8 MiB).
 * @throws TooLargeError when `bytes` is longer than `maxBytes`.
 * @throws BadFrameError when the payload is empty, not valid UTF-8 or not valid JSON.
 */
export function decodeJson(bytes: Uint8Array, maxBytes: number = defaultFrameOptions.maxMessageBytes): unknown {
  if (bytes.length > maxBytes) {
    throw new TooLargeError(`JSON payload of ${bytes.length} bytes passes the limit of ${maxBytes} bytes`, {
      details: { bytes: bytes.length, limit: maxBytes },
    });
  }
  let text: string;
  try {
    text = utf8Decoder.decode(bytes);
  } catch (err) {
    throw new BadFrameError('payload is neither a binary frame (first byte 0xC1) nor valid UTF-8 JSON text', { cause: err });
  }
  if (text.trim() === '') throw new BadFrameError('empty payload: send JSON text (e.g. {"type":"ping"}) or a binary frame');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new BadFrameError(`payload is not valid JSON: ${messageOf(err)}`, { cause: err, details: { start: text.slice(0, 80) } });
  }
}

/**
 * True when `value` is data: plain objects and arrays (nested at most {@link MAX_DEPTH} deep) of null,
 * booleans, numbers, strings, `undefined`, Uint8Array and Float32Array. The fast check; {@link refusal}
 * finds where the offending value sits once one was found.
 */
function isData(value: object, depth: number): boolean {
  if (depth > MAX_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (typeof v === 'object' ? v !== null && !isData(v, depth + 1) : !isScalar(v)) {
        if (!(v instanceof Date)) return false;
        value[i] = v.getTime();
      }
    }
    return true;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Object.prototype) {
    for (const key in value) {
      const v: unknown = (value as Record<string, unknown>)[key];
      if (typeof v === 'object' ? v !== null && !isData(v, depth + 1) : !isScalar(v)) {
        if (!(v instanceof Date)) return false;
        (value as Record<string, unknown>)[key] = v.getTime();
      }
    }
    return true;
  }
  return proto === Float32Array.prototype || proto === Uint8Array.prototype || (value instanceof Uint8Array && !(value instanceof Uint8ClampedArray));
}

function isScalar(v: unknown): boolean {
  const t = typeof v;
  return t === 'string' || t === 'number' || t === 'boolean' || t === 'undefined';
}

/** The BAD_FRAME error for a body {@link isData} refused: names the type and where it sits. */
function refusal(value: unknown, path: string, depth: number): BadFrameError | undefined {
  if (depth > MAX_DEPTH) return new BadFrameError(`frame body nests deeper than ${MAX_DEPTH} levels`, { details: { maxDepth: MAX_DEPTH, path } });
  if (typeof value !== 'object' || value === null || value instanceof Date) {
    if (isScalar(value) || value === null || value instanceof Date) return undefined;
    return refused(typeof value, path);
  }
  if (Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype) {
    const entries: Array<[string, unknown]> = Array.isArray(value) ? value.map((v, i) => [`[${i}]`, v]) : Object.entries(value).map(([k, v]) => [`.${k}`, v]);
    for (const [k, v] of entries) {
      const r = refusal(v, path + k, depth + 1);
      if (r !== undefined) return r;
    }
    return undefined;
  }
  if (isData(value, depth)) return undefined;
  return refused((value as { constructor?: { name?: unknown } }).constructor?.name ?? 'non-plain object', path);
}

function refused(what: unknown, path: string): BadFrameError {
  const type = typeof what === 'string' ? what : 'object';
  const where = path === '' ? 'body' : path.startsWith('.') ? path.slice(1) : path;
  return new BadFrameError(`frame body carries a ${type} at ${where}: only JSON-like values, Uint8Array and Float32Array cross the wire`, {
    details: { type, path: where },
  });
}

function stripUndefined(o: Partial<FrameOptions>): Partial<FrameOptions> {
  const out: Partial<FrameOptions> = {};
  if (o.compressThresholdBytes !== undefined) out.compressThresholdBytes = o.compressThresholdBytes;
  if (o.compressLevel !== undefined) out.compressLevel = o.compressLevel;
  if (o.compressFormat !== undefined) out.compressFormat = o.compressFormat;
  if (o.maxMessageBytes !== undefined) out.maxMessageBytes = o.maxMessageBytes;
  return out;
}

function invalid(option: keyof FrameOptions, value: unknown, expected: string): never {
  throw new ConfigError(`invalid frame option ${option}: ${String(value)}; expected ${expected}`, { details: { option, value } });
}

function hex(b: number): string {
  return `0x${b.toString(16).toUpperCase().padStart(2, '0')}`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
