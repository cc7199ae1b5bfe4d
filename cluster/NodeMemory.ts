// Memory on a node: picks the store (PostgreSQL when a database URL is given, else embedded PGlite under
// `<dataDir>/memory`), opens it in the background, opens the durable ingestion queue (JetStream over NATS, in
// memory in-process), builds the MemoryParts and spawns the memory actor `memory-<nodeId>` (whose machine opens
// and closes them), and serves the cluster
// subject `hive.<cluster>.memory` (queue group `hive-memory`). `Memory` is the handle code uses (`hive.memory`).
import { redactUrl } from '../runtime/redact.js';
import { assertToken } from '../protocols/subjects.js';
import { memoryNamespaceSubject, namespaceOfRequest, scopeToNamespace } from '../actors/memory/namespaceScope.js';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { AnyActorLogic } from 'xstate';
import type { Embedder } from '../actors/memory/Embedder.js';
import { HttpEmbedder } from '../actors/memory/HttpEmbedder.js';
import { MemoryParts, type MemoryIngestOptions } from '../actors/memory/MemoryParts.js';
import { memoryLifecycle, memoryMachine, type MemoryLifecycle, type MemoryMachineContext, type MemoryMachineInput } from '../actors/memory/memoryMachine.js';
import {
  MEMORY_QUEUE_GROUP,
  memoryActorId,
  memorySubject,
  type IngestedAnswer,
  type QueuedAnswer,
  type StatsAnswer,
} from '../actors/memory/memoryProtocol.js';
import { resolveStoreOptions, type MemoryStore, type MemoryStoreOptions, type SearchHit } from '../actors/memory/MemoryStore.js';
import { PgliteStore } from '../actors/memory/PgliteStore.js';
import { PgStore } from '../actors/memory/PgStore.js';
import type { QueryCacheOptions } from '../actors/memory/QueryCache.js';
import type { BreakerOptions } from '../actors/breaker/breakerOptions.js';
import type { HiveEvent } from '../protocols/envelope.js';
import type { MemoryApi, MemoryIngestCall, MemorySearch } from '../actors/memory/MemoryApi.js';
import { ConfigError, NoSuchActorError } from '../protocols/errors.js';
import type { ActorRef } from '../runtime/ActorRef.js';
import type { ActorSystem } from '../runtime/ActorSystem.js';
import { InProcTransport } from '../runtime/InProcTransport.js';
import type { Logger } from '../runtime/logger.js';
import type { MetricsRegistry } from '../runtime/metrics.js';
import type { InboundRequest } from '../runtime/Transit.js';
import type { Transport, TransportSubscription } from '../runtime/Transport.js';
import { MemoryWorkQueue, workQueueLimitsOf, type WorkQueue } from '../runtime/WorkQueue.js';
import { JetStreamWorkQueue } from './JetStreamWorkQueue.js';
import { NatsTransport } from './NatsTransport.js';
import { MemoryClaim } from './MemoryClaim.js';
import { NatsKeyValue } from './NatsKeyValue.js';

