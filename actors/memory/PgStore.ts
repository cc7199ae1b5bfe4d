// The PostgreSQL + pgvector memory backend: a pg Pool, binary COPY FROM STDIN (pg-copy-streams) into a
// per-session temporary staging table, named prepared statements with a binary query vector for search.
import { finished } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { copySize, CopyWriter } from '../../protocols/copy.js';
import type { MemoryStoreOptions } from './MemoryStore.js';
import { SqlMemoryStore, type SearchRow, type SqlExecutor, type SqlResult } from './SqlMemoryStore.js';

/** Options of {@link PgStore}: the common store options plus the connection. */
export interface PgStoreOptions extends MemoryStoreOptions {
  /** `postgres://user@host:port/database`. */
  url: string;
  /** Pool size (default 4: two loading batches, searches beside them). */
  poolSize?: number;
  /** Ms to wait for a connection before failing with a retryable error (default 5,000). */
  connectTimeoutMs?: number;
  /** Server-side statement timeout, ms (default none). */
  statementTimeoutMs?: number;
}

/** Memory on PostgreSQL with pgvector. */
export class PgStore extends SqlMemoryStore {
  protected readonly indexBuildMemory = '1GB';
  private readonly pool: pg.Pool;
  /** Sessions whose staging table exists. */
  private readonly staged = new WeakSet<pg.PoolClient>();
  /** Sessions whose settings are made. */
  private readonly prepared = new WeakSet<pg.PoolClient>();
  /** Each session's current `hnsw.ef_search`. */
  private readonly efSearch = new WeakMap<pg.PoolClient, number>();
  private readonly statementNames = new Map<string, string>();

