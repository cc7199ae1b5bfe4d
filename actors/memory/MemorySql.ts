// The SQL both backends run: versioned migrations, the staging table, the staging-to-documents insert, search,
// delete and stats statements, all built once from the store options (identifiers are validated, then quoted).
import { createHash } from 'node:crypto';
import { DOCUMENT_COLUMNS } from './documentBatch.js';
import type { ResolvedStoreOptions } from './MemoryStore.js';

/** One schema migration: applied once, in order, recorded by version. */
export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

const quote = (ident: string) => `"${ident.replace(/"/g, '""')}"`;

/** Every statement text the memory store uses, for one schema, table, dimension and storage type. */
export class MemorySql {
  /** `"schema"."table"`. */
  readonly table: string;
  /** `"schema".hive_memory_migrations`. */
  readonly migrationsTable: string;
  /** The embedding column type, e.g. `halfvec(384)`. */
  readonly vectorType: string;
  /** The temporary staging table (one per session), unique to this schema and table. */
  readonly stagingTable: string;
  /** The HNSW index name (unqualified). */
  readonly indexName: string;
  /** The advisory lock key every migration takes (one for all Hive memory stores in a database). */
  readonly migrationLock = "hashtext('hive_memory_migrations')";
  private readonly opsClass: string;

  constructor(private readonly o: ResolvedStoreOptions) {
    this.table = `${quote(o.schema)}.${quote(o.table)}`;
    this.migrationsTable = `${quote(o.schema)}.hive_memory_migrations`;
    this.vectorType = `${o.storage}(${o.dims})`;
    this.opsClass = o.storage === 'halfvec' ? 'halfvec_cosine_ops' : 'vector_cosine_ops';
    const tag = createHash('sha1').update(`${o.schema}.${o.table}.${this.vectorType}`).digest('hex').slice(0, 12);
    this.stagingTable = `hive_memory_stage_${tag}`;
    this.indexName = `${o.table.slice(0, 50)}_hnsw`;
  }

  /** Statements before reading the applied versions (inside the migration transaction). */
  get bootstrap(): string[] {
    return [
      'CREATE EXTENSION IF NOT EXISTS vector',
      `CREATE SCHEMA IF NOT EXISTS ${quote(this.o.schema)}`,
      `CREATE TABLE IF NOT EXISTS ${this.migrationsTable} (
        table_name text NOT NULL,
        version int NOT NULL,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (table_name, version))`,
    ];
  }

  /** Applied versions for this table: parameter $1 is the table name. */
  readonly appliedVersions = (): string => `SELECT version FROM ${this.migrationsTable} WHERE table_name = $1 ORDER BY version`;

  /** Records one applied migration: $1 table name, $2 version, $3 name. */
  readonly recordMigration = (): string => `INSERT INTO ${this.migrationsTable} (table_name, version, name) VALUES ($1, $2, $3)`;

  /** The migrations, in version order. Never edit one that shipped: append a new version. */
  get migrations(): Migration[] {
    return [
      {
        version: 1,
        name: 'documents table',
        statements: [
          `CREATE TABLE ${this.table} (
            namespace text NOT NULL,
            id text NOT NULL,
            content text NOT NULL,
            metadata jsonb NOT NULL DEFAULT '{}',
            embedding ${this.vectorType} NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (namespace, id))`,
        ],
      },
      {
        version: 2,
        name: 'metadata containment index',
        statements: [`CREATE INDEX ${quote(`${this.o.table.slice(0, 50)}_metadata`)} ON ${this.table} USING gin (metadata jsonb_path_ops)`],
      },
    ];
  }

  /** The declared type of the embedding column, to check against the options: $1 is `schema.table`. */
  readonly embeddingColumnType = (): string =>
    "SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'embedding'";

