// The serving side of the transit. Decodes a binary frame (tell, ask or batch envelope) or JSON text (the NATS
// CLI; a reply subject makes it an ask), validates the event, refuses work that arrived past its deadline
// (answered TIMEOUT, counted in `hive_expired_total`) or with a deadline further than MAX_DEADLINE_MS, hands
// an {@link InboundRequest} to the handler, and answers binary for binary, JSON for JSON (answers to a batch
// leave batched). The one place wire events are checked: xstate's and Hive's internal event types are
// refused (validateWireEvent). An ask still unanswered at its deadline is dropped (counted, its signal
// aborted, its handler told to let go); a `cancel` on `hive.<cluster>.sys.cancel` aborts it and answers the
// asker CANCELLED.
import type { CancelEnvelope, Envelope, HiveEvent, ReplyEnvelope } from '../../protocols/envelope.js';
import { ENVELOPE_VERSION, parseEnvelope, validateWireEvent } from '../../protocols/envelope.js';
import { BadFrameError, CancelledError, InvalidArgumentError, TimeoutError, UnavailableError, toErrorReply } from '../../protocols/errors.js';
import { decodeJson, encodeJson, isBinaryFrame, type FrameCodec } from '../../protocols/frame.js';
import type { Clock } from '../Clock.js';
import type { Logger } from '../logger.js';
import { Timeouts } from '../Timeouts.js';
import { endSpan, startServerSpan, withContext } from '../tracing.js';
import type { Transport, TransportMessage, TransportSubscription } from '../Transport.js';
import { Coalescer, publishFrames, type Coalesced } from './Coalescer.js';
import { InboundRequest, type InboundOwner } from './InboundRequest.js';
import { MAX_BATCHED_FRAME, MAX_CANCELLABLE, MAX_DEADLINE_MS } from './limits.js';
import type { TransitCounters } from './transitCounters.js';

/** What a {@link Responder} needs. */
export interface ResponderDeps {
  transport: Transport;
  codec: FrameCodec;
  clock: Clock;
  logger: Logger;
  /** Answers say which node answered (`n`), so askers can guard each node with its own breaker. */
  nodeId: string;
  /** Where cancels arrive (`hive.<cluster>.sys.cancel`). */
  cancelSubject: string;
  /** Largest JSON text accepted. */
  maxMessageBytes: number;
  /** Budget of a JSON ask (which has none) and of an ask envelope without `d`. */
  defaultTimeoutMs: number;
  counters: TransitCounters;
}

/** Called for a tell that could not be delivered (nobody to answer). */
export type RefusedTell = (subject: string, err: unknown) => void;

/** Serves subjects: decodes what arrives, hands it to a handler, publishes the answers. */
export class Responder implements InboundOwner {
  /**
   * Hears every served ask once it is answered (or dropped at its deadline): the subject, the processing time
   * in seconds and the error, if it failed (the node's NATS service stats count them).
   */
  onServed: ((subject: string, seconds: number, err: unknown) => void) | undefined = undefined;

  private readonly transport: Transport;
  private readonly codec: FrameCodec;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly counters: TransitCounters;
  private readonly inflight = new Map<string, InboundRequest>();
  private readonly cancelListeners = new Set<(reply: string, cid: string | undefined) => boolean>();
  private readonly answers: Coalescer<never>;
  private readonly timeouts: Timeouts;
  private cancelSub: TransportSubscription | undefined;

  constructor(private readonly deps: ResponderDeps) {
    this.transport = deps.transport;
    this.codec = deps.codec;
    this.clock = deps.clock;
    this.logger = deps.logger;
    this.counters = deps.counters;
    this.timeouts = new Timeouts(this.clock);
    this.answers = new Coalescer<never>((b) => this.publishAnswers(b));
  }

  now(): number {
    return this.clock.now();
  }

  /** Asks being served that a cancel can still reach. */
  get inProgress(): number {
    return this.inflight.size;
  }

  /** Starts listening for `cancel` envelopes (nodes do; pure clients need not). */
  listenForCancels(): void {
    if (this.cancelSub !== undefined || !this.transport.connected) return;
    this.cancelSub = this.transport.subscribe(this.deps.cancelSubject, this.onCancelMessage);
  }

  /** See {@link Transit.serve}. */
  serve(subject: string, handler: (req: InboundRequest) => void, options: { queue?: string; defaultTimeoutMs?: number; jsonBody?: (body: unknown) => HiveEvent } = {}): TransportSubscription {
    this.listenForCancels();
    const { queue, defaultTimeoutMs, jsonBody } = options;
    return this.transport.subscribe(subject, (msg) => this.accept(msg, handler, defaultTimeoutMs, undefined, jsonBody), queue === undefined ? undefined : { queue });
  }