  constructor(options: PgStoreOptions) {
    const config: pg.PoolConfig = {
      connectionString: options.url,
      max: options.poolSize ?? 4,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
      application_name: 'hive-memory',
    };
    if (options.statementTimeoutMs !== undefined) config.statement_timeout = options.statementTimeoutMs;
    // Creating a pool opens nothing: connections come on first use.
    const pool = new pg.Pool(config);
    super(options, 'postgres', () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }));
    this.pool = pool;
    // Errors of idle clients (server restart) must not crash the process; the next checkout reconnects.
    this.pool.on('error', () => undefined);
    this.pool.on('connect', (client) => {
      // A connection cut while checked out (server crash, restart) errors on the client itself; without a
      // listener that error would end the process. The query in flight fails on its own and is retried.
      client.on('error', () => undefined);
    });
  }

  /**
   * A pooled session with its settings made (once per session, before its first statement): room for
   * staging batches, and filtered searches that keep scanning the index until k rows pass the filter. A
   * session whose settings fail is dropped and the call fails (retryably): never a session that silently
   * searches without them.
   */
  private async checkout(): Promise<pg.PoolClient> {
    const client = await this.pool.connect();
    if (this.prepared.has(client)) return client;
    try {
      await client.query("SET temp_buffers = '256MB'; SET hnsw.iterative_scan = relaxed_order");
    } catch (err) {
      client.release(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    this.prepared.add(client);
    return client;
  }

  protected async connect(): Promise<void> {
    const client = await this.checkout();
    client.release();
  }

  /** pgvector before 0.8 has no iterative scans: filtered searches may then return fewer than k hits. Says so. */
  protected override async checkFeatures(): Promise<void> {
    const r = await this.query<{ v: string | null }>("SELECT extversion AS v FROM pg_extension WHERE extname = 'vector'");
    const version = r.rows[0]?.v ?? '0';
    const [major = 0, minor = 0] = version.split('.').map(Number);
    const iterative = major > 0 || minor >= 8;
    this.options.metrics?.gauge('hive_memory_iterative_scan', 'Whether filtered searches scan the HNSW index iteratively (pgvector >= 0.8): 0 means they may return fewer than k hits', ['store']).set({ store: this.options.metricsLabel }, iterative ? 1 : 0);
    if (!iterative) this.options.logger?.warn({ pgvector: version }, 'pgvector is older than 0.8: no iterative index scans, so a filtered search may return fewer than k hits (upgrade pgvector)');
  }

  protected async transaction<T>(fn: (q: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.checkout();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(executor(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      broken ??= brokenConnection(err);
      throw err;
    } finally {
      client.release(broken);
    }
  }

  protected async query<R>(text: string, params: unknown[] = []): Promise<SqlResult<R>> {
    const client = await this.checkout();
    let broken: Error | undefined;
    try {
      const r = await client.query(text, params);
      return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
    } catch (err) {
      broken = brokenConnection(err);
      throw err;
    } finally {
      client.release(broken);
    }
  }

  protected async loadBatch(copy: Buffer, tryDirect: boolean): Promise<{ inserted: number; direct: boolean }> {
    const client = await this.checkout();
    let broken: Error | undefined;
    try {
      if (tryDirect) {
        // One statement in its own implicit transaction: all rows or none, committed when it returns (one
        // round trip, no BEGIN / SAVEPOINT / COMMIT). A stored key fails it whole: then through staging.
        try {
          return { inserted: await copyIn(client, this.sql.copyDirect('STDIN'), copy), direct: true };
        } catch (err) {
          if (sqlState(err) !== '23505') throw err;
        }
      }
      if (!this.staged.has(client)) {
        // Outside the batch transaction, so a rolled-back batch cannot take the table with it.
        await client.query(this.sql.createStaging);
        this.staged.add(client);
      }
      await client.query('BEGIN');
      try {
        await copyIn(client, this.sql.copyInto('STDIN'), copy);
        const inserted = await client.query(this.sql.insertFromStaging);
        await client.query('COMMIT');
        return { inserted: inserted.rowCount ?? 0, direct: false };
      } catch (err) {
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw err;
      }
    } catch (err) {
      broken ??= brokenConnection(err);
      throw err;
    } finally {
      client.release(broken);
    }
  }

  protected vectorParam(vector: Float32Array): Buffer {
    // pgvector's binary input format is the COPY field without its length prefix; pg sends Buffers as binary.
    const w = new CopyWriter(this.storage === 'halfvec' ? copySize.halfvec(this.dims) : copySize.vector(this.dims));
    if (this.storage === 'halfvec') w.halfvec(vector);
    else w.vector(vector);
    return w.finish().subarray(4);
  }

  protected async searchRows(text: string, params: unknown[], _vector: Float32Array, efSearch: number): Promise<SearchRow[]> {
    const client = await this.checkout();
    let broken: Error | undefined;
    try {
      if (this.efSearch.get(client) !== efSearch) {
        await client.query(`SET hnsw.ef_search = ${efSearch}`);
        this.efSearch.set(client, efSearch);
      }
      const r = await client.query<SearchRow>({ name: this.statementName(text), text, values: params });
      return r.rows;
    } catch (err) {
      broken = brokenConnection(err);
      throw err;
    } finally {
      client.release(broken);
    }
  }

  private statementName(text: string): string {
    let name = this.statementNames.get(text);
    if (!name) {
      name = `hive_memory_${this.statementNames.size}_${this.sql.stagingTable.slice(-12)}`;
      this.statementNames.set(text, name);
    }
    return name;
  }

  protected async disconnect(): Promise<void> {
    await this.pool.end();
  }
}

/**
 * The error to release a client with when `err` may have left its connection unusable (anything that is not
 * an error reported by the server, which leaves the session fine): pg then drops it instead of reusing it.
 */
function brokenConnection(err: unknown): Error | undefined {
  const code = sqlState(err) ?? '';
  // A server error leaves the session usable, except connection failures (08) and shutdowns (57P0x).
  if (/^[0-9A-Z]{5}$/.test(code) && !code.startsWith('08') && !code.startsWith('57P0')) return undefined;
  return err instanceof Error ? err : new Error(String(err));
}

/** Streams one whole binary COPY buffer; resolves with the rows the server loaded. */
async function copyIn(client: pg.PoolClient, statement: string, copy: Buffer): Promise<number> {
  const stream = client.query(copyFrom(statement));
  stream.end(copy);
  await finished(stream);
  return stream.rowCount;
}

function sqlState(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

function executor(client: pg.PoolClient): SqlExecutor {
  return {
    async query<R>(text: string, params: unknown[] = []): Promise<SqlResult<R>> {
      const r = await client.query(text, params);
      return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
    },
  };
}
