// TaskRunner: how one pool runs one delivery of a task on one node. The pool's durable consumer hands it each
// delivery; it answers a redelivered task whose first run finished from the result store (exactly once by
// task id), honours cancels and deadlines, waits for the pool's limiter, picks an agent with the balancer's
// rules, asks it through the pool supervisor's breaker, reroutes a task whose agent went away under it,
// stores the outcome (the first stored one wins), tells the submitter, and says whether to acknowledge,
// retry or dead-letter the delivery. Its counters are the pool's durable task counters.
import type { Counter } from 'prom-client';
import type { HiveEvent } from '../../protocols/envelope.js';
import { CancelledError, HiveError, TimeoutError, UnavailableError, toErrorReply, toHiveError } from '../../protocols/errors.js';
import { decodeJson, encodeJson } from '../../protocols/frame.js';
import type { ActorSystem } from '../../runtime/ActorSystem.js';
import type { WorkContext, WorkOutcome } from '../../runtime/DurableConsumer.js';
import type { KeyValueStore } from '../../runtime/KeyValueStore.js';
import type { Transport } from '../../runtime/Transport.js';
import { streamTargetOf } from '../../runtime/streams/taskStreams.js';
import { endSpan, startTaskSpan, traceparentOf, withContext } from '../../runtime/tracing.js';
import type { NodeServices } from '../agent/NodeServices.js';
import type { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import type { Permit } from '../limits/Limiter.js';
import { isLive, pickAgent, taskSettled, taskStarted, type PoolAgent, type PoolBalancer } from './poolBalancer.js';
import type { ResolvedPoolOptions } from './poolOptions.js';
import { outcomeFor, type DeadTask, type TaskOutcome, type TaskRecord } from './TaskRecord.js';

const MAX_RESULT_BYTES = 8 * 1024 * 1024;
/** Cancels remembered for tasks not pulled yet (the oldest are forgotten first). */
const MAX_REMEMBERED_CANCELS = 10_000;

/** What a task runner works with (its pool manager's parts). */
export interface TaskRunnerDeps {
  name: string;
  options: ResolvedPoolOptions;
  system: ActorSystem;
  transport: Transport;
  results: KeyValueStore;
  limits?: NodeServices;
  balancer: PoolBalancer;
  /** `hive_pool_errors_total{pool,op}`. */
  errors: Counter<'pool' | 'op'>;
  /** The pool supervisor's breaker, when the pool has one. */
  breaker(): CircuitBreaker | undefined;
  /** Wakes the consumer (a slot is free again). */
  wake(): void;
}

/** Runs the deliveries of one pool's tasks on one node. */
export class TaskRunner {
  /** This node's task counters (the durable cluster-wide totals are built from them). */
  readonly stats = { done: 0, failed: 0, retried: 0, deadLettered: 0, deduplicated: 0 };
  /** Tasks running on this node's agents: who submitted them (their results inbox) and how to abort them. */
  private readonly inProgress = new Map<string, { replyTo: string | undefined; controller: AbortController; agentId: string | undefined }>();
  /** Cancelled task ids not pulled here yet, with the results inbox the cancel named. */
  private readonly cancelled = new Map<string, string>();

  constructor(private readonly deps: TaskRunnerDeps) {}

  private get name(): string {
    return this.deps.name;
  }

  private get o(): ResolvedPoolOptions {
    return this.deps.options;
  }

  private get system(): ActorSystem {
    return this.deps.system;
  }

  private get balancer(): PoolBalancer {
    return this.deps.balancer;
  }

  private get errors(): Counter<'pool' | 'op'> {
    return this.deps.errors;
  }

  /** A task of the pool's queue, or a throw (the consumer dead-letters what does not decode). */
  readonly decodeTask = (data: Uint8Array): TaskRecord => {
    const rec = decodeJson(data, MAX_RESULT_BYTES) as TaskRecord;
    if (typeof rec !== 'object' || rec === null || rec.type !== 'hive.task' || typeof rec.id !== 'string') throw new HiveError('BAD_FRAME', 'not a task record');
    return rec;
  };

  /** Runs one delivery of a task (the consumer acks, retries or dead-letters by what this answers). */
  readonly run = async (rec: TaskRecord, d: WorkContext): Promise<WorkOutcome> => {
    // a redelivered task whose first run finished is answered from the store, not run twice (a first
    // delivery has nothing stored: the submitter checked, and the queue de-duplicates by id)
    // every redelivery is a retry: this node's own retries, and tasks a node that died was running
    if (d.deliveryCount > 1) this.stats.retried += 1;
    let stored: Awaited<ReturnType<KeyValueStore['get']>>;
    try {
      stored = d.deliveryCount > 1 ? await this.deps.results.get(rec.id) : undefined;
    } catch (err) {
      // not knowing whether it already ran, do not run it again: retry once the store answers
      this.errors.inc({ pool: this.name, op: 'result-read' });
      this.system.logger.warn({ err, task: rec.id, pool: this.name }, 'could not read the result store; the task waits for it');
      return { kind: 'retry', error: new UnavailableError(`could not read the result store for task ${rec.id}`, { cause: err }), delayMs: this.o.retryBaseMs };
    }
    if (stored !== undefined) {
      let outcome: TaskOutcome;
      try {
        // a record with this id but another task (queued after the de-duplication window) gets TASK_ID_CONFLICT
        outcome = outcomeFor(decodeStoredOutcome(stored.value), rec.digest, this.system.clock.now());
      } catch (err) {
        // a stored result nobody can read: the task ran, but its outcome is lost; say so instead of running it twice
        this.errors.inc({ pool: this.name, op: 'result-decode' });
        this.system.logger.error({ err, task: rec.id, pool: this.name }, 'stored task result is undecodable');
        outcome = { type: 'hive.task.result', id: rec.id, pool: this.name, ok: false, attempts: d.deliveryCount, finishedAt: this.system.clock.now(), error: toErrorReply(new HiveError('BAD_FRAME', `the stored result of task ${rec.id} is undecodable`, { cause: err })) };
        if (rec.digest !== undefined) outcome.digest = rec.digest;
      }
      this.stats.deduplicated += 1;
      this.notify(rec, outcome);
      return { kind: 'ack' };
    }
    const now = this.system.clock.now();
    if (now >= rec.deadline) {
      return this.finish(d, rec, { ok: false, error: new TimeoutError(`task ${rec.id} passed its deadline before it could run`) });
    }
    if (this.cancelled.get(rec.id) === (rec.replyTo ?? '')) {
      this.cancelled.delete(rec.id);
      return this.finish(d, rec, { ok: false, error: new CancelledError(`task ${rec.id} was cancelled before it started`) });
    }
    // the run continues the submitter's trace (its traceparent travelled in the task record)
    const traced = startTaskSpan(this.name, rec.id, rec.t, this.system.config.nodeId);
    const progress = { replyTo: rec.replyTo, controller: new AbortController(), agentId: undefined as string | undefined, traceparent: traced === undefined ? undefined : traceparentOf(traced.context) };
    this.inProgress.set(rec.id, progress);
    let failure: unknown;
    try {
      // a permit from the pool's limiter first: the task waits here (its delivery kept alive) rather than fail
      let permit: Permit | undefined;
      try {
        permit = await this.permitFor(rec);
      } catch (err) {
        const e = toHiveError(err);
        if (e.code === 'TIMEOUT') return await this.finish(d, rec, { ok: false, error: e });
        if (e.code === 'ACTOR_STOPPED') return { kind: 'retry', error: e, delayMs: this.o.retryBaseMs };
        return { kind: 'dead', error: e, record: encodeJson(this.deadTask(rec, e, d.deliveryCount)) };
      }
      try {
        const outcome = await withContext(traced?.context, () => this.dispatch(rec, d, progress, 0));
        if (outcome.kind !== 'ack') failure = outcome.error;
        return outcome;
      } finally {
        permit?.release();
      }
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      endSpan(traced?.span, failure);
      if (this.inProgress.get(rec.id) === progress) this.inProgress.delete(rec.id);
    }
  };

  /** A cancel for a task: abort it if it runs here, else remember it so that it is never started here. */
  readonly onCancel = (replyTo: string, taskId: string | undefined): boolean => {
    if (taskId === undefined) return false;
    const p = this.inProgress.get(taskId);
    if (p !== undefined) {
      if ((p.replyTo ?? '') !== replyTo) return false;
      p.controller.abort(new CancelledError(`task ${taskId} was cancelled`));
      if (p.agentId !== undefined) {
        try {
          this.system.tell(p.agentId, { type: 'agent.cancel', taskId });
        } catch {
          // the agent is gone: nothing runs there any more
        }
      }
      return true;
    }
    this.cancelled.delete(taskId);
    this.cancelled.set(taskId, replyTo);
    if (this.cancelled.size > MAX_REMEMBERED_CANCELS) this.cancelled.delete(this.cancelled.keys().next().value!);
    return false;
  };

  /** Waits for a permit of the pool's limiter for `rec` (none without a limiter); aborted at the task's deadline. */
  private async permitFor(rec: TaskRecord): Promise<Permit | undefined> {
    const l = this.o.limiter;
    if (l === undefined) return undefined;
    if (this.deps.limits === undefined) throw new UnavailableError(`pool "${this.name}" has a limiter but its node has no limits`);
    const n = typeof l.n === 'function' ? l.n(rec.task) : (l.n ?? 1);
    const controller = new AbortController();
    const timer = this.system.clock.setTimeout(
      () => controller.abort(new TimeoutError(`task ${rec.id} passed its deadline waiting for limiter "${l.name}"`)),
      Math.max(0, rec.deadline - this.system.clock.now()),
    );
    try {
      return await this.deps.limits.limiter(l.name).take(n, { signal: controller.signal });
    } finally {
      this.system.clock.clearTimeout(timer);
    }
  }

  /** Picks an agent, asks it to run the task, and answers what the consumer does with the delivery. */
  private async dispatch(rec: TaskRecord, d: WorkContext, progress: { controller: AbortController; agentId: string | undefined; traceparent: string | undefined }, reroutes: number): Promise<WorkOutcome> {
    let agentId: string | undefined;
    for (;;) {
      if (progress.controller.signal.aborted) return this.finish(d, rec, { ok: false, error: new CancelledError(`task ${rec.id} was cancelled before it started`) });
      agentId = pickAgent(this.balancer, rec.key);
      if (agentId !== undefined) break;
      if (this.balancer.agents.size === 0 || this.system.clock.now() >= rec.deadline) {
        return { kind: 'retry', error: new UnavailableError(`pool ${this.name} has no agent free on this node`), delayMs: this.o.retryBaseMs };
      }
      await new Promise<void>((r) => this.system.clock.setTimeout(r, 5));
      d.working();
    }
    const agent = taskStarted(this.balancer, agentId);
    const started = this.system.clock.now();
    progress.agentId = agentId;
    try {
      const ask = () =>
        this.system.ask(
          agentId,
          { type: 'agent.task', task: { id: rec.id, task: rec.task, deadline: rec.deadline, attempt: d.deliveryCount, ...(progress.traceparent !== undefined && { t: progress.traceparent }) } },
          { timeoutMs: Math.max(1, rec.deadline - started), signal: progress.controller.signal, stream: streamTargetOf(rec.stream) },
        );
      const breaker = this.deps.breaker();
      const answer = breaker === undefined ? await ask() : await breaker.call(ask);
      this.report(agent, answer, started);
      return await this.finish(d, rec, { ok: true, result: (answer as { result?: unknown }).result, agent: agentId });
    } catch (err) {
      this.report(agent, undefined, started);
      const e = toHiveError(err);
      if (e.code === 'CANCELLED') return this.finish(d, rec, { ok: false, error: e, agent: agentId });
      if ((e.code === 'ACTOR_STOPPED' || e.code === 'NO_SUCH_ACTOR' || e.code === 'ACTOR_FAILED') && !isLive(this.balancer, agentId) && reroutes < 3) {
        // the agent stopped or failed under the task (it left the balancer or is restarting): not the task's fault, run it on another one
        d.working();
        return this.dispatch(rec, d, progress, reroutes + 1);
      }
      if (e.code === 'CIRCUIT_OPEN') {
        // not the task's fault: put it back until the breaker lets tasks through again
        return { kind: 'retry', error: e, delayMs: typeof e.details?.['retryInMs'] === 'number' ? e.details['retryInMs'] : this.o.retryBaseMs };
      }
      if (e.code === 'TIMEOUT' || this.system.clock.now() >= rec.deadline) {
        return this.finish(d, rec, { ok: false, error: e.code === 'TIMEOUT' ? e : new TimeoutError(`task ${rec.id} passed its deadline`, { cause: e }), agent: agentId });
      }
      // on the last attempt the consumer dead-letters it, then onDeadLettered records the failure
      return { kind: 'retry', error: e, ...(d.lastAttempt && { record: encodeJson(this.deadTask(rec, e, d.deliveryCount)) }) };
    }
  }

  private report(agent: PoolAgent | undefined, answer: HiveEvent | undefined, started: number): void {
    if (agent === undefined) return;
    taskSettled(this.balancer, agent, answer, this.system.clock.now() - started);
    this.deps.wake();
  }

  /** Stores the outcome (the first stored one wins) and tells the submitter; a store that is down retries the task. */
  private async finish(d: Pick<WorkContext, 'deliveryCount'>, rec: TaskRecord, end: { ok: boolean; result?: unknown; error?: HiveError; agent?: string; deadLettered?: boolean }): Promise<WorkOutcome> {
    const outcome: TaskOutcome = { type: 'hive.task.result', id: rec.id, pool: this.name, ok: end.ok, attempts: d.deliveryCount, finishedAt: this.system.clock.now() };
    if (end.deadLettered === true) outcome.deadLettered = true;
    if (end.ok) outcome.result = end.result;
    if (end.error !== undefined) outcome.error = toErrorReply(end.error);
    if (end.agent !== undefined) outcome.agent = end.agent;
    if (rec.digest !== undefined) outcome.digest = rec.digest;
    let final = outcome;
    try {
      const rev = await this.deps.results.create(rec.id, encodeJson(outcome));
      if (rev === undefined) {
        // another delivery of the same task finished first: its outcome is the one
        const first = await this.deps.results.get(rec.id);
        if (first !== undefined) {
          try {
            // the first outcome, if this record is the same submission; else TASK_ID_CONFLICT
            final = outcomeFor(decodeStoredOutcome(first.value), rec.digest, this.system.clock.now());
          } catch (err) {
            this.system.logger.error({ err, task: rec.id, pool: this.name }, 'stored task result is undecodable; answering with this run\'s outcome');
          }
        }
        this.stats.deduplicated += 1;
      } else if (end.ok) this.stats.done += 1;
      else this.stats.failed += 1;
    } catch (err) {
      // the result store is down: retry the task later rather than acknowledge an unrecorded result
      this.system.logger.warn({ err, task: rec.id }, 'could not store a task result; will retry');
      return { kind: 'retry', error: new UnavailableError(`could not store the result of task ${rec.id}: ${(err as Error).message}`, { cause: err }), delayMs: this.o.retryBaseMs };
    }
    this.notify(rec, final);
    return { kind: 'ack' };
  }

  private deadTask(rec: TaskRecord, err: HiveError, attempts: number): DeadTask {
    return { type: 'hive.task.dead', task: rec, error: toErrorReply(err), attempts, at: this.system.clock.now() };
  }

  /** After the consumer dead-lettered a task: record the failure as its outcome and tell the submitter. */
  readonly onDeadLettered = async (rec: TaskRecord | undefined, err: HiveError, deliveries: number): Promise<void> => {
    if (rec === undefined) return;
    this.stats.deadLettered += 1;
    this.system.logger.warn({ task: rec.id, pool: this.name, attempts: deliveries, err: err.message }, 'task dead-lettered');
    const r = await this.finish({ deliveryCount: deliveries }, rec, { ok: false, error: err, deadLettered: true });
    if (r.kind !== 'ack') throw (r as { error: HiveError }).error;
  };

  private notify(rec: TaskRecord, outcome: TaskOutcome): void {
    if (rec.replyTo === undefined) return;
    try {
      this.deps.transport.publish(rec.replyTo, encodeJson(outcome));
    } catch (err) {
      this.system.logger.debug({ err, task: rec.id }, 'could not notify the submitter (it can read the result store)');
    }
  }
}

/** Decodes a result-store record; throws when it is not a task outcome. */
function decodeStoredOutcome(bytes: Uint8Array): TaskOutcome {
  const o = decodeJson(bytes, MAX_RESULT_BYTES) as TaskOutcome;
  if (typeof o !== 'object' || o === null || o.type !== 'hive.task.result' || typeof o.id !== 'string' || typeof o.ok !== 'boolean') {
    throw new HiveError('BAD_FRAME', 'not a task outcome');
  }
  return o;
}
