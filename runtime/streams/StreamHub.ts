// StreamHub: one node's streamed replies. As a consumer it owns one stream inbox (`<inbox>.<stream id>`, one
// subscription for every stream this node reads) and sends credits and keep-alives; as a producer it owns the
// node's credit subject (`hive.<cluster>.credit.<node>`) and the sinks credits are for. Both maps are bounded;
// every stream leaves them when it ends, fails, is cancelled, or its consumer goes quiet past the idle timeout.
import type { HiveEvent } from '../../protocols/envelope.js';
import { ENVELOPE_VERSION } from '../../protocols/envelope.js';
import {
  BadFrameError,
  CancelledError,
  InvalidArgumentError,
  NoSuchActorError,
  OverloadedError,
  TimeoutError,
  UnavailableError,
  errorFromReply,
  toHiveError,
  type HiveError,
} from '../../protocols/errors.js';
import { decodeJson, isBinaryFrame, type FrameCodec } from '../../protocols/frame.js';
import {
  DEFAULT_STREAM_IDLE_MS,
  DEFAULT_STREAM_WINDOW,
  STREAM_FIELD,
  creditSubject,
  parseCredit,
  parseStreamFrame,
  parseStreamRequest,
  type CreditFrame,
  type StreamMessage,
} from '../../protocols/streams.js';
import type { Clock, TimerHandle } from '../Clock.js';
import { secureId } from '../ids.js';
import type { Logger } from '../logger.js';
import type { MetricsRegistry } from '../metrics.js';
import { MAX_DEADLINE_MS, type InboundRequest, type Transit } from '../Transit.js';
import { traceparentOf } from '../tracing.js';
import { Timeouts, type Expiring, type TimeoutBatch } from '../Timeouts.js';
import type { Transport, TransportMessage, TransportSubscription } from '../Transport.js';
import { ChunkStream, type StreamLink } from './ChunkStream.js';
import { LocalStream } from './LocalStream.js';
import { RemoteSink, type StreamTarget } from './RemoteSink.js';
import { registerSink } from './streamRegistry.js';

/** Streams one node produces, or reads, at once (each side); past it a new stream is refused with OVERLOADED. */
export const MAX_STREAMS = 10_000;
/** Budget of a stream that names no timeout: the whole stream must end within it. */
export const DEFAULT_STREAM_TIMEOUT_MS = 300_000;

/** Options of `askStream` and `submitStream`. */
export interface StreamOptions {
  /** Aborting it cancels the stream: the producer's signal aborts, the loop throws CANCELLED. */
  signal?: AbortSignal | undefined;
  /** The whole stream must end within this (default 300,000 ms; at most 3,600,000); past it: TIMEOUT. */
  timeoutMs?: number | undefined;
  /** Absolute deadline, epoch ms (wins over `timeoutMs`). */
  deadline?: number | undefined;
  /** Credit window: chunks the producer may send ahead of the reader (default 1024, 1 to 65,536; the reader buffers at most this many). */
  window?: number | undefined;
  /** The producer is cancelled when it hears nothing from this consumer for this long (default 30,000 ms). */
  idleTimeoutMs?: number | undefined;
}

/** What a hub needs from its node. */
export interface StreamHubDeps {
  transport: Transport;
  codec: FrameCodec;
  transit: Transit;
  cluster: string;
  nodeId: string;
  clock: Clock;
  logger: Logger;
  metrics?: MetricsRegistry;
}

const OPTION_NAMES = { window: 'window', idleMs: 'idleTimeoutMs' };

/** The consumer side of a stream read over the wire. */
class RemoteStream implements StreamLink, Expiring {
  settled = false;
  batch: TimeoutBatch | undefined = undefined;
  private what = '';
  private budgetMs = 0;
  private next = 0;
  private creditTo: string | undefined = undefined;
  private unsent = 0;
  private readonly threshold: number;
  private keepaliveTimer: TimerHandle | undefined = undefined;
  private closed = false;

  constructor(
    private readonly hub: StreamHub,
    readonly stream: ChunkStream,
    readonly sid: string,
    readonly replyTo: string,
    private readonly idleMs: number,
    /** How a cancel reaches the producer (default: a cancel envelope naming the stream's ask). */
    private readonly onCancel: ((reason: HiveError) => void) | undefined,
  ) {
    this.threshold = Math.max(1, Math.floor(stream.window / 4));
  }

  /** Fails the stream with TIMEOUT after `ms` (batched with the hub's other deadlines). */
  startDeadline(ms: number, what: string): void {
    this.what = what;
    this.budgetMs = ms;
    this.hub.deadlines.schedule(this, ms);
  }

  /** The deadline passed (called by the timeout batch, which marked it settled). */
  expire(): void {
    const err = new TimeoutError(`stream from ${this.what} passed its deadline (${this.budgetMs} ms)`);
    this.cancel(err);
    this.stream.fail(err);
  }

