// Pool: the handle `hive.pool()` returns. `submit()` puts a task on the pool's durable queue (de-duplicated
// by task id) and waits for its outcome on this node's results inbox (one subscription per node); an
// outcome already stored for that id is returned at once. The pool's actor is its machine (poolMachine.ts).
import { CancelledError, InvalidArgumentError, OverloadedError, TimeoutError, errorFromReply, toErrorReply } from '../../protocols/errors.js';
import { decodeJson, encodeJson } from '../../protocols/frame.js';
import { assertToken, sysSubject } from '../../protocols/subjects.js';
import type { ActorSystem } from '../../runtime/ActorSystem.js';
import type { TimerHandle } from '../../runtime/Clock.js';
import type { KeyValueStore } from '../../runtime/KeyValueStore.js';
import type { Transport, TransportSubscription } from '../../runtime/Transport.js';
import type { WorkQueue } from '../../runtime/WorkQueue.js';
import type { PoolManager, PoolStats } from './PoolManager.js';
import { isTaskOutcome, outcomeError, outcomeFor, taskDigest, type TaskOutcome, type TaskRecord } from './TaskRecord.js';
import { traceparentOf } from '../../runtime/tracing.js';
import type { ChunkStream } from '../../runtime/streams/ChunkStream.js';
import type { TaskStreamRef } from '../../runtime/streams/taskStreams.js';
import { openTaskStream, type SubmitStreamOptions } from './streamSubmission.js';

/** Options of one submission. */
export interface SubmitOptions {
  /**
   * Task id (default: generated). Submitting the same id again with the same task and key returns the first
   * outcome; with another task or key it rejects with TASK_ID_CONFLICT (the outcome is the first submission's).
   */
  id?: string;
  /** Routing key: with the consistent-hash strategy, one key stays on one agent while it lives. */
  key?: string;
  /** Deadline from now (default: the pool's `taskTimeoutMs`). Past it the submitter gets TIMEOUT and the agent's signal aborts. */
  timeoutMs?: number;
  /**
   * Cancels the task: the submitter gets `CANCELLED` at once; a task still queued is never started, a
   * running one has its agent's `ctx.signal` aborted (a `cancel` envelope tells every node).
   */
  signal?: AbortSignal;
}

interface Waiter {
  /** The submission's {@link taskDigest}: it gets an outcome only when that outcome's digest is the same. */
  digest: string | undefined;
  resolve: (o: TaskOutcome) => void;
  reject: (e: unknown) => void;
  timer: TimerHandle;
}

const MAX_OUTCOME = 64 * 1024 * 1024;

/** Task ids one node waits for at once, at most (default); past it `submit()` refuses with OVERLOADED. */
export const DEFAULT_MAX_SUBMISSION_WAITERS = 10_000;
/** Callers waiting for the same task id on one node, at most. */
export const MAX_WAITERS_PER_TASK = 64;

/** Submits tasks and routes their outcomes back to the waiting callers; one per node. */
export class TaskSubmitter {
  private readonly waiters = new Map<string, Waiter[]>();
  private sub: TransportSubscription | undefined;
  readonly inbox: string;
  private readonly maxWaiters: number;
  private readonly offStatus: () => void;

  constructor(
    private readonly deps: { system: ActorSystem; transport: Transport; queue: WorkQueue; results: KeyValueStore; maxWaiters?: number },
  ) {
    this.inbox = sysSubject(deps.system.config.cluster, 'node', deps.system.config.nodeId, 'results');
    const limit = (this.maxWaiters = deps.maxWaiters ?? DEFAULT_MAX_SUBMISSION_WAITERS);
    const pending = () => this.waiters.size;
    deps.system.metrics.gauge('hive_pool_submission_waiters_limit', 'Task ids this node may wait for at once (submissions past it get OVERLOADED)', [], function () {
      this.set(limit);
    });
    deps.system.metrics.gauge('hive_pool_submission_waiters', 'Task ids this node waits for now', [], function () {
      this.set(pending());
    });
    // outcomes published to this node's inbox while it was disconnected are gone: read them from the store
    this.offStatus = deps.transport.onStatus((status) => {
      if (status === 'reconnected') void this.recheck();
    });
  }

  /** Looks up every task waited for in the result store and settles those that finished (after a reconnect). */
  private async recheck(): Promise<void> {
    const ids = [...this.waiters.keys()];
    for (let i = 0; i < ids.length; i += 64) {
      await Promise.all(
        ids.slice(i, i + 64).map(async (id) => {
          try {
            const stored = await this.deps.results.get(id);
            if (stored !== undefined) this.settle(decodeJson(stored.value, MAX_OUTCOME) as TaskOutcome);
          } catch (err) {
            // the waiter still times out at its deadline, or gets the outcome from a later message
            this.deps.system.logger.debug({ err, task: id }, 'could not look up a task result after a reconnect');
          }
        }),
      );
    }
  }

