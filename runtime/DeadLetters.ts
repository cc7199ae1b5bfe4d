// Dead letters: messages that could not be delivered, counted by reason and observable by subscribers. The
// node keeps only a bounded summary of the most recent ones (never the events themselves: an 8 MiB event
// must not stay in memory because it could not be delivered).
import type { Counter } from 'prom-client';
import type { MetricsRegistry } from './metrics.js';

/** Why a message became a dead letter. */
export type DeadLetterReason = 'no-such-actor' | 'mailbox-full' | 'stopped' | 'failed' | 'unhandled' | 'bad-frame' | 'unreachable';

/** A message that was not delivered (what subscribers get, at once; not kept). */
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

/** What a node keeps of a recent dead letter: bounded in size (no event body). */
export interface DeadLetterSummary {
  /** Target actor id (at most {@link DEAD_LETTER_TEXT_LIMIT} characters). */
  to: string;
  /** The event's `type`, when it had a string one (at most {@link DEAD_LETTER_TEXT_LIMIT} characters). */
  type?: string;
  reason: DeadLetterReason;
  /** Epoch ms. */
  at: number;
  /** Extra detail (at most {@link DEAD_LETTER_TEXT_LIMIT} characters). */
  detail?: string;
}

/** Recent dead letters a node keeps (default of the `deadLetterKeep` option); older summaries are evicted. */
export const DEFAULT_DEAD_LETTER_KEEP = 100;
/** Longest text kept per field of a {@link DeadLetterSummary}. */
export const DEAD_LETTER_TEXT_LIMIT = 256;

function clip(s: string): string {
  return s.length > DEAD_LETTER_TEXT_LIMIT ? `${s.slice(0, DEAD_LETTER_TEXT_LIMIT - 1)}…` : s;
}

/** The bounded summary of a dead letter. */
export function summarize(letter: DeadLetter): DeadLetterSummary {
  const s: DeadLetterSummary = { to: clip(letter.to), reason: letter.reason, at: letter.at };
  const type = typeof letter.event === 'object' && letter.event !== null ? (letter.event as { type?: unknown }).type : undefined;
  if (typeof type === 'string') s.type = clip(type);
  if (letter.detail !== undefined) s.detail = clip(letter.detail);
  return s;
}

/** Counts dead letters, keeps a bounded summary of the most recent ones, and notifies subscribers. */
export class DeadLetters {
  private readonly listeners = new Set<(letter: DeadLetter) => void>();
  /** A ring of at most `keep` summaries; `next` is where the next one goes. */
  private readonly ring: DeadLetterSummary[] = [];
  private next = 0;
  private total = 0;
  private readonly counter: Counter<'reason'>;

  /** `keep`: summaries kept (0 keeps none; counting and subscribers work the same). */
  constructor(
    metrics: MetricsRegistry,
    private readonly keep = DEFAULT_DEAD_LETTER_KEEP,
  ) {
    if (!Number.isInteger(keep) || keep < 0) throw new RangeError(`dead letters kept must be an integer >= 0, got ${String(keep)}`);
    this.counter = metrics.counter('hive_dead_letters_total', 'Messages that could not be delivered', ['reason']);
    const ring = this.ring;
    metrics.gauge('hive_dead_letters_kept', 'Recent dead-letter summaries this node keeps (stat: count, limit)', ['stat'], function () {
      this.set({ stat: 'count' }, ring.length);
      this.set({ stat: 'limit' }, keep);
    });
  }

  /** Records a dead letter. */
  publish(letter: DeadLetter): void {
    this.total += 1;
    this.counter.inc({ reason: letter.reason });
    if (this.keep > 0) {
      this.ring[this.next] = summarize(letter);
      this.next = (this.next + 1) % this.keep;
    }
    for (const l of this.listeners) {
      try {
        l(letter);
      } catch {
        // a listener's failure must not stop delivery to the others
      }
    }
  }

  /** Calls `listener` for each dead letter (with its event); returns an unsubscribe function. */
  subscribe(listener: (letter: DeadLetter) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** How many dead letters this node has seen. */
  get count(): number {
    return this.total;
  }

  /** Summaries of the most recent dead letters (at most `keep`), oldest first. */
  recent(): DeadLetterSummary[] {
    if (this.ring.length < this.keep) return this.ring.slice();
    return [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }
}
