// The embedded memory backend: PGlite (PostgreSQL in WebAssembly) with its vector extension, in a data folder
// on disk. Same schema and pipeline as PostgreSQL; batches load through `COPY ... FROM '/dev/blob'`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite, type PGliteInterface, type Transaction } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { ConfigError } from '../../protocols/errors.js';
import { resolveWorkerModule } from '../../runtime/workers.js';
import type { MemoryStoreOptions } from './MemoryStore.js';
import { SqlMemoryStore, type SearchRow, type SqlExecutor, type SqlResult } from './SqlMemoryStore.js';

/** Options of {@link PgliteStore}. */
export interface PgliteStoreOptions extends MemoryStoreOptions {
  /**
   * The data folder (created when missing; its first open takes several seconds, reopening about half
   * a second). Omit for an in-memory database that is gone on close.
   */
  dataDir?: string;
  /**
   * An already open PGlite instance (loaded with the vector extension) to use instead; the store
   * does not close it. Lets several stores, e.g. tests in one file, share one instance.
   */
  pglite?: PGliteInterface;
  /**
   * PostgreSQL `shared_buffers` inside PGlite (default 32MB; PGlite's own default is 128MB). Its WebAssembly
   * memory grows to hold them and never shrinks, so this is most of an embedded node's footprint; pages not
   * in them are read from the data folder through the OS page cache.
   */
  sharedBuffers?: string;
}

/** PGlite's `shared_buffers` unless told otherwise. */
export const DEFAULT_SHARED_BUFFERS = '32MB';

/** Memory on PGlite with pgvector: nothing to install. */
export class PgliteStore extends SqlMemoryStore {
  /** maintenance_work_mem for the HNSW build: the WASM memory grows to it and stays (a larger graph builds more slowly, on disk). */
  protected readonly indexBuildMemory = '64MB';
  private db: PGliteInterface | undefined;
  private readonly owned: boolean;
  private readonly dataDir: string | undefined;
  private staged = false;
  private efSearch: number | undefined;
  private readonly sharedBuffers: string;

  constructor(options: PgliteStoreOptions = {}) {
    super(options, 'pglite');
    this.db = options.pglite;
    this.owned = options.pglite === undefined;
    this.dataDir = options.dataDir;
    this.sharedBuffers = options.sharedBuffers ?? DEFAULT_SHARED_BUFFERS;
    if (!/^[1-9][0-9]{0,6}(kB|MB|GB)$/.test(this.sharedBuffers)) throw new ConfigError(`memory option sharedBuffers must look like 32MB, got ${JSON.stringify(this.sharedBuffers)}`, { details: { option: 'sharedBuffers' } });
  }

  /**
   * Opens a PGlite instance with the vector extension (for sharing through the `pglite` option), with
   * `shared_buffers` of `sharedBuffers` (default 32MB).
   */
  static open(dataDir?: string, sharedBuffers = DEFAULT_SHARED_BUFFERS): Promise<PGliteInterface> {
    return PGlite.create({
      ...(dataDir === undefined ? {} : { dataDir }),
      extensions: { vector },
      startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${sharedBuffers}`],
    });
  }

  private get conn(): PGliteInterface {
    if (!this.db) throw new Error('PGlite is not open');
    return this.db;
  }

  protected async connect(): Promise<void> {
    if (this.db === undefined && this.dataDir !== undefined) await createDataDir(this.dataDir, this.sharedBuffers);
    this.db ??= await PgliteStore.open(this.dataDir, this.sharedBuffers);
    await this.db.exec('SET hnsw.iterative_scan = relaxed_order');
  }

  protected async transaction<T>(fn: (q: SqlExecutor) => Promise<T>): Promise<T> {
    return this.conn.transaction((tx) => fn(executor(tx)));
  }

  protected async query<R>(text: string, params: unknown[] = []): Promise<SqlResult<R>> {
    return result(await this.conn.query<R>(text, params));
  }

  protected async loadBatch(copy: Buffer, tryDirect: boolean): Promise<{ inserted: number; direct: boolean }> {
    const db = this.conn;
    if (!this.staged) {
      await db.exec(this.sql.createStaging);
      this.staged = true;
    }
    const blob = new Blob([new Uint8Array(copy.buffer as ArrayBuffer, copy.byteOffset, copy.byteLength)]);
    return db.transaction(async (tx) => {
      if (tryDirect) {
        await tx.exec('SAVEPOINT hive_direct');
        try {
          const r = await tx.query(this.sql.copyDirect("'/dev/blob'"), [], { blob });
          return { inserted: r.affectedRows ?? 0, direct: true };
        } catch (err) {
          if ((err as { code?: unknown }).code !== '23505') throw err;
          await tx.exec('ROLLBACK TO SAVEPOINT hive_direct');
        }
      }
      await tx.query(this.sql.copyInto("'/dev/blob'"), [], { blob });
      const inserted = await tx.query(this.sql.insertFromStaging);
      return { inserted: inserted.affectedRows ?? 0, direct: false };
    });
  }

  protected vectorParam(vector: Float32Array): string {
    // PGlite takes text parameters; one query vector parses quickly enough.
    return `[${vector.join(',')}]`;
  }

  protected async searchRows(text: string, params: unknown[], _vector: Float32Array, efSearch: number): Promise<SearchRow[]> {
    const db = this.conn;
    if (this.efSearch !== efSearch) {
      await db.exec(`SET hnsw.ef_search = ${efSearch}`);
      this.efSearch = efSearch;
    }
    return (await db.query<SearchRow>(text, params)).rows;
  }

  protected async disconnect(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    if (db && this.owned && !db.closed) await db.close();
  }
}

/**
 * Creates a new PGlite data folder in a child process (pgliteInit.ts), so that initdb's memory goes back to
 * the OS when it exits and the event loop keeps running meanwhile. A folder that exists already is left as is.
 */
async function createDataDir(dataDir: string, sharedBuffers: string): Promise<void> {
  if (existsSync(join(dataDir, 'PG_VERSION'))) return;
  const { filename, execArgv } = resolveWorkerModule(new URL('./pgliteInit.js', import.meta.url));
  const child = spawn(process.execPath, [...(execArgv ?? []), filename, dataDir, sharedBuffers], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`creating the PGlite data folder ${dataDir} failed (exit ${String(code)}): ${stderr.trim()}`);
}

function result<R>(r: { rows: R[]; affectedRows?: number; rowCount?: number }): SqlResult<R> {
  return { rows: r.rows, rowCount: r.affectedRows ?? r.rowCount ?? 0 };
}

function executor(tx: Transaction): SqlExecutor {
  return {
    async query<R>(text: string, params: unknown[] = []): Promise<SqlResult<R>> {
      return result(await tx.query<R>(text, params));
    },
  };
}
