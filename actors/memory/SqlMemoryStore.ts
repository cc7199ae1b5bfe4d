// What both memory backends share: migrations, loading batches encoded as binary COPY streams (the one
// ingestion path: the memory actor's pipeline encodes and queues them, BatchCommitter calls `loadEncoded`;
// `ingest()` runs the same path in-line for direct use), argument checks, search, delete and stats.
// A backend supplies connections, transactions, the COPY load and the search round trip.
import { HiveError, UnavailableError, toHiveError } from '../../protocols/errors.js';
import { CopyEncoder } from './CopyEncoder.js';
import { toDatabaseError } from './databaseErrors.js';
import { validateDocument, type EmbeddingStorage, type Rejection, type ValidDocument } from './Document.js';
import { MemoryMetrics } from './memoryMetrics.js';
import { MemorySql } from './MemorySql.js';
import {
  resolveStoreOptions,
  type DeleteRequest,
  type DeleteResult,
  type IngestResult,
  type MemoryStats,
  type MemoryStore,
  type MemoryStoreOptions,
  type ResolvedStoreOptions,
  type SearchHit,
  type SearchQuery,
} from './MemoryStore.js';
import { checkDeleteRequest, checkNamespace, checkSearchQuery } from './storeArguments.js';

/** Rows and affected-row count of one statement. */
export interface SqlResult<R> {
  rows: R[];
  rowCount: number;
}

/** Runs statements on one connection (inside a transaction when given by `transaction`). */
export interface SqlExecutor {
  query<R>(text: string, params?: unknown[]): Promise<SqlResult<R>>;
}

/** A search hit as the search statement returns it. */
export interface SearchRow {
  id: string;
  content: string;
  metadata: Record<string, unknown>;
  score: number;
}

/** The shared implementation of {@link MemoryStore} over SQL; see `PgStore` and `PgliteStore`. */
export abstract class SqlMemoryStore implements MemoryStore {
  readonly dims: number;
  readonly storage: EmbeddingStorage;
  protected readonly options: ResolvedStoreOptions;
  protected readonly sql: MemorySql;
  protected readonly metrics: MemoryMetrics;
  private encoder: CopyEncoder | undefined;
  private initializing: Promise<void> | undefined;
  private closed = false;
  /** Whether the last batch loaded without any duplicate (then the next one tries a direct COPY). */
  private lastBatchClean = true;
  /** Rows the planner statistics counted at the last ANALYZE, and rows inserted since. */
  private analyzedRows = 0;
  private insertedSinceAnalyze = 0;
  private analyzing: Promise<void> | undefined;

  /** `maintenance_work_mem` while building the HNSW index. */
  protected abstract readonly indexBuildMemory: string;

  protected constructor(options: MemoryStoreOptions, backend: string, poolStats?: () => { total: number; idle: number; waiting: number }) {
    this.options = resolveStoreOptions(options);
    this.dims = this.options.dims;
    this.storage = this.options.storage;
    this.sql = new MemorySql(this.options);
    this.metrics = new MemoryMetrics(this.options.metrics, `${this.options.metricsLabel}:${backend}`, poolStats);
  }

  /** Opens the connection(s); throws what the driver throws. */
  protected abstract connect(): Promise<void>;
  /** Runs `fn` in a transaction on one connection, committing when it resolves, rolling back when it throws. */
  protected abstract transaction<T>(fn: (q: SqlExecutor) => Promise<T>): Promise<T>;
  /** Runs one statement on any connection. */
  protected abstract query<R>(text: string, params?: unknown[]): Promise<SqlResult<R>>;
  /**
   * Loads one encoded batch in one transaction and returns the rows inserted: through the staging table, or,
   * with `tryDirect`, straight into the documents table first (in a savepoint), falling back to staging on a
   * duplicate key (then `direct` is false in the answer).
   */
  protected abstract loadBatch(copy: Buffer, tryDirect: boolean): Promise<{ inserted: number; direct: boolean }>;
  /** Runs the search statement with the given HNSW candidate list size; `vector` is `params[1]` unencoded. */
  protected abstract searchRows(text: string, params: unknown[], vector: Float32Array, efSearch: number): Promise<SearchRow[]>;
  /** Closes the connection(s). */
  protected abstract disconnect(): Promise<void>;
  /** Checks what the database supports once migrated, and reports what is missing (default: nothing to check). */
  protected async checkFeatures(): Promise<void> {}

