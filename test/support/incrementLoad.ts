// Increments of the built-in counter driven concurrently from one node while a fault happens, with every
// acknowledged one counted (the fencing tests compare the final count with it).
import type { Hive } from '../../cluster/Hive.js';

/** A client's increments: driven concurrently until stopped, each acknowledged one counted. */
export interface IncrementLoad {
  acks: () => number;
  errors: string[];
  stop: () => Promise<void>;
}

/** `workers` loops asking `inc` of `counter/<key>` through `hive` (long timeouts: no ask may end ambiguous). */
export function incrementLoad(hive: Hive, key: string, workers = 4): IncrementLoad {
  let acks = 0;
  let running = true;
  const errors: string[] = [];
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      try {
        await hive.actor('counter', key).ask({ type: 'inc' }, { timeoutMs: 30_000 });
        acks += 1;
      } catch (err) {
        errors.push(`${(err as { code?: string }).code}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  });
  return {
    acks: () => acks,
    errors,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}
