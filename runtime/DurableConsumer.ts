// The one durable-queue consumer, shared by pools and memory: it takes messages from a WorkQueue only as fast
// as its owner has free capacity, keeps each one alive while the owner works on it (so only a dead node's
// messages are redelivered), retries failures with the one backoff (full jitter) or a delay the owner names
// (a breaker's retry time), counts redeliveries, and dead-letters with the reason:
// - a message it cannot decode, at once (`BAD_FRAME`);
// - a message whose work failed for good (the owner says `dead`, or a non-retryable error);
// - a failing message on its LAST allowed delivery: it goes to the dead-letter queue, never back;
// - a message delivered past `maxDeliver`: its last delivery was never settled (the node holding it died),
//   so the queue is set up with a few extra deliveries that only dead-letter; a message that ran out of even
//   those (its dead-letter publishes kept failing, or more nodes died) is offered again by the queue
//   (JetStream: the max-deliveries advisory and a sweep, cluster/StrandedMessages.ts) and dead-lettered then.
// A dead-letter publish that fails leaves the message to retry (nak with backoff); it is never terminated.
import { HiveError, toHiveError, BadFrameError } from '../protocols/errors.js';
import { Backoff, type BackoffOptions } from './Backoff.js';
import { systemClock, type Clock, type TimerHandle } from './Clock.js';
import { silentLogger, type Logger } from './logger.js';
import type { MetricsRegistry } from './metrics.js';
import type { Delivery, WorkConsumer, WorkQueue } from './WorkQueue.js';

/** What the owner's work says about one message. */
export type WorkOutcome =
  /** Done: acknowledge it. */
  | { kind: 'ack' }
  /**
   * Not done: deliver it again after `delayMs` (default: the backoff for this delivery). On the last delivery
   * it is dead-lettered instead, as `record` (default the message itself).
   */
  | { kind: 'retry'; error: HiveError; delayMs?: number; record?: Uint8Array }
  /** Failed for good: dead-letter it with `error` as the reason (`record`: what to store, default the message itself). */
  | { kind: 'dead'; error: HiveError; record?: Uint8Array };

/** One delivery, as the owner's work sees it. */
export interface WorkContext {
  /** 1 on first delivery. */
  readonly deliveryCount: number;
  /** True on the last delivery that runs the work (a failure now is dead-lettered). */
  readonly lastAttempt: boolean;
  /** Pushes the ack deadline back now (the consumer also does so on a timer while the work runs). */
  working(): void;
}

/** Extra deliveries past `maxDeliver` that only dead-letter (for a last delivery that died with its node). */
export const DEAD_LETTER_DELIVERIES = 3;

/** Options of {@link DurableConsumer}. */
export interface DurableConsumerOptions<T> {
  queue: WorkQueue;
  /** The queue's name. */
  name: string;
  /** Deliveries that run the work (>= 1); a message failing on the last one is dead-lettered. */
  maxDeliver: number;
  /** A delivery not acknowledged (nor kept alive) within this long is redelivered. */
  ackWaitMs: number;
  /** Messages the owner takes at once now (asked again whenever a slot frees; call `wake()` when it grows). */
  capacity(): number;
  /** Parses a message; a throw dead-letters it as `BAD_FRAME` with the error's message as the reason. */
  decode(data: Uint8Array): T;
  /** The work. A throw is a `retry` when the error is retryable, else `dead`. */
  work(item: T, ctx: WorkContext): Promise<WorkOutcome>;
  /** Called once a message is in the dead-letter queue (`item` undefined when it did not decode); errors are logged. */
  onDeadLettered?(item: T | undefined, error: HiveError, deliveries: number): unknown;
  /** Retry delays (default 100 ms doubling to 10 s, full jitter). */
  retry?: BackoffOptions;
  clock?: Clock;
  logger?: Logger;
  metrics?: MetricsRegistry;
  /** Uniform numbers in [0, 1) for the jitter (inject a fixed one in tests). */
  random?: () => number;
}

/** Counters of one consumer (also exported as `hive_queue_*` metrics labelled by queue). */
export interface DurableConsumerStats {
  acked: number;
  retried: number;
  deadLettered: number;
  /** Deliveries after the first (a nak, an expired ack deadline, a node that died). */
  redelivered: number;
  /** Dead-letter publishes that failed (the message stayed queued). */
  deadLetterFailures: number;
  /** Failed pulls from the queue (a deleted consumer, an outage). */
  fetchErrors: number;
  /** Messages being worked on now. */
  inFlight: number;
}

