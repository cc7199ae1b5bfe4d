// PoolManager: one pool's work on one node, and the context of its machine (poolMachine.ts), which owns the
// lifecycle (starting, running, breaker open, draining, stopped) and decides when agents join, leave, fail,
// come back and when the pool resizes. The manager keeps this node's share of the pool's agents (the
// cluster-wide size split over the live nodes hosting the pool; the agents live under the pool supervisor,
// which restarts them, holds the breaker and makes the scaling decisions), pulls tasks from the pool's
// durable queue only as fast as its agents have free slots, dispatches each through the balancer's rules
// (poolBalancer.ts) through its TaskRunner, acknowledges a task only after an agent finished it, retries failures with backoff,
// dead-letters a task after `maxDeliver` attempts, and publishes each outcome to its submitter. Results are
// stored by task id, so a redelivered task whose first run finished is answered from the store, not run again.
import type { Counter } from 'prom-client';
import type { AnyActorLogic, AnyActorRef, InspectionEvent } from 'xstate';
import { HiveError, UnavailableError, toHiveError } from '../../protocols/errors.js';
import { decodeJson, encodeJson } from '../../protocols/frame.js';
import { sysSubject } from '../../protocols/subjects.js';
import type { ActorSystem } from '../../runtime/ActorSystem.js';
import type { TimerHandle } from '../../runtime/Clock.js';
import type { KeyValueStore } from '../../runtime/KeyValueStore.js';
import type { Transport, TransportSubscription } from '../../runtime/Transport.js';
import { DurableConsumer } from '../../runtime/DurableConsumer.js';
import type { WorkQueue } from '../../runtime/WorkQueue.js';
import { agentMachine, type AgentInput } from '../agent/agentMachine.js';
import type { BreakerStateChange, CircuitBreaker } from '../breaker/CircuitBreaker.js';
import type { ResolvedChildSpec } from '../supervisor/ChildTable.js';
import type { NodeServices } from '../agent/NodeServices.js';
import type { ScaleDecision, ScaleSample } from './Autoscaler.js';
import { agentDown, agentJoined, agentLeft, agentUp, createPoolBalancer, slots, type PoolBalancer } from './poolBalancer.js';
import { poolMachine, poolStateOf, type PoolEvent, type PoolState } from './poolMachine.js';
import type { PoolSupervisorContext, PoolSupervisorEvent } from './poolSupervisor.js';
import type { ResolvedPoolOptions } from './poolOptions.js';
import type { MemoryApi } from '../memory/MemoryApi.js';
import type { TaskRecord } from './TaskRecord.js';
import { TaskRunner } from './TaskRunner.js';


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
  /** The pool machine's state on this node. */
  state: PoolState;
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
  /** Observes the pool machine (and its supervisor) through xstate's inspection API. */
  inspect?: (event: InspectionEvent) => void;
}



/** One pool on one node. */
export class PoolManager {
  readonly name: string;
  readonly options: ResolvedPoolOptions;
  /** The pool machine's actor id on this node (`pool-<pool>-<node>`). */
  readonly actorId: string;
  private readonly balancer: PoolBalancer;
  private consumer: DurableConsumer<TaskRecord> | undefined;
  private actor: AnyActorRef | undefined;
  private subs: TransportSubscription[] = [];
  private unwatch: (() => void) | undefined;
  private unlistenCancels: (() => void) | undefined;
  /** Runs each delivery of a task. */
  private readonly tasks: TaskRunner;
  private target: number;
  private nextAgent = 0;
  private running = false;
  private drained: Promise<void> | undefined;
  private depthTimer: TimerHandle | undefined;
  /** Tasks waiting in the durable queue (cluster-wide, refreshed every second). */
  private queued = 0;
  private scaleTimer: TimerHandle | undefined;
  /** The pool supervisor's breaker (undefined with `breaker: false`), read once the machine started. */
  private breaker: CircuitBreaker | undefined;
  private breakerTimer: TimerHandle | undefined;
  private unlifecycle: (() => void) | undefined;
  private readonly replaced: Counter<'pool' | 'reason'>;
  private readonly errors: Counter<'pool' | 'op'>;

