// The seam for durable work: a per-queue stream of task messages, each acknowledged only once done,
// redelivered after a negative acknowledgement or when its ack deadline passes, at most `maxDeliver` times,
// de-duplicated by message id. `cluster/JetStreamWorkQueue` implements it over JetStream;
// `MemoryWorkQueue` implements it in memory for in-process nodes and tests. Work is taken from a queue by
// the one `DurableConsumer` (runtime/DurableConsumer.ts), never by hand.
import type { Clock, TimerHandle } from './Clock.js';

/** One delivery of a queued message. */
export interface Delivery {
  /** The message body. */
  readonly data: Uint8Array;
  /** 1 on first delivery, 2 on the first redelivery, ... */
  readonly deliveryCount: number;
  /** Done: never deliver again. */
  ack(): void;
  /** Not done: deliver again after `delayMs`. */
  nak(delayMs?: number): void;
  /** Still working: push the ack deadline back. */
  working(): void;
  /** Give up: never deliver again (the caller has dead-lettered it). */
  term(): void;
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
  /** Appends a message; a second publish with the same `msgId` (within the de-duplication window) is dropped. */
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
  ids: Set<string>;
  dead: DeadLetter[];
  consumers: Array<{ handler: (d: Delivery) => void; capacity: () => number; inFlight: number; active: boolean }>;
  cursor: number;
  seq: number;
}

/** An in-memory {@link WorkQueue} with the same redelivery rules (shared by nodes holding the same instance). */
export class MemoryWorkQueue implements WorkQueue {
  private readonly queues = new Map<string, MemQueue>();
  private pumpTimer: TimerHandle | undefined;

  constructor(private readonly clock: Clock) {}

  async ensure(queue: string, options: WorkQueueOptions): Promise<void> {
    if (!this.queues.has(queue)) this.queues.set(queue, { options, messages: [], ids: new Set(), dead: [], consumers: [], cursor: 0, seq: 0 });
  }

  private q(queue: string): MemQueue {
    const q = this.queues.get(queue);
    if (q === undefined) throw new Error(`work queue "${queue}" does not exist`);
    return q;
  }

  async publish(queue: string, data: Uint8Array, msgId: string): Promise<void> {
    const q = this.q(queue);
    if (q.ids.has(msgId)) return;
    q.ids.add(msgId);
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
    q.messages = q.messages.filter((m) => !m.done);
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
    const expire = () => {
      if (!settle()) return;
      if (m.deliveries >= q.options.maxDeliver) m.done = true;
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
        if (m.deliveries >= q.options.maxDeliver) m.done = true;
        else m.notBefore = this.clock.now() + delayMs;
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