/** Takes work from one durable queue (see the file comment for the rules). */
export class DurableConsumer<T> {
  private readonly o: DurableConsumerOptions<T>;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly backoff: Backoff;
  private consumer: (WorkConsumer & { wake(): void }) | undefined;
  private running = false;
  private stopped = false;
  private readonly idle = new Set<() => void>();
  private readonly counts = { acked: 0, retried: 0, deadLettered: 0, redelivered: 0, deadLetterFailures: 0, fetchErrors: 0, inFlight: 0 };
  private readonly metric: {
    messages: ReturnType<MetricsRegistry['counter']> | undefined;
    redelivered: ReturnType<MetricsRegistry['counter']> | undefined;
    fetchErrors: ReturnType<MetricsRegistry['counter']> | undefined;
  };

  constructor(options: DurableConsumerOptions<T>) {
    if (!Number.isInteger(options.maxDeliver) || options.maxDeliver < 1) {
      throw new HiveError('INVALID_CONFIG', `durable consumer maxDeliver must be an integer >= 1, got ${String(options.maxDeliver)}`, { details: { option: 'maxDeliver' } });
    }
    this.o = options;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger();
    this.backoff = new Backoff({ minMs: 100, maxMs: 10_000, resetAfterMs: 0, ...options.retry }, options.random);
    const m = options.metrics;
    this.metric = {
      messages: m?.counter('hive_queue_messages_total', 'Durable queue messages settled, by queue and result (acked, retried, dead)', ['queue', 'result']),
      redelivered: m?.counter('hive_queue_redeliveries_total', 'Durable queue deliveries after the first, by queue', ['queue']),
      fetchErrors: m?.counter('hive_queue_fetch_errors_total', 'Failed pulls from a durable queue (deleted consumer, outage), by queue', ['queue']),
    };
  }

  /** Makes sure the queue exists (with room for the dead-letter-only deliveries) and starts taking messages (not after `stop()`). */
  async start(): Promise<void> {
    if (this.running || this.stopped) return;
    await this.o.queue.ensure(this.o.name, { maxDeliver: this.o.maxDeliver + DEAD_LETTER_DELIVERIES, ackWaitMs: this.o.ackWaitMs });
    if (this.running || this.stopped) return;
    this.running = true;
    this.consumer = this.o.queue.consume(
      this.o.name,
      (d) => void this.handle(d),
      () => (this.running ? this.o.capacity() : 0),
      (err) => {
        this.counts.fetchErrors += 1;
        this.metric.fetchErrors?.inc({ queue: this.o.name });
        this.logger.warn({ err, queue: this.o.name }, 'could not pull from a durable queue; retrying');
      },
    );
  }

  /** Tells the queue that capacity grew. */
  wake(): void {
    this.consumer?.wake();
  }

  /** This consumer's counters. */
  stats(): DurableConsumerStats {
    return { ...this.counts };
  }

  /** Stops taking messages and waits (up to `graceMs`) for the work in progress; what is not acknowledged is redelivered. */
  async stop(graceMs = Infinity): Promise<void> {
    this.stopped = true;
    if (!this.running) return;
    this.running = false;
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.stop();
    if (this.counts.inFlight === 0) return;
    await new Promise<void>((resolve) => {
      let timer: TimerHandle | undefined;
      const done = () => {
        this.idle.delete(done);
        if (timer !== undefined) this.clock.clearTimeout(timer);
        resolve();
      };
      this.idle.add(done);
      if (Number.isFinite(graceMs)) timer = this.clock.setTimeout(done, graceMs);
    });
  }

  private async handle(d: Delivery): Promise<void> {
    this.counts.inFlight += 1;
    if (d.deliveryCount > 1) {
      this.counts.redelivered += 1;
      this.metric.redelivered?.inc({ queue: this.o.name });
    }
    const every = Math.max(50, Math.floor(this.o.ackWaitMs / 3));
    let beat: TimerHandle | undefined;
    const keepAlive = () => {
      d.working();
      beat = this.clock.setTimeout(keepAlive, every);
    };
    beat = this.clock.setTimeout(keepAlive, every);
    try {
      await this.process(d);
    } catch (err) {
      // process() handles everything it can; this is a bug, and the message is redelivered after ack_wait
      this.logger.error({ err, queue: this.o.name }, 'durable consumer failed on a message; it will be redelivered');
    } finally {
      this.clock.clearTimeout(beat);
      this.counts.inFlight -= 1;
      if (this.counts.inFlight === 0) for (const f of [...this.idle]) f();
    }
  }