  /** See {@link Transit.accept}. */
  accept(msg: TransportMessage, handler: (req: InboundRequest) => void, defaultTimeoutMs = this.deps.defaultTimeoutMs, onRefusedTell?: RefusedTell, jsonBody?: (body: unknown) => HiveEvent): void {
    const reply = msg.reply;
    if (!isBinaryFrame(msg.data)) {
      let req: InboundRequest;
      try {
        // a subject whose JSON is not an event may take an empty body (`nats req <subject> ''`): undefined
        const body = jsonBody !== undefined && msg.data.length === 0 ? undefined : decodeJson(msg.data, this.deps.maxMessageBytes);
        const event = jsonBody === undefined ? validateWireEvent(body) : jsonBody(body);
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
  private refuse(msg: TransportMessage, err: unknown, onRefusedTell?: RefusedTell): void {
    if (msg.reply !== undefined) {
      this.publishAnswer(msg.reply, isBinaryFrame(msg.data), undefined, undefined, err);
      this.onServed?.(msg.subject, 0, err);
    } else if (onRefusedTell !== undefined) onRefusedTell(msg.subject, err);
    else this.logger.debug({ err, subject: msg.subject }, 'message refused');
  }

  private acceptEnvelope(msg: TransportMessage, env: Envelope, handler: (req: InboundRequest) => void, defaultTimeoutMs: number, onRefusedTell: RefusedTell | undefined, batched: boolean): void {
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
        this.track(req, env.c, budget);
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

  /**
   * Schedules the ask's expiry at its deadline and remembers it for cancels, by `key`: its correlation id (a
   * binary ask) or its reply subject (a JSON ask). A key already taken (a client reusing ids) falls back to
   * `<reply subject> <key>`; a cancel is applied only to an ask whose reply subject and correlation id it names.
   */
  private track(req: InboundRequest, key: string, budget: number): void {
    this.timeouts.schedule(req, budget);
    if (this.inflight.size >= MAX_CANCELLABLE) return;
    if (this.inflight.has(key)) {
      key = `${req.replyTo} ${key}`;
      if (this.inflight.has(key)) return;
    }
    req.key = key;
    this.inflight.set(key, req);
  }

  /** The ask in progress a cancel names: reply subject `r` and correlation id `c` (none for a JSON ask). */
  private named(r: string, c: string | undefined): InboundRequest | undefined {
    const key = c ?? r;
    let req = this.inflight.get(key);
    if (req !== undefined && req.replyTo === r && req.cid === c) return req;
    req = this.inflight.get(`${r} ${key}`);
    return req !== undefined && req.replyTo === r && req.cid === c ? req : undefined;
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
      if (parsed.k !== 'c') throw new BadFrameError(`expected a cancel envelope on ${this.deps.cancelSubject}, got kind "${parsed.k}"`);
      env = parsed;
    } catch (err) {
      this.counters.cancelUnknown();
      this.logger.debug({ err }, 'cancel refused');
      return;
    }
    const req = this.named(env.r, env.c);
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

  /** See {@link Transit.onCancel}. */
  onCancel(listener: (reply: string, cid: string | undefined) => boolean): () => void {
    this.listenForCancels();
    this.cancelListeners.add(listener);
    return () => this.cancelListeners.delete(listener);
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
      this.answers.add(replyTo, data, undefined, '');
      return;
    }
    try {
      this.transport.publish(replyTo, data);
    } catch (pubErr) {
      this.logger.warn({ err: pubErr, replyTo }, 'could not publish an answer');
    }
  }

  private publishAnswers(b: Coalesced<never>): void {
    try {
      publishFrames(this.transport, this.codec, b.subject, b.frames, undefined);
    } catch (err) {
      this.logger.warn({ err, replyTo: b.subject }, 'could not publish answers');
    }
  }

  private replyEnvelope(cid: string | undefined, ok: HiveEvent | undefined, err: unknown): ReplyEnvelope {
    const env: ReplyEnvelope = { v: ENVELOPE_VERSION, k: 'r', n: this.deps.nodeId };
    if (cid !== undefined) env.c = cid;
    if (ok !== undefined) env.ok = ok;
    else env.err = toErrorReply(err);
    return env;
  }

  /** Sends the answers waiting, stops hearing cancels and drops every ask in progress (UNAVAILABLE). */
  stop(): void {
    this.answers.flush();
    this.cancelSub?.unsubscribe();
    this.cancelSub = undefined;
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
