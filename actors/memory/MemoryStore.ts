// The semantic memory store interface (one interface, two backends: PostgreSQL and PGlite), its options
// with defaults, and the shapes of what it returns.
import { ConfigError } from '../../protocols/errors.js';
import type { EmbeddingStorage, Rejection } from './Document.js';
import type { MetricsLike } from './memoryMetrics.js';
import type { Logger } from '../../runtime/logger.js';

/** HNSW index parameters (pgvector): graph degree, build-time and query-time candidate list sizes. */
export interface HnswOptions {
  /** Max connections per node (pgvector: 2–100). Default 16. */
  m: number;
  /** Candidate list size while building (pgvector: 4–1000, ≥ 2m). Default 64. */
  efConstruction: number;
  /** Default candidate list size while searching (pgvector: 1–1000). Default 100. */
  efSearch: number;
}

/** Options both backends take. */
export interface MemoryStoreOptions {
  /** Embedding dimension (default 384). */
  dims?: number;
  /** `halfvec` (default: half the bytes, about one point of recall) or `vector`. */
  storage?: EmbeddingStorage;
  /** HNSW parameters; `m` and `efConstruction` apply when the index is created. */
  hnsw?: Partial<HnswOptions>;
  /**
   * Do not create the HNSW index in `init()`; call {@link MemoryStore.ensureIndex} after a bulk load
   * (building once is much faster than growing the graph row by row). Default false.
   */
  deferIndex?: boolean;
  /** Schema holding the table and `hive_memory_migrations` (default `hive`). Lowercase SQL identifier. */
  schema?: string;
  /** Documents table (default `memory_documents`). Lowercase SQL identifier. */
  table?: string;
  /** Largest content, UTF-8 bytes (default 256 KiB). */
  maxContentBytes?: number;
  /** Largest metadata, bytes of JSON (default 64 KiB). */
  maxMetadataBytes?: number;
  /** Largest `k` a search may ask for (default 1000). */
  maxK?: number;
  /** Documents per COPY batch of `ingest()` (default 1,000). */
  ingestBatchDocs?: number;
  /** COPY encoder worker threads (default: available parallelism - 1, at least 1; 0 encodes inline). */
  workers?: number;
  /** Batches smaller than this are encoded on the calling thread (default 64: a worker round trip costs more). */
  inlineBelow?: number;
  /**
   * Load each batch with `COPY` straight into the documents table first (PostgreSQL: one statement in its own
   * transaction; PGlite: inside a savepoint), and only when that hits an already stored (namespace, id) take the staging path
   * (`COPY` into the staging table, `INSERT ... ON CONFLICT DO NOTHING`). Same result, about half the
   * database work for new documents; after a batch with duplicates the next batch goes straight to staging.
   * Default false: always stage.
   */
  directCopy?: boolean;
  /** A metrics registry (the node's `MetricsRegistry`) for `hive_memory_*` metrics. */
  metrics?: MetricsLike;
  /** Label values for the metrics (default `memory`). */
  metricsLabel?: string;
  /** Where the store warns about what it cannot do (e.g. pgvector older than 0.8); default silent. */
  logger?: Pick<Logger, 'warn'>;
}

/** A k-nearest-neighbour query. */
export interface SearchQuery {
  /** Namespace to search (a namespace nothing was ingested into returns no hits). */
  namespace: string;
  /** Query embedding, exactly `dims` finite numbers. */
  vector: Float32Array | readonly number[];
  /** Number of hits, 1..maxK. */
  k: number;
  /** Only documents whose metadata contains this object (jsonb `@>`). */
  filter?: Record<string, unknown>;
  /** HNSW candidate list size for this query (1–1000; raised to k when smaller). */
  efSearch?: number;
}

/** One search result; `score` is cosine similarity (1 - cosine distance), higher is closer. */
export interface SearchHit {
  id: string;
  content: string;
  metadata: Record<string, unknown>;
  score: number;
}

/** What {@link MemoryStore.ingest} did with a batch. */
export interface IngestResult {
  /** Documents newly stored. */
  inserted: number;
  /** Valid documents whose (namespace, id) was already stored (redelivery): skipped. */
  duplicates: number;
  /** Invalid documents, each with the field and the reason. */
  rejected: Rejection[];
}

/** Which documents to delete: a whole namespace, or the given ids in it. */
export interface DeleteRequest {
  namespace: string;
  ids?: readonly string[];
}

/** What {@link MemoryStore.delete} removed. */
export interface DeleteResult {
  deleted: number;
}

/** Document counts and storage size. */
export interface MemoryStats {
  /** Documents (in the namespace asked for, or in all). */
  documents: number;
  /** Per-namespace document counts, sorted by namespace. */
  namespaces: { namespace: string; documents: number }[];
  /** Bytes of the documents table (heap and TOAST), all namespaces. */
  tableBytes: number;
  /** Bytes of its indexes (primary key, HNSW, metadata), all namespaces. */
  indexBytes: number;
}

