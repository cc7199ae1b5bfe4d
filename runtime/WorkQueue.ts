// The seam for durable work: a per-queue stream of task messages, each acknowledged only once done,
// redelivered after a negative acknowledgement or when its ack deadline passes, at most `maxDeliver` times,
// de-duplicated by message id. `cluster/JetStreamWorkQueue` implements it over JetStream;
// `MemoryWorkQueue` implements it in memory for in-process nodes and tests. Work is taken from a queue by
// the one `DurableConsumer` (runtime/DurableConsumer.ts), never by hand.
import { OverloadedError, TooLargeError } from '../protocols/errors.js';
import type { Clock, TimerHandle } from './Clock.js';

/** One delivery of a queued message. */
export interface Delivery {
  /** The message body. */
  readonly data: Uint8Array;
  /** 1 on first delivery, 2 on the first redelivery, ... */
  readonly deliveryCount: number;
  /**
   * The message's stable id in its queue (on JetStream its stream sequence), when the queue has one: its dead
   * letter is published under it, so two nodes that dead-letter the same message store it once.
   */
  readonly id?: string;
  /** Done: never deliver again. */
  ack(): void;
  /** Not done: deliver again after `delayMs`. */
  nak(delayMs?: number): void;
  /** Still working: push the ack deadline back. */
  working(): void;
  /** Give up: never deliver again (the caller has dead-lettered it). */
  term(): void;
}

/**
 * How much the durable queues of a cluster may hold (on JetStream: the limits of the cluster's tasks stream,
 * shared by every pool and memory). A full queue refuses new messages with `OVERLOADED` (retryable) and
 * never drops one it acknowledged; a message over `maxMessageBytes` is refused with `TOO_LARGE`.
 */
export interface WorkQueueLimits {
  /** Messages stored at once (default {@link DEFAULT_WORK_QUEUE_LIMITS}). */
  maxMessages: number;
  /** Bytes stored at once. */
  maxBytes: number;
  /** Largest message. */
  maxMessageBytes: number;
}

/** The default limits (options `taskQueueMaxMessages`, `taskQueueMaxBytes`, `taskMaxBytes`). */
export const DEFAULT_WORK_QUEUE_LIMITS: Readonly<WorkQueueLimits> = Object.freeze({
  maxMessages: 1_000_000,
  maxBytes: 1024 * 1024 * 1024,
  maxMessageBytes: 8 * 1024 * 1024,
});

/** Limits of a dead-letter queue (JetStream stream `HIVE_<cluster>_DLQ`): past them the oldest are evicted. */
export const DEAD_LETTER_QUEUE_LIMITS = Object.freeze({
  /** A dead letter is kept this long. */
  maxAgeMs: 7 * 24 * 3600_000,
  /** Dead letters kept per queue (pool). */
  maxMessagesPerQueue: 10_000,
  /** Bytes kept in all. */
  maxBytes: 256 * 1024 * 1024,
});

/** How long a message id de-duplicates a publish (JetStream's `duplicate_window` of the tasks stream). */
export const DUPLICATE_WINDOW_MS = 120_000;

/** The limits a node's configuration asks for. */
export function workQueueLimitsOf(config: { taskQueueMaxMessages: number; taskQueueMaxBytes: number; taskMaxBytes: number }): WorkQueueLimits {
  return { maxMessages: config.taskQueueMaxMessages, maxBytes: config.taskQueueMaxBytes, maxMessageBytes: config.taskMaxBytes };
}

/** How a queue redelivers. */
export interface WorkQueueOptions {
  /** Deliveries before a message is no longer redelivered. */
  maxDeliver: number;
  /** A delivery not acknowledged within this long is redelivered. */
  ackWaitMs: number;
}

/** Why a message was dead-lettered (JetStream keeps it in the message's headers). */
export interface DeadLetterReason {
  /** The error code (`BAD_FRAME`, `DATABASE`, the handler's error code, ...). */
  code: string;
  message: string;
  /** Deliveries the message had. */
  deliveries: number;
  /** The message's {@link Delivery.id}: a queue stores one dead letter per id (within its duplicate window). */
  source?: string;
}

/**
 * A message's {@link Delivery.id} on a stream: its sequence and the time it was stored (ms), so that a stream
 * deleted and created again, whose sequences start over, never gives two messages the same id.
 */
export function messageId(seq: number, storedAtMs: number): string {
  return `${seq}-${storedAtMs}`;
}

/** A message of a dead-letter queue. */
export interface DeadLetter {
  data: Uint8Array;
  /** Absent for a message dead-lettered without one. */
  reason?: DeadLetterReason;
}

