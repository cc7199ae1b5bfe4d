// The memory actor's wire protocol: the `memory.*` request events (from code, binary frames or JSON from the
// NATS CLI), their answers, the NATS subjects, and the checks that turn a malformed request into an
// INVALID_ARGUMENT naming the field before anything touches the store.
import { vectorFromWire } from '../../protocols/embeddings.js';
import { InvalidArgumentError } from '../../protocols/errors.js';
import type { Rejection } from './Document.js';
import type { MemoryStats, SearchHit } from './MemoryStore.js';
import { checkNamespace } from './storeArguments.js';
import type { QueryCacheStats } from './QueryCache.js';

/** Namespace used when neither the document nor the request names one. */
export const DEFAULT_NAMESPACE = 'default';

/** Hits returned when a search does not say `k`. */
export const DEFAULT_K = 10;

/**
 * `hive.<cluster>.memory`: the cluster's memory, served by every node with memory in the queue group
 * `hive-memory` (each request is handled by one of them). JSON in, JSON out for the NATS CLI; binary frames
 * for Hive clients. Give all nodes of a cluster the same database: with embedded PGlite each node has its own
 * store, and a node's own memory is reached at its actor subject `hive.<cluster>.actor.memory-<nodeId>`.
 */
export function memorySubject(cluster: string): string {
  return `hive.${cluster}.memory`;
}

/** The queue group serving {@link memorySubject}. */
export const MEMORY_QUEUE_GROUP = 'hive-memory';

/** The memory actor's id on a node: `memory-<nodeId>` (actor ids are cluster-wide). */
export function memoryActorId(nodeId: string): string {
  return `memory-${nodeId}`.slice(0, 128);
}

/** `hive.<cluster>.sys.memory.done.<nodeId>`: where a node hears that batches it queued were committed. */
export function memoryDoneSubject(cluster: string, nodeId: string): string {
  return `hive.${cluster}.sys.memory.done.${nodeId}`;
}

/** `hive.<cluster>.sys.memory.invalidate`: namespaces written, so every node drops its cached results. */
export function memoryInvalidateSubject(cluster: string): string {
  return `hive.${cluster}.sys.memory.invalidate`;
}

/** `memory.ingest`: store documents (each embedded with the node's embedder when it has no embedding). */
export interface IngestRequest {
  type: 'memory.ingest';
  /** Documents: `{ id?, namespace?, content, metadata?, embedding?, createdAt? }`. */
  docs: unknown[];
  /** Namespace of documents that do not name one (default `default`). */
  namespace?: string;
  /** false: answer once the documents are durably queued (`memory.queued`), not once committed. Default true. */
  wait?: boolean;
}

/** `memory.search`: the k nearest documents to a text (embedded by the node) or a vector, in a namespace. */
export interface SearchRequest {
  type: 'memory.search';
  namespace: string;
  /** Query text (give `text` or `vector`). */
  text?: string;
  /** Query embedding: a Float32Array (binary frames) or a number array (JSON). */
  vector?: Float32Array | number[];
  /** Hits wanted (default 10). */
  k?: number;
  /** Only documents whose metadata contains this object (jsonb `@>`). */
  filter?: Record<string, unknown>;
  /** HNSW candidate list size for this query (1-1000). */
  efSearch?: number;
}

/** `memory.delete`: the given ids of a namespace, or the whole namespace. */
export interface DeleteMemoryRequest {
  type: 'memory.delete';
  namespace: string;
  ids?: string[];
}

/** `memory.stats`: document counts, sizes, cache hit rate, queue depth, breaker state. */
export interface StatsRequest {
  type: 'memory.stats';
  namespace?: string;
}

/** Any memory request. */
export type MemoryRequest = IngestRequest | SearchRequest | DeleteMemoryRequest | StatsRequest;

/** Answer to an ingest that waited for its commit. */
export interface IngestedAnswer {
  type: 'memory.ingested';
  /** Documents newly stored. */
  inserted: number;
  /** Valid documents already stored under the same (namespace, id): skipped. */
  duplicates: number;
  /** Invalid documents, by their index in `docs`, with the field and the reason. */
  rejected: Rejection[];
}

/** Answer to an ingest with `wait: false`: the documents are in the durable queue. */
export interface QueuedAnswer {
  type: 'memory.queued';
  /** Documents queued. */
  queued: number;
  /** Queue messages they went into. */
  batches: number;
  rejected: Rejection[];
}

