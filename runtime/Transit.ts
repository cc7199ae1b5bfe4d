// Transit: the one place that knows requests and replies on the wire (Moleculer's `transit` is the model).
// Everything that asks something of another node goes through `request()`: actor asks, virtual-actor asks and
// their hops to the owner, memory requests, CLI clients. Everything that serves a subject goes through
// `accept()`: actor subjects, virtual-actor kind and node subjects, the memory subject.
//
// Sending: encode the ask envelope with its absolute deadline `d`, guard it with the destination's breaker,
// publish it with reply subject `<inbox>.<correlation id>` (one inbox subscription per transit), free the
// pending entry at the deadline (timeouts batched, ./Timeouts.ts), map NATS "no responders" to
// NO_SUCH_ACTOR, decode the reply, record the round trip. An AbortSignal cancels: the caller gets CANCELLED
// at once and a `cancel` envelope tells the serving node to stop.
//
// Serving: decode a binary frame (tell or ask envelope) or JSON text (the NATS CLI; a reply subject makes it
// an ask), validate the event, refuse work that arrived past its deadline (answered TIMEOUT, counted in
// `hive_expired_total`) or with a deadline further than MAX_DEADLINE_MS, hand an {@link InboundRequest} to
// the handler, and answer binary for binary, JSON for JSON. The one place wire events are checked: xstate's and
// Hive's internal event types are refused (validateWireEvent). An ask still unanswered at its deadline is
// dropped (counted, its signal aborted, its handler told to let go); a `cancel` aborts it and answers the
// asker CANCELLED.
import type { AskEnvelope, BatchEnvelope, CancelEnvelope, Envelope, HiveEvent, ReplyEnvelope, TellEnvelope } from '../protocols/envelope.js';
import { ENVELOPE_VERSION, parseEnvelope, validateWireEvent } from '../protocols/envelope.js';
import {
  BadFrameError,
  CancelledError,
  InvalidArgumentError,
  NoSuchActorError,
  PermissionDeniedError,
  TimeoutError,
  UnavailableError,
  errorFromReply,
  isErrorReply,
  toErrorReply,
  toHiveError,
} from '../protocols/errors.js';
import { decodeJson, encodeJson, isBinaryFrame, type FrameCodec } from '../protocols/frame.js';
import { sysSubject } from '../protocols/subjects.js';
import { systemClock, type Clock } from './Clock.js';
import { secureId } from './ids.js';
import { silentLogger, type Logger } from './logger.js';
import type { LatencyRecorder, MetricsRegistry } from './metrics.js';
import type { Replier } from './reply.js';
import { Timeouts, type Expiring, type TimeoutBatch } from './Timeouts.js';
import { endSpan, startClientSpan, startServerSpan, traceparentOf, withContext } from './tracing.js';
import type { Span } from '@opentelemetry/api';
import type { Transport, TransportMessage, TransportSubscription } from './Transport.js';

/**
 * The furthest deadline a request may carry: one hour from now. A request asking for more is refused with
 * INVALID_ARGUMENT on both sides (no node keeps bookkeeping for work nobody will wait for).
 */
export const MAX_DEADLINE_MS = 3_600_000;

/** Asks in progress a node remembers for cancellation; past it, new asks are served but cannot be cancelled. */
const MAX_CANCELLABLE = 100_000;

/**
 * Coalescing: with other requests in flight, the frames for one destination (asks) or one asker (answers)
 * made in the same event-loop turn leave as ONE NATS message, a batch envelope of up to MAX_BATCH frames
 * (measured on this machine kind: one message per request 109k req/s, up to 8 per message 178k, up to 32
 * 193k). A lone request (nothing else in flight) leaves at once; a frame over MAX_BATCHED_FRAME bytes too.
 */
const MAX_BATCH = 32;
const MAX_BATCHED_FRAME = 16 * 1024;

/** Frames waiting for the end of the turn, for one subject. */
interface Outgoing {
  /** The reply subject's last token (the first request's correlation id; answers: unused). */
  token: string;
  frames: Uint8Array[];
  /** The requests among them (failed together when the publish is refused). */
  calls: Call[];
}

/**
 * Guards remote asks (the cluster layer puts a circuit breaker per destination node here): `call` may fail
 * fast instead of sending; `answered` tells which node answered for a destination key.
 */
export interface RemoteGuard {
  call<T>(key: string, send: () => Promise<T>): Promise<T>;
  answered(key: string, node: string): void;
}

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

