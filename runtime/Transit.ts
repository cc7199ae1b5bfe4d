// Transit: the one place that knows requests and replies on the wire (Moleculer's `transit` is the model).
// Everything that asks something of another node goes through `request()`: actor asks, virtual-actor asks and
// their hops to the owner, memory requests, CLI clients. Everything that serves a subject goes through
// `serve()` / `accept()`: actor subjects, virtual-actor kind and node subjects, the memory subject.
//
// By role (./transit/):
// - Requester: sends tells, requests (absolute deadline `d`, breaker, one reply inbox, batched timeouts,
//   no-responders → NO_SUCH_ACTOR, latency) and cancels; PendingRequest is one request waiting.
// - Responder: serves subjects (decode, validate, deadline check, hand over, answer, cancels); InboundRequest
//   is one request being served.
// - Coalescer: frames for one subject in one event-loop turn leave as one NATS message (batch envelope).
// - limits: MAX_DEADLINE_MS and the batching bounds; transitCounters: hive_expired_total, hive_cancels_total.
import type { HiveEvent } from '../protocols/envelope.js';
import type { FrameCodec } from '../protocols/frame.js';
import { sysSubject } from '../protocols/subjects.js';
import { systemClock, type Clock } from './Clock.js';
import { silentLogger, type Logger } from './logger.js';
import type { LatencyRecorder, MetricsRegistry } from './metrics.js';
import type { InboundRequest } from './transit/InboundRequest.js';
import type { RequestOptions } from './transit/PendingRequest.js';
import { Requester, type RemoteGuard } from './transit/Requester.js';
import { Responder, type RefusedTell } from './transit/Responder.js';
import { transitCounters } from './transit/transitCounters.js';
import type { Transport, TransportMessage, TransportSubscription } from './Transport.js';

export { MAX_DEADLINE_MS } from './transit/limits.js';
export { InboundRequest } from './transit/InboundRequest.js';
export type { RequestOptions } from './transit/PendingRequest.js';
export type { RemoteGuard } from './transit/Requester.js';

/** What a {@link Transit} needs. */
export interface TransitDeps {
  transport: Transport;
  codec: FrameCodec;
  cluster: string;
  /** Answers say which node answered (`n`), so askers can guard each node with its own breaker. */
  nodeId: string;
  /** Largest JSON text accepted. */
  maxMessageBytes: number;
  /** Budget of a request that names neither a deadline nor a timeout, and of a JSON ask (which has none). */
  defaultTimeoutMs: number;
  clock?: Clock;
  logger?: Logger;
  metrics?: MetricsRegistry;
  /** Where remote round trips are recorded (seconds). */
  latency?: LatencyRecorder;
}

/** Sends requests and serves subjects for one node (or one client connection). */
export class Transit {
  /** @internal The sending side. */
  readonly requester: Requester;
  /** @internal The serving side. */
  readonly responder: Responder;
  private readonly clock: Clock;

  constructor(deps: TransitDeps) {
    this.clock = deps.clock ?? systemClock;
    const logger = deps.logger ?? silentLogger();
    const cancelSubject = sysSubject(deps.cluster, 'cancel');
    const common = { transport: deps.transport, codec: deps.codec, clock: this.clock, logger, cancelSubject, maxMessageBytes: deps.maxMessageBytes, defaultTimeoutMs: deps.defaultTimeoutMs };
    this.requester = new Requester({ ...common, latency: deps.latency });
    const counters = transitCounters(
      deps.metrics,
      () => this.requester.pending,
      () => this.responder.inProgress,
    );
    this.responder = new Responder({ ...common, nodeId: deps.nodeId, counters });
  }

  /** Guards requests that name a `guardKey` (the node's per-destination breakers). */
  get guard(): RemoteGuard | undefined {
    return this.requester.guard;
  }
  set guard(g: RemoteGuard | undefined) {
    this.requester.guard = g;
  }

