// The durable ingestion queue's message: one batch of already validated documents (ids and creation times
// fixed before queueing, so a redelivery stores exactly the same rows), packed with msgpack. Version 2 (SQL
// stores) carries the batch already encoded as the binary COPY stream the consumer loads as is; version 1
// (any other store) carries the documents, embeddings as one flat typed array: half precision when the store
// keeps halfvec (lossless for it), float32 otherwise.
import { Packr } from 'msgpackr';
import { decodeF16, encodeF16 } from '../../protocols/embeddings.js';
import { isToken } from '../../protocols/subjects.js';
import { copyBatchProblem } from './copyValidation.js';
import type { EmbeddingStorage, ValidDocument } from './Document.js';

/** Message format version of a batch of documents. */
export const INGEST_MESSAGE_VERSION = 1;

/** Message format version of a batch encoded as a binary COPY stream. */
export const COPY_MESSAGE_VERSION = 2;

// Typed arrays travel as msgpack extensions (moreTypes); plain maps, no records.
const packr = new Packr({ useRecords: false, moreTypes: true });

/** The packed form (short keys keep it small). */
interface Packed {
  v: number;
  /** Batch id (also the queue's de-duplication id). */
  b: string;
  /** Node to tell when the batch commits (undefined: nobody waits). */
  o?: string;
  d: number;
  /** `h` half precision, `f` float32. */
  s: 'h' | 'f';
  ids: string[];
  ns: string[];
  c: string[];
  /** Metadata as JSON text. */
  m: string[];
  /** Creation times, epoch ms. */
  t: Float64Array;
  e: Uint16Array | Float32Array;
}

/** A batch taken off the queue, ready for `MemoryStore.ingest`. */
export interface IngestMessage {
  batch: string;
  origin: string | undefined;
  /** Documents in the store's input shape (embedding a Float32Array view, metadata an object). */
  docs: Array<{ id: string; namespace: string; content: string; metadata: Record<string, unknown>; embedding: Float32Array; createdAt: number }>;
  /** Distinct namespaces written. */
  namespaces: string[];
}

/** A batch taken off the queue as a binary COPY stream, ready for `SqlMemoryStore.loadEncoded`. */
export interface CopyMessage {
  batch: string;
  origin: string | undefined;
  copy: Uint8Array;
  /** Documents in the stream. */
  count: number;
  /** Distinct namespaces written. */
  namespaces: string[];
  /** Dimension and storage it was encoded for (must match the consumer's store). */
  dims: number;
  storage: EmbeddingStorage;
}

// A COPY message is framed by hand, so the (large) COPY stream is copied once into the message and read back
// without a copy: "HM", version 2, a big-endian uint32 header length, the msgpack header, then the stream.
// (A version 1 message is a msgpack map, whose first byte is never "H".)
const COPY_MAGIC_0 = 0x48;
const COPY_MAGIC_1 = 0x4d;
const COPY_PREFIX = 7;

/** Packs a batch already encoded as a binary COPY stream. */
export function encodeCopyMessage(batch: string, origin: string | undefined, copy: Uint8Array, count: number, namespaces: readonly string[], dims: number, storage: EmbeddingStorage): Uint8Array {
  const header: Record<string, unknown> = { b: batch, n: count, ns: [...namespaces], d: dims, s: storage === 'halfvec' ? 'h' : 'f' };
  if (origin !== undefined) header['o'] = origin;
  const h = packr.pack(header);
  const out = new Uint8Array(COPY_PREFIX + h.length + copy.length);
  out[0] = COPY_MAGIC_0;
  out[1] = COPY_MAGIC_1;
  out[2] = COPY_MESSAGE_VERSION;
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(3, h.length);
  out.set(h, COPY_PREFIX);
  out.set(copy, COPY_PREFIX + h.length);
  return out;
}

/** Bytes a document adds to a message, about (for cutting batches under the transport's payload limit). */
export function estimateDocBytes(v: ValidDocument, storage: EmbeddingStorage): number {
  const d = v.doc;
  return 24 + d.embedding.length * (storage === 'halfvec' ? 2 : 4) + Buffer.byteLength(d.content) + v.metadataJson.length * 3 + d.id.length * 3 + d.namespace.length;
}

/**
 * Packs validated documents as one queue message.
 * @param batch the batch id
 * @param origin the node waiting for the commit notice, if any
 */
export function encodeIngestMessage(batch: string, origin: string | undefined, docs: readonly ValidDocument[], dims: number, storage: EmbeddingStorage): Uint8Array {
  const n = docs.length;
  const flat = new Float32Array(n * dims);
  const packed: Packed = {
    v: INGEST_MESSAGE_VERSION,
    b: batch,
    d: dims,
    s: storage === 'halfvec' ? 'h' : 'f',
    ids: new Array<string>(n),
    ns: new Array<string>(n),
    c: new Array<string>(n),
    m: new Array<string>(n),
    t: new Float64Array(n),
    e: flat,
  };
  if (origin !== undefined) packed.o = origin;
  for (let i = 0; i < n; i++) {
    const { doc, metadataJson } = docs[i];
    packed.ids[i] = doc.id;
    packed.ns[i] = doc.namespace;
    packed.c[i] = doc.content;
    packed.m[i] = metadataJson;
    packed.t[i] = doc.createdAt.getTime();
    flat.set(doc.embedding, i * dims);
  }
  if (storage === 'halfvec') packed.e = encodeF16(flat);
  return packr.pack(packed);
}

