// Ingestion batch sizing by AIMD toward a target batch time: grow by a fixed step while full batches finish
// under the target, halve when one takes longer. Bounded by min and max; pure (times are passed in).

/** Tuning for {@link AdaptiveBatchSize}. */
export interface AdaptiveBatchOptions {
  /** First batch size (default 2,000 documents). */
  initial: number;
  /** Smallest batch (default 64). */
  min: number;
  /** Largest batch (default 20,000). */
  max: number;
  /** Wanted time per batch, ms (default 250): long enough to amortize round trips, short enough to ack soon. */
  targetMs: number;
  /** Additive increase per fast full batch (default 500 documents). */
  step: number;
  /** Multiplicative decrease on a slow batch (default 0.5). */
  decrease: number;
}

const DEFAULTS: AdaptiveBatchOptions = { initial: 2000, min: 64, max: 20_000, targetMs: 250, step: 500, decrease: 0.5 };

/** The current ingestion batch size, adapted to observed batch latency. */
export class AdaptiveBatchSize {
  private readonly o: AdaptiveBatchOptions;
  private current: number;

  constructor(options: Partial<AdaptiveBatchOptions> = {}) {
    const o = { ...DEFAULTS, ...options };
    if (!(o.min >= 1 && o.max >= o.min && o.targetMs > 0 && o.step >= 1 && o.decrease > 0 && o.decrease < 1)) {
      throw new RangeError(`invalid adaptive batch options: ${JSON.stringify(o)}`);
    }
    this.o = o;
    this.current = Math.min(o.max, Math.max(o.min, Math.round(o.initial)));
  }

  /** Documents to put in the next batch. */
  get size(): number {
    return this.current;
  }

  /**
   * Feeds back one finished batch. A batch slower than the target shrinks the size; a full batch faster than
   * the target grows it (a short tail batch says nothing about larger ones, so it never grows it).
   *
   * @param docs documents in the batch
   * @param elapsedMs its time from encoding to commit
   */
  observe(docs: number, elapsedMs: number): void {
    if (elapsedMs > this.o.targetMs) {
      this.current = Math.max(this.o.min, Math.floor(Math.min(this.current, docs) * this.o.decrease));
    } else if (docs >= this.current) {
      this.current = Math.min(this.o.max, this.current + this.o.step);
    }
  }
}
