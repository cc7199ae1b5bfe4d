// NodePools: the pools a node hosts. Opens the durable queue (JetStream over NATS, in memory in-process) and
// the result store, creates a PoolManager and its actor per pool, serves the NATS subject
// `hive.<cluster>.pool.<name>` (a JSON request submits a task and gets its outcome), and reports pool
// counters in the node's status: this node's, and the cluster-wide durable totals (PoolCounters).
import type { MemoryApi } from '../actors/memory/MemoryApi.js';
import { MemoryWorkQueue, workQueueLimitsOf, type WorkQueue } from '../runtime/WorkQueue.js';
import { MemoryKeyValue, type KeyValueStore } from '../runtime/KeyValueStore.js';
import { ConfigError, InvalidArgumentError, NoSuchActorError, errorFromReply } from '../protocols/errors.js';
import { outcomeError } from '../actors/pool/TaskRecord.js';
import { assertToken, poolSubject } from '../protocols/subjects.js';
import type { ActorSystem } from '../runtime/ActorSystem.js';
import type { Transport, TransportSubscription } from '../runtime/Transport.js';
import type { InboundRequest } from '../runtime/Transit.js';
import type { HiveEvent } from '../protocols/envelope.js';
import { Pool, TaskSubmitter } from '../actors/pool/Pool.js';
import type { ChunkStream } from '../runtime/streams/ChunkStream.js';
import { openTaskStream, type SubmitStreamOptions } from '../actors/pool/streamSubmission.js';
import { PoolManager, type PoolPeers, type PoolStats } from '../actors/pool/PoolManager.js';
import { resolvePoolOptions, type PoolOptions } from '../actors/pool/poolOptions.js';
import type { NodeServices } from '../actors/agent/NodeServices.js';
import type { SubmitOptions } from '../actors/pool/Pool.js';
import { InProcTransport } from '../runtime/InProcTransport.js';
import { JetStreamWorkQueue } from './JetStreamWorkQueue.js';
import type { Membership } from './Membership.js';
import { NatsKeyValue } from './NatsKeyValue.js';
import { NatsTransport } from './NatsTransport.js';
import { PoolCounters, type PoolCounts } from './PoolCounters.js';

/** In-process nodes on one bus share their queue and result store, as NATS nodes share JetStream. */
const memoryBackends = new WeakMap<object, { queue: MemoryWorkQueue; results: MemoryKeyValue; stats: MemoryKeyValue }>();

/** A task submission over NATS (`hive.<cluster>.pool.<name>`); a payload without `task` is the task itself. */
interface WireSubmission {
  task?: unknown;
  id?: string;
  key?: string;
  timeoutMs?: number;
  /** false: answer once queued, with the task id, instead of waiting for the outcome. */
  wait?: boolean;
}

/** Longest deadline a submission over NATS may ask for (10 minutes): a waiter lives at most this long. */
export const MAX_WIRE_TIMEOUT_MS = 600_000;

/** The pools of one node. */
export class NodePools {
  private readonly pools = new Map<string, { manager: PoolManager; pool: Pool; sub: TransportSubscription | undefined }>();
  private backends: Promise<{ queue: WorkQueue; results: KeyValueStore; stats: KeyValueStore }> | undefined;
  private submitter: TaskSubmitter | undefined;
  private counters: PoolCounters | undefined;

  constructor(
    private readonly deps: { system: ActorSystem; transport: Transport; membership: Membership; memory?: () => MemoryApi; limits?: NodeServices },
  ) {}

  private open(): Promise<{ queue: WorkQueue; results: KeyValueStore; stats: KeyValueStore }> {
    this.backends ??= (async () => {
      const { transport, system } = this.deps;
      if (transport instanceof NatsTransport) {
        return {
          queue: await JetStreamWorkQueue.open(transport, system.config.cluster, { limits: workQueueLimitsOf(system.config), metrics: system.metrics, logger: system.logger }),
          results: await NatsKeyValue.open(transport, `hive_${system.config.cluster}_results`, { ttlMs: 24 * 3600_000 }),
          stats: await NatsKeyValue.open(transport, `hive_${system.config.cluster}_poolstats`),
        };
      }
      const key = transport instanceof InProcTransport ? transport.bus : transport;
      let b = memoryBackends.get(key);
      if (b === undefined) {
        b = { queue: new MemoryWorkQueue(system.clock, workQueueLimitsOf(system.config)), results: new MemoryKeyValue(), stats: new MemoryKeyValue() };
        memoryBackends.set(key, b);
      }
      return b;
    })().catch((err: unknown) => {
      this.backends = undefined;
      throw err;
    });
    return this.backends;
  }

