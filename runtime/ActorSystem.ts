// ActorSystem: one node's actors. Spawns xstate v5 actors with ids, delivers tells and asks through bounded
// mailboxes drained by one scheduler, answers asks (locally without encoding, remotely through the frame
// codec over the Transport), records dead letters, and reports actor lifecycle events to supervisors.
// The hot paths (bench/local-ask.ts, bench/ask.ts) allocate little: one object per pending local ask, ask
// timeouts batched per millisecond (./Timeouts.ts), a cheap latency histogram, and no xstate `can()` call for
// an ask the actor answered while handling it. The scheduler yields to I/O after TURN_BUDGET messages per
// event-loop turn, also when the work arrives through promise continuations. A message from the wire for an idle
// actor is handed to it at once (no mailbox hop).
import { createActor, type AnyActorLogic, type InspectionEvent, type Snapshot } from 'xstate';
import type { HiveEvent } from '../protocols/envelope.js';
import type { HiveError } from '../protocols/errors.js';
import {
  ActorFailedError,
  ActorStoppedError,
  CancelledError,
  DuplicateActorError,
  InvalidEventError,
  NoSuchActorError,
  InvalidArgumentError,
  OverloadedError,
  TimeoutError,
  toHiveError,
} from '../protocols/errors.js';
import { FrameCodec } from '../protocols/frame.js';
import { actorSubject, assertToken } from '../protocols/subjects.js';
import { ActorCell, type CellOwner } from './ActorCell.js';
import { ActorRef } from './ActorRef.js';
import { systemClock, type Clock } from './Clock.js';
import type { HiveConfig } from './config.js';
import { DeadLetters, type DeadLetterReason } from './DeadLetters.js';
import { RandomIds, type IdSource } from './ids.js';
import { silentLogger, type Logger } from './logger.js';
import { MetricsRegistry, type LatencyRecorder } from './metrics.js';
import { abandon, deliveryOf, isAsk, registerReplier, takeReplier, type Replier } from './reply.js';
import { Timeouts, type Expiring, type TimeoutBatch } from './Timeouts.js';
import { Transit, type InboundRequest } from './Transit.js';
import { STREAM_FIELD } from '../protocols/streams.js';
import type { ChunkStream } from './streams/ChunkStream.js';
import type { StreamTarget } from './streams/RemoteSink.js';
import { StreamHub, failedStream, type StreamOptions } from './streams/StreamHub.js';
import type { Transport, TransportMessage } from './Transport.js';

/** Options of {@link ActorSystem.spawn}. */
export interface SpawnOptions<TInput = unknown> {
  /** Actor id: one subject token, unique in the cluster. Generated when omitted. */
  id?: string;
  /** The machine's input. */
  input?: TInput;
  /** A label for status and metrics (a registered kind's name). Default: the machine's id, or `actor`. */
  kind?: string;
  /** Restore from this persisted snapshot instead of starting fresh. */
  snapshot?: Snapshot<unknown>;
  /** Mailbox capacity for this actor (default: the node's `mailboxCapacity`). */
  mailboxCapacity?: number;
  /** Estimated bytes this actor's mailbox holds (default: the node's `mailboxMaxBytes`). */
  mailboxMaxBytes?: number;
  /** Do not subscribe the actor's NATS subject: reachable on this node only. */
  localOnly?: boolean;
  /** An xstate inspection observer for this actor (and the actors it invokes or spawns). */
  inspect?: (event: InspectionEvent) => void;
}

/** Lifecycle events supervisors and status listen to. */
export type ActorLifecycleEvent =
  | { type: 'spawned'; id: string; kind: string }
  | { type: 'stopped'; id: string; kind: string }
  | { type: 'done'; id: string; kind: string; output: unknown }
  | { type: 'failed'; id: string; kind: string; error: HiveError };

/** A short description of a local actor (for `hive status`). */
export interface ActorInfo {
  id: string;
  kind: string;
  status: string;
  mailboxDepth: number;
  handled: number;
  /** Asks the actor accepted and has not answered yet (dropped at their deadline). */
  awaiting: number;
  /** Subscribed on the transport (reachable from other processes); false for local-only actors. */
  reachable: boolean;
}