  /** Creates the HNSW cosine index when missing. */
  get createIndex(): string {
    const { m, efConstruction } = this.o.hnsw;
    return `CREATE INDEX IF NOT EXISTS ${quote(this.indexName)} ON ${this.table} USING hnsw (embedding ${this.opsClass}) WITH (m = ${m}, ef_construction = ${efConstruction})`;
  }

  /** The session's staging table: temporary (no WAL), emptied at every commit. */
  get createStaging(): string {
    return `CREATE TEMP TABLE IF NOT EXISTS ${this.stagingTable} (
      namespace text, id text, content text, metadata jsonb, embedding ${this.vectorType}, created_at timestamptz) ON COMMIT DELETE ROWS`;
  }

  /** `COPY <staging> (...) FROM <source> WITH (FORMAT binary)`; source is `STDIN` or `'/dev/blob'`. */
  copyInto(source: 'STDIN' | "'/dev/blob'"): string {
    return `COPY ${this.stagingTable} (${DOCUMENT_COLUMNS.join(', ')}) FROM ${source} WITH (FORMAT binary)`;
  }

  /** `COPY` straight into the documents table (fails with 23505 on an already stored key). */
  copyDirect(source: 'STDIN' | "'/dev/blob'"): string {
    return `COPY ${this.table} (${DOCUMENT_COLUMNS.join(', ')}) FROM ${source} WITH (FORMAT binary)`;
  }

  /** Moves the staged rows into the documents table; existing (namespace, id) are skipped. */
  get insertFromStaging(): string {
    const cols = DOCUMENT_COLUMNS.join(', ');
    return `INSERT INTO ${this.table} (${cols}) SELECT ${cols} FROM ${this.stagingTable} ON CONFLICT (namespace, id) DO NOTHING`;
  }

  /**
   * k nearest by cosine distance: $1 namespace, $2 query vector, $3 k, $4 metadata filter (jsonb, when
   * `withFilter`). The inner query may come back slightly out of order from pgvector's relaxed iterative
   * scan (which keeps filtered queries from running short), so the outer query re-sorts.
   */
  search(withFilter: boolean): string {
    return `WITH hits AS MATERIALIZED (
      SELECT id, content, metadata, embedding <=> $2::${this.vectorType} AS distance
      FROM ${this.table}
      WHERE namespace = $1${withFilter ? ' AND metadata @> $4::jsonb' : ''}
      ORDER BY distance LIMIT $3)
    SELECT id, content, metadata, 1 - distance AS score FROM hits ORDER BY distance`;
  }

  /** Deletes a namespace ($1), or only the ids ($2, text[]) in it. */
  delete(withIds: boolean): string {
    return `DELETE FROM ${this.table} WHERE namespace = $1${withIds ? ' AND id = ANY($2::text[])' : ''}`;
  }

  /** Documents per namespace (only $1 when `oneNamespace`). */
  counts(oneNamespace: boolean): string {
    return `SELECT namespace, count(*)::float8 AS documents FROM ${this.table}${oneNamespace ? ' WHERE namespace = $1' : ''} GROUP BY namespace ORDER BY namespace`;
  }

  /** Table and index bytes. */
  get sizes(): string {
    const rel = `'${this.table.replace(/'/g, "''")}'::regclass`;
    return `SELECT pg_table_size(${rel})::float8 AS table_bytes, pg_indexes_size(${rel})::float8 AS index_bytes`;
  }

  /** Refreshes the planner statistics (without them, a fresh bulk load looks tiny and search skips HNSW). */
  get analyze(): string {
    return `ANALYZE ${this.table}`;
  }

  /** The planner's row estimate for the table (-1 when never analyzed): $1 is `schema.table`. */
  readonly estimatedRows = (): string => 'SELECT reltuples::float8 AS rows FROM pg_class WHERE oid = $1::regclass';

  /** Session settings for a search: candidate list size, and relaxed iterative scans for filtered queries. */
  searchSettings(efSearch: number): string {
    return `SET hnsw.ef_search = ${efSearch}; SET hnsw.iterative_scan = relaxed_order`;
  }
}