  /**
   * Hears every served ask once it is answered (or dropped at its deadline): the subject, the processing time
   * in seconds and the error, if it failed (the node's NATS service stats count them).
   */
  get onServed(): ((subject: string, seconds: number, err: unknown) => void) | undefined {
    return this.responder.onServed;
  }
  set onServed(f: ((subject: string, seconds: number, err: unknown) => void) | undefined) {
    this.responder.onServed = f;
  }

  /** Now on the transit's clock (epoch ms). */
  now(): number {
    return this.clock.now();
  }

  /** Requests waiting for a reply. */
  get pendingRequests(): number {
    return this.requester.pending;
  }

  /** Asks being served that a cancel can still reach. */
  get servedInProgress(): number {
    return this.responder.inProgress;
  }

  /** Starts listening for `cancel` envelopes on `hive.<cluster>.sys.cancel` (nodes do; pure clients need not). */
  listenForCancels(): void {
    this.responder.listenForCancels();
  }

  /** Sends a tell envelope to `subject`. Throws for an unencodable event or a transport that refuses it. */
  tell(subject: string, event: HiveEvent, from?: string): void {
    this.requester.tell(subject, event, from);
  }

  /**
   * Asks whoever serves `subject` and resolves with the answer event. Rejects with the answer's typed error,
   * NO_SUCH_ACTOR (nothing serves the subject), TIMEOUT (deadline), CANCELLED (signal), CIRCUIT_OPEN (guard),
   * INVALID_ARGUMENT (a deadline past MAX_DEADLINE_MS), UNAVAILABLE (transport down or closed).
   */
  request(subject: string, event: HiveEvent, options: RequestOptions = {}): Promise<HiveEvent> {
    return this.requester.request(subject, event, options, false) as Promise<HiveEvent>;
  }

  /** Like {@link Transit.request} with JSON text both ways (what the NATS CLI sends): `body` is any JSON value. */
  requestJson(subject: string, body: unknown, options: RequestOptions = {}): Promise<unknown> {
    return this.requester.request(subject, body, options, true);
  }

  /** Tells every node to cancel the work named by `reply` (its reply subject) and `cid` (its correlation id). */
  publishCancel(reply: string, cid: string | undefined): void {
    this.requester.publishCancel(reply, cid);
  }

  /**
   * Subscribes `handler` to `subject` (optionally in a queue group); each message is decoded and handed over
   * as in {@link Transit.accept}. `defaultTimeoutMs` is the budget of a JSON ask (default: the transit's).
   * `jsonBody` turns a JSON text body into the event handed over, for subjects whose JSON is not an event
   * (a pool submission, a node control request; an empty body is `undefined` then); without it a JSON body
   * must be an event with a `type`.
   */
  serve(subject: string, handler: (req: InboundRequest) => void, options: { queue?: string; defaultTimeoutMs?: number; jsonBody?: (body: unknown) => HiveEvent } = {}): TransportSubscription {
    return this.responder.serve(subject, handler, options);
  }

  /**
   * Decodes `msg` (received on a served subject) and hands it to `handler`. A message that cannot be decoded,
   * an ask past its deadline or with an absurd one, and a handler that throws are answered with the typed
   * error (a tell has no one to answer: `onRefusedTell` hears about it).
   */
  accept(msg: TransportMessage, handler: (req: InboundRequest) => void, defaultTimeoutMs?: number, onRefusedTell?: RefusedTell): void {
    this.responder.accept(msg, handler, defaultTimeoutMs, onRefusedTell);
  }

  /**
   * Hears the cancels that name no ask in progress here (a pool hears of its tasks this way: the reply subject
   * is the submitter's results inbox, the correlation id the task id). `listener` returns true when it applied
   * the cancel. Returns the function that stops it.
   */
  onCancel(listener: (reply: string, cid: string | undefined) => boolean): () => void {
    return this.responder.onCancel(listener);
  }

  /** Stops serving cancels and fails every request still waiting with UNAVAILABLE. */
  stop(): void {
    this.requester.stop();
    this.responder.stop();
  }
}
