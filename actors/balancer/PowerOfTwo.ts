// Power of two choices: sample two distinct available agents at random, keep the one with the lower latency
// EWMA (lower load breaks ties). O(1) per decision and per update.
import { BaseStrategy, type BaseStrategyOptions } from './BaseStrategy.js';

/**
 * "p2c": two random available agents (live, below capacity), the one with the lower `latencyEwmaMs` wins;
 * on equal latency the lower `load / capacity` (or `load`, with unbounded capacity) wins, then the first
 * drawn. Randomness avoids the herd that "always the fastest" causes when latency reports lag.
 */
export class PowerOfTwo extends BaseStrategy {
  readonly name = 'p2c' as const;

  constructor(options: BaseStrategyOptions = {}) {
    super(options);
  }

  pick(_key?: string): string | undefined {
    const pool = this.pool;
    const n = pool.length;
    if (n <= 1) return n === 0 ? undefined : pool[0].id;
    const i = (this.random() * n) | 0;
    let j = (this.random() * (n - 1)) | 0;
    if (j >= i) j++;
    const a = pool[i];
    const b = pool[j];
    if (a.latencyEwmaMs !== b.latencyEwmaMs) return a.latencyEwmaMs < b.latencyEwmaMs ? a.id : b.id;
    const ua = a.capacity === Infinity ? a.load : a.load / a.capacity;
    const ub = b.capacity === Infinity ? b.load : b.load / b.capacity;
    return ub < ua ? b.id : a.id;
  }
}