  /** Pool names on this node. */
  names(): string[] {
    return [...this.pools.keys()];
  }

  /** Creates pool `name` on this node (call it on every node that should run the pool's agents). */
  async create<TTask, TResult>(name: string, options: PoolOptions<TTask, TResult>): Promise<Pool<TTask, TResult>> {
    assertToken(name, 'pool name');
    if (this.pools.has(name)) throw new ConfigError(`pool "${name}" already exists on this node`, { details: { option: 'pool' } });
    const resolved = resolvePoolOptions(options as PoolOptions);
    const { queue, results, stats } = await this.open();
    const { system, transport, membership } = this.deps;
    this.submitter ??= new TaskSubmitter({ system, transport, queue, results, maxWaiters: system.config.maxSubmissionWaiters });
    this.counters ??= new PoolCounters({ kv: stats, node: system.config.nodeId, clock: system.clock, logger: system.logger, local: () => [...this.pools.values()].map((p) => p.manager.status()) });
    await this.counters.adopt(name);
    const peers: PoolPeers = {
      hostsOf: (pool) =>
        membership
          .live()
          .filter((m) => m.pools?.includes(pool) === true || (m.node === system.config.nodeId && this.pools.has(pool)))
          .map((m) => m.node)
          .sort(),
      onChange: (fn) => membership.subscribe(fn),
      othersLoad: (pool) => {
        let busy = 0;
        let capacity = 0;
        for (const m of membership.live()) {
          if (m.node === system.config.nodeId) continue;
          const l = m.poolLoad?.[pool];
          if (l !== undefined) {
            busy += l.busy;
            capacity += l.capacity;
          }
        }
        return { busy, capacity };
      },
    };
    const memory = this.deps.memory?.();
    const manager = new PoolManager({
      name,
      options: resolved,
      system,
      transport,
      queue,
      results,
      peers,
      ...(memory !== undefined && { memory }),
      ...(this.deps.limits !== undefined && { limits: this.deps.limits }),
      ...(resolved.inspect !== undefined && { inspect: resolved.inspect }),
    });
    const pool = new Pool(name, manager, this.submitter, resolved.taskTimeoutMs);
    const sub = transport.connected
      ? system.transit.serve(
          poolSubject(system.config.cluster, name),
          (req) => void this.onWireSubmit(name, req).catch((err: unknown) => this.deps.system.logger.error({ err, pool: name }, 'pool submission handler failed')),
          // a submission may wait for its task up to MAX_WIRE_TIMEOUT_MS (its own timeoutMs), and a little more for the answer
          { queue: `hive-pool-${name}`, defaultTimeoutMs: MAX_WIRE_TIMEOUT_MS + 5_000, jsonBody: (body) => ({ type: 'pool.submit', body }) },
        )
      : undefined;
    this.pools.set(name, { manager, pool, sub });
    membership.beat();
    await manager.start();
    return pool as unknown as Pool<TTask, TResult>;
  }

  /** The pool `name` on this node. */
  get(name: string): Pool | undefined {
    return this.pools.get(name)?.pool;
  }

  /** Submits to a pool by name from this node, whether or not this node hosts it. */
  async submit(name: string, task: unknown, options: SubmitOptions = {}): Promise<unknown> {
    const local = this.pools.get(name);
    if (local !== undefined) return local.pool.submit(task, options);
    const { queue, results } = await this.open();
    this.submitter ??= new TaskSubmitter({ system: this.deps.system, transport: this.deps.transport, queue, results, maxWaiters: this.deps.system.config.maxSubmissionWaiters });
    // right after start the cluster view is still arriving: wait for a host within the task's deadline
    const clock = this.deps.system.clock;
    const started = clock.now();
    const timeoutMs = options.timeoutMs ?? 60_000;
    const hosted = await this.deps.membership.waitFor((live) => live.some((m) => m.pools?.includes(name) === true), started + timeoutMs);
    if (!hosted) throw new NoSuchActorError(`no live node hosts pool "${name}"`, { details: { pool: name } });
    const waited = clock.now() - started;
    const outcome = await this.submitter.submit(name, task, waited > 0 && options.timeoutMs !== undefined ? { ...options, timeoutMs: Math.max(1, timeoutMs - waited) } : options, Math.max(1, 60_000 - waited));
    if (outcome.ok) return outcome.result;
    throw errorFromReply(outcomeError(outcome));
  }