/** Semantic memory: documents with embeddings, searched by cosine similarity within a namespace. */
export interface MemoryStore {
  /** Embedding dimension. */
  readonly dims: number;
  /** Embedding storage type. */
  readonly storage: EmbeddingStorage;
  /**
   * Connects and runs the versioned migrations (each once, in a transaction, recorded in
   * `hive_memory_migrations`), then creates the HNSW index unless `deferIndex`. Idempotent; the other
   * methods call it on first use.
   */
  init(): Promise<void>;
  /**
   * Validates and stores documents. Invalid ones are rejected with reasons while the valid ones are stored;
   * re-ingesting a stored (namespace, id) inserts nothing (it counts as a duplicate), so redelivery is safe.
   * Throws a retryable `DatabaseError` when the database fails (some batches may be stored: retry the call).
   */
  ingest(docs: readonly unknown[]): Promise<IngestResult>;
  /**
   * The k nearest documents by cosine similarity in a namespace, best first. An unknown (never written)
   * namespace gives an empty list. Bad k, vector or filter: `InvalidArgumentError`.
   */
  search(query: SearchQuery): Promise<SearchHit[]>;
  /** Deletes the given ids in a namespace, or the whole namespace when `ids` is omitted. */
  delete(request: DeleteRequest): Promise<DeleteResult>;
  /** Counts per namespace (only `namespace` when given) and table/index bytes. */
  stats(namespace?: string): Promise<MemoryStats>;
  /** Creates the HNSW index if it is missing (after a bulk load with `deferIndex`). */
  ensureIndex(): Promise<void>;
  /** Releases connections and worker threads. Idempotent. */
  close(): Promise<void>;
}

/** {@link MemoryStoreOptions} with defaults applied and checked. */
export interface ResolvedStoreOptions {
  dims: number;
  storage: EmbeddingStorage;
  hnsw: HnswOptions;
  deferIndex: boolean;
  schema: string;
  table: string;
  maxContentBytes: number;
  maxMetadataBytes: number;
  maxK: number;
  ingestBatchDocs: number;
  workers: number | undefined;
  inlineBelow: number;
  directCopy: boolean;
  metrics: MetricsLike | undefined;
  metricsLabel: string;
  logger: Pick<Logger, 'warn'> | undefined;
}

/** Lowercase SQL identifiers only, so names never need case-sensitive quoting. */
export const SQL_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

function intOption(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`memory option ${name} must be an integer in [${min}, ${max}], got ${String(v)}`, { details: { option: name, value: v } });
  }
  return v;
}

/** Applies defaults and checks every option; throws `ConfigError` naming the option. */
export function resolveStoreOptions(o: MemoryStoreOptions = {}): ResolvedStoreOptions {
  const storage = o.storage ?? 'halfvec';
  if (storage !== 'halfvec' && storage !== 'vector') {
    throw new ConfigError(`memory option storage must be 'halfvec' or 'vector', got ${String(storage)}`, { details: { option: 'storage' } });
  }
  // pgvector indexes up to 4,000 halfvec or 2,000 vector dimensions with HNSW.
  const dims = intOption('dims', o.dims, 384, 1, storage === 'halfvec' ? 4000 : 2000);
  const m = intOption('hnsw.m', o.hnsw?.m, 16, 2, 100);
  const hnsw: HnswOptions = {
    m,
    efConstruction: intOption('hnsw.efConstruction', o.hnsw?.efConstruction, 64, 2 * m, 1000),
    efSearch: intOption('hnsw.efSearch', o.hnsw?.efSearch, 100, 1, 1000),
  };
  const schema = o.schema ?? 'hive';
  const table = o.table ?? 'memory_documents';
  for (const [name, value] of [['schema', schema], ['table', table]] as const) {
    if (!SQL_IDENTIFIER.test(value)) {
      throw new ConfigError(`memory option ${name} must be a lowercase SQL identifier ([a-z_][a-z0-9_]{0,62}), got ${JSON.stringify(value)}`, {
        details: { option: name, value },
      });
    }
  }
  return {
    dims,
    storage,
    hnsw,
    deferIndex: o.deferIndex ?? false,
    schema,
    table,
    maxContentBytes: intOption('maxContentBytes', o.maxContentBytes, 256 * 1024, 1, 64 * 1024 * 1024),
    maxMetadataBytes: intOption('maxMetadataBytes', o.maxMetadataBytes, 64 * 1024, 2, 64 * 1024 * 1024),
    maxK: intOption('maxK', o.maxK, 1000, 1, 100_000),
    ingestBatchDocs: intOption('ingestBatchDocs', o.ingestBatchDocs, 1000, 1, 1_000_000),
    workers: o.workers === undefined ? undefined : intOption('workers', o.workers, 0, 0, 256),
    inlineBelow: intOption('inlineBelow', o.inlineBelow, 64, 0, Number.MAX_SAFE_INTEGER),
    directCopy: o.directCopy ?? false,
    metrics: o.metrics,
    metricsLabel: o.metricsLabel ?? 'memory',
    logger: o.logger,
  };
}
