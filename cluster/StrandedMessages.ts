// Messages JetStream will never deliver again: a work-queue consumer stops delivering a message once it reached
// `max_deliver`, but the stream keeps it (work-queue retention removes only acknowledged messages). That happens
// when every allowed delivery ended without an outcome: the nodes holding it died, or its dead-letter publish
// kept failing. Such a message would sit in the stream for ever while `queued` shows 0. This finds each one and
// hands it to the queue's consumer once more (deliveryCount past `max_deliver`), which dead-letters it; settled,
// it is deleted from the stream; a dead-letter publish that fails again leaves it there to be offered again.
// Two ways to find them:
// - the max-deliveries advisory (`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>`), heard by one
//   node of the queue group, at once;
// - a sweep (at start and every `sweepMs`) for what no node heard: when the consumer holds nothing in flight,
//   every message of its subject at or below its delivered sequence is stranded.
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from '../runtime/logger.js';
import { messageId, type Delivery } from '../runtime/WorkQueue.js';
import type { NatsTransport } from './NatsTransport.js';
import type { TransportSubscription } from '../runtime/Transport.js';

/** How often a consumer sweeps for stranded messages no advisory reported (default). */
export const STRANDED_SWEEP_MS = 30_000;
/** Stranded messages one node offers at once, at most (the rest wait for the next sweep). */
export const MAX_STRANDED_IN_HAND = 256;

interface Advisory {
  stream_seq?: unknown;
  deliveries?: unknown;
}

/** Finds the stranded messages of one queue and offers them to its handler (see the file comment). */
export class StrandedMessages {
  private readonly inHand = new Map<number, ReturnType<typeof setTimeout> | undefined>();
  private sub: TransportSubscription | undefined;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private active = true;
  private sweeping = false;

  constructor(
    private readonly o: {
      transport: NatsTransport;
      jsm: JetStreamManager;
      stream: string;
      durable: string;
      subject: string;
      /** The consumer's `max_deliver` (an offered message says one more delivery than that). */
      maxDeliver: () => number;
      handler: (d: Delivery) => void;
      logger: Logger;
      /** Counts a message found stranded (`how`: advisory or sweep). */
      onFound?: (how: 'advisory' | 'sweep') => void;
      sweepMs?: number;
    },
  ) {
    this.sub = o.transport.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${o.stream}.${o.durable}`, (m) => this.onAdvisory(m.data), { queue: `hive-stranded-${o.durable}` });
    this.sweeper = setInterval(() => void this.sweep(), o.sweepMs ?? STRANDED_SWEEP_MS);
    this.sweeper.unref();
    void this.sweep();
  }

  stop(): void {
    this.active = false;
    this.sub?.unsubscribe();
    this.sub = undefined;
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    for (const t of this.inHand.values()) if (t !== undefined) clearTimeout(t);
    this.inHand.clear();
  }

  private onAdvisory(data: Uint8Array): void {
    let a: Advisory;
    try {
      a = JSON.parse(new TextDecoder().decode(data)) as Advisory;
    } catch {
      return;
    }
    if (typeof a !== 'object' || a === null) return;
    const seq = a.stream_seq;
    const deliveries = a.deliveries;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq <= 0) return;
    this.o.onFound?.('advisory');
    void this.offer(seq, typeof deliveries === 'number' && Number.isSafeInteger(deliveries) ? deliveries + 1 : this.o.maxDeliver() + 1);
  }

  /** Looks for stranded messages nobody reported (only when nothing is in flight: then they are certain). */
  async sweep(): Promise<number> {
    if (!this.active || this.sweeping) return 0;
    this.sweeping = true;
    let found = 0;
    try {
      const info = await this.o.jsm.consumers.info(this.o.stream, this.o.durable);
      if (info.num_ack_pending > 0) return 0;
      const upTo = info.delivered.stream_seq;
      let seq = 0;
      while (this.active && this.inHand.size < MAX_STRANDED_IN_HAND) {
        const m = await this.o.jsm.direct.getMessage(this.o.stream, { next_by_subj: this.o.subject, seq: seq + 1 }).catch(() => null);
        if (m === null || m.seq > upTo) break;
        seq = m.seq;
        if (this.inHand.has(seq)) continue;
        found += 1;
        this.o.onFound?.('sweep');
        void this.offer(seq, this.o.maxDeliver() + 1);
      }
    } catch (err) {
      this.o.logger.debug({ err, stream: this.o.stream, consumer: this.o.durable }, 'could not sweep for stranded messages (next sweep retries)');
    } finally {
      this.sweeping = false;
    }
    return found;
  }

  private async offer(seq: number, deliveryCount: number): Promise<void> {
    if (!this.active || this.inHand.has(seq) || this.inHand.size >= MAX_STRANDED_IN_HAND) return;
    this.inHand.set(seq, undefined);
    let data: Uint8Array;
    let time: number;
    try {
      const m = await this.o.jsm.streams.getMessage(this.o.stream, { seq });
      if (m === null || m.subject !== this.o.subject) {
        this.inHand.delete(seq);
        return;
      }
      data = m.data;
      time = m.time.getTime();
    } catch (err) {
      // gone already (another node settled it), or JetStream is away: the sweep finds it again if it is still there
      this.o.logger.debug({ err, stream: this.o.stream, seq }, 'could not read a stranded message');
      this.inHand.delete(seq);
      return;
    }
    if (!this.active) return;
    this.o.logger.warn({ stream: this.o.stream, consumer: this.o.durable, seq, deliveries: deliveryCount - 1 }, 'a message ran out of deliveries without an outcome; offering it to be dead-lettered');
    let settled = false;
    const remove = () => {
      if (settled) return;
      settled = true;
      this.o.jsm.streams.deleteMessage(this.o.stream, seq, false).then(
        () => this.inHand.delete(seq),
        (err: unknown) => {
          this.inHand.delete(seq);
          this.o.logger.warn({ err, stream: this.o.stream, seq }, 'could not delete a dead-lettered stranded message (a later sweep offers it again)');
        },
      );
    };
    this.o.handler({
      data,
      deliveryCount,
      id: messageId(seq, time),
      ack: remove,
      term: remove,
      nak: (delayMs = 1000) => {
        if (settled) return;
        settled = true;
        if (!this.active) return;
        // not dead-lettered (its publish failed): offer it again later; it stays in the stream meanwhile
        const t = setTimeout(
          () => {
            this.inHand.delete(seq);
            void this.offer(seq, deliveryCount + 1);
          },
          Math.max(100, delayMs),
        );
        t.unref();
        this.inHand.set(seq, t);
      },
      working: () => undefined,
    });
  }
}
