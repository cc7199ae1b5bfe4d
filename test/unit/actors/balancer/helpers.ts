// Shared helpers of the balancer tests: a seeded PRNG and pick counting.
import type { Strategy } from '../../../../actors/balancer/Strategy.js';

export { rng as seeded } from '../../../support/rng.js';

/** Picks `n` times and counts the ids (undefined counted under `none`). */
export function countPicks(s: Strategy, n: number, key?: (i: number) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const id = s.pick(key?.(i)) ?? 'none';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}