  /** Streams the chunks of a task on pool `name` (see `Pool.submitStream`), whether or not this node hosts it. */
  submitStream<T>(name: string, task: unknown, options: SubmitStreamOptions = {}): ChunkStream<T> {
    const local = this.pools.get(name);
    if (local !== undefined) return local.pool.submitStream<T>(task, options);
    return openTaskStream<T>(this.deps.system, name, options, 60_000, async (o, ref) => {
      assertToken(name, 'pool name');
      const { queue, results } = await this.open();
      this.submitter ??= new TaskSubmitter({ system: this.deps.system, transport: this.deps.transport, queue, results, maxWaiters: this.deps.system.config.maxSubmissionWaiters });
      const hosted = await this.deps.membership.waitFor((live) => live.some((m) => m.pools?.includes(name) === true), this.deps.system.clock.now() + (o.timeoutMs ?? 60_000));
      if (!hosted) throw new NoSuchActorError(`no live node hosts pool "${name}"`, { details: { pool: name } });
      return this.submitter.submit(name, task, o, 60_000, ref);
    });
  }

  /**
   * Queues a task on pool `name` from this node without waiting for its outcome (durable timers use it).
   * Resolves once the queue has it; the same `id` queued again is dropped.
   */
  async enqueue(name: string, task: unknown, id: string, timeoutMs = 60_000): Promise<void> {
    assertToken(name, 'pool name');
    const { queue, results } = await this.open();
    this.submitter ??= new TaskSubmitter({ system: this.deps.system, transport: this.deps.transport, queue, results, maxWaiters: this.deps.system.config.maxSubmissionWaiters });
    await this.submitter.enqueue(name, task, { id }, timeoutMs);
  }

  /**
   * A submission over NATS, served through the transit (its decoding, deadline, cancels, traces and answer
   * path): a JSON body becomes `{ type: 'pool.submit', body }`; a Hive client's binary frame carries that event.
   */
  private async onWireSubmit(name: string, req: InboundRequest): Promise<void> {
    try {
      const raw = req.event['body'] as WireSubmission;
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidArgumentError('a submission must be a JSON object');
      const task = 'task' in raw ? raw.task : raw;
      const options: SubmitOptions = {};
      if (raw.id !== undefined) options.id = raw.id;
      if (raw.key !== undefined) options.key = raw.key;
      if (raw.timeoutMs !== undefined) {
        if (typeof raw.timeoutMs !== 'number' || !(raw.timeoutMs > 0) || raw.timeoutMs > MAX_WIRE_TIMEOUT_MS) {
          throw new InvalidArgumentError(`timeoutMs must be a number from 1 to ${MAX_WIRE_TIMEOUT_MS}, got ${JSON.stringify(raw.timeoutMs)}`, { details: { argument: 'timeoutMs' } });
        }
        options.timeoutMs = raw.timeoutMs;
      }
      const entry = this.pools.get(name);
      if (entry === undefined) throw new NoSuchActorError(`pool "${name}" is not hosted on node "${this.deps.system.config.nodeId}"`);
      if (raw.wait === false || !req.isAsk) {
        // answered "accepted" only once JetStream acknowledged the publish; a failed publish is answered as an error
        const id = await entry.pool.enqueue(task, options);
        req.ok({ type: 'hive.task.accepted', id, pool: name });
        return;
      }
      const outcome = await entry.pool.submitForOutcome(task, options);
      req.ok((outcome.ok ? outcome : { ...outcomeError(outcome), id: outcome.id }) as unknown as HiveEvent);
    } catch (err) {
      // the transit answers (or, for a tell, drops) it; an answer that cannot be sent is logged there, never thrown
      req.fail(err);
    }
  }

  /** Busy and total slots per pool on this node, for heartbeats. */
  load(): Record<string, { busy: number; capacity: number }> {
    const out: Record<string, { busy: number; capacity: number }> = {};
    for (const [name, p] of this.pools) {
      const s = p.manager.status();
      out[name] = { busy: s.busy, capacity: s.capacity };
    }
    return out;
  }

  /**
   * Counters of every pool on this node; `cluster` holds the pool's durable cluster-wide totals (every node
   * that ever counted for it, live or gone, as last read: at most about a second old).
   */
  status(): Array<PoolStats & { cluster: PoolCounts }> {
    return [...this.pools.values()].map((p) => {
      const s = p.manager.status();
      return { ...s, cluster: this.counters?.totalsOf(s) ?? { done: s.done, failed: s.failed, retried: s.retried, deadLettered: s.deadLettered } };
    });
  }

  /** Stops taking tasks and lets running ones finish. */
  async stop(): Promise<void> {
    for (const p of this.pools.values()) p.sub?.unsubscribe();
    await Promise.all([...this.pools.values()].map((p) => p.manager.stop()));
    await this.counters?.stop();
    this.submitter?.stop();
    this.pools.clear();
  }
}