  onMessage(m: StreamMessage): void {
    switch (m.kind) {
      case 'chunks': {
        if (m.seq !== this.next) {
          if (m.seq < this.next) return; // a duplicate
          this.broken(new BadFrameError(`stream lost chunks: expected chunk ${this.next}, got ${m.seq}`, { details: { expected: this.next, got: m.seq } }));
          return;
        }
        if (m.credit !== undefined && this.creditTo === undefined) {
          this.creditTo = m.credit;
          this.armKeepalive();
        }
        this.next += m.chunks.length;
        for (const c of m.chunks) if (!this.stream.push(c)) return;
        return;
      }
      case 'end':
        if (m.count !== this.next) {
          this.broken(new BadFrameError(`stream ended after ${m.count} chunks but ${this.next} arrived`, { details: { sent: m.count, received: this.next } }));
          return;
        }
        this.stream.finish(m.final);
        return;
      case 'error':
        this.stream.fail(errorFromReply(m.error));
        return;
      case 'answer':
        this.stream.finish(m.answer);
    }
  }

  /** A frame that breaks the stream: the reader gets the error, the producer a cancel. */
  broken(err: HiveError): void {
    this.cancel(err);
    this.stream.fail(err);
  }

  consumed(n: number): void {
    this.unsent += n;
    if (this.unsent >= this.threshold) this.sendCredit();
  }

  private sendCredit(): void {
    if (this.creditTo === undefined || this.closed) return;
    const f: CreditFrame = { v: ENVELOPE_VERSION, k: 'g', r: this.replyTo, c: this.sid, n: this.unsent };
    this.unsent = 0;
    try {
      this.hub.publish(this.creditTo, this.hub.codec.encode(f));
    } catch (err) {
      this.hub.logger.debug({ err }, 'could not send stream credits');
    }
  }

  private armKeepalive(): void {
    this.keepaliveTimer = this.hub.clock.setTimeout(this.onKeepalive, Math.max(10, Math.floor(this.idleMs / 3)));
  }

  private readonly onKeepalive = (): void => {
    this.keepaliveTimer = undefined;
    if (this.closed) return;
    this.sendCredit();
    this.armKeepalive();
  };

  cancel(reason: HiveError): void {
    if (this.closed) return;
    if (this.onCancel !== undefined) this.onCancel(reason);
    else this.hub.transit.publishCancel(this.replyTo, this.sid);
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.settled) {
      this.settled = true;
      this.batch?.release(this);
    }
    if (this.keepaliveTimer !== undefined) this.hub.clock.clearTimeout(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
    this.hub.forgetReceiver(this.sid, this);
  }
}

/** A stream that failed before it started (bad options, nothing to ask): its loop throws `err`. */
export function failedStream<T>(err: unknown): ChunkStream<T> {
  const s = new ChunkStream<T>(1);
  s.fail(err);
  return s;
}

/** One node's streams. */
export class StreamHub {
  readonly codec: FrameCodec;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly transit: Transit;
  readonly nodeId: string;
  /** Where consumers send credits for the streams this node produces. */
  readonly creditSubject: string;
  private readonly transport: Transport;
  private readonly sinks = new Map<string, RemoteSink>();
  private readonly receivers = new Map<string, RemoteStream>();
  private localOpen = 0;
  private creditSub: TransportSubscription | undefined;
  private inboxSub: TransportSubscription | undefined;
  private inbox = '';
  private stopped = false;
  private idleCancels = 0;
  /** @internal Deadlines of the streams this node reads, batched (one timer per millisecond and budget). */
  readonly deadlines: Timeouts;

  constructor(deps: StreamHubDeps) {
    this.transport = deps.transport;
    this.codec = deps.codec;
    this.clock = deps.clock;
    this.logger = deps.logger;
    this.transit = deps.transit;
    this.nodeId = deps.nodeId;
    this.creditSubject = creditSubject(deps.cluster, deps.nodeId);
    this.deadlines = new Timeouts(deps.clock);
    const m = deps.metrics;
    if (m !== undefined) {
      const sinks = this.sinks;
      const receivers = this.receivers;
      const local = () => this.localOpen;
      m.gauge('hive_streams_open', 'Streamed replies open on this node (produced for another node, read from another node, in process)', ['side'], function () {
        this.set({ side: 'producing' }, sinks.size);
        this.set({ side: 'reading' }, receivers.size);
        this.set({ side: 'local' }, local());
      });
      const idle = () => this.idleCancels;
      m.gauge('hive_stream_idle_cancels', 'Streams this node produced whose consumer went quiet past the idle timeout (cancelled)', [], function () {
        this.set(idle());
      });
    }
  }