/** Options of one request. */
export interface RequestOptions {
  /** Budget from now (default: the transit's `defaultTimeoutMs`). */
  timeoutMs?: number | undefined;
  /** Absolute deadline, epoch ms (wins over `timeoutMs`): a hop passes the deadline it was given. */
  deadline?: number | undefined;
  /** Aborting it rejects the request with CANCELLED and tells the serving node to stop. */
  signal?: AbortSignal | undefined;
  /** The destination's key for the {@link RemoteGuard} (an actor id); no key, no guard. */
  guardKey?: string;
  /** How errors name the destination, e.g. `actor "a1"` (default: the subject). */
  what?: string;
  /** The NO_SUCH_ACTOR message when nothing serves the subject. */
  noResponders?: string;
  /** The sending actor's id, carried in the envelope. */
  from?: string;
}

/** A request waiting for its reply. */
class Call implements Expiring {
  settled = false;
  batch: TimeoutBatch | undefined = undefined;
  resolve: (value: never) => void = noop;
  reject: (err: unknown) => void = noop;
  signal: AbortSignal | undefined = undefined;
  /** The last token of the reply subject it was sent with (its own id, or its batch's first id). */
  token: string;

  constructor(
    private readonly transit: Transit,
    readonly cid: string,
    readonly subject: string,
    readonly type: string,
    readonly budgetMs: number,
    readonly started: number,
    readonly json: boolean,
    readonly options: RequestOptions,
  ) {
    this.token = cid;
  }

  get what(): string {
    return this.options.what ?? this.subject;
  }

  /** Leaves the pending map, its timeout batch and its signal. */
  finish(): void {
    this.settled = true;
    this.transit.forget(this);
    this.batch?.release(this);
    this.signal?.removeEventListener('abort', this);
  }

  expire(): void {
    this.transit.forget(this);
    this.signal?.removeEventListener('abort', this);
    this.reject(new TimeoutError(`ask to ${this.what} (${this.type}) timed out after ${this.budgetMs} ms`, { details: { subject: this.subject, type: this.type } }));
  }

  /** The caller's signal fired (EventListener object: no closure per request). */
  handleEvent(): void {
    if (this.settled) return;
    this.finish();
    this.transit.sendCancel(this);
    this.reject(new CancelledError(`ask to ${this.what} (${this.type}) was cancelled`, { cause: this.signal?.reason, details: { subject: this.subject, type: this.type } }));
  }
}

/**
 * One request (ask) or message (tell) that arrived on a served subject, as its handler sees it. Answer an ask
 * once with {@link InboundRequest.ok} or {@link InboundRequest.fail} (it is a {@link Replier}); answers after
 * the first, after the deadline or after a cancel go nowhere.
 */
export class InboundRequest implements Replier, Expiring {
  settled = false;
  batch: TimeoutBatch | undefined = undefined;
  /** Called once when the ask is dropped unanswered (deadline passed, or cancelled): let go of it. */
  onAbandon: ((req: InboundRequest) => void) | undefined = undefined;
  /** The handler's own slot (the actor system keeps the actor's cell here). */
  owner: unknown = undefined;
  /** The key a cancel names it by, when it can be cancelled. */
  key: string | undefined = undefined;
  /** The sender's W3C traceparent (envelope `t`, or the `traceparent` NATS header of a plain client). */
  traceparent: string | undefined = undefined;
  /** @internal The server span, when an OpenTelemetry SDK records one. */
  span: Span | undefined = undefined;
  /** When it arrived (performance.now()), for processing time. */
  readonly received = performance.now();
  private controller: AbortController | undefined = undefined;
  private abortReason: Error | undefined = undefined;

  constructor(
    private readonly transit: Transit,
    /** The subject it arrived on. */
    readonly subject: string,
    readonly event: HiveEvent,
    /** Where the answer goes; undefined for a tell. */
    readonly replyTo: string | undefined,
    /** Answer with a binary frame (it was one) or JSON text. */
    readonly binary: boolean,
    /** The ask's correlation id, echoed in a binary answer. */
    readonly cid: string | undefined,
    /** Absolute deadline, epoch ms (a tell's is its arrival plus the default budget). */
    readonly deadline: number,
    /** It came in a batch: its answer may leave in one too. */
    readonly batched = false,
  ) {}

  /** The sender waits for an answer. */
  get isAsk(): boolean {
    return this.replyTo !== undefined;
  }