/** A decoded message of the memory ingestion queue. */
export type QueueMessage = ({ kind: 'docs' } & IngestMessage) | ({ kind: 'copy' } & CopyMessage);

/** Unpacks a queue message of either version (the COPY stream is a view, not a copy); throws a plain Error naming what is wrong. */
export function decodeQueueMessage(data: Uint8Array): QueueMessage {
  if (data.length >= COPY_PREFIX && data[0] === COPY_MAGIC_0 && data[1] === COPY_MAGIC_1) {
    if (data[2] !== COPY_MESSAGE_VERSION) throw new Error(`unsupported memory COPY message version ${data[2]}`);
    const hlen = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(3);
    if (COPY_PREFIX + hlen > data.length) throw new Error('memory COPY message is truncated');
    const p = packr.unpack(data.subarray(COPY_PREFIX, COPY_PREFIX + hlen)) as Record<string, unknown> | undefined;
    const { b, o, n, ns, d, s } = p ?? {};
    if (typeof b !== 'string' || typeof n !== 'number' || !Array.isArray(ns) || typeof d !== 'number' || (s !== 'h' && s !== 'f')) {
      throw new Error('memory COPY message is missing fields');
    }
    const copy = data.subarray(COPY_PREFIX + hlen);
    // only what validation produced is loaded: the stream must be exactly the document rows Hive writes
    const problem = copyBatchProblem(copy, n, ns as string[], d, s === 'h' ? 'halfvec' : 'vector');
    if (problem !== undefined) throw new Error(`memory COPY message is not a batch of valid documents: ${problem}`);
    return { kind: 'copy', batch: b, origin: typeof o === 'string' ? o : undefined, copy, count: n, namespaces: ns as string[], dims: d, storage: s === 'h' ? 'halfvec' : 'vector' };
  }
  return { kind: 'docs', ...decodeIngestMessage(data) };
}

/** Unpacks a version 1 queue message; throws a plain Error when it is not one (the caller dead-letters it). */
export function decodeIngestMessage(data: Uint8Array): IngestMessage {
  const p = packr.unpack(data) as Partial<Packed> | undefined;
  if (typeof p !== 'object' || p === null || p.v !== INGEST_MESSAGE_VERSION || typeof p.b !== 'string') {
    throw new Error(`not a memory ingestion message (version ${String(p?.v)})`);
  }
  const { ids, ns, c, m, t, e, d } = p;
  if (!Array.isArray(ids) || !Array.isArray(ns) || !Array.isArray(c) || !Array.isArray(m) || !(t instanceof Float64Array) || typeof d !== 'number') {
    throw new Error('memory ingestion message is missing fields');
  }
  let flat: Float32Array;
  if (p.s === 'h' && e instanceof Uint16Array) flat = decodeF16(e);
  else if (p.s === 'f' && e instanceof Float32Array) flat = e;
  else throw new Error('memory ingestion message has no embeddings');
  const n = ids.length;
  if (ns.length !== n || c.length !== n || m.length !== n || t.length !== n || flat.length !== n * d) throw new Error('memory ingestion message fields differ in length');
  const docs: IngestMessage['docs'] = new Array<IngestMessage['docs'][number]>(n);
  const namespaces = new Set<string>();
  for (let i = 0; i < n; i++) {
    // what validation produced, nothing else: token namespaces, ids of 1-256 characters, text content, object metadata
    const id: unknown = ids[i];
    const content: unknown = c[i];
    const meta: unknown = typeof m[i] === 'string' ? JSON.parse(m[i]) : undefined;
    if (!isToken(ns[i]) || typeof id !== 'string' || id.length < 1 || id.length > 256 || typeof content !== 'string' || content === '') {
      throw new Error(`memory ingestion message: document ${i} is not a validated document`);
    }
    if (typeof meta !== 'object' || meta === null || Array.isArray(meta) || !Number.isFinite(t[i])) throw new Error(`memory ingestion message: document ${i} has bad metadata or time`);
    namespaces.add(ns[i]);
    docs[i] = {
      id,
      namespace: ns[i],
      content,
      metadata: meta as Record<string, unknown>,
      embedding: flat.subarray(i * d, (i + 1) * d),
      createdAt: t[i],
    };
  }
  return { batch: p.b, origin: typeof p.o === 'string' ? p.o : undefined, docs, namespaces: [...namespaces] };
}