  /** Streams open now: produced for other nodes, read from other nodes, in process. */
  get open(): { producing: number; reading: number; local: number } {
    return { producing: this.sinks.size, reading: this.receivers.size, local: this.localOpen };
  }

  /** @internal */
  publish(subject: string, data: Uint8Array): void {
    this.transport.publish(subject, data);
  }

  /** @internal */
  countIdle(): void {
    this.idleCancels++;
  }

  // ------------------------------------------------------------------ consumer side

  /** Validated window, idle timeout and budget of a stream's options. */
  private limits(options: StreamOptions): { window: number; idleMs: number; budget: number } {
    const { window, idleMs } = parseStreamRequest({ window: options.window, idleMs: options.idleTimeoutMs }, OPTION_NAMES);
    const budget = options.deadline !== undefined ? options.deadline - this.clock.now() : (options.timeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS);
    if (typeof budget !== 'number' || Number.isNaN(budget) || budget > MAX_DEADLINE_MS) {
      throw new InvalidArgumentError(`a stream's timeoutMs must be a number of ms up to ${MAX_DEADLINE_MS}, got ${String(budget)}`, { details: { argument: 'timeoutMs', max: MAX_DEADLINE_MS } });
    }
    if (budget <= 0) throw new TimeoutError('the stream had no time left before it was asked for');
    return { window, idleMs, budget };
  }

  /**
   * A stream from an actor on this node: `deliver` puts the event copy (the stream's key) in its mailbox and
   * returns an error when it cannot; `onClose` hears when the stream is over.
   */
  local<T>(event: HiveEvent, options: StreamOptions, what: string, deliver: (delivered: HiveEvent) => HiveError | undefined, onClose: (delivered: object) => void): ChunkStream<T> {
    let lim: { window: number; budget: number };
    try {
      if (this.stopped) throw new UnavailableError('this node is stopping');
      lim = this.limits(options);
    } catch (err) {
      return failedStream(err);
    }
    const consumer = new ChunkStream<T>(lim.window);
    const delivered = { ...event };
    this.localOpen++;
    const sink = new LocalStream(consumer as ChunkStream, delivered, this.clock, (e) => {
      this.localOpen--;
      onClose(e);
    });
    registerSink(delivered, sink);
    consumer.attach(sink, options.signal);
    if (!consumer.open) return consumer;
    sink.startDeadline(lim.budget, what);
    const err = deliver(delivered);
    if (err !== undefined) sink.fail(err);
    return consumer;
  }

  /** A stream from whatever serves `subject` on another node: a stream ask goes out, chunks come to this node's stream inbox. */
  remote<T>(subject: string, event: HiveEvent, options: StreamOptions, what: string): ChunkStream<T> {
    let opened: { stream: ChunkStream<T>; link: RemoteStream; window: number; idleMs: number; budget: number };
    try {
      opened = this.openReceiver<T>(options, undefined, what);
    } catch (err) {
      return failedStream(err);
    }
    const { stream, link, window, idleMs, budget } = opened;
    if (!stream.open) return stream;
    const e = { ...event, [STREAM_FIELD]: { window, idleMs } };
    const env: Record<string, unknown> = { v: ENVELOPE_VERSION, k: 'a', e, c: link.sid, d: this.clock.now() + budget };
    const t = traceparentOf();
    if (t !== undefined) env['t'] = t;
    try {
      this.transport.publish(subject, this.codec.encode(env), link.replyTo);
    } catch (err) {
      link.close();
      stream.fail(err);
    }
    return stream;
  }

  /**
   * A stream this node reads whose producer is told where to send it some other way (a pool task carries the
   * target in its record). `onCancel` replaces the cancel envelope.
   */
  receive<T>(options: StreamOptions, onCancel: (reason: HiveError) => void, what: string): { stream: ChunkStream<T>; target: StreamTarget } {
    const { stream, link, window, idleMs } = this.openReceiver<T>(options, onCancel, what);
    return { stream, target: { replyTo: link.replyTo, cid: link.sid, binary: true, window, idleMs } };
  }

  private openReceiver<T>(options: StreamOptions, onCancel: ((reason: HiveError) => void) | undefined, what: string): { stream: ChunkStream<T>; link: RemoteStream; window: number; idleMs: number; budget: number } {
    if (this.stopped) throw new UnavailableError('this node is stopping');
    const { window, idleMs, budget } = this.limits(options);
    if (this.receivers.size >= MAX_STREAMS) throw new OverloadedError(`this node already reads ${MAX_STREAMS} streams`, { details: { limit: MAX_STREAMS } });
    if (this.inboxSub === undefined) {
      this.inbox = this.transport.createInbox();
      this.inboxSub = this.transport.subscribe(`${this.inbox}.*`, this.onInbox);
    }
    const sid = secureId();
    const stream = new ChunkStream<T>(window);
    const link = new RemoteStream(this, stream as ChunkStream, sid, `${this.inbox}.${sid}`, idleMs, onCancel);
    this.receivers.set(sid, link);
    stream.attach(link, options.signal);
    if (stream.open) link.startDeadline(budget, what);
    return { stream, link, window, idleMs, budget };
  }