  /** Fires when the ask is cancelled or its deadline passes (created on first use). */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.abortReason !== undefined) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** Ms left before the deadline (may be ≤ 0). */
  remainingMs(): number {
    return this.deadline - this.transit.now();
  }

  ok(answer: HiveEvent): void {
    if (this.settled) return;
    this.finish();
    this.transit.answer(this, answer, undefined);
  }

  fail(err: unknown): void {
    if (this.settled) return;
    this.finish();
    this.transit.answer(this, undefined, err);
  }

  /** The deadline passed unanswered (called by the timeout batch, which marked it settled). */
  expire(): void {
    this.transit.dropExpired(this);
  }

  /** @internal */
  finish(): void {
    this.settled = true;
    this.batch?.release(this);
    if (this.key !== undefined) this.transit.untrack(this);
  }

  /** @internal Aborts the signal (if anyone took it) and tells the handler to let go. */
  abandon(reason: Error): void {
    this.abortReason = reason;
    this.controller?.abort(reason);
    const f = this.onAbandon;
    this.onAbandon = undefined;
    f?.(this);
  }
}

function noop(): void {}

/** Sends requests and serves subjects for one node (or one client connection). */
export class Transit {
  /** Guards requests that name a `guardKey` (the node's per-destination breakers). */
  guard: RemoteGuard | undefined = undefined;
  /**
   * Hears every served ask once it is answered (or dropped at its deadline): the subject, the processing time
   * in seconds and the error, if it failed (the node's NATS service stats count them).
   */
  onServed: ((subject: string, seconds: number, err: unknown) => void) | undefined = undefined;

  private readonly transport: Transport;
  private readonly codec: FrameCodec;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly latency: LatencyRecorder | undefined;
  private readonly calls = new Map<string, Call>();
  private readonly inflight = new Map<string, InboundRequest>();
  private readonly cancelListeners = new Set<(reply: string, cid: string | undefined) => boolean>();
  /** Requests waiting for the end of the turn, by destination subject; answers, by reply subject. */
  private readonly outbox = new Map<string, Outgoing>();
  private readonly answers = new Map<string, Outgoing>();
  private flushScheduled = false;
  private readonly timeouts: Timeouts;
  private readonly cancelSubject: string;
  private inbox: string | undefined;
  private replyPrefix = '';
  private inboxSub: TransportSubscription | undefined;
  private cancelSub: TransportSubscription | undefined;
  private stopped = false;
  private readonly counters: {
    expiredArrival: () => void;
    expiredWaiting: () => void;
    cancelApplied: () => void;
    cancelUnknown: () => void;
  };

  constructor(private readonly deps: TransitDeps) {
    this.transport = deps.transport;
    this.codec = deps.codec;
    this.clock = deps.clock ?? systemClock;
    this.logger = deps.logger ?? silentLogger();
    this.latency = deps.latency;
    this.timeouts = new Timeouts(this.clock);
    this.cancelSubject = sysSubject(deps.cluster, 'cancel');
    const m = deps.metrics;
    if (m !== undefined) {
      const expired = m.counter('hive_expired_total', 'Asks dropped because their deadline passed (on arrival, or while waiting for an answer)', ['stage']);
      const cancels = m.counter('hive_cancels_total', 'Cancel envelopes received (applied to an ask in progress, or naming none)', ['result']);
      const arrival = expired.labels('arrival');
      const waiting = expired.labels('waiting');
      const applied = cancels.labels('applied');
      const unknown = cancels.labels('unknown');
      this.counters = {
        expiredArrival: () => arrival.inc(),
        expiredWaiting: () => waiting.inc(),
        cancelApplied: () => applied.inc(),
        cancelUnknown: () => unknown.inc(),
      };
      const calls = this.calls;
      const inflight = this.inflight;
      m.gauge('hive_requests_in_progress', 'Requests this node waits on (sent) and asks it serves (received)', ['side'], function () {
        this.set({ side: 'sent' }, calls.size);
        this.set({ side: 'received' }, inflight.size);
      });
    } else {
      this.counters = { expiredArrival: noop, expiredWaiting: noop, cancelApplied: noop, cancelUnknown: noop };
    }
    this.transport.onStatus((s) => {
      if (s === 'closed') this.failAll('the transport closed');
    });
    // the server refused a publish (NATS permissions): the requests sent there fail now, not at their deadline
    this.transport.onRefused?.((subject) => {
      for (const call of [...this.calls.values()]) {
        if (call.subject !== subject) continue;
        call.finish();
        call.reject(new PermissionDeniedError(`the NATS server refused publishing to ${subject}: this user's permissions do not allow it`, { details: { subject } }));
      }
    });
  }

  /** Now on the transit's clock (epoch ms). */
  now(): number {
    return this.clock.now();
  }

  /** Requests waiting for a reply. */
  get pendingRequests(): number {
    return this.calls.size;
  }

  /** Asks being served that a cancel can still reach. */
  get servedInProgress(): number {
    return this.inflight.size;
  }

  /** Starts listening for `cancel` envelopes on `hive.<cluster>.sys.cancel` (nodes do; pure clients need not). */
  listenForCancels(): void {
    if (this.cancelSub !== undefined || !this.transport.connected) return;
    this.cancelSub = this.transport.subscribe(this.cancelSubject, this.onCancelMessage);
  }