/** Answer to a search: best first; `score` is cosine similarity. */
export interface ResultsAnswer {
  type: 'memory.results';
  hits: SearchHit[];
}

/** Answer to a delete. */
export interface DeletedAnswer {
  type: 'memory.deleted';
  deleted: number;
}

/** Answer to `memory.stats`. */
export interface StatsAnswer extends MemoryStats {
  type: 'memory.stats';
  /** `postgres` or `pglite`. */
  backend: string;
  /** The node that answered. */
  node: string;
  /** Whether the store has opened. */
  ready: boolean;
  cache: QueryCacheStats;
  /** Queue messages of documents waiting to be committed (-1: the queue could not be read, see `queueError`). */
  queued: number;
  /** Why `queued` could not be read. */
  queueError?: string;
  /** The database circuit breaker's state (`closed`, `open`, `half-open`), or `none`. */
  breaker: string;
}

/** Any memory answer. */
export type MemoryAnswer = IngestedAnswer | QueuedAnswer | ResultsAnswer | DeletedAnswer | StatsAnswer;

/** A search request after checking. */
export interface ParsedSearch {
  namespace: string;
  text: string | undefined;
  vector: Float32Array | undefined;
  k: number;
  filter: Record<string, unknown> | undefined;
  efSearch: number | undefined;
}

function invalid(argument: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError(message, { details: { argument } });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/**
 * Checks a `memory.search` request's shapes (the store checks the ranges: k up to its maximum, vector
 * dimension and values). Throws INVALID_ARGUMENT naming the field.
 */
export function parseSearch(e: Record<string, unknown>): ParsedSearch {
  const namespace = checkNamespace(e['namespace']);
  const text = e['text'];
  const vector = e['vector'];
  if (text !== undefined && vector !== undefined) throw invalid('text', 'give either text or vector, not both');
  let parsedVector: Float32Array | undefined;
  if (vector !== undefined) {
    const v = vectorFromWire(vector, 'vector');
    if (!(v instanceof Float32Array)) throw invalid('vector', v.reason);
    parsedVector = v;
  } else if (typeof text !== 'string' || text.trim() === '') {
    throw invalid('text', text === undefined ? 'a search needs text or vector' : 'text must be a non-empty string');
  }
  const k = e['k'] ?? DEFAULT_K;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1) throw invalid('k', `k must be a positive integer, got ${JSON.stringify(k) ?? typeof k}`);
  const filter = e['filter'];
  if (filter !== undefined && filter !== null && !isPlainObject(filter)) throw invalid('filter', 'filter must be an object (matched with jsonb containment @>)');
  const ef = e['efSearch'];
  if (ef !== undefined && (typeof ef !== 'number' || !Number.isInteger(ef))) throw invalid('efSearch', `efSearch must be an integer, got ${JSON.stringify(ef) ?? typeof ef}`);
  return {
    namespace,
    text: parsedVector === undefined ? (text as string) : undefined,
    vector: parsedVector,
    k,
    filter: filter === undefined || filter === null ? undefined : filter,
    efSearch: ef,
  };
}

/** Checks a `memory.ingest` request's envelope fields (each document is validated on its own later). */
export function parseIngest(e: Record<string, unknown>, maxDocs: number): { docs: unknown[]; namespace: string | undefined; wait: boolean } {
  const docs = e['docs'];
  if (!Array.isArray(docs)) throw invalid('docs', 'memory.ingest needs docs: an array of documents');
  if (docs.length > maxDocs) throw invalid('docs', `at most ${maxDocs} documents per request, got ${docs.length}: send them in several requests`);
  const namespace = e['namespace'] === undefined ? undefined : checkNamespace(e['namespace']);
  const wait = e['wait'];
  if (wait !== undefined && typeof wait !== 'boolean') throw invalid('wait', 'wait must be a boolean');
  return { docs, namespace, wait: wait !== false };
}

/** Checks a `memory.delete` request. */
export function parseDelete(e: Record<string, unknown>): { namespace: string; ids?: string[] } {
  const namespace = checkNamespace(e['namespace']);
  const ids = e['ids'];
  if (ids === undefined) return { namespace };
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) throw invalid('ids', 'ids must be an array of strings');
  return { namespace, ids: ids };
}

/** Checks a `memory.stats` request. */
export function parseStats(e: Record<string, unknown>): { namespace: string | undefined } {
  return { namespace: e['namespace'] === undefined ? undefined : checkNamespace(e['namespace']) };
}