  /** @internal The node's actor system (streams open there). */
  get system(): ActorSystem {
    return this.deps.system;
  }

  /** Task ids waited for now. */
  get pending(): number {
    return this.waiters.size;
  }

  /** Validates a submission and builds its queue record. */
  private record(pool: string, task: unknown, options: SubmitOptions, defaultTimeoutMs: number, replyTo: string | undefined, stream?: TaskStreamRef): { rec: TaskRecord; timeoutMs: number } {
    const { system } = this.deps;
    const id = options.id === undefined ? system.ids.next() : assertToken(options.id, 'task id');
    if (options.key !== undefined && (typeof options.key !== 'string' || options.key.length === 0 || options.key.length > 1024)) {
      throw new InvalidArgumentError('task key must be a non-empty string of at most 1024 characters', { details: { argument: 'key' } });
    }
    const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new InvalidArgumentError(`timeoutMs must be a positive number, got ${String(timeoutMs)}`, { details: { argument: 'timeoutMs' } });
    }
    const now = system.clock.now();
    const rec: TaskRecord = { type: 'hive.task', id, pool, task, deadline: now + timeoutMs, submittedAt: now, digest: taskDigest(task, options.key) };
    if (replyTo !== undefined) rec.replyTo = replyTo;
    if (options.key !== undefined) rec.key = options.key;
    const traceparent = traceparentOf();
    if (traceparent !== undefined) rec.t = traceparent;
    if (stream !== undefined) rec.stream = stream;
    return { rec, timeoutMs };
  }

  /**
   * Queues `task` on `pool` without waiting for its outcome; resolves with the task id once the durable
   * queue acknowledged it (rejects when the publish failed: nothing was queued). Holds no waiter.
   */
  async enqueue(pool: string, task: unknown, options: SubmitOptions, defaultTimeoutMs: number): Promise<string> {
    const { rec } = this.record(pool, task, options, defaultTimeoutMs, undefined);
    await this.deps.queue.publish(pool, encodeJson(rec), rec.id);
    return rec.id;
  }

  private listen(): void {
    this.sub ??= this.deps.transport.subscribe(this.inbox, (m) => {
      // anything but an outcome a node sent settles nothing
      let o: unknown;
      try {
        o = decodeJson(m.data, MAX_OUTCOME);
      } catch (err) {
        this.deps.system.logger.debug({ err, subject: m.subject }, 'dropped an undecodable message on the task-outcome inbox');
        return;
      }
      if (isTaskOutcome(o)) this.settle(o);
      else this.deps.system.logger.debug({ subject: m.subject }, 'dropped a message on the task-outcome inbox that is not a task outcome');
    });
  }

  private settle(o: TaskOutcome): void {
    const list = this.waiters.get(o.id);
    if (list === undefined) return;
    this.waiters.delete(o.id);
    const now = this.deps.system.clock.now();
    for (const w of list) {
      this.deps.system.clock.clearTimeout(w.timer);
      // a caller waiting for the same id with another task gets TASK_ID_CONFLICT, not this outcome
      w.resolve(outcomeFor(o, w.digest, now));
    }
  }

  /** Queues `task` on `pool` and resolves with its outcome (or rejects with TIMEOUT at the deadline). */
  async submit(pool: string, task: unknown, options: SubmitOptions, defaultTimeoutMs: number, stream?: TaskStreamRef): Promise<TaskOutcome> {
    const { system } = this.deps;
    const { rec, timeoutMs } = this.record(pool, task, options, defaultTimeoutMs, this.inbox, stream);
    const id = rec.id;
    const now = rec.submittedAt;
    const same = this.waiters.get(id)?.length ?? 0;
    if ((same === 0 && this.waiters.size >= this.maxWaiters) || same >= MAX_WAITERS_PER_TASK) {
      throw new OverloadedError(`node "${system.config.nodeId}" already waits for ${same === 0 ? `${this.waiters.size} tasks (limit ${this.maxWaiters})` : `task ${id} ${same} times (limit ${MAX_WAITERS_PER_TASK})`}`, {
        details: { pool, limit: this.maxWaiters },
      });
    }
    this.listen();
    const signal = options.signal;
    if (signal?.aborted === true) throw new CancelledError(`task ${id} on pool "${pool}" was cancelled before it was submitted`, { cause: signal.reason });
    const outcome = new Promise<TaskOutcome>((resolve, reject) => {
      const drop = (): void => {
        const list = this.waiters.get(id)?.filter((w) => w.timer !== timer) ?? [];
        if (list.length === 0) this.waiters.delete(id);
        else this.waiters.set(id, list);
        signal?.removeEventListener('abort', onAbort);
      };
      const timer = system.clock.setTimeout(() => {
        drop();
        reject(new TimeoutError(`task ${id} on pool "${pool}" did not finish within ${timeoutMs} ms`, { details: { id, pool } }));
      }, timeoutMs);
      const onAbort = (): void => {
        system.clock.clearTimeout(timer);
        drop();
        const err = new CancelledError(`task ${id} on pool "${pool}" was cancelled`, { cause: signal?.reason, details: { id, pool } });
        reject(err);
        this.cancel(pool, id, err, now, rec.digest);
      };
      const list = this.waiters.get(id) ?? [];
      list.push({ digest: rec.digest, resolve: (o) => (signal?.removeEventListener('abort', onAbort), resolve(o)), reject, timer });
      this.waiters.set(id, list);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    // a cancel or a deadline can settle it while the publish below is still pending, before the caller holds it:
    // mark it handled so that rejection is never reported as unhandled (the caller still gets it)
    outcome.catch(() => undefined);
    try {
      // an id that already finished is answered from the result store (its outcome only to the same submission)
      const stored = options.id === undefined ? undefined : await this.deps.results.get(id);
      if (stored !== undefined) this.settle(decodeJson(stored.value, MAX_OUTCOME) as TaskOutcome);
      else await this.deps.queue.publish(pool, encodeJson(rec), id);
    } catch (err) {
      const list = this.waiters.get(id) ?? [];
      this.waiters.delete(id);
      for (const w of list) {
        system.clock.clearTimeout(w.timer);
        w.reject(err);
      }
    }
    return outcome;
  }

  /**
   * Cancels task `id`: a `cancel` envelope (reply subject: this node's results inbox, correlation id: the task
   * id) reaches the node running it (its agent's signal aborts) and every node that may pull it later (it is
   * not started); CANCELLED is stored as its outcome unless it already has one.
   */
  private cancel(pool: string, id: string, err: CancelledError, submittedAt: number, digest: string | undefined): void {
    const { system, results } = this.deps;
    system.transit.publishCancel(this.inbox, id);
    const outcome: TaskOutcome = { type: 'hive.task.result', id, pool, ok: false, error: toErrorReply(err), attempts: 0, finishedAt: system.clock.now() };
    if (digest !== undefined) outcome.digest = digest;
    results.create(id, encodeJson(outcome)).catch((e: unknown) => system.logger.debug({ err: e, task: id, submittedAt }, 'could not store a cancelled outcome'));
  }

  stop(): void {
    this.offStatus();
    this.sub?.unsubscribe();
    this.sub = undefined;
  }
}

/** A pool as its users see it. */
export class Pool<TTask = unknown, TResult = unknown> {
  /** @internal */
  constructor(
    readonly name: string,
    private readonly manager: PoolManager,
    private readonly submitter: TaskSubmitter,
    private readonly defaultTimeoutMs: number,
  ) {}

  /**
   * Queues `task` durably and resolves with the agent's result. Rejects with the task's typed error (after its
   * retries, when it was dead-lettered), or `TIMEOUT` at the deadline.
   */
  async submit(task: TTask, options: SubmitOptions = {}): Promise<TResult> {
    const outcome = await this.submitForOutcome(task, options);
    if (outcome.ok) return outcome.result as TResult;
    throw errorFromReply(outcomeError(outcome));
  }

  /**
   * Queues `task` durably and streams what its agent's handler yields (an `async function*` handler, or one
   * returning an `AsyncIterable`), through a credit window: a slow reader slows the agent. Breaking out of the
   * loop or aborting `signal` cancels the task (the agent's `ctx.signal` aborts). A handler that returns a plain
   * value streams nothing and ends with that value as `stream.final`. The loop throws the task's typed error.
   * @example
   * for await (const token of pool.submitStream<string>({ prompt: 'hi' })) process.stdout.write(token);
   */
  submitStream<TChunk = unknown>(task: TTask, options: SubmitStreamOptions = {}): ChunkStream<TChunk> {
    return openTaskStream<TChunk>(this.submitter.system, this.name, options, this.defaultTimeoutMs, (o, ref) => this.submitter.submit(this.name, task, o, this.defaultTimeoutMs, ref));
  }

  /** Like {@link Pool.submit}, but resolves with the whole outcome (id, attempts, agent) instead of throwing. */
  submitForOutcome(task: TTask, options: SubmitOptions = {}): Promise<TaskOutcome> {
    return this.submitter.submit(this.name, task, options, this.defaultTimeoutMs);
  }

  /**
   * Queues `task` durably without waiting for its outcome: resolves with the task id once the queue
   * acknowledged it, rejects when nothing was queued.
   */
  enqueue(task: TTask, options: SubmitOptions = {}): Promise<string> {
    return this.submitter.enqueue(this.name, task, options, this.defaultTimeoutMs);
  }

  /** This node's counters for the pool. */
  status(): PoolStats {
    return this.manager.status();
  }

  /** Sets the pool's size on every node (clamped to min/max). */
  resize(size: number): void {
    this.manager.resize(size);
  }
}