  // ------------------------------------------------------------------ sending

  /** Sends a tell envelope to `subject`. Throws for an unencodable event or a transport that refuses it. */
  tell(subject: string, event: HiveEvent, from?: string): void {
    const env: TellEnvelope = from === undefined ? { v: ENVELOPE_VERSION, k: 't', e: event } : { v: ENVELOPE_VERSION, k: 't', e: event, f: from };
    const traceparent = traceparentOf();
    if (traceparent !== undefined) env.t = traceparent;
    this.transport.publish(subject, this.codec.encode(env));
  }

  /**
   * Asks whoever serves `subject` and resolves with the answer event. Rejects with the answer's typed error,
   * NO_SUCH_ACTOR (nothing serves the subject), TIMEOUT (deadline), CANCELLED (signal), CIRCUIT_OPEN (guard),
   * INVALID_ARGUMENT (a deadline past MAX_DEADLINE_MS), UNAVAILABLE (transport down or closed).
   */
  request(subject: string, event: HiveEvent, options: RequestOptions = {}): Promise<HiveEvent> {
    return this.start(subject, event, options, false) as Promise<HiveEvent>;
  }

  /** Like {@link Transit.request} with JSON text both ways (what the NATS CLI sends): `body` is any JSON value. */
  requestJson(subject: string, body: unknown, options: RequestOptions = {}): Promise<unknown> {
    return this.start(subject, body, options, true);
  }

  private start(subject: string, body: unknown, o: RequestOptions, json: boolean): Promise<unknown> {
    const type = typeof (body as { type?: unknown } | null)?.type === 'string' ? (body as { type: string }).type : 'request';
    const now = this.clock.now();
    const deadline = o.deadline ?? now + (o.timeoutMs ?? this.deps.defaultTimeoutMs);
    const budget = deadline - now;
    if (Number.isNaN(budget)) return Promise.reject(new InvalidArgumentError(`a request's deadline must be a number of epoch ms, got ${String(o.deadline ?? o.timeoutMs)}`));
    if (budget <= 0) {
      return Promise.reject(new TimeoutError(`ask to ${o.what ?? subject} (${type}) had no time left before it was sent`, { details: { subject, type } }));
    }
    if (budget > MAX_DEADLINE_MS) {
      return Promise.reject(new InvalidArgumentError(`a request's deadline may be at most ${MAX_DEADLINE_MS} ms ahead, got ${Math.round(budget)} ms`, { details: { argument: 'timeoutMs', max: MAX_DEADLINE_MS } }));
    }
    if (o.signal?.aborted === true) {
      return Promise.reject(new CancelledError(`ask to ${o.what ?? subject} (${type}) was cancelled before it was sent`, { cause: o.signal.reason }));
    }
    const guard = this.guard;
    if (guard !== undefined && o.guardKey !== undefined) return guard.call(o.guardKey, () => this.send(subject, body, o, json, type, deadline, budget));
    return this.send(subject, body, o, json, type, deadline, budget);
  }