  constructor(private readonly deps: PoolManagerDeps) {
    this.name = deps.name;
    this.options = deps.options;
    this.target = deps.options.min;
    this.actorId = `pool-${deps.name}-${deps.system.config.nodeId}`;
    this.replaced = deps.system.metrics.counter('hive_pool_agents_replaced_total', 'Pool agents that stopped or failed on their own and left the balancer (then replaced per the pool size)', ['pool', 'reason']);
    const decisions = deps.system.metrics.latencyHistogram('hive_balancer_decision_seconds', 'Time the pool balancer took to pick an agent for a task', ['pool'], DECISION_BUCKETS).labels(this.name);
    this.balancer = createPoolBalancer(deps.options.strategy, decisions);
    this.errors = deps.system.metrics.counter('hive_pool_errors_total', 'Pool manager operations that failed (resize messages, agent spawns, result-store reads, ...)', ['pool', 'op']);
    this.tasks = new TaskRunner({
      name: deps.name,
      options: deps.options,
      system: deps.system,
      transport: deps.transport,
      results: deps.results,
      ...(deps.limits !== undefined && { limits: deps.limits }),
      balancer: this.balancer,
      errors: this.errors,
      breaker: () => this.breaker,
      wake: () => this.consumer?.wake(),
    });
  }

  /** The actor system the pool runs in. */
  get system(): ActorSystem {
    return this.deps.system;
  }

  private get o(): ResolvedPoolOptions {
    return this.deps.options;
  }

  private get queueName(): string {
    return this.name;
  }

  /** The pool machine's state (`stopped` before it started and after it stopped). */
  get state(): PoolState {
    const snap = this.actor?.getSnapshot() as { value: unknown; status: string } | undefined;
    return snap === undefined ? 'stopped' : snap.status === 'done' ? 'stopped' : poolStateOf(snap.value);
  }

  private send(event: PoolEvent): void {
    this.actor?.send(event);
  }

  /** The pool supervisor (the pool machine's `supervisor` child). */
  private supervisor(): AnyActorRef | undefined {
    return (this.actor?.getSnapshot() as { children?: Record<string, AnyActorRef | undefined> } | undefined)?.children?.['supervisor'];
  }

  /**
   * Starts the pool machine (`pool-<pool>-<node>`): it opens the queue, then starts this node's agents and
   * pulls tasks. Resolves once it runs; rejects with the reason when it could not start.
   */
  async start(): Promise<void> {
    if (this.actor !== undefined) return;
    this.system.spawn(poolMachine, { id: this.actorId, kind: 'pool', input: { manager: this }, ...(this.deps.inspect !== undefined && { inspect: this.deps.inspect }) });
    const actor = this.system.localActor(this.actorId)!;
    this.actor = actor;
    const error = await new Promise<unknown>((resolve) => {
      // resolves with undefined once running, with the reason once it stopped instead
      const settled = (): boolean => {
        const snap = actor.getSnapshot() as { value: unknown; status: string; context: { error: unknown } };
        if (snap.value === 'starting' && snap.status === 'active') return false;
        resolve(snap.value === 'stopped' || snap.status !== 'active' ? (snap.context.error ?? new UnavailableError(`pool "${this.name}" stopped while starting`)) : undefined);
        return true;
      };
      if (settled()) return;
      const sub = actor.subscribe({
        next: () => void (settled() && sub.unsubscribe()),
        error: (err: unknown) => resolve(err ?? new UnavailableError(`pool "${this.name}" failed while starting`)),
        complete: () => void settled(),
      });
    });
    if (error !== undefined) throw toHiveError(error);
  }

  /** @internal The machine's `starting` state: creates the queue's consumer and starts it. */
  async open(): Promise<void> {
    const consumer = new DurableConsumer<TaskRecord>({
      queue: this.deps.queue,
      name: this.queueName,
      maxDeliver: this.o.maxDeliver,
      ackWaitMs: this.o.ackWaitMs,
      capacity: () => this.takeCapacity(),
      decode: this.tasks.decodeTask,
      work: this.tasks.run,
      onDeadLettered: this.tasks.onDeadLettered,
      retry: { minMs: this.o.retryBaseMs, maxMs: this.o.retryMaxMs },
      clock: this.system.clock,
      logger: this.system.logger.child({ pool: this.name }),
      metrics: this.system.metrics,
    });
    await consumer.start();
    this.consumer = consumer;
  }

