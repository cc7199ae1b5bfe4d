// The sending side of the transit. Encodes the ask envelope with its absolute deadline `d`, guards it with the
// destination's breaker, publishes it with reply subject `<inbox>.<correlation id>` (one inbox subscription
// per transit), frees the pending entry at the deadline (timeouts batched, ../Timeouts.ts), maps NATS "no
// responders" to NO_SUCH_ACTOR, decodes the reply and records the round trip. An AbortSignal cancels: the
// caller gets CANCELLED at once; a request still waiting in this turn's batch is taken out of it (never
// sent), one already sent is followed by a `cancel` envelope that tells the serving node to stop.
import type { AskEnvelope, CancelEnvelope, Envelope, HiveEvent, TellEnvelope } from '../../protocols/envelope.js';
import { ENVELOPE_VERSION, parseEnvelope } from '../../protocols/envelope.js';
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
  toHiveError,
} from '../../protocols/errors.js';
import { decodeJson, encodeJson, type FrameCodec } from '../../protocols/frame.js';
import type { Clock } from '../Clock.js';
import { secureId } from '../ids.js';
import type { Logger } from '../logger.js';
import type { LatencyRecorder } from '../metrics.js';
import { Timeouts } from '../Timeouts.js';
import { endSpan, startClientSpan, traceparentOf } from '../tracing.js';
import type { Transport, TransportMessage, TransportSubscription } from '../Transport.js';
import { Coalescer, publishFrames, type Coalesced } from './Coalescer.js';
import { MAX_BATCHED_FRAME, MAX_DEADLINE_MS } from './limits.js';
import { PendingRequest, type PendingOwner, type RequestOptions } from './PendingRequest.js';

/**
 * Guards remote asks (the cluster layer puts a circuit breaker per destination node here): `call` may fail
 * fast instead of sending; `answered` tells which node answered for a destination key.
 */
export interface RemoteGuard {
  call<T>(key: string, send: () => Promise<T>): Promise<T>;
  answered(key: string, node: string): void;
}

/** What a {@link Requester} needs. */
export interface RequesterDeps {
  transport: Transport;
  codec: FrameCodec;
  clock: Clock;
  logger: Logger;
  /** Where cancels are published (`hive.<cluster>.sys.cancel`). */
  cancelSubject: string;
  /** Largest JSON text accepted. */
  maxMessageBytes: number;
  /** Budget of a request that names neither a deadline nor a timeout. */
  defaultTimeoutMs: number;
  /** Where remote round trips are recorded (seconds). */
  latency?: LatencyRecorder | undefined;
}

/** Sends tells, requests and cancels; settles requests from their replies. */
export class Requester implements PendingOwner {
  /** Guards requests that name a `guardKey` (the node's per-destination breakers). */
  guard: RemoteGuard | undefined = undefined;

  private readonly transport: Transport;
  private readonly codec: FrameCodec;
  private readonly clock: Clock;
  private readonly calls = new Map<string, PendingRequest>();
  private readonly outbox: Coalescer<PendingRequest>;
  private readonly timeouts: Timeouts;
  private inbox: string | undefined;
  private replyPrefix = '';
  private inboxSub: TransportSubscription | undefined;
  private stopped = false;

