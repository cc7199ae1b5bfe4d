// One request (ask) or message (tell) that arrived on a served subject, as its handler sees it.
import type { Span } from '@opentelemetry/api';
import type { HiveEvent } from '../../protocols/envelope.js';
import type { Replier } from '../reply.js';
import type { Expiring, TimeoutBatch } from '../Timeouts.js';

/** What an inbound request tells the side that serves it (the responder). */
export interface InboundOwner {
  now(): number;
  /** Publishes the answer (or the error) to the asker. */
  answer(req: InboundRequest, ok: HiveEvent | undefined, err: unknown): void;
  /** The deadline passed unanswered. */
  dropExpired(req: InboundRequest): void;
  /** Forget it for cancels. */
  untrack(req: InboundRequest): void;
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
    private readonly server: InboundOwner,
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
    return this.deadline - this.server.now();
  }

  ok(answer: HiveEvent): void {
    if (this.settled) return;
    this.finish();
    this.server.answer(this, answer, undefined);
  }

  fail(err: unknown): void {
    if (this.settled) return;
    this.finish();
    this.server.answer(this, undefined, err);
  }

  /** The deadline passed unanswered (called by the timeout batch, which marked it settled). */
  expire(): void {
    this.server.dropExpired(this);
  }

  /** @internal */
  finish(): void {
    this.settled = true;
    this.batch?.release(this);
    if (this.key !== undefined) this.server.untrack(this);
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
