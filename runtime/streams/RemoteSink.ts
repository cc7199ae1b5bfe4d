// RemoteSink: the producer's side of a stream whose consumer is on another node (or is a plain NATS client).
// Chunks go to the ask's reply subject: binary frames carrying the chunks made in one event-loop turn (chunk 0
// alone and at once, for the time to first chunk), or one JSON message per chunk for a JSON ask. Credits and
// keep-alives come back through the node's StreamHub; hearing nothing for `idleMs` cancels the producer.
import type { HiveError } from '../../protocols/errors.js';
import { TimeoutError, toErrorReply } from '../../protocols/errors.js';
import { encodeJson } from '../../protocols/frame.js';
import { MAX_CHUNKS_PER_FRAME, type ChunkFrame, type EndFrame, type JsonChunk, type JsonEnd } from '../../protocols/streams.js';
import type { TimerHandle } from '../Clock.js';
import type { InboundRequest } from '../Transit.js';
import { endSpan } from '../tracing.js';
import type { StreamHub } from './StreamHub.js';
import { StreamSink } from './StreamSink.js';

/** Where a remote stream's frames go. */
export interface StreamTarget {
  /** The reply subject (the consumer's stream inbox and stream id). */
  replyTo: string;
  /** Correlation id (absent for a JSON stream). */
  cid: string | undefined;
  /** Binary frames (a Hive consumer) or JSON text (a plain NATS client). */
  binary: boolean;
  window: number;
  idleMs: number;
}

/** One stream produced on this node for a consumer elsewhere. */
export class RemoteSink extends StreamSink {
  /** The key credits name it by: `<reply subject> <cid>`. */
  readonly key: string;
  private out: unknown[] = [];
  private outSeq = 0;
  private flushScheduled = false;
  private lastHeard: number;
  private idleTimer: TimerHandle | undefined = undefined;

  constructor(
    private readonly hub: StreamHub,
    readonly target: StreamTarget,
    event: object,
    /** The inbound ask it answers (none for a pool task's stream). */
    private readonly req: InboundRequest | undefined,
  ) {
    super(target.window, event);
    this.key = `${target.replyTo} ${target.cid ?? ''}`;
    this.lastHeard = hub.clock.now();
    // a cancel, the ask's deadline or the node stopping: stop producing (the transit has answered what is due)
    if (req !== undefined) req.signal.addEventListener('abort', this);
  }

  /** The ask's signal aborted (EventListener object). */
  handleEvent(): void {
    const reason = this.req?.signal.reason as HiveError | undefined;
    this.abort(reason ?? new TimeoutError('the stream was dropped'));
  }

  /** A credit or keep-alive from the consumer. */
  heard(n: number): void {
    this.lastHeard = this.hub.clock.now();
    if (n > 0) this.grant(n);
  }

  protected emit(chunk: unknown, seq: number): void {
    const t = this.target;
    if (!t.binary) {
      const msg: JsonChunk = { type: 'hive.chunk', seq, chunk };
      if (seq === 0) msg.credit = this.hub.creditSubject;
      this.hub.publish(t.replyTo, encodeJson(msg));
    } else if (seq === 0) {
      // the first chunk leaves at once, with the subject credits go to
      const f: ChunkFrame = { v: 1, k: 's', c: t.cid!, q: 0, m: [chunk], g: this.hub.creditSubject };
      this.hub.publish(t.replyTo, this.hub.codec.encode(f));
    } else {
      if (this.out.length === 0) this.outSeq = seq;
      this.out.push(chunk);
      if (this.out.length >= MAX_CHUNKS_PER_FRAME) this.flush();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.onFlush);
      }
    }
    if (seq === 0) this.armIdle();
  }

  private readonly onFlush = (): void => {
    this.flushScheduled = false;
    try {
      this.flush();
    } catch (err) {
      this.fail(err);
    }
  };

  /** Sends the chunks gathered this turn as one frame. Throws when they cannot be encoded. */
  private flush(): void {
    if (this.out.length === 0) return;
    const f: ChunkFrame = { v: 1, k: 's', c: this.target.cid!, q: this.outSeq, m: this.out };
    this.out = [];
    this.hub.publish(this.target.replyTo, this.hub.codec.encode(f));
  }

  protected emitEnd(final: unknown, count: number): void {
    this.flush();
    const t = this.target;
    if (t.binary) {
      const f: EndFrame = { v: 1, k: 'e', c: t.cid!, q: count };
      if (final !== undefined) f.ok = final;
      this.hub.publish(t.replyTo, this.hub.codec.encode(f));
    } else {
      const msg: JsonEnd = { type: 'hive.end', seq: count };
      if (final !== undefined) msg.final = final;
      this.hub.publish(t.replyTo, encodeJson(msg));
    }
    this.served(undefined);
  }

  protected emitError(err: HiveError): void {
    const t = this.target;
    try {
      // chunks already granted still go first; then the error marker (the same as an ask's error answer)
      this.flush();
    } catch {
      this.out = [];
    }
    try {
      const data = t.binary ? this.hub.codec.encode({ v: 1, k: 'r', c: t.cid, err: toErrorReply(err), n: this.hub.nodeId }) : encodeJson(toErrorReply(err));
      this.hub.publish(t.replyTo, data);
    } catch (e) {
      this.hub.logger.debug({ err: e, replyTo: t.replyTo }, 'could not send a stream error');
    }
    this.served(err);
  }

  /** The inbound ask is answered: the transit forgets it (no answer of its own), its span ends. */
  private served(err: HiveError | undefined): void {
    const req = this.req;
    if (req === undefined || req.settled) return;
    req.finish();
    endSpan(req.span, err);
    req.span = undefined;
  }

  private armIdle(): void {
    this.idleTimer = this.hub.clock.setTimeout(this.onIdle, this.target.idleMs);
  }

  private readonly onIdle = (): void => {
    this.idleTimer = undefined;
    if (this.done) return;
    const quiet = this.hub.clock.now() - this.lastHeard;
    if (quiet < this.target.idleMs) {
      this.idleTimer = this.hub.clock.setTimeout(this.onIdle, this.target.idleMs - quiet);
      return;
    }
    const err = new TimeoutError(`the stream's consumer sent no credit or keep-alive for ${quiet} ms: the producer is cancelled`, { details: { idleMs: this.target.idleMs } });
    this.hub.countIdle();
    // a consumer still there (a plain client that sent no keep-alives) learns why
    this.fail(err);
    if (this.req !== undefined) this.req.abandon(err);
  };

  protected override release(): void {
    super.release();
    if (this.idleTimer !== undefined) {
      this.hub.clock.clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    this.req?.signal.removeEventListener('abort', this);
    this.hub.forgetSink(this);
  }
}
