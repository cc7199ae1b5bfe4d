// PoolManager: one pool's work on one node. It keeps this node's share of the pool's agents alive (the
// cluster-wide size split over the live nodes hosting the pool), pulls tasks from the pool's durable
// queue only as fast as its agents have free slots, dispatches each through the balancer, acknowledges a
// task only after an agent finished it, retries failures with backoff, dead-letters a task after
// `maxDeliver` attempts, and publishes each outcome to its submitter. Results are stored by task id, so a
// redelivered task whose first run finished is answered from the store, not run again.
import type { Counter } from 'prom-client';
import type { AnyActorLogic } from 'xstate';
import type { HiveEvent } from '../../protocols/envelope.js';
import { CancelledError, HiveError, TimeoutError, UnavailableError, toErrorReply, toHiveError } from '../../protocols/errors.js';
import { decodeJson, encodeJson } from '../../protocols/frame.js';
import { sysSubject } from '../../protocols/subjects.js';
import type { ActorSystem } from '../../runtime/ActorSystem.js';
import type { TimerHandle } from '../../runtime/Clock.js';
import type { KeyValueStore } from '../../runtime/KeyValueStore.js';
import type { LatencyRecorder } from '../../runtime/metrics.js';
import type { Transport, TransportSubscription } from '../../runtime/Transport.js';
import { DurableConsumer, type WorkContext, type WorkOutcome } from '../../runtime/DurableConsumer.js';
import type { WorkQueue } from '../../runtime/WorkQueue.js';
import { agentMachine, loadFromAnswer, type AgentInput } from '../agent/agentMachine.js';
import { createStrategy, type Strategy } from '../balancer/createStrategy.js';
import { ewmaStep } from '../balancer/Ewma.js';
import { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import type { Permit } from '../limits/Limiter.js';
import type { NodeServices } from '../agent/NodeServices.js';
import { Autoscaler, type ScaleDecision } from './Autoscaler.js';
import type { ResolvedPoolOptions } from './poolOptions.js';
import type { MemoryApi } from '../memory/MemoryApi.js';
import { outcomeFor, type DeadTask, type TaskOutcome, type TaskRecord } from './TaskRecord.js';
import { streamTargetOf } from '../../runtime/streams/taskStreams.js';
import { endSpan, startTaskSpan, traceparentOf, withContext } from '../../runtime/tracing.js';


/** Buckets of `hive_balancer_decision_seconds`: a decision takes well under a microsecond. */
const DECISION_BUCKETS = [1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 1e-4, 1e-3];
/** What a pool manager needs to know about the other nodes. */
export interface PoolPeers {
  /** Live nodes that host this pool (this node included), in a stable order. */
  hostsOf(pool: string): string[];
  /** Calls `fn` when nodes join, leave or fail; returns an unsubscribe function. */
  onChange(fn: () => void): () => void;
  /** Busy and total slots of the pool on the other live nodes, from their last announcements. */
  othersLoad(pool: string): { busy: number; capacity: number };
}

/** Counters a pool reports (per node). */
export interface PoolStats {
  pool: string;
  node: string;
  /** Agents on this node. */
  size: number;
  /** Cluster-wide target size. */
  target: number;
  /** Tasks running on this node's agents. */
  busy: number;
  /** Slots on this node's agents. */
  capacity: number;
  /** Tasks waiting in the durable queue (cluster-wide, refreshed periodically). */
  queued: number;
  done: number;
  failed: number;
  retried: number;
  deadLettered: number;
  /** Tasks answered from the result store instead of being run again. */
  deduplicated: number;
  utilization: number;
  /** The last scaling decisions (from the node that decides: the first live host). */
  decisions: ScaleDecision[];
  /** State of the breaker around the agent handler on this node (`off` when disabled). */
  breaker: 'closed' | 'open' | 'half-open' | 'off';
}

interface LocalAgent {
  id: string;
  inFlight: number;
  capacity: number;
  latencyEwmaMs: number;
}

/** Everything a pool manager runs on. */
export interface PoolManagerDeps {
  name: string;
  options: ResolvedPoolOptions;
  system: ActorSystem;
  transport: Transport;
  queue: WorkQueue;
  results: KeyValueStore;
  peers: PoolPeers;
  /** Given to each agent's handler as `ctx.memory`. */
  memory?: MemoryApi;
  /** The node's limiters and budgets: each agent's `ctx.limiter` / `ctx.budget`, and the pool's `limiter` option. */
  limits?: NodeServices;
}

const MAX_RESULT_BYTES = 8 * 1024 * 1024;
/** Cancels remembered for tasks not pulled yet (the oldest are forgotten first). */
const MAX_REMEMBERED_CANCELS = 10_000;

/** Errors that say nothing about the handler's health (a bad task, a busy or gone agent). */
const notHandlerFailures = new Set(['INVALID_ARGUMENT', 'INVALID_EVENT', 'OVERLOADED', 'NO_SUCH_ACTOR', 'ACTOR_STOPPED', 'UNAVAILABLE', 'CANCELLED']);

/** One pool on one node. */
export class PoolManager {
  readonly name: string;
  private readonly o: ResolvedPoolOptions;
  private readonly agents = new Map<string, LocalAgent>();
  private readonly strategy: Strategy;
  private consumer: DurableConsumer<TaskRecord> | undefined;
  private subs: TransportSubscription[] = [];
  private unwatch: (() => void) | undefined;
  private unlistenCancels: (() => void) | undefined;
  /** Tasks running on this node's agents: who submitted them (their results inbox) and how to abort them. */
  private readonly inProgress = new Map<string, { replyTo: string | undefined; controller: AbortController; agentId: string | undefined }>();
  /** Cancelled task ids not pulled here yet, with the results inbox the cancel named. */
  private readonly cancelled = new Map<string, string>();
  private target: number;
  private nextAgent = 0;
  private running = false;
  private depthTimer: TimerHandle | undefined;
  private readonly stats = { done: 0, failed: 0, retried: 0, deadLettered: 0, deduplicated: 0, queued: 0 };
  private readonly autoscaler: Autoscaler | undefined;
  private scaleTimer: TimerHandle | undefined;
  private readonly breaker: CircuitBreaker | undefined;
  private breakerTimer: TimerHandle | undefined;
  private unlifecycle: (() => void) | undefined;
  private readonly replaced: Counter<'pool' | 'reason'>;
  private readonly errors: Counter<'pool' | 'op'>;
  /** How long the balancer took per decision (the seed's balancer-latency KPI). */
  private readonly decisions: LatencyRecorder;

  constructor(private readonly deps: PoolManagerDeps) {
    this.name = deps.name;
    this.o = deps.options;
    this.target = deps.options.min;
    this.strategy = createStrategy(deps.options.strategy);
    this.replaced = deps.system.metrics.counter('hive_pool_agents_replaced_total', 'Pool agents that stopped or failed on their own and left the balancer (then replaced per the pool size)', ['pool', 'reason']);
    this.decisions = deps.system.metrics.latencyHistogram('hive_balancer_decision_seconds', 'Time the pool balancer took to pick an agent for a task', ['pool'], DECISION_BUCKETS).labels(this.name);
    this.errors = deps.system.metrics.counter('hive_pool_errors_total', 'Pool manager operations that failed (resize messages, agent spawns, result-store reads, ...)', ['pool', 'op']);
    if (deps.options.autoscale !== false) this.autoscaler = new Autoscaler(deps.options.autoscale, deps.options.min, deps.options.max);
    if (deps.options.breaker !== false) {
      this.breaker = new CircuitBreaker(
        `pool-${this.name}`,
        // the handler's own failures trip it; a caller's bad task or a busy agent does not
        { isFailure: (err) => !(err instanceof HiveError && notHandlerFailures.has(err.code)), ...deps.options.breaker },
        { clock: deps.system.clock, metrics: deps.system.metrics },
      );
      this.breaker.onStateChange((c) => {
        this.system.logger.warn({ pool: this.name, from: c.from, to: c.to, reason: c.reason }, 'pool breaker changed state');
        if (this.breakerTimer !== undefined) this.system.clock.clearTimeout(this.breakerTimer);
        // while open the pool takes no tasks; when the cool-down ends it takes one, the probe
        if (c.to === 'open' && c.retryAt !== undefined) {
          this.breakerTimer = this.system.clock.setTimeout(() => this.consumer?.wake(), Math.max(0, c.retryAt - this.system.clock.now()));
        } else this.consumer?.wake();
      });
    }
  }

  private get system(): ActorSystem {
    return this.deps.system;
  }

  private get queueName(): string {
    return this.name;
  }

  /** Creates the queue, starts this node's agents and starts pulling tasks. */
  async start(): Promise<void> {
    if (this.running) return;
    const consumer = new DurableConsumer<TaskRecord>({
      queue: this.deps.queue,
      name: this.queueName,
      maxDeliver: this.o.maxDeliver,
      ackWaitMs: this.o.ackWaitMs,
      capacity: () => this.takeCapacity(),
      decode: this.decodeTask,
      work: this.run,
      onDeadLettered: this.onDeadLettered,
      retry: { minMs: this.o.retryBaseMs, maxMs: this.o.retryMaxMs },
      clock: this.system.clock,
      logger: this.system.logger.child({ pool: this.name }),
      metrics: this.system.metrics,
    });
    await consumer.start();
    this.consumer = consumer;
    this.running = true;
    const c = this.system.config.cluster;
    this.subs.push(
      this.deps.transport.subscribe(sysSubject(c, 'pool', this.name, 'resize'), (m) => {
        try {
          const { size } = decodeJson(m.data, 1024) as { size?: unknown };
          if (typeof size !== 'number' || !Number.isFinite(size)) throw new HiveError('INVALID_ARGUMENT', 'a resize message needs a numeric size');
          this.applyTarget(size);
        } catch (err) {
          this.errors.inc({ pool: this.name, op: 'resize' });
          this.system.logger.warn({ err, pool: this.name, subject: m.subject }, 'pool resize message refused');
        }
      }),
    );
    // an agent that stops or fails on its own (not retired by us) leaves the balancer at once and is replaced
    this.unlifecycle = this.system.onLifecycle((e) => {
      if (e.type === 'spawned' || !this.agents.has(e.id)) return;
      this.agents.delete(e.id);
      this.strategy.remove(e.id);
      this.replaced.inc({ pool: this.name, reason: e.type });
      this.system.logger.warn({ pool: this.name, agent: e.id, how: e.type }, 'pool agent stopped on its own: replacing it');
      queueMicrotask(() => this.rebalance());
    });
    this.unwatch = this.deps.peers.onChange(() => this.rebalance());
    this.unlistenCancels = this.system.transit.onCancel(this.onCancel);
    this.rebalance();
    this.refreshDepth();
    if (this.autoscaler !== undefined && this.o.autoscale !== false) this.scaleTimer = this.system.clock.setTimeout(this.scale, this.o.autoscale.intervalMs);
  }

  /** The first live host of the pool decides its size; the others apply what it broadcasts. */
  private scale = (): void => {
    if (!this.running || this.autoscaler === undefined || this.o.autoscale === false) return;
    this.scaleTimer = this.system.clock.setTimeout(this.scale, this.o.autoscale.intervalMs);
    try {
      this.scaleOnce(this.autoscaler);
    } catch (err) {
      // a timer callback must never throw (it would take the node down): log, count, look again next time
      this.errors.inc({ pool: this.name, op: 'autoscale' });
      this.system.logger.error({ err, pool: this.name }, 'pool autoscaling failed');
    }
  };

  private scaleOnce(autoscaler: Autoscaler): void {
    if (this.deps.peers.hostsOf(this.name)[0] !== this.system.config.nodeId) return;
    const mine = this.status();
    const others = this.deps.peers.othersLoad(this.name);
    const decision = autoscaler.observe(
      { busy: mine.busy + others.busy, capacity: mine.capacity + others.capacity, queued: this.stats.queued, size: this.target },
      this.system.clock.now(),
    );
    if (decision !== undefined) {
      this.system.logger.info({ pool: this.name, ...decision }, 'pool autoscaled');
      this.resize(decision.to);
    }
  }

  // ------------------------------------------------------------------ agents

  /** Tasks this node takes at once: its agents' slots, none while the breaker is open, one probe after its cool-down. */
  private takeCapacity(): number {
    const b = this.breaker;
    if (b !== undefined && b.state !== 'closed') {
      if (b.state === 'half-open') return Math.min(1, this.capacity());
      const at = b.retryAt;
      return at !== undefined && this.system.clock.now() >= at ? Math.min(1, this.capacity()) : 0;
    }
    return this.capacity();
  }

  /** Slots on this node's agents. */
  capacity(): number {
    let n = 0;
    for (const a of this.agents.values()) n += a.capacity;
    return n;
  }

  /** This node's share of `target` agents: an even split over the live hosts, the remainder to the first ones. */
  private share(): number {
    const hosts = this.deps.peers.hostsOf(this.name);
    const me = this.system.config.nodeId;
    const all = hosts.includes(me) ? hosts : [...hosts, me].sort();
    const i = all.indexOf(me);
    return Math.floor(this.target / all.length) + (i < this.target % all.length ? 1 : 0);
  }

  /** Spawns or drains local agents to match this node's share. */
  rebalance(): void {
    if (!this.running) return;
    const want = this.share();
    while (this.agents.size < want) {
      try {
        this.spawnAgent();
      } catch (err) {
        // e.g. the system refused the spawn: say so and try again at the next rebalance (never a throw
        // out of a membership callback or the autoscaler's timer)
        this.errors.inc({ pool: this.name, op: 'spawn' });
        this.system.logger.error({ err, pool: this.name }, 'could not spawn a pool agent');
        break;
      }
    }
    if (this.agents.size > want) {
      // drain the least busy first
      const extra = [...this.agents.values()].sort((a, b) => a.inFlight - b.inFlight).slice(0, this.agents.size - want);
      for (const a of extra) this.retireAgent(a.id);
    }
    this.consumer?.wake();
  }

  private spawnAgent(): void {
    // skip ids somebody else took (an actor spawned with the id of the pool's next agent)
    let id = `${this.name}-${this.system.config.nodeId}-${(this.nextAgent++).toString(36)}`;
    while (this.system.has(id)) id = `${this.name}-${this.system.config.nodeId}-${(this.nextAgent++).toString(36)}`;
    const agent = this.o.agent;
    let logic: AnyActorLogic;
    let input: unknown;
    if (typeof agent === 'function') {
      logic = agentMachine;
      const i: AgentInput = {
        pool: this.name,
        handler: agent,
        concurrency: this.o.concurrency,
        logger: this.system.logger.child({ pool: this.name, agent: id }),
        clock: this.system.clock,
      };
      if (this.deps.memory !== undefined) i.memory = this.deps.memory;
      if (this.deps.limits !== undefined) i.limits = this.deps.limits;
      input = i;
    } else {
      logic = agent;
      input = { pool: this.name, concurrency: this.o.concurrency };
    }
    // Local only: an agent is driven by its pool manager, never from the wire (no NATS subscription).
    this.system.spawn(logic, { id, kind: `agent:${this.name}`, input, localOnly: true });
    const local: LocalAgent = { id, inFlight: 0, capacity: this.o.concurrency, latencyEwmaMs: 0 };
    this.agents.set(id, local);
    this.strategy.add({ id, weight: 1, load: 0, capacity: local.capacity, latencyEwmaMs: 0, live: true });
  }

  private retireAgent(id: string): void {
    this.agents.delete(id);
    this.strategy.remove(id);
    // let it finish what it runs, then it stops itself (its machine reaches its final state)
    try {
      this.system.tell(id, { type: 'agent.drain' });
    } catch (err) {
      this.system.logger.warn({ err, pool: this.name, agent: id }, 'could not drain a retired agent: stopping it');
      this.system.stopActor(id).catch((stopErr: unknown) => {
        this.errors.inc({ pool: this.name, op: 'retire' });
        this.system.logger.error({ err: stopErr, pool: this.name, agent: id }, 'could not stop a retired agent');
      });
    }
  }

  /** Sets the cluster-wide target size (clamped to min/max) on this node only. */
  applyTarget(size: number): void {
    const clamped = Math.max(this.o.min, Math.min(this.o.max, Math.round(size)));
    if (clamped === this.target) return;
    this.system.logger.info({ pool: this.name, from: this.target, to: clamped }, 'pool resized');
    this.target = clamped;
    this.rebalance();
  }

  /** Sets the target size on every node hosting the pool. */
  resize(size: number): void {
    this.applyTarget(size);
    this.deps.transport.publish(sysSubject(this.system.config.cluster, 'pool', this.name, 'resize'), encodeJson({ type: 'hive.pool.resize', size: this.target }));
  }

  // ------------------------------------------------------------------ tasks

  /** A task of the pool's queue, or a throw (the consumer dead-letters what does not decode). */
  private decodeTask = (data: Uint8Array): TaskRecord => {
    const rec = decodeJson(data, MAX_RESULT_BYTES) as TaskRecord;
    if (typeof rec !== 'object' || rec === null || rec.type !== 'hive.task' || typeof rec.id !== 'string') throw new HiveError('BAD_FRAME', 'not a task record');
    return rec;
  };

  /** Runs one delivery of a task (the consumer acks, retries or dead-letters by what this answers). */
  private run = async (rec: TaskRecord, d: WorkContext): Promise<WorkOutcome> => {
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
  private onCancel = (replyTo: string, taskId: string | undefined): boolean => {
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
      const t0 = performance.now();
      agentId = this.strategy.pick(rec.key);
      this.decisions.observe((performance.now() - t0) / 1000);
      if (agentId !== undefined) break;
      if (this.agents.size === 0 || this.system.clock.now() >= rec.deadline) {
        return { kind: 'retry', error: new UnavailableError(`pool ${this.name} has no agent free on this node`), delayMs: this.o.retryBaseMs };
      }
      await new Promise<void>((r) => this.system.clock.setTimeout(r, 5));
      d.working();
    }
    const agent = this.agents.get(agentId);
    if (agent !== undefined) {
      agent.inFlight += 1;
      this.strategy.update(agentId, { load: agent.inFlight });
    }
    const started = this.system.clock.now();
    progress.agentId = agentId;
    try {
      const ask = () =>
        this.system.ask(
          agentId,
          { type: 'agent.task', task: { id: rec.id, task: rec.task, deadline: rec.deadline, attempt: d.deliveryCount, ...(progress.traceparent !== undefined && { t: progress.traceparent }) } },
          { timeoutMs: Math.max(1, rec.deadline - started), signal: progress.controller.signal, stream: streamTargetOf(rec.stream) },
        );
      const answer = this.breaker === undefined ? await ask() : await this.breaker.call(ask);
      this.report(agent, answer, started);
      return await this.finish(d, rec, { ok: true, result: (answer as { result?: unknown }).result, agent: agentId });
    } catch (err) {
      this.report(agent, undefined, started);
      const e = toHiveError(err);
      if (e.code === 'CANCELLED') return this.finish(d, rec, { ok: false, error: e, agent: agentId });
      if ((e.code === 'ACTOR_STOPPED' || e.code === 'NO_SUCH_ACTOR') && !this.agents.has(agentId) && reroutes < 3) {
        // the agent stopped under the task (it left the balancer): not the task's fault, run it on another one
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

  private report(agent: LocalAgent | undefined, answer: HiveEvent | undefined, started: number): void {
    if (agent === undefined) return;
    agent.inFlight = Math.max(0, agent.inFlight - 1);
    const load = answer === undefined ? undefined : loadFromAnswer(answer);
    agent.latencyEwmaMs = load?.latencyEwmaMs ?? ewmaStep(agent.latencyEwmaMs, this.system.clock.now() - started, agent.latencyEwmaMs === 0);
    if (this.agents.has(agent.id)) this.strategy.update(agent.id, { load: agent.inFlight, latencyEwmaMs: agent.latencyEwmaMs });
    this.consumer?.wake();
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
  private onDeadLettered = async (rec: TaskRecord | undefined, err: HiveError, deliveries: number): Promise<void> => {
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

  private refreshDepth = (): void => {
    if (!this.running) return;
    this.deps.queue.depth(this.queueName).then(
      (n) => (this.stats.queued = n),
      (err: unknown) => {
        // the depth only steers autoscaling and `hive pools`: keep the last value, say so, look again in a second
        this.errors.inc({ pool: this.name, op: 'depth' });
        this.system.logger.warn({ err, pool: this.name }, 'could not read the pool queue depth');
      },
    );
    this.depthTimer = this.system.clock.setTimeout(this.refreshDepth, 1000);
  };

  // ------------------------------------------------------------------ status and shutdown

  /** This node's counters for the pool. */
  status(): PoolStats {
    let busy = 0;
    for (const a of this.agents.values()) busy += a.inFlight;
    const capacity = this.capacity();
    return {
      pool: this.name,
      node: this.system.config.nodeId,
      size: this.agents.size,
      target: this.target,
      busy,
      capacity,
      utilization: capacity === 0 ? 0 : busy / capacity,
      ...this.stats,
      decisions: this.autoscaler === undefined ? [] : this.autoscaler.history().slice(-5),
      breaker: this.breaker === undefined ? 'off' : this.breaker.state,
    };
  }

  /** Stops taking tasks, lets the running ones finish (what is not acknowledged is redelivered), stops the agents. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.depthTimer !== undefined) this.system.clock.clearTimeout(this.depthTimer);
    if (this.scaleTimer !== undefined) this.system.clock.clearTimeout(this.scaleTimer);
    if (this.breakerTimer !== undefined) this.system.clock.clearTimeout(this.breakerTimer);
    for (const s of this.subs) s.unsubscribe();
    this.unwatch?.();
    this.unlifecycle?.();
    this.unlistenCancels?.();
    await this.consumer?.stop(this.o.taskTimeoutMs);
    for (const id of [...this.agents.keys()]) {
      this.agents.delete(id);
      await this.system.stopActor(id);
    }
    this.breaker?.dispose();
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