/** A consumer of one queue; `stop()` stops taking messages (unacknowledged ones are redelivered). */
export interface WorkConsumer {
  stop(): Promise<void>;
}

/** Durable queues of work. */
export interface WorkQueue {
  /** Makes sure `queue` exists. */
  ensure(queue: string, options: WorkQueueOptions): Promise<void>;
  /**
   * Appends a message; a second publish with the same `msgId` (within the de-duplication window) is dropped.
   * Rejects with `OVERLOADED` when the queue is full, `TOO_LARGE` when the message is over the limit.
   */
  publish(queue: string, data: Uint8Array, msgId: string): Promise<void>;
  /**
   * Delivers messages to `handler`, never more than `capacity()` unacknowledged at once (asked again
   * each time a slot frees up — call `wake()` on the consumer side when capacity grows).
   */
  consume(queue: string, handler: (d: Delivery) => void, capacity: () => number, onError?: (err: Error) => void): WorkConsumer & { wake(): void };
  /** Messages waiting (not yet delivered or waiting for redelivery); rejects when it cannot be read (never a made-up 0). */
  depth(queue: string): Promise<number>;
  /** Appends a message (with why) to the dead-letter queue of `queue`; rejects when it was not stored. */
  deadLetter(queue: string, data: Uint8Array, reason?: DeadLetterReason): Promise<void>;
  /** Reads the dead-letter queue of `queue` (oldest first, up to `limit`). */
  deadLetters(queue: string, limit: number): Promise<DeadLetter[]>;
}

/** How soon the in-process queue offers again a message that ran out of deliveries (to be dead-lettered). */
const STRANDED_RETRY_MS = 100;

interface MemMessage {
  seq: number;
  data: Uint8Array;
  deliveries: number;
  /** Not before this time (a nak delay). */
  notBefore: number;
  inFlight: boolean;
  done: boolean;
  timer: TimerHandle | undefined;
}

interface MemQueue {
  options: WorkQueueOptions;
  messages: MemMessage[];
  /** Message ids published within the de-duplication window, oldest first, with the time they came. */
  ids: Map<string, number>;
  dead: DeadLetter[];
  consumers: Array<{ handler: (d: Delivery) => void; capacity: () => number; inFlight: number; active: boolean }>;
  cursor: number;
  seq: number;
}

/**
 * An in-memory {@link WorkQueue} with the same redelivery rules and limits (shared by nodes holding the same
 * instance): the limits count every queue together, as the one tasks stream does on JetStream.
 */
export class MemoryWorkQueue implements WorkQueue {
  private readonly queues = new Map<string, MemQueue>();
  private pumpTimer: TimerHandle | undefined;
  readonly limits: Readonly<WorkQueueLimits>;
  private stored = { messages: 0, bytes: 0 };

