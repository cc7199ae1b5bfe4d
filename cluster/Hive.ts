// Hive: the public entry point. `Hive.start()` resolves the configuration, picks the transport (NATS when
// configured, the in-process transport otherwise), and gives callers spawn / ref / stop over one node's
// actor system.
import type { AnyActorLogic } from 'xstate';
import type { ActorRef } from '../runtime/ActorRef.js';
import { ActorSystem, type ActorLifecycleEvent } from '../runtime/ActorSystem.js';
import { systemClock, type Clock } from '../runtime/Clock.js';
import { resolveConfig, type HiveConfig, type HiveOptions } from '../runtime/config.js';
import type { DeadLetters } from '../runtime/DeadLetters.js';
import { RandomIds, type IdSource } from '../runtime/ids.js';
import { InProcTransport } from '../runtime/InProcTransport.js';
import { createLogger, type Logger } from '../runtime/logger.js';
import { MetricsRegistry } from '../runtime/metrics.js';
import type { Transport } from '../runtime/Transport.js';
import { MemoryKeyValue, type WatchableKeyValue } from '../runtime/KeyValueStore.js';
import { UnavailableError } from '../protocols/errors.js';
import { Membership, type Member, type MembershipEvent } from './Membership.js';
import { NatsKeyValue } from './NatsKeyValue.js';
import { NatsTransport } from './NatsTransport.js';
import { natsOptionsFromEnv } from './natsOptions.js';
import { NodeControl, type NodeStatus } from './NodeControl.js';
import { VirtualActors, type VirtualRef } from './VirtualActors.js';
import { SupervisionSignals, type SupervisionEvent } from '../actors/supervisor/signals.js';
import { Supervisor, type NamedSupervisorOptions, type RootSupervisorOptions, type SupervisedSpawnOptions } from '../actors/supervisor/Supervisor.js';
import { NodePools } from './NodePools.js';
import { NodeBreakers } from './NodeBreakers.js';
import { NodeLimits } from './NodeLimits.js';
import { NodeTimers } from './NodeTimers.js';
import type { NodeServices, ScheduledTimer } from '../actors/agent/NodeServices.js';
import type { ScheduleOptions, TimerTarget } from '../actors/timers/timerRecord.js';
import type { HiveEvent } from '../protocols/envelope.js';
import type { Budget } from '../actors/limits/Budget.js';
import type { Limiter } from '../actors/limits/Limiter.js';
import type { BudgetOptions, LimiterOptions } from '../actors/limits/limitOptions.js';
import { Memory, NodeMemory, type MemoryOptions } from './NodeMemory.js';
import { KpiSampler } from './ops/KpiSampler.js';
import { NodeService } from './ops/NodeService.js';
import { registerPoolMetrics } from './ops/poolMetrics.js';
import type { Pool, SubmitOptions } from '../actors/pool/Pool.js';
import type { ChunkStream } from '../runtime/streams/ChunkStream.js';
import type { SubmitStreamOptions } from '../actors/pool/streamSubmission.js';
import type { PoolOptions } from '../actors/pool/poolOptions.js';

/** In-process nodes on the same bus share their KV stores, as NATS nodes share JetStream KV buckets. */
const memoryStores = new WeakMap<object, { placement: MemoryKeyValue; snapshots: MemoryKeyValue }>();

/** A KV store that is not there: every call fails with UNAVAILABLE naming why. */
class MissingKeyValue implements WatchableKeyValue {
  constructor(private readonly why: string) {}
  private fail(): never {
    throw new UnavailableError(`virtual actors are unavailable on this node: ${this.why}`);
  }
  async get(): Promise<never> {
    this.fail();
  }
  async create(): Promise<never> {
    this.fail();
  }
  async update(): Promise<never> {
    this.fail();
  }
  async put(): Promise<never> {
    this.fail();
  }
  async delete(): Promise<never> {
    this.fail();
  }
  async keys(): Promise<never> {
    this.fail();
  }
  async deleteIf(): Promise<never> {
    this.fail();
  }
  async watch(): Promise<never> {
    this.fail();
  }
  async purgeDeletes(): Promise<never> {
    this.fail();
  }
}

