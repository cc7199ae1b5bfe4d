// A setup module for the chaos benchmark's `hive start` nodes (--load): hosts the `chaos` pool, whose agent
// does a little work and answers with a run id unique to that run (node, attempt, random), so that a task run
// twice and answered from two different runs is visible to the client.
import { randomUUID } from 'node:crypto';
import type { Hive } from '../../index.js';

export default async function (hive: Hive): Promise<void> {
  await hive.pool<{ n: number }, { n: number; run: string; node: string; attempt: number }>('chaos', {
    agent: (task, ctx) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => resolve({ n: task.n, run: randomUUID(), node: hive.nodeId, attempt: ctx.attempt }), 5 + (task.n % 20));
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(t);
          reject(ctx.signal.reason as Error);
        });
      }),
    min: 2,
    max: 2,
    concurrency: 4,
    ackWaitMs: 3_000,
    maxDeliver: 20,
    taskTimeoutMs: 60_000,
  });
}
