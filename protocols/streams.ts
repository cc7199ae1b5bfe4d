// Streamed replies on the wire: how an ask asks for a stream (the `hive.stream` field of its event), the frames a
// producer sends to the ask's reply subject (chunks with a sequence number, an end marker, an error marker), and
// the credits a consumer sends back on the producing node's credit subject. Pure functions, no I/O.
import { BadFrameError, InvalidArgumentError, isErrorReply, type ErrorReply } from './errors.js';

/**
 * The event field that turns an ask into a stream request: `{ "window": <initial credits>, "idleMs": <ms> }`
 * (both optional). The receiving node removes it before the actor sees the event.
 */
export const STREAM_FIELD = 'hive.stream';
/** Chunks a consumer lets the producer send ahead by default (its initial credits). */
export const DEFAULT_STREAM_WINDOW = 1024;
/** The largest window a stream request may ask for. */
export const MAX_STREAM_WINDOW = 65_536;
/** A producer that hears nothing from its consumer (credits or keep-alives) for this long is cancelled (default). */
export const DEFAULT_STREAM_IDLE_MS = 30_000;
/** Bounds of a stream request's `idleMs`. */
export const MIN_STREAM_IDLE_MS = 50;
export const MAX_STREAM_IDLE_MS = 3_600_000;
/** Chunks one binary frame carries at most (the chunks a producer made in one event-loop turn leave together). */
export const MAX_CHUNKS_PER_FRAME = 64;

/** What a stream request asks for (parsed {@link STREAM_FIELD}). */
export interface StreamRequest {
  /** Initial credits: chunks the producer may send before it hears from the consumer. */
  window: number;
  /** The producer is cancelled after this long without a credit or keep-alive from the consumer. */
  idleMs: number;
}

const WIRE_NAMES = { window: `${STREAM_FIELD}.window`, idleMs: `${STREAM_FIELD}.idleMs` };

/**
 * Parses the {@link STREAM_FIELD} value of a stream request (an object with optional integer `window` and
 * `idleMs`, or `true` for the defaults).
 * @throws InvalidArgumentError naming the field that is wrong.
 */
export function parseStreamRequest(value: unknown, names: { window: string; idleMs: string } = WIRE_NAMES): StreamRequest {
  if (value === true) return { window: DEFAULT_STREAM_WINDOW, idleMs: DEFAULT_STREAM_IDLE_MS };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`"${STREAM_FIELD}" must be an object { window?, idleMs } or true`, { details: { argument: STREAM_FIELD } });
  }
  const o = value as Record<string, unknown>;
  return {
    window: intIn(o['window'], DEFAULT_STREAM_WINDOW, 1, MAX_STREAM_WINDOW, names.window),
    idleMs: intIn(o['idleMs'], DEFAULT_STREAM_IDLE_MS, MIN_STREAM_IDLE_MS, MAX_STREAM_IDLE_MS, names.idleMs),
  };
}