/** How long a placement or snapshot read or write may take before it fails UNAVAILABLE. */
const VIRTUAL_KV_TIMEOUT_MS = 2_000;

async function openStores(transport: Transport, cluster: string, logger: Logger): Promise<{ placement: WatchableKeyValue; snapshots: WatchableKeyValue }> {
  if (transport instanceof NatsTransport) {
    try {
      return {
        // bounded well inside the default ask timeout: a store that does not answer fails the ask UNAVAILABLE
        placement: await NatsKeyValue.open(transport, `hive_${cluster}_placement`, { timeoutMs: VIRTUAL_KV_TIMEOUT_MS }),
        snapshots: await NatsKeyValue.open(transport, `hive_${cluster}_snapshots`, { timeoutMs: VIRTUAL_KV_TIMEOUT_MS }),
      };
    } catch (err) {
      logger.warn({ err }, 'JetStream KV unavailable: virtual actors disabled on this node');
      const missing = new MissingKeyValue((err as Error).message);
      return { placement: missing, snapshots: missing };
    }
  }
  const key = transport instanceof InProcTransport ? transport.bus : transport;
  let stores = memoryStores.get(key);
  if (stores === undefined) {
    stores = { placement: new MemoryKeyValue(), snapshots: new MemoryKeyValue() };
    memoryStores.set(key, stores);
  }
  return stores;
}

/** What `Hive.start` takes: configuration plus optional injected parts. */
export interface HiveStartOptions extends HiveOptions {
  /** Use this transport instead of creating one (tests, custom buses). */
  transport?: Transport;
  /** Injected clock (tests use `SimulatedClock`). */
  clock?: Clock;
  /** Injected id source. */
  ids?: IdSource;
  /** Injected logger (default: pino at `logLevel`, to stderr). */
  logger?: Logger;
  /** Read HIVE_* environment variables (default true). */
  env?: NodeJS.ProcessEnv | false;
  /**
   * The node's root supervisor (the parent of every actor `hive.spawn` starts and of every `hive.supervisor`).
   * Defaults: `one-for-one`; at most 10 restarts in 60 s; backoff from 10 ms doubling to 5 s with full jitter,
   * starting over after a child stayed up 30 s. Past the intensity it stops its children, logs at error level,
   * counts `hive_supervisor_escalations_total{supervisor="root"}` and emits an `escalated` supervision event.
   */
  supervision?: Omit<RootSupervisorOptions, 'signals'>;
  /**
   * Semantic memory on this node (default off; `hive start` turns it on): `true` for PGlite under
   * `<dataDir>/memory`, or PostgreSQL when `database` / HIVE_DATABASE_URL is set; or {@link MemoryOptions}.
   * The store opens in the background; `hive.memory` calls made before it is open are answered once it is.
   */
  memory?: boolean | MemoryOptions;
}

/** Options of {@link Hive.spawn}: the runtime's spawn options plus how the actor is supervised. */
export type HiveSpawnOptions = SupervisedSpawnOptions;

/**
 * A node's parts that are not public API (the actor system, transport, membership, virtual actors, node
 * control, pools, per-node breakers): the runtime's own modules, tests and benchmarks reach them through
 * {@link hiveInternals} (exported from `cluster/internal.ts`, not from the package entry).
 * @internal
 */
export interface HiveInternals {
  system: ActorSystem;
  transport: Transport;
  membership: Membership;
  virtual: VirtualActors;
  control: NodeControl;
  pools: NodePools;
  nodeBreakers: NodeBreakers;
}

const internalsOf = new WeakMap<Hive, HiveInternals>();

/** @internal A node's internals (see {@link HiveInternals}). */
export function hiveInternals(hive: Hive): HiveInternals {
  const i = internalsOf.get(hive);
  if (i === undefined) throw new Error('not a started Hive node');
  return i;
}

