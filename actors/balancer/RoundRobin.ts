// Round robin: cycles over the available agents. O(1) per decision and per update.
import { BaseStrategy, type BaseStrategyOptions } from './BaseStrategy.js';

/**
 * Round robin over the available agents (live, below capacity). The cycle runs over a dense array that
 * agents join and leave in O(1) (swap-remove), so an agent leaving or filling up may shift the order by one
 * position: each agent still gets its turn once per cycle, give or take one.
 */
export class RoundRobin extends BaseStrategy {
  readonly name = 'round-robin' as const;
  private cursor = 0;

  constructor(options: BaseStrategyOptions = {}) {
    super(options);
  }

  pick(_key?: string): string | undefined {
    const pool = this.pool;
    const n = pool.length;
    if (n === 0) return undefined;
    if (this.cursor >= n) this.cursor = 0;
    return pool[this.cursor++].id;
  }
}
