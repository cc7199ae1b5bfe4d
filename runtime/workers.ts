// The piscina worker pool wrapper: typed run() with transfer lists, and worker modules that load both from
// compiled JS (dist/, production) and from TypeScript sources (tests, tsx), resolved next to the caller.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';

/** Where a worker module lives and how to start a thread that can load it. */
export interface WorkerModule {
  /** Absolute path of the module file. */
  filename: string;
  /** Node options for the worker threads (`--import tsx` when the module is TypeScript). */
  execArgv: string[] | undefined;
}

/**
 * Resolves a worker module given as `new URL('./x.js', import.meta.url)`: the `.js` file when it exists
 * (compiled output), else its `.ts` sibling loaded through tsx (running from sources). Throws when neither
 * exists.
 */
export function resolveWorkerModule(url: URL): WorkerModule {
  const path = fileURLToPath(url);
  if (existsSync(path)) return { filename: path, execArgv: path.endsWith('.ts') ? ['--import', 'tsx'] : undefined };
  if (path.endsWith('.js')) {
    const ts = `${path.slice(0, -3)}.ts`;
    if (existsSync(ts)) return { filename: ts, execArgv: ['--import', 'tsx'] };
  }
  throw new Error(`worker module not found: ${path}`);
}

/** Options for {@link WorkerPool}. */
export interface WorkerPoolOptions {
  /** Threads kept alive when idle (default 0: threads start on demand). */
  minThreads?: number;
  /** Most threads (default: available parallelism - 1, at least 1). */
  maxThreads?: number;
  /** Ms an idle thread above minThreads lives (default 30 s). */
  idleTimeoutMs?: number;
}

/** Default thread count for CPU work off the main thread: leave one core to the event loop. */
export function defaultWorkerThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}

/**
 * A typed piscina pool over one worker module, whose default export handles `Req` and returns `Res`
 * (a worker returns `Piscina.move(value)` to transfer its result instead of copying it).
 */
export class WorkerPool<Req, Res> {
  private readonly pool: Piscina<Req, Res>;
  private closed = false;

  /** @param module the worker module, e.g. `new URL('./copyWorker.js', import.meta.url)` */
  constructor(module: URL, options: WorkerPoolOptions = {}) {
    const { filename, execArgv } = resolveWorkerModule(module);
    const maxThreads = options.maxThreads ?? defaultWorkerThreads();
    this.pool = new Piscina<Req, Res>({
      filename,
      ...(execArgv ? { execArgv } : {}),
      minThreads: Math.min(options.minThreads ?? 0, maxThreads),
      maxThreads,
      idleTimeout: options.idleTimeoutMs ?? 30_000,
    });
    // A thread that dies outside a task (e.g. its module fails to load) makes piscina emit 'error', and the
    // tasks queued for it would wait forever (without a listener, the process would crash instead): fail them.
    this.pool.on('error', (err: unknown) => {
      this.lastError = err;
      for (const task of this.pending) task.abort(err);
    });
  }

  /** The last error of a thread outside any task (e.g. a module that failed to load), if any. */
  lastError: unknown;
  private readonly pending = new Set<AbortController>();

  /**
   * Runs one task on a worker thread. Rejects with the task's own error, or when a thread of the pool fails
   * outside any task (then every task in flight is failed, with that error as `cause`).
   * @param task the request
   * @param transfer buffers to move to the worker (they become unusable here)
   */
  async run(task: Req, transfer: readonly ArrayBuffer[] = []): Promise<Res> {
    if (this.closed) throw new Error('worker pool is closed');
    const abort = new AbortController();
    this.pending.add(abort);
    try {
      return await this.pool.run(task, { signal: abort.signal, ...(transfer.length ? { transferList: transfer as ArrayBuffer[] } : {}) });
    } catch (err) {
      if (!abort.signal.aborted) throw err;
      const reason: unknown = abort.signal.reason;
      throw new Error(`worker thread failed: ${reason instanceof Error ? reason.message : String(reason)}`, { cause: reason });
    } finally {
      this.pending.delete(abort);
    }
  }

  /** Threads running now. */
  get threads(): number {
    return this.pool.threads.length;
  }

  /** Tasks waiting for a thread. */
  get queued(): number {
    return this.pool.queueSize;
  }

  /** Share of thread time spent on tasks since the pool started (0..1). */
  get utilization(): number {
    return this.pool.utilization;
  }

  /** Stops every thread (tasks still running are rejected). Idempotent. */
  async destroy(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.destroy();
  }
}
