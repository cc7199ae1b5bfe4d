// Memory documents and their validation: every field PostgreSQL would refuse (and so fail a whole COPY
// batch for) is caught here first, with a rejection that names the document and the field.
import { randomUUID } from 'node:crypto';
import { F16_MAX, vectorFromWire } from '../../protocols/embeddings.js';

/** How embeddings are stored: `halfvec` (2 bytes a component, the default) or `vector` (4 bytes). */
export type EmbeddingStorage = 'halfvec' | 'vector';

/** Namespaces are single subject tokens, like actor ids. */
export const NAMESPACE_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/** The longest caller-given document id, in characters. */
export const MAX_ID_LENGTH = 256;

/** A document as callers hand it in (from code, JSON over NATS, or a JSONL file). */
export interface DocumentInput {
  /** The caller's id (any string of 1–256 characters); a random UUID when omitted. Unique per namespace. */
  id?: string;
  /** A namespace token (`[A-Za-z0-9_-]{1,128}`). */
  namespace: string;
  /** The text (non-empty, at most `maxContentBytes` of UTF-8). */
  content: string;
  /** A plain JSON object, stored as jsonb; `{}` when omitted or null. */
  metadata?: Record<string, unknown> | null;
  /** The embedding: exactly `dims` finite numbers, not all zero. */
  embedding: Float32Array | readonly number[];
  /** Creation time: a Date, epoch milliseconds or an ISO string; now when omitted. */
  createdAt?: Date | number | string;
}

/** A validated, normalized document. */
export interface Document {
  id: string;
  namespace: string;
  content: string;
  metadata: Record<string, unknown>;
  embedding: Float32Array;
  createdAt: Date;
}

/** The part of a document a rejection is about (`document` when it is not an object at all). */
export type DocumentField = 'document' | 'id' | 'namespace' | 'content' | 'metadata' | 'embedding' | 'createdAt';

/** Why one document of a batch was not stored. */
export interface Rejection {
  /** Its position in the batch. */
  index: number;
  /** Its id, when it had a usable one. */
  id?: string;
  /** The offending field. */
  field: DocumentField;
  /** A readable reason, e.g. `embedding has 3 dimensions, expected 384`. */
  reason: string;
}

/** What {@link validateDocument} checks against. */
export interface ValidationLimits {
  /** Required embedding dimension. */
  dims: number;
  /** Largest content size in UTF-8 bytes. */
  maxContentBytes: number;
  /** Largest metadata size in bytes of JSON text (default 64 KiB). */
  maxMetadataBytes?: number;
  /** Storage type; `halfvec` also refuses components beyond ±65504 (default `halfvec`). */
  storage?: EmbeddingStorage;
  /** Clock for a missing `createdAt` (epoch ms; default Date.now). */
  now?: () => number;
  /** Id source for a missing `id` (default a random UUID). */
  newId?: () => string;
}

/** A document that passed validation, with its metadata already serialized for the COPY encoder. */
export interface ValidDocument {
  ok: true;
  doc: Document;
  /** `JSON.stringify(doc.metadata)`, checked to be storable as jsonb. */
  metadataJson: string;
}

/** A document that failed validation. */
export interface InvalidDocument {
  ok: false;
  rejection: Rejection;
}

/** The outcome of {@link validateDocument}. */
export type DocumentValidation = ValidDocument | InvalidDocument;

const DEFAULT_MAX_METADATA_BYTES = 64 * 1024;

// A UTF-16 surrogate without its partner (not representable in UTF-8).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

// A JSON `\u0000` or lone-surrogate escape that is not itself an escaped backslash: jsonb refuses both.
const BAD_JSON_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function reject(index: number, field: DocumentField, reason: string, id?: string): InvalidDocument {
  const rejection: Rejection = { index, field, reason };
  if (id !== undefined) rejection.id = id;
  return { ok: false, rejection };
}

/**
 * Checks and normalizes one document. A rejection names the document (`index`, and `id` when usable) and
 * the field: wrong embedding dimension, NaN/Infinity (or beyond ±65504 for halfvec), an all-zero embedding
 * (it has no cosine direction), empty or oversized content, content or ids with NUL characters, metadata
 * that is not a plain JSON object or holds what jsonb cannot store, a bad namespace, a bad `createdAt`.
 * Content with unpaired surrogates is made well-formed (each becomes U+FFFD), as UTF-8 would anyway.
 *
 * @param input the document as received
 * @param limits dimension and size limits
 * @param index its position in the batch (reported in the rejection)
 */