  private async process(d: Delivery): Promise<void> {
    let item: T;
    try {
      item = this.o.decode(d.data);
    } catch (err) {
      const e = err instanceof BadFrameError ? err : new BadFrameError(`not a message of queue "${this.o.name}": ${toHiveError(err).message}`, { cause: err });
      await this.deadLetter(d, undefined, e);
      return;
    }
    if (d.deliveryCount > this.o.maxDeliver) {
      const e = new HiveError('UNAVAILABLE', `delivery ${d.deliveryCount - 1} (${this.o.maxDeliver} allowed) was never settled (the node holding it stopped or died, or its dead-letter publish failed)`, {
        details: { queue: this.o.name },
      });
      await this.deadLetter(d, item, e);
      return;
    }
    let outcome: WorkOutcome;
    try {
      outcome = await this.o.work(item, { deliveryCount: d.deliveryCount, lastAttempt: d.deliveryCount >= this.o.maxDeliver, working: () => d.working() });
    } catch (err) {
      const e = toHiveError(err);
      outcome = e.retryable ? { kind: 'retry', error: e } : { kind: 'dead', error: e };
    }
    if (!this.running && outcome.kind !== 'ack') {
      // stopping: leave it for another node (or this one's restart)
      this.settle(() => d.nak(0));
      return;
    }
    switch (outcome.kind) {
      case 'ack':
        this.settle(() => d.ack());
        this.counts.acked += 1;
        this.metric.messages?.inc({ queue: this.o.name, result: 'acked' });
        return;
      case 'retry': {
        if (d.deliveryCount >= this.o.maxDeliver) {
          const e = outcome.error;
          const last = new HiveError(e.code, `${e.message} (gave up after ${d.deliveryCount} deliveries)`, { cause: e, ...(e.details !== undefined && { details: e.details }) });
          await this.deadLetter(d, item, last, outcome.record);
          return;
        }
        const delay = Math.max(0, outcome.delayMs ?? this.backoff.delayFor(d.deliveryCount));
        this.settle(() => d.nak(delay));
        this.counts.retried += 1;
        this.metric.messages?.inc({ queue: this.o.name, result: 'retried' });
        return;
      }
      case 'dead':
        await this.deadLetter(d, item, outcome.error, outcome.record);
    }
  }

  /** Stores the message (with the reason) in the dead-letter queue, then terminates it; if that fails, it is retried. */
  private async deadLetter(d: Delivery, item: T | undefined, error: HiveError, record?: Uint8Array): Promise<void> {
    try {
      await this.o.queue.deadLetter(this.o.name, record ?? d.data, { code: error.code, message: error.message, deliveries: d.deliveryCount, ...(d.id === undefined ? {} : { source: d.id }) });
    } catch (err) {
      this.counts.deadLetterFailures += 1;
      const delay = this.backoff.delayFor(d.deliveryCount);
      this.logger.warn({ err, queue: this.o.name, reason: error.message, retryInMs: delay }, 'could not dead-letter a message; it stays queued and is retried');
      this.settle(() => d.nak(delay));
      return;
    }
    this.counts.deadLettered += 1;
    this.metric.messages?.inc({ queue: this.o.name, result: 'dead' });
    this.logger.warn({ queue: this.o.name, code: error.code, reason: error.message, deliveries: d.deliveryCount }, 'message dead-lettered');
    try {
      await this.o.onDeadLettered?.(item, error, d.deliveryCount);
    } catch (err) {
      this.logger.warn({ err, queue: this.o.name }, 'after dead-lettering a message: the owner failed');
    }
    this.settle(() => d.term());
  }

  private settle(f: () => void): void {
    try {
      f();
    } catch (err) {
      // the connection is gone: the queue redelivers after the ack deadline
      this.logger.debug({ err, queue: this.o.name }, 'could not settle a durable message');
    }
  }
}