/** What an actor system needs from its node. */
export interface ActorSystemDeps {
  config: HiveConfig;
  transport: Transport;
  clock?: Clock;
  ids?: IdSource;
  logger?: Logger;
  metrics?: MetricsRegistry;
}

/**
 * Messages handled per event-loop turn before yielding to I/O and timers. Counted over every drain of the turn,
 * including drains started from promise continuations: a closed loop of local asks runs entirely in microtasks
 * and would otherwise never let the event loop move on (no I/O, no timers, no ask timeouts).
 */
const TURN_BUDGET = 4096;
/** Messages one actor handles before the next actor gets its turn. */
const CELL_BATCH = 64;

/**
 * A local ask waiting for its answer: the replier registered for the delivered event and the entry in its
 * timeout batch, in one object (no closures per ask).
 */
class PendingAsk implements Replier, Expiring {
  settled = false;
  batch: TimeoutBatch | undefined = undefined;
  resolve: (e: HiveEvent) => void = noop;
  reject: (e: unknown) => void = noop;
  signal: AbortSignal | undefined = undefined;
  /** Called synchronously when the actor answers (inside the transition that answered). */
  onAnswered: (() => void) | undefined = undefined;
  constructor(
    private readonly hist: LatencyRecorder,
    private readonly started: number,
    /** The event object delivered to the actor (the reply registry's key). */
    private readonly delivered: HiveEvent,
    private readonly cell: ActorCell,
    private readonly timeoutMs: number,
  ) {}
  private get id(): string {
    return this.cell.id;
  }
  ok(answer: HiveEvent): void {
    if (this.settled) return;
    this.settle();
    this.hist.observe((performance.now() - this.started) / 1000);
    this.onAnswered?.();
    this.resolve(answer);
  }
  fail(err: unknown): void {
    if (this.settled) return;
    this.settle();
    this.reject(err);
  }
  expire(): void {
    // Still registered means still unanswered: the asker gets TIMEOUT; not started yet, the actor skips it.
    this.signal?.removeEventListener('abort', this);
    if (!isAsk(this.delivered)) return;
    abandon(this.delivered);
    this.cell.awaiting?.delete(this.delivered);
    const type = this.delivered.type;
    this.reject(new TimeoutError(`ask to actor "${this.id}" (${type}) timed out after ${this.timeoutMs} ms`, { details: { id: this.id, type } }));
  }
  /** The caller's signal fired (an EventListener object: no closure per ask). */
  handleEvent(): void {
    if (this.settled || !isAsk(this.delivered)) return;
    abandon(this.delivered);
    this.cell.awaiting?.delete(this.delivered);
    const type = this.delivered.type;
    this.fail(new CancelledError(`ask to actor "${this.id}" (${type}) was cancelled`, { cause: this.signal?.reason, details: { id: this.id, type } }));
  }
  private settle(): void {
    this.settled = true;
    this.batch?.release(this);
    this.signal?.removeEventListener('abort', this);
  }
}

function noop(): void {}

/** Options of one ask: a budget (or an absolute deadline) and a signal that cancels it. */
export interface AskCallOptions {
  /** Budget from now (default: the node's `askTimeoutMs`). */
  timeoutMs?: number | undefined;
  /** Absolute deadline in epoch ms (wins over `timeoutMs`): a hop passes on the deadline it was given. */
  deadline?: number | undefined;
  /** Aborting it rejects the ask with CANCELLED; a remote actor's node is told to drop it. */
  signal?: AbortSignal | undefined;
  /** @internal Makes the local ask a stream ask whose chunks go to this target (a pool task's submitter). */
  stream?: StreamTarget | undefined;
  /**
   * @internal The served request this ask is made for (a virtual actor's, a memory request's): when it is
   * dropped (cancelled, or its deadline passed) the ask is too, without an AbortSignal per ask. Local actors only.
   */
  inbound?: InboundRequest | undefined;
  /**
   * @internal Local asks only: called synchronously when the actor answers, inside the transition that answered
   * (virtual actors learn which snapshot version holds the answer's change).
   */
  onAnswered?: (() => void) | undefined;
}

/** A served request was dropped: so is the local ask made for it (see AskCallOptions.inbound). */
function abandonPending(req: InboundRequest): void {
  (req.owner as PendingAsk | undefined)?.handleEvent();
}

