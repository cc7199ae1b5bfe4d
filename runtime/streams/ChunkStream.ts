// ChunkStream: what a caller iterates. Chunks arrive from the producer (in process, or over NATS) into a buffer the
// credit window bounds; each chunk taken gives a credit back; `break`, `return()`, an aborted signal or an error
// cancels the producer. Iterated once.
import { CancelledError, OverloadedError, toHiveError, type HiveError } from '../../protocols/errors.js';
import { MAX_CHUNKS_PER_FRAME } from '../../protocols/streams.js';

/** How a consumer talks back to its producer. */
export interface StreamLink {
  /** The consumer took `n` chunks: `n` credits for the producer. */
  consumed(n: number): void;
  /** The consumer stopped early (break, abort, deadline, bad frame): cancel the producer. */
  cancel(reason: HiveError): void;
  /** The stream is over (ended, failed or cancelled): let go of timers and map entries. */
  close(): void;
}

interface Waiter<T> {
  resolve: (r: IteratorResult<T, unknown>) => void;
  reject: (e: unknown) => void;
}

/**
 * A streamed reply as its caller sees it: an `AsyncIterable` of chunks. Breaking out of `for await`, calling
 * {@link ChunkStream.cancel} or aborting the ask's signal cancels the producer; an error from the producer (or
 * TIMEOUT at the deadline) is thrown from the loop. After the loop, {@link ChunkStream.final} holds the
 * producer's final value, if it sent one.
 * @example
 * for await (const token of ref.askStream<string>({ type: 'generate', prompt })) process.stdout.write(token);
 */
export class ChunkStream<T = unknown> implements AsyncIterableIterator<T, unknown, undefined> {
  private buf: T[] = [];
  private head = 0;
  private state: 'open' | 'ended' | 'failed' | 'cancelled' = 'open';
  private error: HiveError | undefined = undefined;
  private finalValue: unknown = undefined;
  private waiters: Waiter<T>[] = [];
  private link: StreamLink | undefined = undefined;
  private signal: AbortSignal | undefined = undefined;
  private received = 0;

  /** @internal */
  constructor(
    /** The credit window: chunks the producer may send ahead. */
    readonly window: number,
  ) {}

  /** @internal Connects the producer side; `signal` (the caller's) cancels the stream when it aborts. */
  attach(link: StreamLink, signal: AbortSignal | undefined): void {
    this.link = link;
    if (signal === undefined) return;
    this.signal = signal;
    if (signal.aborted) this.handleEvent();
    else signal.addEventListener('abort', this);
  }

  /** The final value the producer ended the stream with (`end(event, final)`), once the stream has ended. */
  get final(): unknown {
    return this.finalValue;
  }

  /** True while chunks may still arrive. */
  get open(): boolean {
    return this.state === 'open';
  }

  /** Chunks received so far (taken or buffered). */
  get count(): number {
    return this.received;
  }

  /** Chunks received and not taken yet. */
  get buffered(): number {
    return this.buf.length - this.head;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T, unknown>> {
    if (this.head < this.buf.length) {
      const value = this.buf[this.head];
      this.buf[this.head++] = undefined as T;
      if (this.head === this.buf.length) {
        this.buf.length = 0;
        this.head = 0;
      } else if (this.head >= 1024 && this.head * 2 >= this.buf.length) {
        this.buf = this.buf.slice(this.head);
        this.head = 0;
      }
      if (this.state === 'open') this.link?.consumed(1);
      return Promise.resolve({ value, done: false });
    }
    if (this.state === 'ended' || this.state === 'cancelled') return Promise.resolve({ value: this.finalValue, done: true });
    if (this.state === 'failed') return Promise.reject(this.error!);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Called by `break` (and `return` in a `for await`): cancels the producer if the stream is still open. */
  return(): Promise<IteratorResult<T, unknown>> {
    if (this.state === 'open') this.cancel(new CancelledError('the consumer stopped reading the stream'));
    return Promise.resolve({ value: this.finalValue, done: true });
  }

  /** Cancels the producer: the loop ends (CANCELLED is thrown to a reader waiting with `reason`, if given as an error). */
  cancel(reason?: unknown): void {
    if (this.state !== 'open') return;
    const err = reason instanceof CancelledError ? reason : new CancelledError('the stream was cancelled', { cause: reason });
    this.state = 'cancelled';
    this.buf.length = 0;
    this.head = 0;
    this.link?.cancel(err);
    this.close();
    for (const w of this.waiters.splice(0)) w.resolve({ value: undefined, done: true });
  }

  /** The caller's signal aborted (EventListener object). */
  handleEvent(): void {
    if (this.state !== 'open') return;
    const err = new CancelledError('the stream was cancelled by its signal', { cause: this.signal?.reason });
    // a reader waiting sees CANCELLED, as an ask would
    this.state = 'failed';
    this.error = err;
    this.buf.length = 0;
    this.head = 0;
    this.link?.cancel(err);
    this.close();
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  /** @internal A chunk from the producer; false when the stream is no longer open (or the producer overran its window). */
  push(chunk: T): boolean {
    if (this.state !== 'open') return false;
    this.received++;
    const w = this.waiters.shift();
    if (w !== undefined) {
      // handed straight to a waiting reader: taken at once
      this.link?.consumed(1);
      w.resolve({ value: chunk, done: false });
      return true;
    }
    if (this.buffered >= this.window + MAX_CHUNKS_PER_FRAME) {
      const err = new OverloadedError(`the producer sent more than the stream's window of ${this.window} chunks`, { details: { window: this.window } });
      this.link?.cancel(err);
      this.fail(err);
      return false;
    }
    this.buf.push(chunk);
    return true;
  }

  /** @internal The producer ended the stream (chunks already buffered are still read). */
  finish(final: unknown): void {
    if (this.state !== 'open') return;
    this.state = 'ended';
    this.finalValue = final;
    this.close();
    for (const w of this.waiters.splice(0)) w.resolve({ value: final, done: true });
  }

  /** @internal The stream failed: the reader gets `err` once the buffered chunks are read. */
  fail(err: unknown): void {
    if (this.state !== 'open') return;
    this.state = 'failed';
    this.error = toHiveError(err);
    this.close();
    for (const w of this.waiters.splice(0)) w.reject(this.error);
  }

  private close(): void {
    this.signal?.removeEventListener('abort', this);
    this.signal = undefined;
    const l = this.link;
    this.link = undefined;
    l?.close();
  }
}