export function validateDocument(input: unknown, limits: ValidationLimits, index = 0): DocumentValidation {
  if (!isPlainObject(input)) return reject(index, 'document', 'document is not an object');
  const d = input;

  let id: string;
  if (d['id'] === undefined || d['id'] === null) {
    id = (limits.newId ?? randomUUID)();
  } else if (typeof d['id'] !== 'string') {
    return reject(index, 'id', `id must be a string, got ${typeof d['id']}`);
  } else {
    id = d['id'];
    if (id.length === 0 || id.length > MAX_ID_LENGTH) return reject(index, 'id', `id must have 1 to ${MAX_ID_LENGTH} characters, got ${id.length}`);
    if (id.includes('\u0000') || LONE_SURROGATE.test(id)) return reject(index, 'id', 'id contains a NUL character or an unpaired surrogate');
  }

  const namespace = d['namespace'];
  if (typeof namespace !== 'string' || !NAMESPACE_PATTERN.test(namespace)) {
    return reject(index, 'namespace', `namespace must match [A-Za-z0-9_-]{1,128}, got ${JSON.stringify(namespace) ?? typeof namespace}`, id);
  }

  const rawContent = d['content'];
  if (typeof rawContent !== 'string') return reject(index, 'content', `content must be a string, got ${typeof rawContent}`, id);
  let content = rawContent;
  if (content.trim().length === 0) return reject(index, 'content', 'content is empty', id);
  if (content.includes('\u0000')) return reject(index, 'content', 'content contains a NUL character', id);
  if (LONE_SURROGATE.test(content)) content = content.replace(LONE_SURROGATES, '\uFFFD');
  // UTF-8 takes at most 3 bytes per UTF-16 unit: skip the byte count when the string is surely small enough.
  if (content.length * 3 > limits.maxContentBytes) {
    const bytes = Buffer.byteLength(content, 'utf8');
    if (bytes > limits.maxContentBytes) {
      return reject(index, 'content', `content is ${bytes} bytes, over the ${limits.maxContentBytes}-byte limit`, id);
    }
  }

  let metadata: Record<string, unknown>;
  const m = d['metadata'];
  if (m === undefined || m === null) metadata = {};
  else if (!isPlainObject(m)) {
    const kind = Array.isArray(m) ? 'an array' : typeof m;
    return reject(index, 'metadata', `metadata must be a plain object, got ${kind}`, id);
  } else metadata = m;
  let metadataJson: string;
  try {
    metadataJson = JSON.stringify(metadata);
  } catch (err) {
    return reject(index, 'metadata', `metadata is not JSON-serializable: ${(err as Error).message}`, id);
  }
  const maxMeta = limits.maxMetadataBytes ?? DEFAULT_MAX_METADATA_BYTES;
  if (metadataJson.length > maxMeta / 3 && Buffer.byteLength(metadataJson, 'utf8') > maxMeta) {
    return reject(index, 'metadata', `metadata is over the ${maxMeta}-byte limit as JSON`, id);
  }
  if (BAD_JSON_ESCAPE.test(metadataJson)) {
    return reject(index, 'metadata', 'metadata contains a NUL character or an unpaired surrogate, which jsonb cannot store', id);
  }

  const wire = vectorFromWire(d['embedding'], 'embedding');
  if (!(wire instanceof Float32Array)) return reject(index, 'embedding', wire.reason, id);
  const embedding = wire;
  if (embedding.length !== limits.dims) {
    return reject(index, 'embedding', `embedding has ${embedding.length} dimensions, expected ${limits.dims}`, id);
  }
  const max = (limits.storage ?? 'halfvec') === 'halfvec' ? F16_MAX : Infinity;
  let nonZero = false;
  for (let i = 0; i < embedding.length; i++) {
    const x = embedding[i];
    if (!(Math.abs(x) <= max)) {
      // NaN fails the comparison too.
      const what = Number.isNaN(x) ? 'NaN' : Number.isFinite(x) ? `${x}, beyond the halfvec range ±${F16_MAX}` : String(x);
      return reject(index, 'embedding', `embedding[${i}] is ${what}`, id);
    }
    if (x !== 0) nonZero = true;
  }
  if (!nonZero) return reject(index, 'embedding', 'embedding is all zeros (no direction for cosine distance)', id);

  let createdAt: Date;
  const c = d['createdAt'];
  if (c === undefined || c === null) createdAt = new Date((limits.now ?? Date.now)());
  else if (c instanceof Date) createdAt = c;
  else if (typeof c === 'number' || typeof c === 'string') createdAt = new Date(c);
  else return reject(index, 'createdAt', `createdAt must be a Date, epoch milliseconds or an ISO string, got ${typeof c}`, id);
  if (Number.isNaN(createdAt.getTime())) return reject(index, 'createdAt', `createdAt is not a valid time: ${JSON.stringify(c)}`, id);

  return { ok: true, doc: { id, namespace, content, metadata, embedding, createdAt }, metadataJson };
}