/** One Hive node: its actors, reachable from every node of its cluster. */
export class Hive {
  /** The resolved configuration. */
  readonly config: HiveConfig;
  /** This node's actor system. */
  private readonly system: ActorSystem;
  /** The transport this node talks over. */
  private readonly transport: Transport;
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
  readonly clock: Clock;
  /** Epoch ms this node started. */
  readonly startedAt: number;
  /** Live nodes and join/leave/fail events. */
  private readonly membership: Membership;
  /** Registered kinds and virtual actors. */
  private readonly virtual: VirtualActors;
  /** Status and spawn requests from the CLI and other nodes. */
  private readonly control: NodeControl;
  /** The node's root supervisor: supervises every actor started with {@link Hive.spawn}. */
  readonly supervision: Supervisor;
  /** The pools this node hosts. */
  private readonly pools: NodePools;
  /** The seed KPIs sampled every few seconds (the `kpis` section of this node's status, what the dashboard shows). */
  readonly kpis: KpiSampler;
  /** Cluster-wide limiters and budgets (`hive.limiter`, `hive.budget`). */
  readonly limits: NodeLimits;
  /** Durable timers (`hive.schedule`). */
  readonly timers: NodeTimers;
  /** What this node offers the code it runs (pool agents' `ctx`). */
  readonly services: NodeServices;
  /** This node as service `hive` of the NATS services protocol (`$SRV.PING|INFO|STATS`, `nats micro`). */
  readonly natsService: NodeService;
  /** A circuit breaker per destination node around remote asks. */
  private readonly nodeBreakers: NodeBreakers;
  /**
   * Semantic memory: this node's memory actor when it has memory, else the cluster's (`hive.<cluster>.memory`).
   * @example await hive.memory.ingest([{ namespace: 'docs', content: 'hello' }]); await hive.memory.search({ namespace: 'docs', text: 'hi' });
   */
  readonly memory: Memory;
  private nodeMemory: NodeMemory | undefined;
  private memoryStarting: Promise<NodeMemory> | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(
    config: HiveConfig,
    transport: Transport,
    clock: Clock,
    ids: IdSource,
    logger: Logger,
    stores: { placement: WatchableKeyValue; snapshots: WatchableKeyValue },
    supervision: Omit<RootSupervisorOptions, 'signals'> = {},
  ) {
    this.config = config;
    this.transport = transport;
    this.clock = clock;
    this.logger = logger;
    this.startedAt = clock.now();
    this.metrics = new MetricsRegistry({ cluster: config.cluster, node: config.nodeId });
    this.system = new ActorSystem({ config, transport, clock, ids, logger, metrics: this.metrics });
    this.supervision = Supervisor.root(this.system, { ...supervision, signals: new SupervisionSignals() });
    this.membership = new Membership({
      cluster: config.cluster,
      nodeId: config.nodeId,
      transport,
      clock,
      logger,
      metrics: this.metrics,
      heartbeatMs: config.heartbeatMs,
      failureAfterMs: config.failureAfterMs,
      announce: () => ({
        type: 'hive.heartbeat',
        node: config.nodeId,
        startedAt: this.startedAt,
        actors: this.system.size,
        kinds: this.virtual.registeredKinds(),
        pools: this.pools.names(),
        poolLoad: this.pools.load(),
      }),
    });
    this.virtual = new VirtualActors({ system: this.system, transport, placement: stores.placement, snapshots: stores.snapshots, membership: this.membership });
    this.control = new NodeControl({
      system: this.system,
      transport,
      virtual: this.virtual,
      startedAt: this.startedAt,
      spawn: (logic, options) => this.supervision.supervise(logic, options),
    });
    // a node whose store is not the cluster's memory (its own PGlite while another node's is) uses the cluster's
    this.memory = new Memory(this.system, () => (this.nodeMemory?.answersForCluster === true ? this.nodeMemory.actorId : undefined));
    this.limits = new NodeLimits({ cluster: config.cluster, node: config.nodeId, transport, clock, logger, metrics: this.metrics });
    this.services = {
      limiter: (name) => this.limits.limiter(name),
      budget: (name) => this.limits.budget(name),
      schedule: (target, event, options) => this.schedule(target, event, options),
      cancelSchedule: (id) => this.cancelSchedule(id),
    };
    this.pools = new NodePools({ system: this.system, transport, membership: this.membership, memory: () => this.memory, limits: this.services });
    this.timers = new NodeTimers({
      system: this.system,
      transport,
      logger,
      delivery: {
        tell: (id, event) => this.system.tell(id, event),
        tellVirtual: (kind, key, event) => this.virtual.ref(kind, key).tell(event),
        enqueue: (pool, task, id) => this.pools.enqueue(pool, task, id),
      },
    });
    this.control.addStatusSection('pools', () => this.pools.status());
    this.nodeBreakers = new NodeBreakers({ clock, metrics: this.metrics });
    this.system.transit.guard = this.nodeBreakers;
    this.membership.subscribe((e) => {
      if (e.type === 'leave' || e.type === 'fail') this.nodeBreakers.forgetNode(e.node);
    });
    this.control.addStatusSection('breakers', () => this.nodeBreakers.states());
    registerPoolMetrics(this.metrics, () => this.pools.status());
    this.kpis = new KpiSampler({
      metrics: this.metrics,
      clock,
      onError: (err) => logger.debug({ err }, 'KPI sample failed'),
      memory: async () => {
        if (this.nodeMemory === undefined || this.nodeMemory.state !== 'ready') return undefined;
        const s = await this.memory.stats();
        return { documents: s.documents, queued: s.queued, breaker: s.breaker };
      },
    });
    this.control.addStatusSection('kpis', () => this.kpis.section());
    this.kpis.start();
    this.natsService = new NodeService(this);
    this.membership.start();
    this.control.start();
    this.timers.start();
    internalsOf.set(this, {
      system: this.system,
      transport: this.transport,
      membership: this.membership,
      virtual: this.virtual,
      control: this.control,
      pools: this.pools,
      nodeBreakers: this.nodeBreakers,
    });
    this.natsService.start();
  }