/** One node's actors and the delivery between them. */
export class ActorSystem {
  readonly config: HiveConfig;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly ids: IdSource;
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
  readonly codec: FrameCodec;
  readonly deadLetters: DeadLetters;
  /** @internal The one wire path: every remote ask and every inbound actor message goes through it. */
  readonly transit: Transit;
  /** @internal Streamed replies (runtime/streams/): this node's stream inbox, credit subject and open streams. */
  readonly streams: StreamHub;

  private readonly cells = new Map<string, ActorCell>();
  private readonly actorPrefix: string;
  private runQueue: ActorCell[] = [];
  private drainScheduled = false;
  /**
   * Messages handled since the scheduler last yielded to I/O (see TURN_BUDGET). Not reset every event-loop turn
   * (that cost a setImmediate per drain): at worst a busy node yields once more than it had to.
   */
  private turnUsed = 0;
  /** The scheduler is handing a message to an actor right now (a delivery then goes through the mailbox). */
  private draining = false;
  private stopped = false;
  private readonly lifecycle = new Set<(e: ActorLifecycleEvent) => void>();
  private delivered = 0;
  private readonly askLocal: LatencyRecorder;
  private readonly timeouts: Timeouts;
  /** Gets the xstate error/complete notifications of every cell (one object for all actors). */
  private readonly cellOwner: CellOwner;

  constructor(deps: ActorSystemDeps) {
    this.config = deps.config;
    this.transport = deps.transport;
    this.clock = deps.clock ?? systemClock;
    this.ids = deps.ids ?? new RandomIds();
    this.logger = deps.logger ?? silentLogger();
    this.metrics = deps.metrics ?? new MetricsRegistry({ cluster: deps.config.cluster, node: deps.config.nodeId }, { processMetrics: false });
    this.codec = new FrameCodec({
      maxMessageBytes: deps.config.maxMessageBytes,
      // Bytes on the in-process transport never leave the process: compressing them is pure cost.
      compressThresholdBytes: deps.transport.kind === 'inproc' ? Infinity : deps.config.compressThresholdBytes,
      compressLevel: deps.config.compressLevel,
      compressFormat: deps.config.compressFormat,
    });
    this.deadLetters = new DeadLetters(this.metrics, deps.config.deadLetterKeep);
    this.actorPrefix = actorSubject(deps.config.cluster, '');
    const askHist = this.metrics.latencyHistogram('hive_ask_duration_seconds', 'Ask round-trip time as the asker sees it', ['target']);
    this.askLocal = askHist.labels('local');
    this.timeouts = new Timeouts(this.clock);
    this.transit = new Transit({
      transport: this.transport,
      codec: this.codec,
      cluster: deps.config.cluster,
      nodeId: deps.config.nodeId,
      maxMessageBytes: deps.config.maxMessageBytes,
      defaultTimeoutMs: deps.config.askTimeoutMs,
      clock: this.clock,
      logger: this.logger,
      metrics: this.metrics,
      latency: askHist.labels('remote'),
    });
    this.transit.listenForCancels();
    this.streams = new StreamHub({ transport: this.transport, codec: this.codec, transit: this.transit, cluster: deps.config.cluster, nodeId: deps.config.nodeId, clock: this.clock, logger: this.logger, metrics: this.metrics });
    this.cellOwner = {
      onActorError: (cell, err) => this.onActorError(cell, err),
      onActorComplete: (cell) => this.onActorComplete(cell),
    };
    this.registerMetrics();
  }