/** How a node's memory is set up (`Hive.start({ memory: true | MemoryOptions })`). Every field is optional. */
export interface MemoryOptions extends MemoryStoreOptions {
  /** PostgreSQL URL (default: the node's `database` option / HIVE_DATABASE_URL; none: embedded PGlite). */
  database?: string;
  /** PGlite data folder (default `<dataDir>/memory`). */
  dataDir?: string;
  /** Use this store instead (tests, benchmarks, another backend); the node does not close it. */
  store?: MemoryStore;
  /** Texts without an embedding and text queries are embedded with this (default: the built-in HashingEmbedder). */
  embedder?: Embedder;
  /** Search result cache (LRU + TTL, invalidated by writes), or false for none. */
  cache?: QueryCacheOptions | false;
  /** Circuit breaker around the database, or false for none. */
  breaker?: BreakerOptions | false;
  /** Durable ingestion: batch size, consumers, ack wait. */
  ingest?: MemoryIngestOptions;
  /** PostgreSQL pool size (default: consumers + 3). */
  poolSize?: number;
  /** Ms to wait for a PostgreSQL connection (default 5,000). */
  connectTimeoutMs?: number;
  /**
   * How long a JSON request on `hive.<cluster>.memory` (the NATS CLI's, which carries no deadline) may take
   * before it is answered TIMEOUT (default 120,000 ms). A binary request carries its caller's deadline.
   */
  requestTimeoutMs?: number;
  /**
   * Build the HNSW index once the store holds this many documents (default 10,000): below that, searches scan
   * exactly and loads skip index maintenance (about 10x faster). false: never (then `deferIndex: false`
   * creates it at open). A store the node makes defers its index unless `deferIndex` says otherwise.
   */
  indexAfterDocs?: number | false;
  /** Memory requests running at once on this node (default 64); more wait in the memory actor. */
  concurrency?: number;
  /** Requests waiting in the memory actor beyond those (default 1,024); more are answered OVERLOADED. */
  maxQueued?: number;
  /** Quiet time after the last commit before that index build starts (default 1.5 x the ingestion ack wait, at least 1 s). */
  indexIdleMs?: number;
}

/** What {@link NodeMemory} needs from its node. */
export interface NodeMemoryDeps {
  system: ActorSystem;
  transport: Transport;
  logger: Logger;
  metrics: MetricsRegistry;
  /** Spawns the memory actor (supervised by the node's root supervisor). */
  spawn: (logic: AnyActorLogic, options: { id: string; input: unknown; kind: string }) => Promise<ActorRef>;
  /** Whether a node is live (membership): decides when another node takes over the cluster's memory. */
  isLive?: (node: string) => Promise<boolean>;
}

/**
 * Memory options from the environment, for `hive start`: HIVE_MEMORY_SCHEMA (the schema holding the
 * documents table, default `hive`), HIVE_MEMORY_ACK_WAIT_MS (how long a queued batch held by a node that
 * died waits before another node takes it, default 10,000), and an OpenAI-compatible embedder:
 * HIVE_EMBEDDER_URL, HIVE_EMBEDDER_MODEL, HIVE_EMBEDDER_DIMS (the store's dims too) and HIVE_EMBEDDER_API_KEY.
 * Throws INVALID_CONFIG naming the variable.
 */
export function memoryOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): MemoryOptions {
  const out: MemoryOptions = {};
  const schema = env['HIVE_MEMORY_SCHEMA'];
  if (schema !== undefined && schema !== '') out.schema = schema;
  const ack = env['HIVE_MEMORY_ACK_WAIT_MS'];
  if (ack !== undefined && ack !== '') {
    const n = Number(ack);
    if (!Number.isInteger(n) || n < 100) throw new ConfigError(`HIVE_MEMORY_ACK_WAIT_MS must be an integer number of ms >= 100, got ${JSON.stringify(ack)}`, { details: { option: 'ingest.ackWaitMs' } });
    out.ingest = { ackWaitMs: n };
  }
  const url = env['HIVE_EMBEDDER_URL'];
  if (url !== undefined && url !== '') {
    const model = env['HIVE_EMBEDDER_MODEL'];
    if (model === undefined || model === '') throw new ConfigError('HIVE_EMBEDDER_MODEL (--embedder-model) is required with HIVE_EMBEDDER_URL', { details: { option: 'embedder.model' } });
    const rawDims = env['HIVE_EMBEDDER_DIMS'];
    const dims = Number(rawDims);
    if (rawDims === undefined || !Number.isInteger(dims) || dims < 1 || dims > 16_000) {
      throw new ConfigError(`HIVE_EMBEDDER_DIMS (--embedder-dims) must be the model's dimension, an integer 1..16000, got ${JSON.stringify(rawDims)}`, { details: { option: 'embedder.dims' } });
    }
    const key = env['HIVE_EMBEDDER_API_KEY'];
    try {
      out.embedder = new HttpEmbedder({ url, model, dims, ...(key !== undefined && key !== '' && { apiKey: key }) });
    } catch (err) {
      throw new ConfigError(`HIVE_EMBEDDER_URL: ${(err as Error).message}`, { cause: err, details: { option: 'embedder.url' } });
    }
    out.dims = dims;
  }
  return out;
}