  /**
   * Starts a node. With no `nats` option (and no HIVE_NATS_URL) it runs on the in-process transport;
   * with one it connects to NATS. Throws `INVALID_CONFIG` naming a bad option, `UNAVAILABLE` when NATS cannot be reached.
   */
  static async start(options: HiveStartOptions = {}): Promise<Hive> {
    const { transport: given, clock = systemClock, ids = new RandomIds(), logger: givenLogger, env, supervision, memory, ...rest } = options;
    const config = resolveConfig(rest, env === false ? {} : (env ?? process.env));
    const logger = givenLogger ?? createLogger({ level: config.logLevel, format: config.logFormat, nodeId: config.nodeId, cluster: config.cluster });
    let transport: Transport;
    if (given !== undefined) transport = given;
    else if (config.nats !== undefined) {
      const fromEnv = env === false ? {} : natsOptionsFromEnv(env ?? process.env);
      transport = await NatsTransport.connect({ ...fromEnv, ...config.nats, name: `hive-${config.cluster}-${config.nodeId}` }, { clock, logger, jsReplicas: config.jsReplicas });
    }
    else transport = new InProcTransport(undefined, clock, ids);
    const stores = await openStores(transport, config.cluster, logger);
    const hive = new Hive(config, transport, clock, ids, logger, stores, supervision);
    logger.debug({ transport: transport.description }, 'node started');
    if (memory !== undefined && memory !== false) {
      try {
        await hive.startMemory(memory === true ? {} : memory);
      } catch (err) {
        await hive.stop();
        throw err;
      }
    }
    return hive;
  }

  /**
   * Starts semantic memory on this node (what `Hive.start({ memory })` does): the memory actor
   * `memory-<nodeId>`, the subject `hive.<cluster>.memory`, the durable ingestion queue. Resolves before the
   * store has opened (it opens in the background; requests wait for it). Calling it again returns the same.
   */
  startMemory(options: MemoryOptions = {}): Promise<NodeMemory> {
    this.memoryStarting ??= NodeMemory.start(
      {
        system: this.system,
        transport: this.transport,
        logger: this.logger,
        metrics: this.metrics,
        spawn: (logic, o) => this.spawn(logic, o),
        isLive: (node) => this.membership.waitFor((live) => live.some((m) => m.node === node), this.clock.now() + this.config.failureAfterMs),
      },
      options,
    ).then(
      (m) => {
        this.nodeMemory = m;
        this.control.addStatusSection('memory', () => m.status());
        return m;
      },
      (err: unknown) => {
        this.memoryStarting = undefined;
        throw err;
      },
    );
    return this.memoryStarting;
  }