  private registerMetrics(): void {
    const config = this.config;
    this.metrics.gauge('hive_mailbox_limit', "Each mailbox's default bounds on this node (messages, bytes)", ['limit'], function () {
      this.set({ limit: 'messages' }, config.mailboxCapacity);
      this.set({ limit: 'bytes' }, config.mailboxMaxBytes);
    });
    const cells = this.cells;
    this.metrics.gauge('hive_actors', 'Actors living on this node', [], function () {
      this.set(cells.size);
    });
    this.metrics.gauge('hive_mailbox_bytes', 'Estimated bytes waiting in mailboxes on this node behind each first message (sum and max)', ['stat'], function () {
      let sum = 0;
      let max = 0;
      for (const c of cells.values()) {
        const b = c.bytes;
        sum += b;
        if (b > max) max = b;
      }
      this.set({ stat: 'sum' }, sum);
      this.set({ stat: 'max' }, max);
    });
    this.metrics.gauge('hive_mailbox_depth', 'Messages waiting in mailboxes on this node (sum and max)', ['stat'], function () {
      let sum = 0;
      let max = 0;
      for (const c of cells.values()) {
        const d = c.depth;
        sum += d;
        if (d > max) max = d;
      }
      this.set({ stat: 'sum' }, sum);
      this.set({ stat: 'max' }, max);
    });
    const delivered = () => this.delivered;
    this.metrics.gauge('hive_messages_delivered', 'Messages handed to actors on this node since start', [], function () {
      this.set(delivered());
    });
    const codec = this.codec;
    this.metrics.gauge('hive_frame_bytes', 'Frame bytes encoded and decoded (raw body vs wire, compression savings)', ['direction', 'size'], function () {
      const s = codec.stats;
      this.set({ direction: 'out', size: 'raw' }, s.rawBytesOut);
      this.set({ direction: 'out', size: 'wire' }, s.wireBytesOut);
      this.set({ direction: 'in', size: 'raw' }, s.rawBytesIn);
      this.set({ direction: 'in', size: 'wire' }, s.wireBytesIn);
    });
    this.metrics.gauge('hive_frames', 'Frames encoded and decoded', ['direction'], function () {
      this.set({ direction: 'out' }, codec.stats.framesOut);
      this.set({ direction: 'in' }, codec.stats.framesIn);
    });
  }

  // ---------------------------------------------------------------- spawning and lookup