/** What a node's memory will use, for banners: `PostgreSQL <url>` (password hidden) or `PGlite <folder>`. */
export function describeMemory(config: { database: string | undefined; dataDir: string }, options: MemoryOptions = {}): string {
  const database = options.database ?? config.database;
  if (options.store !== undefined) return 'a given store';
  return database !== undefined ? `PostgreSQL ${redactUrl(database)}` : `PGlite ${resolve(options.dataDir ?? join(config.dataDir, 'memory'))}`;
}

/** In-process nodes on one bus share the ingestion queue of a cluster, as NATS nodes share JetStream. */
const memoryQueues = new WeakMap<object, Map<string, MemoryWorkQueue>>();


/** The memory of one node: its store, parts, actor and subject. */
export class NodeMemory {
  /** The memory actor's id (`memory-<nodeId>`). */
  readonly actorId: string;
  readonly parts: MemoryParts;
  /** `PostgreSQL <url>` or `PGlite <folder>`, for banners and status. */
  readonly description: string;
  private readonly ownsStore: boolean;
  private sub: TransportSubscription | undefined;
  private nsSub: TransportSubscription | undefined;
  private claim: MemoryClaim | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly deps: NodeMemoryDeps,
    parts: MemoryParts,
    description: string,
    ownsStore: boolean,
  ) {
    this.parts = parts;
    this.description = description;
    this.ownsStore = ownsStore;
    this.actorId = memoryActorId(deps.system.config.nodeId);
  }

  /**
   * Creates the node's memory and starts opening its store in the background; resolves once the memory
   * actor and the subject are up (before the store has opened: requests wait for it).
   */
  static async start(deps: NodeMemoryDeps, options: MemoryOptions = {}): Promise<NodeMemory> {
    const { system, transport, logger, metrics } = deps;
    const config = system.config;
    const {
      database = config.database,
      dataDir,
      store: given,
      embedder,
      cache,
      breaker,
      ingest = {},
      poolSize,
      connectTimeoutMs,
      requestTimeoutMs = 120_000,
      indexAfterDocs = 10_000,
      indexIdleMs,
      concurrency,
      maxQueued,
      ...explicitStoreOptions
    } = options;
    const storeOptions: MemoryStoreOptions = { deferIndex: indexAfterDocs !== false, ...explicitStoreOptions };
    const resolved = resolveStoreOptions(storeOptions);
    let store: MemoryStore;
    let backend: string;
    let description: string;
    let identity: string;
    if (given !== undefined) {
      store = given;
      backend = given instanceof PgliteStore ? 'pglite' : given instanceof PgStore ? 'postgres' : 'custom';
      description = `${backend} (given store)`;
      identity = `given:${config.nodeId}`;
    } else if (database !== undefined) {
      if (!/^postgres(ql)?:\/\//.test(database)) throw new ConfigError(`memory option database must be a postgres:// URL`, { details: { option: 'database' } });
      store = new PgStore({
        ...storeOptions,
        metrics,
        logger,
        url: database,
        poolSize: poolSize ?? (ingest.consumers ?? 3) + 3,
        ...(connectTimeoutMs !== undefined && { connectTimeoutMs }),
      });
      backend = 'postgres';
      description = `PostgreSQL ${redactUrl(database)}`;
      const u = new URL(database);
      identity = `pg:${u.hostname}:${u.port}${u.pathname}`;
    } else {
      const folder = resolve(dataDir ?? join(config.dataDir, 'memory'));
      mkdirSync(dirname(folder), { recursive: true }); // PGlite creates the folder itself, not its parents
      store = new PgliteStore({ ...storeOptions, metrics, dataDir: folder, workers: resolved.workers ?? 0 });
      backend = 'pglite';
      description = `PGlite ${folder}`;
      identity = `pglite:${hostname()}:${folder}`;
    }
    identity += `:${resolved.schema}.${resolved.table}`;
    const consumers = ingest.consumers ?? (backend === 'pglite' ? 1 : 3);
    const queueName = `_memory-${createHash('sha1').update(identity).digest('hex').slice(0, 12)}`;
    const queue = openQueue(transport, config.cluster, system);
    const maxPayload = transport instanceof NatsTransport ? transport.maxPayload : transport instanceof InProcTransport ? transport.bus.maxPayload : 1024 * 1024;
    const batchBytes = ingest.batchBytes ?? Math.max(64 * 1024, Math.min(maxPayload, 8 * 1024 * 1024) - 64 * 1024);
    let parts: MemoryParts;
    try {
      parts = new MemoryParts({
        store,
        backend,
        queue: await queue,
        queueName,
        transport,
        cluster: config.cluster,
        nodeId: config.nodeId,
        clock: system.clock,
        logger,
        metrics,
        ...(embedder !== undefined && { embedder }),
        ...(breaker !== undefined && { breaker }),
        ...(cache !== undefined && { cache }),
        ingest: { ...ingest, consumers, batchBytes },
        limits: { maxContentBytes: resolved.maxContentBytes, maxMetadataBytes: resolved.maxMetadataBytes },
        // embedded PGlite loads on this thread anyway: encoding inline spares a worker thread's memory (footprint)
        ...((resolved.workers !== undefined || backend === 'pglite') && { encoderWorkers: resolved.workers ?? 0 }),
      });
    } catch (err) {
      if (given === undefined) await store.close().catch(() => undefined);
      throw err;
    }
    const node = new NodeMemory(deps, parts, description, given === undefined);
    const input: MemoryMachineInput = { parts, indexAfterDocs, ...(indexIdleMs !== undefined && { indexIdleMs }), ...(concurrency !== undefined && { concurrency }), ...(maxQueued !== undefined && { maxQueued }) };
    await deps.spawn(memoryMachine, { id: node.actorId, input, kind: 'memory' });
    const serve = (on: boolean): void => {
      if (on) {
        node.sub ??= system.transit.serve(memorySubject(config.cluster), node.onRequest, { queue: MEMORY_QUEUE_GROUP, defaultTimeoutMs: requestTimeoutMs });
        // `hive.<cluster>.memory.<namespace>`: that namespace only (a NATS permission can grant one tenant one namespace)
        node.nsSub ??= system.transit.serve(`${memorySubject(config.cluster)}.*`, node.onNamespaceRequest, { queue: MEMORY_QUEUE_GROUP, defaultTimeoutMs: requestTimeoutMs });
      } else {
        node.sub?.unsubscribe();
        node.sub = undefined;
        node.nsSub?.unsubscribe();
        node.nsSub = undefined;
      }
    };
    if (transport.connected) {
      // one memory per cluster: the cluster subject belongs to one store (see MemoryClaim)
      const kv = transport instanceof NatsTransport && deps.isLive !== undefined ? await NatsKeyValue.open(transport, `hive_${config.cluster}_memory`).catch(() => undefined) : undefined;
      if (kv !== undefined && deps.isLive !== undefined) {
        node.claim = new MemoryClaim({ kv, store: identity, shared: backend === 'postgres', node: config.nodeId, isLive: deps.isLive, clock: system.clock, logger, checkMs: config.failureAfterMs, serve });
        await node.claim.start();
      } else serve(true);
    }
    return node;
  }

  /**
   * A request on `hive.<cluster>.memory` (through the transit): handed to the local memory actor with the
   * caller's deadline (a JSON request from the NATS CLI gets `requestTimeoutMs`) and signal.
   */
  private readonly onRequest = (req: InboundRequest, event: HiveEvent = req.event): void => {
    const { system } = this.deps;
    if (!req.isAsk) {
      try {
        system.tell(this.actorId, event);
      } catch (err) {
        this.deps.logger.warn({ err }, 'memory request dropped');
      }
      return;
    }
    system.ask(this.actorId, event, { deadline: req.deadline, inbound: req }).then(
      (answer) => req.ok(answer),
      (err: unknown) => req.fail(err),
    );
  };

  /** A request on `hive.<cluster>.memory.<namespace>`: checked to touch that namespace only (an error is answered by the transit). */
  private readonly onNamespaceRequest = (req: InboundRequest): void => {
    const namespace = assertToken(req.subject.slice(req.subject.lastIndexOf('.') + 1), 'memory namespace');
    this.onRequest(req, scopeToNamespace(req.event, namespace));
  };

  private snapshot(): { value: unknown; context: MemoryMachineContext | undefined } {
    const s = this.deps.system.localActor(this.actorId)?.getSnapshot() as { value: unknown; context: MemoryMachineContext } | undefined;
    return { value: s?.value ?? 'closed', context: s?.context };
  }

  /** The memory actor's lifecycle state: `opening`, `ready`, `degraded` (database down, breaker open), `closing`, `closed`. */
  get state(): MemoryLifecycle {
    return memoryLifecycle(this.snapshot().value).state;
  }

  /** Calls `listener` on each lifecycle change; returns an unsubscribe function. */
  onState(listener: (s: MemoryLifecycle) => void): () => void {
    const actor = this.deps.system.localActor(this.actorId);
    if (actor === undefined) return () => undefined;
    let last: MemoryLifecycle | undefined;
    const sub = actor.subscribe((s: { value: unknown }) => {
      const state = memoryLifecycle(s.value).state;
      if (state === last) return;
      last = state;
      try {
        listener(state);
      } catch {
        // a listener's failure is its own
      }
    });
    return () => sub.unsubscribe();
  }

  /** Status for `hive status`. */
  status(): Record<string, unknown> {
    const { value, context } = this.snapshot();
    const { state, index } = memoryLifecycle(value);
    return {
      actor: this.actorId,
      store: this.description,
      // whether this node answers on the cluster subject, and whose store the cluster's memory is
      cluster: this.claim === undefined ? true : this.claim.answersForCluster,
      ...(this.claim?.owner !== undefined && { owner: this.claim.owner.node }),
      backend: this.parts.backend,
      state,
      index,
      breaker: this.parts.db.breaker?.state ?? 'none',
      cache: this.parts.search.cache?.stats(),
      committing: this.parts.committer.committing,
      waiting: this.parts.notices.waiting,
      requests: { running: context?.running ?? 0, queued: context?.waiting.length ?? 0 },
    };
  }

  /** False when this node's store is not the cluster's memory (another node's is): its `hive.memory` then goes to the cluster's. */
  get answersForCluster(): boolean {
    return this.claim === undefined || this.claim.answersForCluster;
  }

  /** Stops serving, lets batches being committed finish, stops the actor and closes the store (when it made it). */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.claim?.stop();
      this.sub?.unsubscribe();
      this.sub = undefined;
      this.nsSub?.unsubscribe();
      this.nsSub = undefined;
      // the machine closes the parts (batches being committed finish, waiting ingests are answered)
      await this.deps.system.ask(this.actorId, { type: 'hive.memory.close' }, { timeoutMs: 120_000 }).catch((err: unknown) => {
        this.deps.logger.warn({ err }, 'memory did not close cleanly');
        return this.parts.close().catch(() => undefined);
      });
      await this.deps.system.stopActor(this.actorId);
      if (this.ownsStore) await this.parts.store.close().catch((err: unknown) => this.deps.logger.warn({ err }, 'closing the memory store failed'));
    })();
    return this.stopping;
  }
}