  init(): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    this.initializing ??= this.initOnce().catch((err: unknown) => {
      this.initializing = undefined; // a later call may retry (the database may be back)
      throw toDatabaseError(err, 'init');
    });
    return this.initializing;
  }

  private async initOnce(): Promise<void> {
    await this.connect();
    await this.transaction(async (q) => {
      await q.query(`SELECT pg_advisory_xact_lock(${this.sql.migrationLock})`);
      for (const statement of this.sql.bootstrap) await q.query(statement);
      const applied = new Set((await q.query<{ version: number }>(this.sql.appliedVersions(), [this.options.table])).rows.map((r) => r.version));
      for (const migration of this.sql.migrations) {
        if (applied.has(migration.version)) continue;
        for (const statement of migration.statements) await q.query(statement);
        await q.query(this.sql.recordMigration(), [this.options.table, migration.version, migration.name]);
      }
    });
    const found = await this.query<{ type: string }>(this.sql.embeddingColumnType(), [this.sql.table]);
    const type = found.rows[0]?.type;
    if (type !== this.sql.vectorType) {
      throw new HiveError('INVALID_CONFIG', `memory table ${this.sql.table} stores embeddings as ${String(type)}, but the store is configured for ${this.sql.vectorType}`, {
        details: { option: 'dims', table: this.sql.table, stored: type, configured: this.sql.vectorType },
      });
    }
    const estimate = await this.query<{ rows: number }>(this.sql.estimatedRows(), [this.sql.table]);
    this.analyzedRows = Math.max(0, Number(estimate.rows[0]?.rows ?? 0));
    if (!this.options.deferIndex) await this.createIndex();
    await this.checkFeatures();
    this.encoder ??= new CopyEncoder({ dims: this.dims, storage: this.storage, workers: this.options.workers, inlineBelow: this.options.inlineBelow });
  }

  private async ready(): Promise<void> {
    if (this.closed) throw this.closedError();
    await this.init();
  }

  private closedError(): UnavailableError {
    return new UnavailableError('memory store is closed', { retryable: false });
  }

  private async createIndex(): Promise<void> {
    await this.transaction(async (q) => {
      await q.query(`SET LOCAL maintenance_work_mem = '${this.indexBuildMemory}'`);
      await q.query(this.sql.createIndex);
    });
  }

  async ensureIndex(): Promise<void> {
    await this.ready();
    try {
      await this.createIndex();
      await this.analyzing;
      await this.analyze();
    } catch (err) {
      throw toDatabaseError(err, 'ensureIndex');
    }
  }

  /** ANALYZE the table and remember how many rows it counted. */
  private async analyze(): Promise<void> {
    const inserted = this.insertedSinceAnalyze;
    await this.query(this.sql.analyze);
    const estimate = await this.query<{ rows: number }>(this.sql.estimatedRows(), [this.sql.table]);
    this.analyzedRows = Math.max(0, Number(estimate.rows[0]?.rows ?? 0));
    this.insertedSinceAnalyze -= inserted;
  }

  /**
   * Refreshes planner statistics in the background once the table grew by 10% (at least 1,000 rows) since
   * the last ANALYZE. Without it, a freshly loaded namespace looks tiny to the planner, which then scans it
   * exactly instead of using HNSW (PGlite has no autovacuum at all; PostgreSQL's comes later).
   */
  private maybeAnalyze(): void {
    if (this.analyzing || this.closed) return;
    if (this.insertedSinceAnalyze < Math.max(1000, 0.1 * this.analyzedRows)) return;
    this.analyzing = this.analyze()
      .catch(() => undefined) // best effort: the next ingest tries again
      .finally(() => {
        this.analyzing = undefined;
      });
  }

  async ingest(docs: readonly unknown[]): Promise<IngestResult> {
    await this.ready();
    if (!Array.isArray(docs)) throw new HiveError('INVALID_ARGUMENT', 'ingest takes an array of documents', { details: { argument: 'docs' } });
    const limits = {
      dims: this.dims,
      maxContentBytes: this.options.maxContentBytes,
      maxMetadataBytes: this.options.maxMetadataBytes,
      storage: this.storage,
    };
    const valid: ValidDocument[] = [];
    const rejected: Rejection[] = [];
    for (let i = 0; i < docs.length; i++) {
      const r = validateDocument(docs[i], limits, i);
      if (r.ok) valid.push(r);
      else rejected.push(r.rejection);
    }
    const encoder = this.encoder;
    if (!encoder) throw this.closedError();
    // the one path: encode a batch, load it as a COPY stream (loadEncoded counts and records it)
    let inserted = 0;
    for (let pos = 0; pos < valid.length; pos += this.options.ingestBatchDocs) {
      const batch = valid.slice(pos, pos + this.options.ingestBatchDocs);
      let copy: Buffer;
      try {
        copy = await encoder.encode(batch);
      } catch (err) {
        throw toHiveError(err);
      }
      inserted += (await this.loadEncoded(copy, batch.length)).inserted;
    }
    this.metrics.ingested(0, 0, rejected.length);
    return { inserted, duplicates: valid.length - inserted, rejected };
  }

  /**
   * Loads one batch that is already a binary COPY stream of the documents columns (validated documents sorted
   * by namespace and id, encoded by a `CopyEncoder` for this store's dims and storage), in one transaction,
   * skipping stored (namespace, id): what the durable ingestion queue commits. With `direct` (default: the
   * `directCopy` option) it tries a straight COPY first and falls back to staging on a stored key.
   * @param count the documents in the stream (the rest of `count - inserted` were duplicates)
   */
  async loadEncoded(copy: Uint8Array, count: number, direct = this.options.directCopy): Promise<IngestResult> {
    await this.ready();
    const started = performance.now();
    let loaded: { inserted: number; direct: boolean };
    try {
      loaded = await this.loadBatch(Buffer.from(copy.buffer, copy.byteOffset, copy.byteLength), direct && this.lastBatchClean);
    } catch (err) {
      throw toDatabaseError(err, 'ingest');
    }
    this.lastBatchClean = loaded.inserted === count;
    this.metrics.batchDone(performance.now() - started);
    const result: IngestResult = { inserted: loaded.inserted, duplicates: count - loaded.inserted, rejected: [] };
    this.metrics.ingested(result.inserted, result.duplicates, 0);
    this.insertedSinceAnalyze += loaded.inserted;
    this.maybeAnalyze();
    return result;
  }

  async search(query: SearchQuery): Promise<SearchHit[]> {
    const q = checkSearchQuery(query, { dims: this.dims, storage: this.storage, maxK: this.options.maxK, efSearch: this.options.hnsw.efSearch });
    await this.ready();
    const params: unknown[] = [q.namespace, this.vectorParam(q.vector), q.k];
    if (q.filterJson !== undefined) params.push(q.filterJson);
    const started = performance.now();
    let rows: SearchRow[];
    try {
      rows = await this.searchRows(this.sql.search(q.filterJson !== undefined), params, q.vector, q.efSearch);
    } catch (err) {
      throw toDatabaseError(err, 'search');
    }
    this.metrics.searched(performance.now() - started);
    return rows.map((r) => ({ id: r.id, content: r.content, metadata: r.metadata, score: Number(r.score) }));
  }

  /** The query vector as the search statement's `$2` parameter. */
  protected abstract vectorParam(vector: Float32Array): unknown;

  async delete(request: DeleteRequest): Promise<DeleteResult> {
    const { namespace, ids } = checkDeleteRequest(request);
    await this.ready();
    if (ids && ids.length === 0) return { deleted: 0 };
    try {
      const r = await this.query(this.sql.delete(ids !== undefined), ids ? [namespace, ids] : [namespace]);
      return { deleted: r.rowCount };
    } catch (err) {
      throw toDatabaseError(err, 'delete');
    }
  }

  async stats(namespace?: string): Promise<MemoryStats> {
    if (namespace !== undefined) checkNamespace(namespace);
    await this.ready();
    try {
      const counts = await this.query<{ namespace: string; documents: number }>(this.sql.counts(namespace !== undefined), namespace !== undefined ? [namespace] : []);
      const sizes = await this.query<{ table_bytes: number; index_bytes: number }>(this.sql.sizes);
      const namespaces = counts.rows.map((r) => ({ namespace: r.namespace, documents: Number(r.documents) }));
      return {
        documents: namespaces.reduce((sum, n) => sum + n.documents, 0),
        namespaces,
        tableBytes: Number(sizes.rows[0]?.table_bytes ?? 0),
        indexBytes: Number(sizes.rows[0]?.index_bytes ?? 0),
      };
    } catch (err) {
      throw toDatabaseError(err, 'stats');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.initializing?.catch(() => undefined);
    await this.analyzing;
    const encoder = this.encoder;
    this.encoder = undefined;
    await Promise.allSettled([encoder?.close(), this.disconnect()]);
  }
}