  /** This node's memory for health checks: `off` (no memory here), `starting`, or its memory actor's state (`opening`, `ready`, `degraded`, `closing`, `closed`). */
  get memoryState(): string {
    if (this.nodeMemory !== undefined) return this.nodeMemory.state;
    return this.memoryStarting === undefined ? 'off' : 'starting';
  }

  /** This node's id. */
  get nodeId(): string {
    return this.config.nodeId;
  }

  /** The cluster name. */
  get cluster(): string {
    return this.config.cluster;
  }

  /** Messages that could not be delivered: counted, observable. */
  get deadLetters(): DeadLetters {
    return this.system.deadLetters;
  }

  /**
   * Spawns an xstate machine (or any xstate actor logic) as an actor on this node, supervised by the node's
   * root supervisor. By default it is `permanent` (restarted after a failure, after the root's backoff, under
   * the same id) and restarts `fresh` (from its input); `supervision: { restart: 'transient' | 'temporary',
   * from: 'snapshot' }` changes that. An actor stopped with `ref.stop()` is never restarted.
   * @example const ref = await hive.spawn(machine, { id: 'echo-1', input: {}, supervision: { from: 'snapshot' } });
   */
  async spawn<TLogic extends AnyActorLogic>(logic: TLogic, options: HiveSpawnOptions = {}): Promise<ActorRef> {
    const ref = this.supervision.supervise(logic, options);
    // resolve once the server has the actor's subscription, so other nodes can reach it right away
    if (options.localOnly !== true && this.transport.connected) await this.flushSoon();
    return ref;
  }

  private flushing: Promise<void> | undefined;