async function openQueue(transport: Transport, cluster: string, system: ActorSystem): Promise<WorkQueue> {
  if (transport instanceof NatsTransport) return JetStreamWorkQueue.open(transport, cluster, { limits: workQueueLimitsOf(system.config), metrics: system.metrics, logger: system.logger });
  const key = transport instanceof InProcTransport ? transport.bus : transport;
  let byCluster = memoryQueues.get(key);
  if (byCluster === undefined) memoryQueues.set(key, (byCluster = new Map<string, MemoryWorkQueue>()));
  let q = byCluster.get(cluster);
  if (q === undefined) byCluster.set(cluster, (q = new MemoryWorkQueue(system.clock, workQueueLimitsOf(system.config))));
  return q;
}

export type { MemorySearch, MemoryIngestCall } from '../actors/memory/MemoryApi.js';

/**
 * Semantic memory from code (`hive.memory`, and `ctx.memory` in pool agents): the node's own memory actor
 * when the node has memory, else the cluster's (`hive.<cluster>.memory` over NATS).
 *
 * ```ts
 * await hive.memory.ingest([{ id: 'a', namespace: 'docs', content: 'pgvector stores embeddings' }]);
 * const hits = await hive.memory.search({ namespace: 'docs', text: 'where are embeddings stored?', k: 5 });
 * ```
 */