function intIn(v: unknown, dflt: number, min: number, max: number, name: string): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got ${typeof v === 'number' ? v : typeof v}`, { details: { argument: name, min, max } });
  }
  return v;
}

/** `hive.<cluster>.credit.<nodeId>`: where a consumer sends credits and keep-alives for streams that node produces. */
export function creditSubject(cluster: string, nodeId: string): string {
  return `hive.${cluster}.credit.${nodeId}`;
}

/** Chunks of a binary stream (`k: "s"`), in one frame: `m[i]` has sequence number `q + i`. */
export interface ChunkFrame {
  v: 1;
  k: 's';
  /** The ask's correlation id. */
  c: string;
  /** Sequence number of the first chunk (the first chunk of a stream is 0). */
  q: number;
  m: unknown[];
  /** Only in the frame that carries chunk 0: where to send credits ({@link creditSubject}). */
  g?: string;
}

/** The end of a binary stream (`k: "e"`): `q` is the number of chunks sent; `ok`, the optional final value. */
export interface EndFrame {
  v: 1;
  k: 'e';
  c: string;
  q: number;
  ok?: unknown;
}

/**
 * Credits (`k: "g"`) from a consumer to the producing node: the stream is named by its reply subject `r` and
 * correlation id `c` (absent for a JSON stream); `n` chunks more may be sent (0: only a keep-alive).
 */
export interface CreditFrame {
  v: 1;
  k: 'g';
  r: string;
  c?: string;
  n: number;
}

/** What a consumer reads from its reply subject. */
export type StreamMessage =
  | { kind: 'chunks'; seq: number; chunks: unknown[]; credit: string | undefined }
  | { kind: 'end'; count: number; final: unknown }
  | { kind: 'error'; error: ErrorReply }
  /** A plain (non-streaming) answer to the ask: the actor replied instead of streaming. */
  | { kind: 'answer'; answer: unknown };

/**
 * Reads a decoded binary frame body that arrived on a stream's reply subject: a chunk frame, an end frame or a
 * reply envelope (`k: "r"`: an error, or the plain answer of an actor that does not stream).
 * @throws BadFrameError naming what is wrong.
 */
export function parseStreamFrame(value: unknown): StreamMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadFrameError('stream frame must be an object');
  const o = value as Record<string, unknown>;
  if (o['v'] !== 1) throw new BadFrameError(`unsupported stream frame version ${String(o['v'])}`);
  switch (o['k']) {
    case 's': {
      const q = o['q'];
      const m = o['m'];
      if (!isSeq(q)) throw new BadFrameError('chunk frame needs a sequence number "q"');
      if (!Array.isArray(m) || m.length === 0 || m.length > MAX_CHUNKS_PER_FRAME) throw new BadFrameError(`chunk frame needs 1 to ${MAX_CHUNKS_PER_FRAME} chunks in "m"`);
      const g = o['g'];
      if (g !== undefined && (typeof g !== 'string' || g.length > 512)) throw new BadFrameError('chunk frame credit subject "g" must be a string');
      return { kind: 'chunks', seq: q, chunks: m, credit: g };
    }
    case 'e': {
      if (!isSeq(o['q'])) throw new BadFrameError('end frame needs the chunk count "q"');
      return { kind: 'end', count: o['q'], final: o['ok'] };
    }
    case 'r': {
      const err = o['err'];
      if (err !== undefined) {
        if (!isErrorReply(err)) throw new BadFrameError('reply envelope "err" must be an error reply');
        return { kind: 'error', error: err };
      }
      if (o['ok'] === undefined) throw new BadFrameError('reply envelope carries neither "ok" nor "err"');
      return { kind: 'answer', answer: o['ok'] };
    }
    default:
      throw new BadFrameError(`unexpected frame kind ${JSON.stringify(o['k'])?.slice(0, 20)} on a stream's reply subject`);
  }
}

/** The JSON forms a plain NATS client reads (one message per chunk). */
export interface JsonChunk {
  type: 'hive.chunk';
  seq: number;
  chunk: unknown;
  /** Only on chunk 0: where to send credits and keep-alives. */
  credit?: string;
}
export interface JsonEnd {
  type: 'hive.end';
  /** Chunks sent. */
  seq: number;
  final?: unknown;
}

/**
 * Parses a credit message (a decoded binary {@link CreditFrame}, or the JSON `{ "r": ..., "c"?: ..., "n": ... }`
 * a plain client sends).
 * @throws BadFrameError naming the field that is wrong.
 */
export function parseCredit(value: unknown): { r: string; c: string | undefined; n: number } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadFrameError('credit must be an object { r, c?, n }');
  const o = value as Record<string, unknown>;
  const r = o['r'];
  const c = o['c'];
  const n = o['n'] ?? 0;
  if (typeof r !== 'string' || r === '' || r.length > 512) throw new BadFrameError('credit needs the stream\'s reply subject in "r"');
  if (c !== undefined && typeof c !== 'string') throw new BadFrameError('credit correlation id "c" must be a string');
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_STREAM_WINDOW) throw new BadFrameError(`credit "n" must be an integer from 0 to ${MAX_STREAM_WINDOW}`);
  return { r, c, n };
}

function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}