  /** @internal Entering `running` from `starting`: listens to resizes, agents, peers and cancels, starts the agents. */
  serve(): void {
    this.running = true;
    this.breaker = (this.supervisor()?.getSnapshot() as { context?: PoolSupervisorContext } | undefined)?.context?.breaker;
    const c = this.system.config.cluster;
    this.subs.push(
      this.deps.transport.subscribe(sysSubject(c, 'pool', this.name, 'resize'), (m) => {
        try {
          const { size } = decodeJson(m.data, 1024) as { size?: unknown };
          if (typeof size !== 'number' || !Number.isFinite(size)) throw new HiveError('INVALID_ARGUMENT', 'a resize message needs a numeric size');
          this.send({ type: 'pool.applySize', size });
        } catch (err) {
          this.errors.inc({ pool: this.name, op: 'resize' });
          this.system.logger.warn({ err, pool: this.name, subject: m.subject }, 'pool resize message refused');
        }
      }),
    );
    // what happens to the agents, as events of the pool machine: a failed agent is restarted by the pool
    // supervisor (not picked meanwhile); one that stops or finishes on its own (not retired by us) leaves the
    // balancer at once and is replaced
    this.unlifecycle = this.system.onLifecycle((e) => {
      if (!this.balancer.agents.has(e.id)) return;
      if (e.type === 'spawned') this.send({ type: 'pool.agentRestarted', agent: e.id });
      else if (e.type === 'failed') this.send({ type: 'pool.agentFailed', agent: e.id });
      else this.send({ type: 'pool.agentLeft', agent: e.id, how: e.type });
    });
    this.unwatch = this.deps.peers.onChange(() => this.send({ type: 'pool.rebalance' }));
    this.unlistenCancels = this.system.transit.onCancel(this.tasks.onCancel);
    this.refreshDepth();
    if (this.o.autoscale !== false) this.scaleTimer = this.system.clock.setTimeout(this.scaleTick, this.o.autoscale.intervalMs);
  }

  /** Asks the pool machine for an autoscaling look every `intervalMs`. */
  private scaleTick = (): void => {
    if (!this.running || this.o.autoscale === false) return;
    this.scaleTimer = this.system.clock.setTimeout(this.scaleTick, this.o.autoscale.intervalMs);
    this.send({ type: 'pool.scaleTick' });
  };

  /** @internal The first live host of the pool decides its size (the others apply what it broadcasts). */
  decidesScale(): boolean {
    return this.o.autoscale !== false && this.deps.peers.hostsOf(this.name)[0] === this.system.config.nodeId;
  }

  /** @internal The cluster-wide load the pool supervisor's autoscaler looks at. */
  scaleSample(): ScaleSample {
    const mine = slots(this.balancer);
    const others = this.deps.peers.othersLoad(this.name);
    return { busy: mine.busy + others.busy, capacity: mine.capacity + others.capacity, queued: this.queued, size: this.target };
  }

