// StreamSink: the producer's side of one streamed reply. It holds the credits the consumer granted: a chunk
// leaves at once while credits last, else it waits (the producer's `await stream(...)` waits with it), so a slow
// consumer slows the producer instead of filling memory. It is also the ask's replier: `reply(event, x)` ends
// the stream with final value x, `replyError` / a failing actor ends it with an error marker.
import type { HiveEvent } from '../../protocols/envelope.js';
import { OverloadedError, toHiveError, type HiveError } from '../../protocols/errors.js';
import { MAX_STREAM_WINDOW } from '../../protocols/streams.js';
import type { Replier } from '../reply.js';
import { forgetSink } from './streamRegistry.js';

/** Chunks a producer may have waiting for credits (it did not await `stream()`); past it the stream fails OVERLOADED. */
export const MAX_QUEUED_CHUNKS = 1024;

const TRUE = Promise.resolve(true);
const FALSE = Promise.resolve(false);

interface Queued {
  chunk: unknown;
  resolve: (sent: boolean) => void;
}

/** The producer's side of one stream. Subclasses put chunks on the wire (or hand them over in process). */
export abstract class StreamSink implements Replier {
  private credits: number;
  private readonly queue: Queued[] = [];
  private endPending: { final: unknown } | undefined = undefined;
  /** Chunks sent (the next chunk's sequence number). */
  protected sent = 0;
  /** Ended, failed or cancelled: nothing more is sent. */
  done = false;
  /** Made on first use of {@link StreamSink.signal} (most producers never ask for it). */
  private controller: AbortController | undefined = undefined;
  private stopReason: HiveError | undefined = undefined;

  constructor(
    /** The consumer's initial credits. */
    readonly window: number,
    /** The event the stream answers (its registry key). */
    readonly event: object,
  ) {
    this.credits = window;
  }

  /** Aborts when the consumer cancels or disappears, or the stream's deadline passes. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.stopReason !== undefined) this.controller.abort(this.stopReason);
    }
    return this.controller.signal;
  }

  /** Chunks waiting for credits. */
  get queued(): number {
    return this.queue.length;
  }

  /** Credits left. */
  get available(): number {
    return this.credits;
  }

  /**
   * Sends `chunk` now if a credit is left, else when one comes. Resolves true once it is sent, false when the
   * stream is over (cancelled, ended, failed): the producer should stop.
   */
  push(chunk: unknown): Promise<boolean> {
    if (this.done || this.endPending !== undefined) return FALSE;
    if (this.credits > 0 && this.queue.length === 0) {
      this.credits--;
      return this.send(chunk) ? TRUE : FALSE;
    }
    if (this.queue.length >= MAX_QUEUED_CHUNKS) {
      this.fail(new OverloadedError(`the producer queued more than ${MAX_QUEUED_CHUNKS} chunks without waiting for credits (await stream(...))`, { details: { limit: MAX_QUEUED_CHUNKS } }));
      return FALSE;
    }
    return new Promise((resolve) => this.queue.push({ chunk, resolve }));
  }

  /** The consumer granted `n` more credits (at most {@link MAX_STREAM_WINDOW} in total). */
  grant(n: number): void {
    if (this.done) return;
    this.credits = Math.min(MAX_STREAM_WINDOW, this.credits + n);
    while (this.credits > 0 && this.queue.length > 0 && !this.done) {
      const q = this.queue.shift()!;
      this.credits--;
      q.resolve(this.send(q.chunk));
    }
    if (this.queue.length === 0 && this.endPending !== undefined && !this.done) this.finishEnd(this.endPending.final);
  }

  /** Ends the stream after the chunks still waiting for credits (`final`: an optional last value). */
  end(final?: unknown): void {
    if (this.done || this.endPending !== undefined) return;
    if (this.queue.length > 0) this.endPending = { final };
    else this.finishEnd(final);
  }

  /** Replier: `reply(event, answer)` on a stream ends it with `answer` as the final value. */
  ok(answer: HiveEvent): void {
    this.end(answer);
  }

  /** Replier: ends the stream with an error marker (chunks waiting for credits are dropped). */
  fail(err: unknown): void {
    if (this.done) return;
    const e = toHiveError(err);
    this.stop(e);
    try {
      this.emitError(e);
    } finally {
      this.release();
    }
  }

  /** The consumer is gone (cancel, idle timeout, deadline): stop producing, answer nothing more. */
  abort(reason: HiveError): void {
    if (this.done) return;
    this.stop(reason);
    this.release();
  }

  private send(chunk: unknown): boolean {
    try {
      this.emit(chunk, this.sent++);
      return true;
    } catch (err) {
      this.fail(err);
      return false;
    }
  }

  private finishEnd(final: unknown): void {
    this.done = true;
    this.endPending = undefined;
    try {
      this.emitEnd(final, this.sent);
    } catch (err) {
      // the final value could not be sent (unserialisable): the consumer gets the error instead
      this.done = false;
      this.fail(err);
      return;
    }
    this.release();
  }

  private stop(reason: HiveError): void {
    this.done = true;
    this.endPending = undefined;
    for (const q of this.queue.splice(0)) q.resolve(false);
    this.stopReason = reason;
    this.controller?.abort(reason);
  }

  /** Removes the sink from the stream registry; subclasses also clear their timers and map entries. */
  protected release(): void {
    forgetSink(this.event, this);
  }

  /** Puts chunk number `seq` on its way. May throw (unencodable chunk): the stream then fails. */
  protected abstract emit(chunk: unknown, seq: number): void;
  /** Puts the end marker on its way (`count` chunks were sent). */
  protected abstract emitEnd(final: unknown, count: number): void;
  /** Puts the error marker on its way. Must not throw. */
  protected abstract emitError(err: HiveError): void;
}