export class Memory implements MemoryApi {
  /** @internal */
  constructor(
    private readonly system: ActorSystem,
    private readonly local: () => string | undefined,
  ) {}

  /** True when this node has its own memory (otherwise calls go to the cluster's). */
  get isLocal(): boolean {
    return this.local() !== undefined;
  }

  /**
   * Stores documents `{ id?, namespace?, content, metadata?, embedding? }` (embedding the content of those
   * without one). Resolves with inserted / duplicates / rejected (each rejection names the document's index
   * and the field), or with `wait: false` once they are durably queued.
   */
  ingest(docs: readonly unknown[], options?: MemoryIngestCall & { wait?: true }): Promise<IngestedAnswer>;
  ingest(docs: readonly unknown[], options: MemoryIngestCall & { wait: false }): Promise<QueuedAnswer>;
  ingest(docs: readonly unknown[], options: MemoryIngestCall = {}): Promise<IngestedAnswer | QueuedAnswer> {
    const event: HiveEvent = { type: 'memory.ingest', docs: docs };
    if (options.namespace !== undefined) event['namespace'] = options.namespace;
    if (options.wait !== undefined) event['wait'] = options.wait;
    return this.request(event, options.timeoutMs ?? 600_000) as unknown as Promise<IngestedAnswer | QueuedAnswer>;
  }

