// Dead letters: messages that could not be delivered, counted by reason and observable by subscribers.
import type { Counter } from 'prom-client';
import type { MetricsRegistry } from './metrics.js';

/** Why a message became a dead letter. */
export type DeadLetterReason = 'no-such-actor' | 'mailbox-full' | 'stopped' | 'failed' | 'unhandled' | 'bad-frame' | 'unreachable';

/** A message that was not delivered. */
export interface DeadLetter {
  /** Target actor id. */
  to: string;
  /** The event, when it could be decoded. */
  event: unknown;
  reason: DeadLetterReason;
  /** Epoch ms. */
  at: number;
  /** Extra detail (an error message). */
  detail?: string;
}

/** Counts dead letters, keeps the most recent ones (bounded), and notifies subscribers. */
export class DeadLetters {
  private readonly listeners = new Set<(letter: DeadLetter) => void>();
  private readonly recentLetters: DeadLetter[] = [];
  private total = 0;
  private readonly counter: Counter<'reason'>;

  constructor(
    metrics: MetricsRegistry,
    private readonly keep = 100,
  ) {
    this.counter = metrics.counter('hive_dead_letters_total', 'Messages that could not be delivered', ['reason']);
  }

  /** Records a dead letter. */
  publish(letter: DeadLetter): void {
    this.total += 1;
    this.counter.inc({ reason: letter.reason });
    if (this.keep > 0) {
      if (this.recentLetters.length >= this.keep) this.recentLetters.shift();
      this.recentLetters.push(letter);
    }
    for (const l of this.listeners) {
      try {
        l(letter);
      } catch {
        // a listener's failure must not stop delivery to the others
      }
    }
  }

  /** Calls `listener` for each dead letter; returns an unsubscribe function. */
  subscribe(listener: (letter: DeadLetter) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** How many dead letters this node has seen. */
  get count(): number {
    return this.total;
  }

  /** The most recent dead letters, oldest first. */
  recent(): readonly DeadLetter[] {
    return this.recentLetters;
  }
}
