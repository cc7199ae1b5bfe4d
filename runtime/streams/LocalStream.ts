// A stream between an asker and an actor on the same node: chunks go from the sink to the caller's ChunkStream
// without encoding; each chunk taken is a credit back at once. The deadline fails the stream with TIMEOUT.
import type { HiveError } from '../../protocols/errors.js';
import { TimeoutError } from '../../protocols/errors.js';
import type { Clock, TimerHandle } from '../Clock.js';
import { abandon } from '../reply.js';
import type { ChunkStream, StreamLink } from './ChunkStream.js';
import { StreamSink } from './StreamSink.js';

/** The producer side of an in-process stream, and the consumer's link back to it. */
export class LocalStream extends StreamSink implements StreamLink {
  private timer: TimerHandle | undefined = undefined;

  constructor(
    private readonly consumer: ChunkStream,
    event: object,
    private readonly clock: Clock,
    /** Called once when the stream is over (the actor system forgets the ask). */
    private onClose: (event: object) => void,
  ) {
    super(consumer.window, event);
  }

  /** Fails the stream with TIMEOUT after `ms`. */
  startDeadline(ms: number, what: string): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      const err = new TimeoutError(`stream from ${what} passed its deadline (${ms} ms)`);
      this.consumer.fail(err);
      this.cancel(err);
    }, ms);
  }

  // ---- producer side
  protected emit(chunk: unknown): void {
    this.consumer.push(chunk);
  }
  protected emitEnd(final: unknown): void {
    this.consumer.finish(final);
  }
  protected emitError(err: HiveError): void {
    this.consumer.fail(err);
  }
  protected override release(): void {
    super.release();
    this.close();
  }

  // ---- consumer side (StreamLink)
  consumed(n: number): void {
    this.grant(n);
  }
  cancel(reason: HiveError): void {
    // not started yet: the actor skips it; started: its `stream()` calls resolve false from now on
    abandon(this.event);
    this.abort(reason);
  }
  close(): void {
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    const f = this.onClose;
    this.onClose = noop;
    f(this.event);
  }
}

function noop(): void {}