  /** One transport flush shared by everything that asks for one in the same turn. */
  private flushSoon(): Promise<void> {
    this.flushing ??= Promise.resolve()
      .then(() => this.transport.flush())
      .catch(() => undefined)
      .finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /**
   * Starts a named supervisor (its actor id, local to this node) under the node's root supervisor, with its
   * children, e.g. `hive.supervisor('db', { strategy: 'rest-for-one', children: [{ id: 'conn', logic }] })`.
   * Throws `INVALID_ARGUMENT` for bad options, `DUPLICATE_ACTOR` for a taken id.
   */
  async supervisor(name: string, options: NamedSupervisorOptions = {}): Promise<Supervisor> {
    return this.supervision.supervisor(name, options);
  }

  /** Listens to what this node's supervisors do (restarts, removals, escalations); returns an unsubscribe function. */
  onSupervision(listener: (e: SupervisionEvent) => void): () => void {
    return this.supervision.signals.subscribe(listener);
  }

  /** A ref to the actor with this id, wherever it lives in the cluster. Throws `INVALID_ID` for a bad id. */
  ref(id: string): ActorRef {
    return this.system.ref(id);
  }

  /**
   * Registers `kind` on this node: `hive spawn <kind>` and other nodes can spawn it here, and
   * `hive.actor(kind, key)` can activate it here. Kinds are subject tokens without `--`.
   */
  register(kind: string, logic: AnyActorLogic): Promise<void> {
    this.virtual.register(kind, logic);
    // resolves once the server has the kind's subscription (callers may ignore it)
    return this.transport.connected ? this.flushSoon() : Promise.resolve();
  }

  /**
   * The virtual actor `kind`/`key`: activated on first message on the node placement picks, exactly once in
   * the cluster, re-activated elsewhere from its persisted state when its node dies.
   * Reachable by anyone at `hive.<cluster>.kind.<kind>.<key>`.
   */
  actor(kind: string, key: string): VirtualRef {
    return this.virtual.ref(kind, key);
  }

  /**
   * Creates pool `name` on this node: agents that run `options.agent` on tasks from a durable queue. Call it on
   * every node that should run the pool's agents; the pool's size is split over them.
   * @example
   * const pool = await hive.pool('summarize', { agent: async (task, ctx) => ({ summary: '...' }), min: 4, max: 32, strategy: 'p2c' });
   * const result = await pool.submit({ text: '...' }, { key: 'conversation-42', timeoutMs: 30_000 });
   */
  pool<TTask = unknown, TResult = unknown>(name: string, options: PoolOptions<TTask, TResult>): Promise<Pool<TTask, TResult>> {
    return this.pools.create(name, options);
  }

  /** Submits a task to pool `name` from this node, whether or not it hosts the pool. */
  submit(name: string, task: unknown, options: SubmitOptions = {}): Promise<unknown> {
    return this.pools.submit(name, task, options);
  }

  /**
   * Streams the chunks of a task on pool `name` from any node (see `Pool.submitStream`): the agent's handler
   * yields them (`async function*`), they arrive through a credit window; breaking out of the loop cancels the task.
   * @example
   * for await (const token of hive.submitStream<string>('writers', { prompt: 'hi' })) process.stdout.write(token);
   */
  submitStream<T = unknown>(name: string, task: unknown, options: SubmitStreamOptions = {}): ChunkStream<T> {
    return this.pools.submitStream<T>(name, task, options);
  }

  /**
   * The cluster-wide limiter `name`, the same limit on every node (its state lives in NATS KV; nodes lease
   * tokens from it and hand them out locally). With options it (re)defines the limiter for the cluster; a bad
   * option throws `INVALID_CONFIG` naming it. `take(n)` waits for capacity and never fails for lack of it.
   * @example
   * const openai = hive.limiter('openai', { requestsPerMinute: 500, tokensPerMinute: 90_000, maxConcurrent: 20 });
   * const permit = await openai.take(estimatedTokens, { signal });
   * try { await callTheModel(); } finally { permit.release(); }
   */
  limiter(name: string, options?: LimiterOptions): Limiter {
    return this.limits.limiter(name, options);
  }

  /**
   * The cluster-wide budget `name` (durable in NATS KV, the same figure on every node). With options it
   * (re)defines it; `charge(cost)` rejects with `BUDGET_EXHAUSTED` once the period is spent.
   * @example
   * const team = hive.budget('team-a', { limit: 50, per: 'day' });
   * await team.charge(0.12);
   */
  budget(name: string, options?: BudgetOptions): Budget {
    return this.limits.budget(name, options);
  }

  /**
   * A durable timer: delivers `event` (with `timerId` added) to `target` — an actor id, `{ kind, key }` (a
   * virtual actor, activated if needed) or `{ pool }` (the event becomes a task) — at `at` or after `afterMs`.
   * Stored in NATS KV, fired by whichever node owns the timers, so it survives the node that set it; at least
   * once, de-duplicated by `id` (scheduling a pending id again changes nothing). A time in the past fires at
   * once; more than `MAX_SCHEDULE_MS` (366 days) ahead is refused with `INVALID_ARGUMENT`.
   * @example await hive.schedule({ kind: 'approval', key: 'req-42' }, { type: 'timeout' }, { afterMs: 86_400_000, id: 'approval-req-42' });
   */
  schedule(target: TimerTarget, event: HiveEvent, options: ScheduleOptions): Promise<ScheduledTimer> {
    return this.timers.schedule(target, event, options);
  }

  /** Cancels the pending timer `id`; resolves false when there was none (already fired, or never set). */
  cancelSchedule(id: string): Promise<boolean> {
    return this.timers.cancel(id);
  }

  /** Live nodes of the cluster as this node sees them (itself included). */
  members(): Member[] {
    return this.membership.live();
  }

  /** Listens to nodes joining, leaving and failing. */
  onMembership(listener: (e: MembershipEvent) => void): () => void {
    return this.membership.subscribe(listener);
  }

  /** This node's status (what `hive status` shows for it). */
  status(): NodeStatus {
    return this.control.status();
  }

  /** Listens to actor lifecycle events (spawned, stopped, done, failed) on this node. */
  onLifecycle(listener: (e: ActorLifecycleEvent) => void): () => void {
    return this.system.onLifecycle(listener);
  }

  /** Stops every actor on this node, then drains and closes the transport. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.control.stop();
      this.kpis.stop();
      this.natsService.stop();
      await this.pools.stop();
      await this.limits.stop();
      await this.timers.stop();
      await (this.memoryStarting?.catch(() => undefined) ?? Promise.resolve());
      await this.nodeMemory?.stop();
      await this.virtual.stop();
      this.membership.stop();
      this.nodeBreakers.dispose();
      await this.system.stop();
      await this.transport.close();
      this.logger.debug('node stopped');
      this.logger.flush?.();
    })();
    return this.stopping;
  }
}