  private send(subject: string, body: unknown, o: RequestOptions, json: boolean, type: string, deadline: number, budget: number): Promise<unknown> {
    if (this.stopped) return Promise.reject(new UnavailableError(`cannot ask ${o.what ?? subject}: this node is stopping`));
    // unguessable: nobody else can answer (or cancel) this request
    const cid = secureId();
    const traced = startClientSpan(type, subject);
    let data: Uint8Array;
    try {
      if (json) data = encodeJson(body);
      else {
        const env: AskEnvelope = { v: ENVELOPE_VERSION, k: 'a', e: body as HiveEvent, c: cid, d: deadline };
        if (o.from !== undefined) env.f = o.from;
        if (traced.traceparent !== undefined) env.t = traced.traceparent;
        data = this.codec.encode(env);
      }
    } catch (err) {
      const e = toHiveError(err);
      endSpan(traced.span, e);
      return Promise.reject(e);
    }
    if (this.inbox === undefined) this.openInbox();
    const call = new Call(this, cid, subject, type, budget, performance.now(), json, o);
    const promise = new Promise<unknown>((resolve, reject) => {
      call.resolve = resolve;
      call.reject = reject;
    });
    const span = traced.span;
    if (span !== undefined) {
      promise.then(
        () => endSpan(span),
        (err: unknown) => endSpan(span, err),
      );
    }
    this.calls.set(cid, call);
    this.timeouts.schedule(call, budget);
    const signal = o.signal;
    if (signal !== undefined) {
      call.signal = signal;
      signal.addEventListener('abort', call);
    }
    if (!json && data.length <= MAX_BATCHED_FRAME && (this.calls.size > 1 || this.outbox.size > 0)) {
      // others are in flight: leave with the other frames for this subject at the end of the turn
      let o = this.outbox.get(subject);
      if (o === undefined || o.frames.length >= MAX_BATCH) {
        if (o !== undefined) this.publishOutgoing(subject, o);
        o = { token: cid, frames: [], calls: [] };
        this.outbox.set(subject, o);
        this.scheduleFlush();
      }
      o.frames.push(data);
      o.calls.push(call);
      call.token = o.token;
      return promise;
    }
    try {
      this.transport.publish(subject, data, this.replyPrefix + cid);
    } catch (err) {
      call.finish();
      call.reject(toHiveError(err));
    }
    return promise;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flush);
  }

  /** End of the turn: every queued request and answer leaves, one NATS message per subject. */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.outbox.size > 0) {
      for (const [subject, o] of this.outbox) this.publishOutgoing(subject, o);
      this.outbox.clear();
    }
    if (this.answers.size > 0) {
      for (const [replyTo, o] of this.answers) this.publishAnswers(replyTo, o);
      this.answers.clear();
    }
  };

  private publishOutgoing(subject: string, o: Outgoing): void {
    try {
      this.publishFrames(subject, o.frames, this.replyPrefix + o.token);
    } catch (err) {
      const e = toHiveError(err);
      for (const call of o.calls) {
        if (call.settled) continue;
        call.finish();
        call.reject(e);
      }
    }
  }

  /** One frame as it is, several in a batch envelope. Throws what the transport throws. */
  private publishFrames(subject: string, frames: Uint8Array[], reply: string | undefined): void {
    const data = frames.length === 1 ? frames[0] : this.codec.encode({ v: ENVELOPE_VERSION, k: 'b', m: frames } satisfies BatchEnvelope);
    if (reply === undefined) this.transport.publish(subject, data);
    else this.transport.publish(subject, data, reply);
  }

  private openInbox(): void {
    this.inbox = this.transport.createInbox();
    this.replyPrefix = `${this.inbox}.`;
    this.inboxSub = this.transport.subscribe(`${this.inbox}.*`, this.onReply);
  }

  /** @internal */
  forget(call: Call): void {
    this.calls.delete(call.cid);
  }

  /** @internal Tells every node that the ask `call` is cancelled. */
  sendCancel(call: Call): void {
    this.publishCancel(this.replyPrefix + call.token, call.json ? undefined : call.cid);
  }

  private readonly onReply = (msg: TransportMessage): void => {
    const token = msg.subject.substring(this.replyPrefix.length);
    if (msg.noResponders === true) {
      // nothing serves the subject: every request sent in that message fails
      const first = this.calls.get(token);
      if (first === undefined) return;
      for (const call of first.token === first.cid && this.outboxed(first) ? [first] : [...this.calls.values()]) {
        if (call.token !== first.token || call.subject !== first.subject) continue;
        call.finish();
        call.reject(new NoSuchActorError(call.options.noResponders ?? `nothing serves ${call.subject}`, { details: { subject: call.subject, noResponders: true } }));
      }
      return;
    }
    const byToken = this.calls.get(token);
    if (byToken?.json === true) {
      byToken.finish();
      try {
        const answer = decodeJson(msg.data, this.deps.maxMessageBytes);
        if (isErrorReply(answer)) byToken.reject(errorFromReply(answer));
        else byToken.resolve(answer as never);
      } catch (err) {
        byToken.reject(toHiveError(err));
      }
      return;
    }
    let env: Envelope;
    try {
      env = parseEnvelope(this.codec.decode(msg.data));
    } catch (err) {
      if (byToken !== undefined) {
        byToken.finish();
        byToken.reject(toHiveError(err));
      }
      return;
    }
    if (env.k === 'b') {
      for (const frame of env.m) {
        try {
          this.settle(parseEnvelope(this.codec.decode(frame)), undefined);
        } catch (err) {
          this.logger.debug({ err }, 'undecodable frame in a batch of answers');
        }
      }
      return;
    }
    this.settle(env, byToken);
  };

  /** True when the call left alone (not in a batch): no other call shares its reply subject. */
  private outboxed(call: Call): boolean {
    return call.token === call.cid && !call.json && false;
  }

  /** Settles the call an answer envelope names (by its `c`, else the one its reply subject named). */
  private settle(reply: Envelope, fallback: Call | undefined): void {
    const call = reply.k === 'r' && reply.c !== undefined ? this.calls.get(reply.c) : fallback;
    if (call === undefined) return; // late (after the deadline or a cancel), or a duplicate
    call.finish();
    if (reply.k !== 'r') {
      call.reject(new BadFrameError(`expected a reply frame from ${call.what}, got kind "${reply.k}"`));
      return;
    }
    this.latency?.observe((performance.now() - call.started) / 1000);
    const key = call.options.guardKey;
    if (reply.n !== undefined && key !== undefined) this.guard?.answered(key, reply.n);
    if (reply.err !== undefined) call.reject(errorFromReply(reply.err));
    else call.resolve(reply.ok as never);
  }

  // ------------------------------------------------------------------ serving

  /**
   * Subscribes `handler` to `subject` (optionally in a queue group); each message is decoded and handed over
   * as in {@link Transit.accept}. `defaultTimeoutMs` is the budget of a JSON ask (default: the transit's).
   */
  serve(subject: string, handler: (req: InboundRequest) => void, options: { queue?: string; defaultTimeoutMs?: number } = {}): TransportSubscription {
    this.listenForCancels();
    const { queue, defaultTimeoutMs } = options;
    return this.transport.subscribe(subject, (msg) => this.accept(msg, handler, defaultTimeoutMs), queue === undefined ? undefined : { queue });
  }

  /**
   * Decodes `msg` (received on a served subject) and hands it to `handler`. A message that cannot be decoded,
   * an ask past its deadline or with an absurd one, and a handler that throws are answered with the typed
   * error (a tell has no one to answer: `onRefusedTell` hears about it).
   */
  accept(msg: TransportMessage, handler: (req: InboundRequest) => void, defaultTimeoutMs = this.deps.defaultTimeoutMs, onRefusedTell?: (subject: string, err: unknown) => void): void {
    const reply = msg.reply;
    if (!isBinaryFrame(msg.data)) {
      let req: InboundRequest;
      try {
        const event = validateWireEvent(decodeJson(msg.data, this.deps.maxMessageBytes));
        req = new InboundRequest(this, msg.subject, event, reply, false, undefined, this.clock.now() + defaultTimeoutMs);
        req.traceparent = msg.traceparent;
        if (reply !== undefined) this.track(req, reply, defaultTimeoutMs);
      } catch (err) {
        this.refuse(msg, err, onRefusedTell);
        return;
      }
      this.hand(req, handler);
      return;
    }
    let env: Envelope;
    try {
      env = parseEnvelope(this.codec.decode(msg.data));
    } catch (err) {
      this.refuse(msg, err, onRefusedTell);
      return;
    }
    if (env.k !== 'b') {
      this.acceptEnvelope(msg, env, handler, defaultTimeoutMs, onRefusedTell, false);
      return;
    }
    for (const frame of env.m) {
      let inner: Envelope;
      try {
        inner = parseEnvelope(this.codec.decode(frame));
        if (inner.k === 'b') throw new BadFrameError('a batch envelope may not hold another batch');
      } catch (err) {
        // no correlation id to answer with: its asker times out
        this.logger.debug({ err, subject: msg.subject }, 'undecodable frame in a batch');
        continue;
      }
      this.acceptEnvelope(msg, inner, handler, defaultTimeoutMs, onRefusedTell, true);
    }
  }

  private hand(req: InboundRequest, handler: (req: InboundRequest) => void): void {
    const traced = startServerSpan(req.event.type, req.subject, req.traceparent, this.deps.nodeId);
    if (traced === undefined) {
      this.handle(req, handler);
      return;
    }
    req.span = traced.span;
    withContext(traced.context, () => this.handle(req, handler));
    // a tell has no answer to wait for: its span covers the handler's synchronous part
    if (!req.isAsk) endSpan(req.span);
  }

  private handle(req: InboundRequest, handler: (req: InboundRequest) => void): void {
    try {
      handler(req);
    } catch (err) {
      if (req.isAsk) req.fail(err);
      else this.logger.warn({ err, subject: req.subject }, 'handler threw on a tell');
    }
  }

  /** Answers a message that could not be decoded (a tell has no one to answer: `onRefusedTell` hears of it). */
  private refuse(msg: TransportMessage, err: unknown, onRefusedTell?: (subject: string, err: unknown) => void): void {
    if (msg.reply !== undefined) {
      this.publishAnswer(msg.reply, isBinaryFrame(msg.data), undefined, undefined, err);
      this.onServed?.(msg.subject, 0, err);
    } else if (onRefusedTell !== undefined) onRefusedTell(msg.subject, err);
    else this.logger.debug({ err, subject: msg.subject }, 'message refused');
  }

  private acceptEnvelope(
    msg: TransportMessage,
    env: Envelope,
    handler: (req: InboundRequest) => void,
    defaultTimeoutMs: number,
    onRefusedTell: ((subject: string, err: unknown) => void) | undefined,
    batched: boolean,
  ): void {
    const reply = msg.reply;
    const asked = env.k === 'a' && reply !== undefined;
    let req: InboundRequest;
    try {
      if (env.k !== 't' && env.k !== 'a') throw new BadFrameError(`a ${env.k === 'r' ? 'reply' : env.k === 'c' ? 'cancel' : 'batch'} frame was sent to ${msg.subject}`);
      const event = validateWireEvent(env.e);
      const now = this.clock.now();
      if (env.k === 't' || reply === undefined) {
        req = new InboundRequest(this, msg.subject, event, undefined, true, undefined, now + defaultTimeoutMs);
        req.traceparent = env.t ?? msg.traceparent;
      } else {
        const deadline = env.d ?? now + defaultTimeoutMs;
        const budget = deadline - now;
        if (budget <= 0) {
          this.counters.expiredArrival();
          throw new TimeoutError(`ask (${event.type}) to ${msg.subject} arrived ${Math.round(-budget)} ms after its deadline`, { details: { subject: msg.subject, type: event.type } });
        }
        if (budget > MAX_DEADLINE_MS) {
          throw new InvalidArgumentError(`ask (${event.type}) to ${msg.subject} has a deadline ${Math.round(budget)} ms ahead; at most ${MAX_DEADLINE_MS} ms is accepted`, {
            details: { subject: msg.subject, max: MAX_DEADLINE_MS },
          });
        }
        req = new InboundRequest(this, msg.subject, event, reply, true, env.c, deadline, batched);
        req.traceparent = env.t ?? msg.traceparent;
        this.track(req, `${reply} ${env.c}`, budget);
      }
    } catch (err) {
      if (asked) this.publishAnswer(reply, true, env.c, undefined, err, batched);
      else if (reply !== undefined && env.k !== 't') this.publishAnswer(reply, true, undefined, undefined, err, batched);
      else if (onRefusedTell !== undefined) onRefusedTell(msg.subject, err);
      else this.logger.debug({ err, subject: msg.subject }, 'message refused');
      return;
    }
    this.hand(req, handler);
  }

  /** Schedules the ask's expiry at its deadline and remembers it for cancels. */
  private track(req: InboundRequest, key: string, budget: number): void {
    this.timeouts.schedule(req, budget);
    if (this.inflight.size >= MAX_CANCELLABLE) return;
    req.key = key;
    this.inflight.set(key, req);
  }

  /** @internal */
  untrack(req: InboundRequest): void {
    if (this.inflight.get(req.key!) === req) this.inflight.delete(req.key!);
    req.key = undefined;
  }

  /** @internal The ask's deadline passed unanswered: free it, count it, abort its work. */
  dropExpired(req: InboundRequest): void {
    if (req.key !== undefined) this.untrack(req);
    this.counters.expiredWaiting();
    const err = new TimeoutError(`ask (${req.event.type}) to ${req.subject} was not answered before its deadline`, { details: { subject: req.subject, type: req.event.type } });
    // The NATS CLI waits for an answer (a binary asker gave up at the same instant: no answer for it).
    if (!req.binary && req.replyTo !== undefined) this.publishAnswer(req.replyTo, false, undefined, undefined, err);
    endSpan(req.span, err);
    req.span = undefined;
    this.onServed?.(req.subject, (performance.now() - req.received) / 1000, err);
    req.abandon(err);
  }

  private readonly onCancelMessage = (msg: TransportMessage): void => {
    let env: CancelEnvelope;
    try {
      const value = isBinaryFrame(msg.data) ? this.codec.decode(msg.data) : decodeJson(msg.data, 64 * 1024);
      const parsed = parseEnvelope(value);
      if (parsed.k !== 'c') throw new BadFrameError(`expected a cancel envelope on ${this.cancelSubject}, got kind "${parsed.k}"`);
      env = parsed;
    } catch (err) {
      this.counters.cancelUnknown();
      this.logger.debug({ err }, 'cancel refused');
      return;
    }
    const req = this.inflight.get(env.c === undefined ? env.r : `${env.r} ${env.c}`);
    if (req !== undefined && !req.settled) {
      this.counters.cancelApplied();
      req.finish();
      const err = new CancelledError(`ask (${req.event.type}) to ${req.subject} was cancelled by its sender`, { details: { subject: req.subject, type: req.event.type } });
      this.answer(req, undefined, err);
      req.abandon(err);
      return;
    }
    let applied = false;
    for (const l of this.cancelListeners) {
      try {
        if (l(env.r, env.c)) applied = true;
      } catch (err) {
        this.logger.warn({ err }, 'cancel listener threw');
      }
    }
    if (applied) this.counters.cancelApplied();
    else this.counters.cancelUnknown();
  };

  /**
   * Hears the cancels that name no ask in progress here (a pool hears of its tasks this way: the reply subject
   * is the submitter's results inbox, the correlation id the task id). `listener` returns true when it applied
   * the cancel. Returns the function that stops it.
   */
  onCancel(listener: (reply: string, cid: string | undefined) => boolean): () => void {
    this.listenForCancels();
    this.cancelListeners.add(listener);
    return () => this.cancelListeners.delete(listener);
  }

  /** Tells every node to cancel the work named by `reply` (its reply subject) and `cid` (its correlation id). */
  publishCancel(reply: string, cid: string | undefined): void {
    const env: CancelEnvelope = cid === undefined ? { v: ENVELOPE_VERSION, k: 'c', r: reply } : { v: ENVELOPE_VERSION, k: 'c', r: reply, c: cid };
    try {
      this.transport.publish(this.cancelSubject, this.codec.encode(env));
    } catch (err) {
      this.logger.debug({ err, reply }, 'could not publish a cancel');
    }
  }

  /** @internal Publishes the answer to an inbound ask. */
  answer(req: InboundRequest, ok: HiveEvent | undefined, err: unknown): void {
    if (req.replyTo !== undefined) this.publishAnswer(req.replyTo, req.binary, req.cid, ok, err, req.batched);
    this.onServed?.(req.subject, (performance.now() - req.received) / 1000, ok === undefined ? err : undefined);
    if (req.span !== undefined) {
      endSpan(req.span, ok === undefined ? err : undefined);
      req.span = undefined;
    }
  }

  private publishAnswer(replyTo: string, binary: boolean, cid: string | undefined, ok: HiveEvent | undefined, err: unknown, batched = false): void {
    let data: Uint8Array;
    try {
      data = binary ? this.codec.encode(this.replyEnvelope(cid, ok, err)) : encodeJson(ok !== undefined ? ok : toErrorReply(err));
    } catch (encodeErr) {
      // the answer itself could not be encoded (too large, unserialisable): tell the asker why
      try {
        data = binary ? this.codec.encode(this.replyEnvelope(cid, undefined, encodeErr)) : encodeJson(toErrorReply(encodeErr));
      } catch (again) {
        this.logger.warn({ err: again, replyTo }, 'could not encode an answer');
        return;
      }
    }
    if (batched && data.length <= MAX_BATCHED_FRAME) {
      // it came in a batch: its answer leaves with the others for the same asker at the end of the turn
      let o = this.answers.get(replyTo);
      if (o === undefined || o.frames.length >= MAX_BATCH) {
        if (o !== undefined) this.publishAnswers(replyTo, o);
        o = { token: '', frames: [], calls: [] };
        this.answers.set(replyTo, o);
        this.scheduleFlush();
      }
      o.frames.push(data);
      return;
    }
    try {
      this.transport.publish(replyTo, data);
    } catch (pubErr) {
      this.logger.warn({ err: pubErr, replyTo }, 'could not publish an answer');
    }
  }

  private publishAnswers(replyTo: string, o: Outgoing): void {
    try {
      this.publishFrames(replyTo, o.frames, undefined);
    } catch (err) {
      this.logger.warn({ err, replyTo }, 'could not publish answers');
    }
  }

  private replyEnvelope(cid: string | undefined, ok: HiveEvent | undefined, err: unknown): ReplyEnvelope {
    const env: ReplyEnvelope = { v: ENVELOPE_VERSION, k: 'r', n: this.deps.nodeId };
    if (cid !== undefined) env.c = cid;
    if (ok !== undefined) env.ok = ok;
    else env.err = toErrorReply(err);
    return env;
  }

  // ------------------------------------------------------------------ shutdown

  private failAll(why: string): void {
    if (this.calls.size === 0) return;
    const all = [...this.calls.values()];
    for (const c of all) {
      c.finish();
      c.reject(new UnavailableError(`${why} before ${c.what} answered`, { details: { subject: c.subject } }));
    }
  }

  /** Stops serving cancels and fails every request still waiting with UNAVAILABLE. */
  stop(): void {
    this.flush();
    this.stopped = true;
    this.cancelSub?.unsubscribe();
    this.cancelSub = undefined;
    this.inboxSub?.unsubscribe();
    this.inboxSub = undefined;
    this.failAll('this node stopped');
    for (const req of [...this.inflight.values()]) {
      req.finish();
      const err = new UnavailableError('this node stopped');
      endSpan(req.span, err);
      req.span = undefined;
      req.abandon(err);
    }
    this.timeouts.dispose();
  }
}