  /**
   * Starts `logic` (an xstate machine or any actor logic) as an actor on this node, reachable by id from
   * every node. Throws `INVALID_ID` for a bad id and `DUPLICATE_ACTOR` when the id is taken on this node.
   */
  spawn<TLogic extends AnyActorLogic>(logic: TLogic, options: SpawnOptions = {}): ActorRef {
    if (this.stopped) throw new ActorStoppedError('this node is stopped');
    const id = options.id === undefined ? this.ids.next() : assertToken(options.id, 'actor id');
    if (this.cells.has(id)) throw new DuplicateActorError(`an actor with id "${id}" already exists on this node`, { details: { id } });
    for (const bound of ['mailboxCapacity', 'mailboxMaxBytes'] as const) {
      const v = options[bound];
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) throw new InvalidArgumentError(`${bound} must be a positive integer, got ${String(v)}`, { details: { argument: bound } });
    }
    const kind = options.kind ?? ((logic as { id?: unknown }).id as string | undefined) ?? 'actor';
    const actorOptions: Record<string, unknown> = { id };
    if (options.input !== undefined) actorOptions['input'] = options.input;
    if (options.snapshot !== undefined) actorOptions['snapshot'] = options.snapshot;
    if (this.clock !== systemClock) actorOptions['clock'] = this.clock;
    if (options.inspect !== undefined) actorOptions['inspect'] = options.inspect;
    const actor = createActor(logic as AnyActorLogic, actorOptions as never);
    const isMachine = typeof (logic as { getStateNodeById?: unknown }).getStateNodeById === 'function';
    const cell = new ActorCell(id, kind, actor, options.mailboxCapacity ?? this.config.mailboxCapacity, options.mailboxMaxBytes ?? this.config.mailboxMaxBytes, isMachine, this.cellOwner);
    // The cell is the observer (its error/complete methods): no closures per actor.
    actor.subscribe(cell);
    this.cells.set(id, cell);
    actor.start();
    if (cell.status !== 'running') {
      // failed while starting (its initial actions threw)
      this.cells.delete(id);
      throw new ActorFailedError(`actor "${id}" failed to start: ${errorMessage(actor.getSnapshot())}`, { details: { id } });
    }
    if (options.localOnly !== true && this.transport.connected) {
      cell.subscription = this.transport.subscribe(actorSubject(this.config.cluster, id), this.onInbound);
    }
    this.emit({ type: 'spawned', id, kind });
    return new ActorRef(id, this);
  }

  /** A ref to the actor with this id, wherever it lives (validated, not looked up). */
  ref(id: string): ActorRef {
    return new ActorRef(assertToken(id, 'actor id'), this);
  }

  /** True when the actor lives on this node and runs. */
  has(id: string): boolean {
    return this.cells.get(id)?.status === 'running';
  }

  /** The xstate actor behind a local id (for snapshots and inspection), or undefined. */
  localActor(id: string): ActorCell['actor'] | undefined {
    return this.cells.get(id)?.actor;
  }

  /** Local actors, for status. */
  actors(): ActorInfo[] {
    const out: ActorInfo[] = [];
    for (const c of this.cells.values()) out.push({ id: c.id, kind: c.kind, status: c.status, mailboxDepth: c.depth, handled: c.handled, awaiting: c.awaiting?.size ?? 0, reachable: c.subscription !== undefined });
    return out;
  }

  /** Number of local actors. */
  get size(): number {
    return this.cells.size;
  }

  /** Listens to actor lifecycle events on this node; returns an unsubscribe function. */
  onLifecycle(listener: (e: ActorLifecycleEvent) => void): () => void {
    this.lifecycle.add(listener);
    return () => this.lifecycle.delete(listener);
  }

  private emit(e: ActorLifecycleEvent): void {
    for (const l of this.lifecycle) {
      try {
        l(e);
      } catch (err) {
        this.logger.error({ err }, 'lifecycle listener threw');
      }
    }
  }

  // ---------------------------------------------------------------- tell and ask

  /** Sends `event` to actor `id` without waiting. See {@link ActorRef.tell}. */
  tell(id: string, event: HiveEvent): void {
    checkEvent(event);
    const cell = this.cells.get(id);
    if (cell !== undefined) {
      if (cell.status !== 'running') {
        this.dead(id, event, cell.status === 'failed' ? 'failed' : 'stopped');
        return;
      }
      if (!this.enqueue(cell, event)) {
        this.dead(id, event, 'mailbox-full');
        throw mailboxFull(cell);
      }
      return;
    }
    assertToken(id, 'actor id');
    if (!this.transport.connected) {
      this.dead(id, event, 'unreachable');
      return;
    }
    this.transit.tell(this.actorPrefix + id, event);
  }

  /** Sends `event` to actor `id` and waits for its reply. See {@link ActorRef.ask}. */
  ask(id: string, event: HiveEvent, options: AskCallOptions = {}): Promise<HiveEvent> {
    try {
      checkEvent(event);
    } catch (err) {
      return Promise.reject(toHiveError(err));
    }
    const cell = this.cells.get(id);
    if (cell !== undefined) return this.askCell(cell, event, options);
    try {
      assertToken(id, 'actor id');
    } catch (err) {
      return Promise.reject(toHiveError(err));
    }
    return this.transit.request(this.actorPrefix + id, event, {
      timeoutMs: options.timeoutMs ?? this.config.askTimeoutMs,
      deadline: options.deadline,
      signal: options.signal,
      guardKey: id,
      what: `actor "${id}"`,
      noResponders: `no actor "${id}" in cluster "${this.config.cluster}"`,
    });
  }

  private askCell(cell: ActorCell, event: HiveEvent, options: AskCallOptions): Promise<HiveEvent> {
    if (cell.status !== 'running') {
      return Promise.reject(
        cell.status === 'failed'
          ? new ActorFailedError(`actor "${cell.id}" has failed`, { details: { id: cell.id } })
          : new ActorStoppedError(`actor "${cell.id}" is stopped`, { details: { id: cell.id } }),
      );
    }
    const { signal } = options;
    if (signal?.aborted === true) return Promise.reject(new CancelledError(`ask to actor "${cell.id}" (${event.type}) was cancelled before it was sent`, { cause: signal.reason }));
    const timeoutMs = options.deadline !== undefined ? options.deadline - this.clock.now() : (options.timeoutMs ?? this.config.askTimeoutMs);
    if (!(timeoutMs > 0)) {
      return Promise.reject(new TimeoutError(`ask to actor "${cell.id}" (${event.type}) had no time left before it was sent`, { details: { id: cell.id, type: event.type } }));
    }
    // A fresh object per ask: the reply registry is keyed by the event object.
    const delivered = { ...event };
    const pending = new PendingAsk(this.askLocal, performance.now(), delivered, cell, timeoutMs);
    pending.onAnswered = options.onAnswered;
    const promise = new Promise<HiveEvent>((resolve, reject) => {
      pending.resolve = resolve;
      pending.reject = reject;
    });
    this.timeouts.schedule(pending, timeoutMs);
    registerReplier(delivered, pending);
    if (options.stream !== undefined) {
      try {
        const sink = this.streams.attach(delivered, options.stream, signal);
        // the ask answered or failed: a stream it left open is over (the pool answers its submitter)
        const over = (): void => sink.abort(new CancelledError('the task ended without ending its stream'));
        promise.then(over, over);
      } catch (err) {
        takeReplier(delivered);
        pending.fail(err);
        return promise;
      }
    }
    if (signal !== undefined) {
      pending.signal = signal;
      signal.addEventListener('abort', pending);
    }
    const inbound = options.inbound;
    if (inbound !== undefined) {
      inbound.owner = pending;
      inbound.onAbandon = abandonPending;
    }
    if (!this.enqueue(cell, delivered)) {
      takeReplier(delivered);
      pending.fail(mailboxFull(cell));
    }
    return promise;
  }

  /** Asks actor `id` for a streamed reply. See {@link ActorRef.askStream}. */
  askStream<T = unknown>(id: string, event: HiveEvent, options: StreamOptions = {}): ChunkStream<T> {
    try {
      checkEvent(event);
      assertToken(id, 'actor id');
    } catch (err) {
      return failedStream(err);
    }
    const cell = this.cells.get(id);
    const what = `actor "${id}"`;
    if (cell === undefined) return this.streams.remote<T>(this.actorPrefix + id, event, options, what);
    return this.streams.local<T>(
      event,
      options,
      what,
      (delivered) => {
        if (cell.status !== 'running') return cell.status === 'failed' ? new ActorFailedError(`actor "${id}" has failed`, { details: { id } }) : new ActorStoppedError(`actor "${id}" is stopped`, { details: { id } });
        return this.enqueue(cell, delivered) ? undefined : mailboxFull(cell);
      },
      (delivered) => cell.awaiting?.delete(delivered),
    );
  }

  // ---------------------------------------------------------------- mailboxes and the scheduler

  private enqueue(cell: ActorCell, event: object): boolean {
    if (!cell.push(event)) return false;
    if (!cell.scheduled) {
      cell.scheduled = true;
      this.runQueue.push(cell);
      if (!this.drainScheduled) {
        this.drainScheduled = true;
        // Within the budget: drain right after the current job; past it: after I/O and timers.
        if (this.turnUsed < TURN_BUDGET) queueMicrotask(this.drain);
        else setImmediate(this.drainAfterYield);
      }
    }
    return true;
  }

  /**
   * Hands `event` to `cell`: at once when the actor is idle (nothing queued or scheduled for it, nothing being
   * handled, the budget not spent: no mailbox hop, no microtask), else through its mailbox. Only for messages
   * that arrive from the transport (the top of a callback, never inside another actor's transition).
   * @returns false when the mailbox is full.
   */
  private deliver(cell: ActorCell, event: object): boolean {
    if (cell.scheduled || this.draining || cell.current !== undefined || this.turnUsed >= TURN_BUDGET) return this.enqueue(cell, event);
    this.turnUsed++;
    this.draining = true;
    try {
      this.process(cell, event);
    } finally {
      this.draining = false;
    }
    return true;
  }

  /** After a yield to I/O and timers: the budget is full again. */
  private readonly drainAfterYield = (): void => {
    this.turnUsed = 0;
    this.drain();
  };

  private readonly drain = (): void => {
    this.draining = true;
    try {
      this.drainQueued();
    } finally {
      this.draining = false;
    }
  };

  private drainQueued(): void {
    let budget = TURN_BUDGET - this.turnUsed;
    const startBudget = budget;
    while (this.runQueue.length > 0 && budget > 0) {
      const queue = this.runQueue;
      this.runQueue = [];
      let i = 0;
      for (; i < queue.length && budget > 0; i++) {
        const cell = queue[i];
        let n = CELL_BATCH;
        while (n-- > 0 && budget > 0 && cell.status === 'running') {
          const event = cell.shift();
          if (event === undefined) break;
          budget--;
          this.process(cell, event);
        }
        if (cell.status === 'running' && cell.depth > 0) this.runQueue.push(cell);
        else cell.scheduled = false;
      }
      // cells not reached this turn keep their place at the front
      if (i < queue.length) this.runQueue = queue.slice(i).concat(this.runQueue);
    }
    this.turnUsed += startBudget - budget;
    // Out of budget: go on after I/O and timers, with a full budget again.
    if (this.runQueue.length > 0) setImmediate(this.drainAfterYield);
    else this.drainScheduled = false;
  }

  private process(cell: ActorCell, event: object): void {
    const actor = cell.actor;
    const delivery = deliveryOf(event);
    if (delivery === 'skip') return; // an ask nobody waits for any more (deadline passed, or cancelled)
    const asked = delivery === 'ask';
    const before: unknown = cell.detectsUnhandled ? actor.getSnapshot() : undefined;
    cell.current = event;
    actor.send(event);
    cell.current = undefined;
    cell.handled++;
    this.delivered++;
    if (cell.status !== 'running') return;
    if (asked) {
      // Answered while the actor handled it: the machine handled the event, no need to ask xstate.
      if (!isAsk(event)) return;
      this.remember(cell, event);
    }
    if (before === undefined) return;
    // An unchanged snapshot is either a targetless transition (actions only) or no transition at all;
    // only the second means the machine does not handle this event in its current state.
    if (actor.getSnapshot() === before && (before as { can?: (e: object) => boolean }).can?.(event) === false) {
      const type = (event as HiveEvent).type;
      const r = takeReplier(event);
      if (r !== undefined) {
        r.fail(new InvalidEventError(`actor "${cell.id}" does not handle "${type}" in its current state`, { details: { id: cell.id, type } }));
      } else {
        this.dead(cell.id, event, 'unhandled');
      }
    }
  }

  /** Keeps an accepted, not yet answered ask so that stopping or failing the actor answers it. */
  private remember(cell: ActorCell, event: object): void {
    const awaiting = (cell.awaiting ??= new Set());
    if (awaiting.size >= 64) for (const e of awaiting) if (!isAsk(e)) awaiting.delete(e);
    awaiting.add(event);
  }

  private onActorError(cell: ActorCell, err: unknown): void {
    if (cell.status !== 'running') return;
    cell.status = 'failed';
    const error = new ActorFailedError(`actor "${cell.id}" failed: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
      details: { id: cell.id },
    });
    this.logger.warn({ actor: cell.id, kind: cell.kind, err }, 'actor failed');
    if (cell.current !== undefined) takeReplier(cell.current)?.fail(error);
    this.flushMailbox(cell, error, 'failed');
    cell.subscription?.unsubscribe();
    cell.subscription = undefined;
    this.emit({ type: 'failed', id: cell.id, kind: cell.kind, error });
  }

  private onActorComplete(cell: ActorCell): void {
    if (cell.status !== 'running') return;
    // A machine that reached a final state is done: it leaves the node like a stopped actor.
    const snapshot = cell.actor.getSnapshot() as { status?: string; output?: unknown };
    if (snapshot.status !== 'done') return;
    cell.status = 'stopped';
    this.release(cell, new ActorStoppedError(`actor "${cell.id}" is done`, { details: { id: cell.id } }));
    this.emit({ type: 'done', id: cell.id, kind: cell.kind, output: snapshot.output });
  }

  private flushMailbox(cell: ActorCell, error: HiveError, reason: DeadLetterReason): void {
    if (cell.awaiting !== undefined) {
      for (const e of cell.awaiting) takeReplier(e)?.fail(error);
      cell.awaiting = undefined;
    }
    for (const e of cell.drainAll()) {
      const r = takeReplier(e);
      if (r !== undefined) r.fail(error);
      else this.dead(cell.id, e, reason);
    }
  }

  private release(cell: ActorCell, error: HiveError): void {
    if (this.cells.get(cell.id) === cell) this.cells.delete(cell.id);
    cell.subscription?.unsubscribe();
    cell.subscription = undefined;
    this.flushMailbox(cell, error, 'stopped');
  }

  /** Removes a failed actor's cell (supervisors call this before restarting it under the same id). */
  forget(id: string): void {
    const cell = this.cells.get(id);
    if (cell !== undefined && cell.status !== 'running') this.release(cell, new ActorStoppedError(`actor "${id}" was removed`));
  }

  /** Stops a local actor: pending asks get `ACTOR_STOPPED`, pending tells become dead letters. */
  async stopActor(id: string): Promise<void> {
    const cell = this.cells.get(id);
    if (cell === undefined) return;
    const wasRunning = cell.status === 'running';
    cell.status = 'stopped';
    this.release(cell, new ActorStoppedError(`actor "${id}" was stopped`, { details: { id } }));
    if (wasRunning) cell.actor.stop();
    this.emit({ type: 'stopped', id, kind: cell.kind });
  }

  private dead(to: string, event: unknown, reason: DeadLetterReason, detail?: string): void {
    this.deadLetters.publish(detail === undefined ? { to, event, reason, at: this.clock.now() } : { to, event, reason, at: this.clock.now(), detail });
  }

  // ---------------------------------------------------------------- inbound over the transport

  /** Handles a message on one of this node's actor subjects (binary frame or JSON text), through the transit. */
  private readonly onInbound = (msg: TransportMessage): void => {
    this.transit.accept(msg, this.deliverRemote, this.config.askTimeoutMs, this.refusedTell);
  };

  private readonly refusedTell = (subject: string, err: unknown): void => {
    this.dead(subject.slice(this.actorPrefix.length), undefined, 'bad-frame', toHiveError(err).message);
  };

  /**
   * Delivers a message the transit decoded to the local actor its subject names (a virtual actor's node
   * passes `id`); every failure is answered or dead-lettered. An ask's request is its replier; dropped at
   * its deadline or by a cancel, it is skipped if not started and forgotten if started.
   */
  readonly deliverRemote = (req: InboundRequest, id = req.subject.slice(this.actorPrefix.length)): void => {
    const event = req.event;
    const cell = this.cells.get(id);
    if (cell === undefined || cell.status !== 'running') {
      const err =
        cell?.status === 'failed'
          ? new ActorFailedError(`actor "${id}" has failed`, { details: { id } })
          : new NoSuchActorError(`no actor "${id}" on node "${this.config.nodeId}"`, { details: { id } });
      if (req.isAsk) req.fail(err);
      else this.dead(id, event, cell === undefined ? 'no-such-actor' : 'failed');
      return;
    }
    if (req.isAsk) {
      // a stream ask (`hive.stream` in its event) is answered by its stream's sink
      registerReplier(event, event[STREAM_FIELD] === undefined ? req : this.streams.serve(req));
      req.owner = cell;
      req.onAbandon = this.onAbandoned;
    }
    if (!this.deliver(cell, event)) {
      const err = mailboxFull(cell);
      const r = takeReplier(event);
      if (r !== undefined) r.fail(err);
      else this.dead(id, event, 'mailbox-full');
    }
  };

  /** A remote ask was dropped (deadline, cancel): not started, it is skipped; started, it is forgotten. */
  private readonly onAbandoned = (req: InboundRequest): void => {
    abandon(req.event);
    (req.owner as ActorCell | undefined)?.awaiting?.delete(req.event);
  };

  // ---------------------------------------------------------------- shutdown

  /** Stops every local actor (pending asks get `ACTOR_STOPPED`). The transport is closed by its owner. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const id of [...this.cells.keys()]) await this.stopActor(id);
    this.streams.stop();
    this.transit.stop();
    this.timeouts.dispose();
  }
}

function checkEvent(event: unknown): asserts event is HiveEvent {
  if (typeof event !== 'object' || event === null || typeof (event as { type?: unknown }).type !== 'string' || (event as { type: string }).type === '') {
    throw new InvalidEventError(`an event must be an object with a non-empty string "type", got ${describe(event)}`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return `${typeof value} ${(JSON.stringify(value) ?? '').slice(0, 40)}`;
  try {
    return JSON.stringify(value).slice(0, 80);
  } catch {
    return 'an unserialisable object';
  }
}

function errorMessage(snapshot: unknown): string {
  const err = (snapshot as { error?: unknown }).error;
  return err instanceof Error ? err.message : String(err);
}

/** The error a sender gets when a mailbox is full (by count or by estimated bytes). */
function mailboxFull(cell: ActorCell): OverloadedError {
  const byBytes = cell.depth < cell.capacity;
  return new OverloadedError(
    byBytes
      ? `mailbox of actor "${cell.id}" is full (${cell.bytes} of ${cell.maxBytes} bytes waiting, estimated)`
      : `mailbox of actor "${cell.id}" is full (${cell.capacity} messages)`,
    { details: { id: cell.id, limit: byBytes ? 'bytes' : 'messages' } },
  );
}