  constructor(private readonly deps: RequesterDeps) {
    this.transport = deps.transport;
    this.codec = deps.codec;
    this.clock = deps.clock;
    this.timeouts = new Timeouts(this.clock);
    this.outbox = new Coalescer<PendingRequest>((b) => this.publishBatch(b));
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

  /** Requests waiting for a reply. */
  get pending(): number {
    return this.calls.size;
  }

  /** Sends a tell envelope to `subject`. Throws for an unencodable event or a transport that refuses it. */
  tell(subject: string, event: HiveEvent, from?: string): void {
    const env: TellEnvelope = from === undefined ? { v: ENVELOPE_VERSION, k: 't', e: event } : { v: ENVELOPE_VERSION, k: 't', e: event, f: from };
    const traceparent = traceparentOf();
    if (traceparent !== undefined) env.t = traceparent;
    this.transport.publish(subject, this.codec.encode(env));
  }

  /** See {@link Transit.request} (`json`: JSON text both ways, as the NATS CLI sends). */
  request(subject: string, body: unknown, o: RequestOptions, json: boolean): Promise<unknown> {
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
    const call = new PendingRequest(this, cid, subject, type, budget, performance.now(), json, o);
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
      const b = this.outbox.add(subject, data, call, cid);
      call.token = b.token;
      call.queued = b;
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

  /** A batch of requests leaves (one frame as it is, several in a batch envelope). */
  private publishBatch(b: Coalesced<PendingRequest>): void {
    for (const call of b.items) call.queued = undefined;
    try {
      publishFrames(this.transport, this.codec, b.subject, b.frames, this.replyPrefix + b.token);
    } catch (err) {
      const e = toHiveError(err);
      for (const call of b.items) {
        if (call.settled) continue;
        call.finish();
        call.reject(e);
      }
    }
  }

  /** Every request waiting for the end of the turn leaves now. */
  flush(): void {
    this.outbox.flush();
  }

  private openInbox(): void {
    this.inbox = this.transport.createInbox();
    this.replyPrefix = `${this.inbox}.`;
    this.inboxSub = this.transport.subscribe(`${this.inbox}.*`, this.onReply);
  }

  /** @internal */
  forget(call: PendingRequest): void {
    this.calls.delete(call.cid);
  }

  /** @internal The caller cancelled `call`: a request not sent yet is taken out of its batch, else the serving node hears of it. */
  cancelled(call: PendingRequest): void {
    const b = call.queued;
    if (b !== undefined) {
      call.queued = undefined;
      if (this.outbox.remove(b, call)) return;
    }
    this.publishCancel(this.replyPrefix + call.token, call.json ? undefined : call.cid);
  }

  /** Tells every node to cancel the work named by `reply` (its reply subject) and `cid` (its correlation id). */
  publishCancel(reply: string, cid: string | undefined): void {
    const env: CancelEnvelope = cid === undefined ? { v: ENVELOPE_VERSION, k: 'c', r: reply } : { v: ENVELOPE_VERSION, k: 'c', r: reply, c: cid };
    try {
      this.transport.publish(this.deps.cancelSubject, this.codec.encode(env));
    } catch (err) {
      this.deps.logger.debug({ err, reply }, 'could not publish a cancel');
    }
  }

  private readonly onReply = (msg: TransportMessage): void => {
    const token = msg.subject.substring(this.replyPrefix.length);
    if (msg.noResponders === true) {
      // nothing serves the subject: every request sent in that message fails
      let subject = this.calls.get(token)?.subject;
      for (const call of [...this.calls.values()]) {
        if (call.token !== token || call.queued !== undefined) continue;
        if (subject === undefined) subject = call.subject;
        else if (call.subject !== subject) continue;
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
          this.deps.logger.debug({ err }, 'undecodable frame in a batch of answers');
        }
      }
      return;
    }
    this.settle(env, byToken);
  };

  /** Settles the call an answer envelope names (by its `c`, else the one its reply subject named). */
  private settle(reply: Envelope, fallback: PendingRequest | undefined): void {
    const call = reply.k === 'r' && reply.c !== undefined ? this.calls.get(reply.c) : fallback;
    if (call === undefined) return; // late (after the deadline or a cancel), or a duplicate
    call.finish();
    if (reply.k !== 'r') {
      call.reject(new BadFrameError(`expected a reply frame from ${call.what}, got kind "${reply.k}"`));
      return;
    }
    this.deps.latency?.observe((performance.now() - call.started) / 1000);
    const key = call.options.guardKey;
    if (reply.n !== undefined && key !== undefined) this.guard?.answered(key, reply.n);
    if (reply.err !== undefined) call.reject(errorFromReply(reply.err));
    else call.resolve(reply.ok as never);
  }

  private failAll(why: string): void {
    if (this.calls.size === 0) return;
    const all = [...this.calls.values()];
    for (const c of all) {
      c.finish();
      c.reject(new UnavailableError(`${why} before ${c.what} answered`, { details: { subject: c.subject } }));
    }
  }

  /** Sends what waits, stops the inbox and fails every request still waiting with UNAVAILABLE. */
  stop(): void {
    this.flush();
    this.stopped = true;
    this.inboxSub?.unsubscribe();
    this.inboxSub = undefined;
    this.failAll('this node stopped');
    this.timeouts.dispose();
  }
}