  /** The k nearest documents to a text or vector in a namespace, best first (score: cosine similarity). */
  async search(query: MemorySearch): Promise<SearchHit[]> {
    const { timeoutMs = 60_000, ...q } = query;
    const answer = (await this.request({ type: 'memory.search', ...q }, timeoutMs)) as unknown as { hits: SearchHit[] };
    return answer.hits;
  }

  /** Deletes the given ids of a namespace, or the whole namespace; resolves with the number deleted. */
  async delete(namespace: string, ids?: readonly string[]): Promise<number> {
    const event: HiveEvent = { type: 'memory.delete', namespace };
    if (ids !== undefined) event['ids'] = [...ids];
    return ((await this.request(event, 60_000)) as unknown as { deleted: number }).deleted;
  }

  /** Document counts (per namespace), table and index bytes, cache hit rate, queue depth, breaker state. */
  async stats(namespace?: string): Promise<StatsAnswer> {
    const event: HiveEvent = { type: 'memory.stats' };
    if (namespace !== undefined) event['namespace'] = namespace;
    return (await this.request(event, 60_000)) as unknown as StatsAnswer;
  }

  private async request(event: HiveEvent, timeoutMs: number): Promise<HiveEvent> {
    const id = this.local();
    if (id !== undefined) return this.system.ask(id, event, { timeoutMs });
    const { transport, config } = this.system;
    if (!transport.connected) {
      throw new NoSuchActorError('this node has no memory (start it with memory: true) and is not connected to a cluster', { details: { subject: memorySubject(config.cluster) } });
    }
    const ns = namespaceOfRequest(event);
    return this.system.transit.request(ns === undefined ? memorySubject(config.cluster) : memoryNamespaceSubject(config.cluster, ns), event, {
      timeoutMs,
      what: 'memory',
      noResponders: `no node of cluster "${config.cluster}" serves memory (start one with \`hive start\`, or Hive.start({ memory: true }))`,
    });
  }
}