  constructor(
    private readonly clock: Clock,
    limits: Partial<WorkQueueLimits> = {},
  ) {
    this.limits = Object.freeze({ ...DEFAULT_WORK_QUEUE_LIMITS, ...Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) });
  }

  async ensure(queue: string, options: WorkQueueOptions): Promise<void> {
    if (!this.queues.has(queue)) this.queues.set(queue, { options, messages: [], ids: new Map(), dead: [], consumers: [], cursor: 0, seq: 0 });
  }

  /** Messages and bytes held now, over every queue. */
  usage(): { messages: number; bytes: number } {
    return { ...this.stored };
  }

  private q(queue: string): MemQueue {
    const q = this.queues.get(queue);
    if (q === undefined) throw new Error(`work queue "${queue}" does not exist`);
    return q;
  }

  async publish(queue: string, data: Uint8Array, msgId: string): Promise<void> {
    const q = this.q(queue);
    const now = this.clock.now();
    for (const [id, at] of q.ids) {
      if (now - at < DUPLICATE_WINDOW_MS) break;
      q.ids.delete(id);
    }
    if (q.ids.has(msgId)) return;
    const l = this.limits;
    if (data.length > l.maxMessageBytes) {
      throw new TooLargeError(`a task of ${data.length} bytes is over the task queue's limit of ${l.maxMessageBytes} bytes (taskMaxBytes)`, { details: { queue, bytes: data.length, limit: l.maxMessageBytes } });
    }
    if (this.stored.messages + 1 > l.maxMessages || this.stored.bytes + data.length > l.maxBytes) {
      throw new OverloadedError(`the task queue is full (limits: ${l.maxMessages} messages, ${l.maxBytes} bytes): "${queue}" takes no new task now; try again later`, {
        details: { queue, maxMessages: l.maxMessages, maxBytes: l.maxBytes },
      });
    }
    q.ids.set(msgId, now);
    this.stored.messages += 1;
    this.stored.bytes += data.length;
    q.messages.push({ seq: ++q.seq, data: data.slice(), deliveries: 0, notBefore: 0, inFlight: false, done: false, timer: undefined });
    this.pump(q);
  }

  consume(queue: string, handler: (d: Delivery) => void, capacity: () => number, _onError?: (err: Error) => void): WorkConsumer & { wake(): void } {
    const q = this.q(queue);
    const consumer = { handler, capacity, inFlight: 0, active: true };
    q.consumers.push(consumer);
    queueMicrotask(() => this.pump(q));
    return {
      wake: () => queueMicrotask(() => this.pump(q)),
      stop: async () => {
        consumer.active = false;
        q.consumers = q.consumers.filter((c) => c !== consumer);
      },
    };
  }

  async depth(queue: string): Promise<number> {
    return this.q(queue).messages.filter((m) => !m.inFlight && !m.done).length;
  }

  /** Messages `queue` still holds: waiting, in flight, or waiting for redelivery. */
  held(queue: string): number {
    return this.q(queue).messages.filter((m) => !m.done).length;
  }

  async deadLetter(queue: string, data: Uint8Array, reason?: DeadLetterReason): Promise<void> {
    const q = this.q(queue);
    q.dead.push(reason === undefined ? { data: data.slice() } : { data: data.slice(), reason: { ...reason } });
    if (q.dead.length > DEAD_LETTER_QUEUE_LIMITS.maxMessagesPerQueue) q.dead.shift();
  }

  async deadLetters(queue: string, limit: number): Promise<DeadLetter[]> {
    return this.q(queue).dead.slice(0, limit);
  }

  private pump(q: MemQueue): void {
    const now = this.clock.now();
    let nextDue = Infinity;
    for (const m of q.messages) {
      if (m.inFlight || m.done) continue;
      if (m.notBefore > now) {
        nextDue = Math.min(nextDue, m.notBefore);
        continue;
      }
      const consumer = this.pickConsumer(q);
      if (consumer === undefined) break;
      this.deliver(q, m, consumer);
    }
    if (q.messages.some((m) => m.done)) {
      q.messages = q.messages.filter((m) => {
        if (!m.done) return true;
        this.stored.messages -= 1;
        this.stored.bytes -= m.data.length;
        return false;
      });
    }
    if (nextDue !== Infinity && this.pumpTimer === undefined) {
      this.pumpTimer = this.clock.setTimeout(() => {
        this.pumpTimer = undefined;
        for (const qq of this.queues.values()) this.pump(qq);
      }, nextDue - now);
    }
  }

  private pickConsumer(q: MemQueue): MemQueue['consumers'][number] | undefined {
    for (let i = 0; i < q.consumers.length; i++) {
      const c = q.consumers[(q.cursor + i) % q.consumers.length];
      if (c.active && c.inFlight < c.capacity()) {
        q.cursor = (q.cursor + i + 1) % q.consumers.length;
        return c;
      }
    }
    return undefined;
  }

  private deliver(q: MemQueue, m: MemMessage, consumer: MemQueue['consumers'][number]): void {
    m.inFlight = true;
    m.deliveries += 1;
    consumer.inFlight += 1;
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      m.inFlight = false;
      consumer.inFlight -= 1;
      if (m.timer !== undefined) this.clock.clearTimeout(m.timer);
      m.timer = undefined;
      return true;
    };
    // Past maxDeliver a message is not dropped: it is offered again (as JetStream's stranded messages are) so its
    // consumer can dead-letter it; it leaves the queue only when acknowledged or terminated.
    const expire = () => {
      if (!settle()) return;
      if (m.deliveries >= q.options.maxDeliver) m.notBefore = this.clock.now() + STRANDED_RETRY_MS;
      this.pump(q);
    };
    m.timer = this.clock.setTimeout(expire, q.options.ackWaitMs);
    const delivery: Delivery = {
      data: m.data,
      deliveryCount: m.deliveries,
      ack: () => {
        if (settle()) m.done = true;
        this.pump(q);
      },
      term: () => {
        if (settle()) m.done = true;
        this.pump(q);
      },
      nak: (delayMs = 0) => {
        if (!settle()) return;
        m.notBefore = this.clock.now() + (m.deliveries >= q.options.maxDeliver ? Math.max(delayMs, STRANDED_RETRY_MS) : delayMs);
        this.pump(q);
      },
      working: () => {
        if (settled) return;
        if (m.timer !== undefined) this.clock.clearTimeout(m.timer);
        m.timer = this.clock.setTimeout(expire, q.options.ackWaitMs);
      },
    };
    queueMicrotask(() => consumer.handler(delivery));
  }
}