  /** @internal The pool supervisor's breaker changed state: while open the pool takes no tasks; after its cool-down, one probe. */
  breakerChanged(c: BreakerStateChange): void {
    this.system.logger.warn({ pool: this.name, from: c.from, to: c.to, reason: c.reason }, 'pool breaker changed state');
    if (this.breakerTimer !== undefined) this.system.clock.clearTimeout(this.breakerTimer);
    this.breakerTimer = undefined;
    if (c.to === 'open' && c.retryAt !== undefined) {
      this.breakerTimer = this.system.clock.setTimeout(() => this.consumer?.wake(), Math.max(0, c.retryAt - this.system.clock.now()));
    } else this.consumer?.wake();
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

  /** Slots on this node's live agents. */
  capacity(): number {
    return slots(this.balancer).capacity;
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
    const agents = this.balancer.agents;
    while (agents.size < want) {
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
    if (agents.size > want) {
      // drain the least busy first
      const extra = [...agents.values()].sort((a, b) => a.inFlight - b.inFlight).slice(0, agents.size - want);
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
    const spawn = { id, kind: `agent:${this.name}`, input, localOnly: true };
    this.system.spawn(logic, spawn);
    agentJoined(this.balancer, id, this.o.concurrency);
    // under the pool supervisor: restarted (same id) when it fails; not when it finishes (a drain) or is stopped
    const spec: ResolvedChildSpec = { id, logic, restart: 'transient', from: 'fresh', spawn };
    this.supervisor()?.send({ type: 'agent.adopt', spec } satisfies PoolSupervisorEvent);
  }

  /** @internal An agent stopped or finished on its own, or its supervisor gave it up: it leaves the balancer and is replaced. */
  agentLeft(id: string, how: string): void {
    if (!agentLeft(this.balancer, id)) return;
    this.replaced.inc({ pool: this.name, reason: how });
    this.system.logger.warn({ pool: this.name, agent: id, how }, 'pool agent stopped on its own: replacing it');
  }

  /** @internal An agent failed: not picked until the pool supervisor restarted it. */
  agentDown(id: string): void {
    if (agentDown(this.balancer, id)) this.system.logger.warn({ pool: this.name, agent: id }, 'pool agent failed: its supervisor restarts it');
  }

  /** @internal A failed agent is back. */
  agentUp(id: string): void {
    if (agentUp(this.balancer, id)) this.consumer?.wake();
  }

  private retireAgent(id: string): void {
    agentLeft(this.balancer, id);
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

  /** @internal Sets the cluster-wide target size (clamped to min/max) on this node; the machine then rebalances. */
  applyTarget(size: number): void {
    const clamped = Math.max(this.o.min, Math.min(this.o.max, Math.round(size)));
    if (clamped === this.target) return;
    this.system.logger.info({ pool: this.name, from: this.target, to: clamped }, 'pool resized');
    this.target = clamped;
  }

  /** @internal Tells the other nodes hosting the pool its target size. */
  broadcastTarget(): void {
    try {
      this.deps.transport.publish(sysSubject(this.system.config.cluster, 'pool', this.name, 'resize'), encodeJson({ type: 'hive.pool.resize', size: this.target }));
    } catch (err) {
      // this node has the new size; the others keep theirs until the next decision reaches them
      this.errors.inc({ pool: this.name, op: 'resize' });
      this.system.logger.warn({ err, pool: this.name, size: this.target }, 'could not broadcast a pool resize');
    }
  }

  /** Sets the target size on every node hosting the pool (an event of the pool machine). */
  resize(size: number): void {
    this.send({ type: 'pool.resize', size });
  }

  private refreshDepth = (): void => {
    if (!this.running) return;
    this.deps.queue.depth(this.queueName).then(
      (n) => (this.queued = n),
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
    const { busy, capacity } = slots(this.balancer);
    const autoscaler = (this.supervisor()?.getSnapshot() as { context?: PoolSupervisorContext } | undefined)?.context?.autoscaler;
    return {
      pool: this.name,
      node: this.system.config.nodeId,
      size: this.balancer.agents.size,
      target: this.target,
      busy,
      capacity,
      utilization: capacity === 0 ? 0 : busy / capacity,
      queued: this.queued,
      ...this.tasks.stats,
      decisions: autoscaler === undefined ? [] : autoscaler.history().slice(-5),
      breaker: this.breaker === undefined ? 'off' : this.breaker.state,
      state: this.state,
    };
  }

  /**
   * Stops taking tasks, lets the running ones finish (what is not acknowledged is redelivered), stops the
   * agents: the pool machine's `draining` state, then `stopped`.
   */
  async stop(): Promise<void> {
    const actor = this.actor;
    const snap = actor?.getSnapshot() as { status: string; value: unknown } | undefined;
    if (actor === undefined || snap === undefined || snap.status !== 'active') return this.drain();
    await new Promise<void>((resolve) => {
      const sub = actor.subscribe({
        next: (s: { status: string }) => {
          if (s.status !== 'active') done();
        },
        error: () => done(),
        complete: () => done(),
      });
      function done(): void {
        sub.unsubscribe();
        resolve();
      }
      actor.send({ type: 'pool.stop' } satisfies PoolEvent);
      if ((actor.getSnapshot() as { status: string }).status !== 'active') done();
    });
    // the machine stopped (or was stopped with its node) before its drain finished: finish it here
    await this.drain();
  }

  /** @internal The machine's `draining` state (runs once; later calls wait for the same drain). */
  drain(): Promise<void> {
    this.drained ??= this.drainOnce();
    return this.drained;
  }

  private async drainOnce(): Promise<void> {
    this.running = false;
    if (this.depthTimer !== undefined) this.system.clock.clearTimeout(this.depthTimer);
    if (this.scaleTimer !== undefined) this.system.clock.clearTimeout(this.scaleTimer);
    if (this.breakerTimer !== undefined) this.system.clock.clearTimeout(this.breakerTimer);
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    this.unwatch?.();
    this.unlifecycle?.();
    this.unlistenCancels?.();
    await this.consumer?.stop(this.o.taskTimeoutMs);
    for (const id of [...this.balancer.agents.keys()]) {
      agentLeft(this.balancer, id);
      await this.system.stopActor(id);
    }
  }
}
