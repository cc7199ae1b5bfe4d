// A memory queue message carries only what validation produced: before a binary COPY batch from the queue is
// loaded, its bytes are checked to be exactly the document rows Hive writes (documentBatch.ts): the COPY
// signature, `count` rows of the six document columns, each field of its type, and nothing after the
// trailer. A forged batch (anyone who could publish on the queue's subject) is refused with a reason and
// dead-lettered, never loaded.
import { isUtf8 } from 'node:buffer';
import { COPY_SIGNATURE } from '../../protocols/copy.js';
import { isToken } from '../../protocols/subjects.js';
import { DOCUMENT_COLUMNS } from './documentBatch.js';
import type { EmbeddingStorage } from './Document.js';

/** Longest document id, in UTF-8 bytes (an id is at most 256 characters). */
const MAX_ID_BYTES = 1024;

/**
 * Checks that `copy` is a binary COPY stream of exactly `count` document rows for `dims`/`storage`, whose
 * namespaces are all in `namespaces`.
 * @returns a reason when it is not one, else undefined.
 */
export function copyBatchProblem(copy: Uint8Array, count: number, namespaces: readonly string[], dims: number, storage: EmbeddingStorage): string | undefined {
  if (!Number.isSafeInteger(count) || count < 0) return `row count ${String(count)} is not a count`;
  if (!Number.isInteger(dims) || dims < 1 || dims > 16_000) return `dimension ${String(dims)} is out of range`;
  for (const ns of namespaces) if (!isToken(ns)) return 'a namespace is not a token';
  const allowed = namespaces.map((ns) => Buffer.from(ns, 'utf8'));
  const buf = Buffer.from(copy.buffer, copy.byteOffset, copy.byteLength);
  const n = buf.length;
  if (n < 21) return 'shorter than a COPY header and trailer';
  for (let i = 0; i < COPY_SIGNATURE.length; i++) if (buf[i] !== COPY_SIGNATURE[i]) return 'no binary COPY signature';
  if (buf.readInt32BE(11) !== 0 || buf.readInt32BE(15) !== 0) return 'unexpected COPY header flags or extension';
  const half = storage === 'halfvec';
  const vectorBytes = 4 + (half ? 2 : 4) * dims;
  const columns = DOCUMENT_COLUMNS.length;
  let o = 19;
  for (let row = 0; row < count; row++) {
    if (o + 2 > n) return `truncated before row ${row}`;
    if (buf.readInt16BE(o) !== columns) return `row ${row} has ${buf.readInt16BE(o)} fields, expected ${columns}`;
    o += 2;
    // namespace (one of the declared), id (UTF-8 without NUL, at most 1 KiB), content (not empty)
    for (let f = 0; f < 3; f++) {
      if (o + 4 > n) return `row ${row}: truncated`;
      const len = buf.readInt32BE(o);
      const start = o + 4;
      if (len < 1 || start + len > n || (f === 0 && len > 128) || (f === 1 && len > MAX_ID_BYTES)) return `row ${row}: ${DOCUMENT_COLUMNS[f]} of ${len} bytes`;
      const bytes = buf.subarray(start, start + len);
      if (f === 0) {
        let known = false;
        for (const a of allowed) if (a.equals(bytes)) known = true;
        if (!known) return `row ${row}: namespace not declared by the batch`;
      } else if (f === 1 && (bytes.indexOf(0) >= 0 || !isUtf8(bytes))) return `row ${row}: id is not UTF-8 text without NUL`;
      // content: PostgreSQL itself refuses text that is not UTF-8 or holds NUL (the batch then fails whole)
      o = start + len;
    }
    // metadata: jsonb version 1 of a JSON object
    if (o + 4 > n) return `row ${row}: truncated`;
    let len = buf.readInt32BE(o);
    let start = o + 4;
    if (len < 3 || start + len > n || buf[start] !== 1 || buf[start + 1] !== 0x7b || buf[start + len - 1] !== 0x7d || !isUtf8(buf.subarray(start + 1, start + len))) {
      return `row ${row}: metadata is not a jsonb object`;
    }
    o = start + len;
    // embedding: dims finite components, not all zero (checked on the big-endian bytes: exponent bits)
    if (o + 4 > n) return `row ${row}: truncated`;
    len = buf.readInt32BE(o);
    start = o + 4;
    if (len !== vectorBytes || start + len > n || buf.readInt16BE(start) !== dims || buf.readInt16BE(start + 2) !== 0) return `row ${row}: embedding is not ${dims} ${storage} components`;
    const bad = half ? halfProblem(buf, start + 4, start + len) : floatProblem(buf, start + 4, start + len);
    if (bad !== undefined) return `row ${row}: embedding ${bad}`;
    o = start + len;
    // created_at: timestamptz
    if (o + 4 > n || buf.readInt32BE(o) !== 8 || o + 12 > n) return `row ${row}: created_at is not a timestamptz`;
    o += 12;
  }
  if (o + 2 > n || buf.readInt16BE(o) !== -1) return `no COPY trailer after ${count} rows`;
  if (o + 2 !== n) return `${n - o - 2} bytes after the COPY trailer`;
  return undefined;
}

/** Big-endian float4 components in `buf[from, to)`: a non-finite one (exponent bits all set) or all zero. */
function floatProblem(buf: Buffer, from: number, to: number): string | undefined {
  let nonZero = 0;
  for (let p = from; p < to; p += 4) {
    const hi = buf[p] & 0x7f;
    const next = buf[p + 1];
    if (hi === 0x7f && next >= 0x80) return `component ${(p - from) / 4} is not finite`;
    nonZero |= hi | next | buf[p + 2] | buf[p + 3];
  }
  return nonZero === 0 ? 'is all zeros' : undefined;
}

/** Big-endian float2 components in `buf[from, to)`: a non-finite one (exponent bits all set) or all zero. */
function halfProblem(buf: Buffer, from: number, to: number): string | undefined {
  let nonZero = 0;
  for (let p = from; p < to; p += 2) {
    const hi = buf[p] & 0x7f;
    if (hi >= 0x7c) return `component ${(p - from) / 2} is not finite`;
    nonZero |= hi | buf[p + 1];
  }
  return nonZero === 0 ? 'is all zeros' : undefined;
}