  /** @internal */
  forgetReceiver(sid: string, link: RemoteStream): void {
    if (this.receivers.get(sid) === link) this.receivers.delete(sid);
  }

  private readonly onInbox = (msg: TransportMessage): void => {
    const sid = msg.subject.substring(this.inbox.length + 1);
    const link = this.receivers.get(sid);
    if (link === undefined) return; // over already (cancelled, timed out): late frames go nowhere
    if (msg.noResponders === true) {
      link.close();
      link.stream.fail(new NoSuchActorError(`nothing serves the stream's ask (no responders)`, { details: { noResponders: true } }));
      return;
    }
    let m: StreamMessage;
    try {
      if (!isBinaryFrame(msg.data)) throw new BadFrameError('a stream frame must be binary');
      m = parseStreamFrame(this.codec.decode(msg.data));
    } catch (err) {
      link.broken(toHiveError(err));
      return;
    }
    link.onMessage(m);
  };

  // ------------------------------------------------------------------ producer side

  /**
   * The sink for a stream ask that arrived over the wire (its event carries {@link STREAM_FIELD}, removed here).
   * Throws INVALID_ARGUMENT for a bad stream request, OVERLOADED past {@link MAX_STREAMS}.
   */
  serve(req: InboundRequest): RemoteSink {
    const event = req.event as Record<string, unknown>;
    const request = parseStreamRequest(event[STREAM_FIELD]);
    delete event[STREAM_FIELD];
    return this.openSink({ replyTo: req.replyTo!, cid: req.cid, binary: req.binary, window: request.window, idleMs: request.idleMs }, req.event, req);
  }

  /**
   * Makes `event` (delivered to a local actor as a plain ask) a stream ask whose chunks go to `target` (a pool
   * task's submitter). `signal` aborting stops it.
   */
  attach(event: object, target: StreamTarget, signal: AbortSignal | undefined): RemoteSink {
    const sink = this.openSink(target, event, undefined);
    if (signal !== undefined) {
      if (signal.aborted) sink.abort(new CancelledError('the stream was cancelled'));
      else signal.addEventListener('abort', () => sink.abort(new CancelledError('the stream was cancelled', { cause: signal.reason })), { once: true, signal: sink.signal });
    }
    return sink;
  }

  private openSink(target: StreamTarget, event: object, req: InboundRequest | undefined): RemoteSink {
    if (this.stopped) throw new UnavailableError('this node is stopping');
    if (this.sinks.size >= MAX_STREAMS) throw new OverloadedError(`this node already produces ${MAX_STREAMS} streams`, { details: { limit: MAX_STREAMS } });
    this.creditSub ??= this.transport.subscribe(this.creditSubject, this.onCredit);
    const sink = new RemoteSink(this, target, event, req);
    const old = this.sinks.get(sink.key);
    if (old !== undefined) old.abort(new CancelledError('a new stream took over its reply subject'));
    this.sinks.set(sink.key, sink);
    registerSink(event, sink, false);
    return sink;
  }

  /** @internal */
  forgetSink(sink: RemoteSink): void {
    if (this.sinks.get(sink.key) === sink) this.sinks.delete(sink.key);
  }

  private readonly onCredit = (msg: TransportMessage): void => {
    let credit: { r: string; c: string | undefined; n: number };
    try {
      credit = parseCredit(isBinaryFrame(msg.data) ? this.codec.decode(msg.data) : decodeJson(msg.data, 4096));
    } catch (err) {
      this.logger.debug({ err }, 'credit refused');
      return;
    }
    this.sinks.get(`${credit.r} ${credit.c ?? ''}`)?.heard(credit.n);
  };

  /** Defaults, for documentation and tests. */
  static readonly defaults = { window: DEFAULT_STREAM_WINDOW, idleMs: DEFAULT_STREAM_IDLE_MS, timeoutMs: DEFAULT_STREAM_TIMEOUT_MS };

  /** Fails every stream this node reads (UNAVAILABLE) and stops every one it produces. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const err = new UnavailableError('this node stopped');
    for (const s of [...this.sinks.values()]) s.fail(err);
    // the producers of what this node reads stop now rather than at their idle timeout
    for (const r of [...this.receivers.values()]) r.broken(err);
    this.creditSub?.unsubscribe();
    this.inboxSub?.unsubscribe();
    this.creditSub = this.inboxSub = undefined;
    this.deadlines.dispose();
  }
}
