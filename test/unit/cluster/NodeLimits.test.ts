// Limiters and budgets through the Hive API on in-process nodes (one bus: they share the limits store),
// and a pool whose tasks take permits: they wait for capacity instead of failing.
import { afterEach, describe, expect, it } from 'vitest';
import { Hive } from '../../../cluster/Hive.js';
import { InProcBus, InProcTransport } from '../../../runtime/InProcTransport.js';
import { silentLogger } from '../../../runtime/logger.js';
import { codeOf } from '../../support/errors.js';

const open: Hive[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.stop()));
});

async function node(bus: InProcBus, nodeId: string): Promise<Hive> {
  const h = await Hive.start({ cluster: 'lim', nodeId, env: false, logger: silentLogger(), transport: new InProcTransport(bus) });
  open.push(h);
  return h;
}

describe('hive.limiter and hive.budget', () => {
  it('a definition on one node is the limit every node applies; bad options name the option', async () => {
    const bus = new InProcBus();
    const a = await node(bus, 'a');
    const b = await node(bus, 'b');
    expect(() => a.limiter('api', { requestsPerMinute: 0 })).toThrow(/limiter\.requestsPerMinute/);
    expect(() => a.limiter('bad name', { requestsPerMinute: 1 })).toThrow(/limiter name/);
    a.limiter('api', { requestsPerMinute: 60, burst: 3 });
    // b never saw the options: it reads the cluster's definition
    const permits = await Promise.all([b.limiter('api').take(1), b.limiter('api').take(1), a.limiter('api').take(1)]);
    expect(permits).toHaveLength(3);
    expect(b.limiter('api').options).toMatchObject({ requestsPerMinute: 60, burst: 3 });
    expect(await codeOf(b.limiter('api').take(4))).toBe('INVALID_ARGUMENT');
    // the bucket is empty: the next take waits (aborted here rather than waiting a second)
    const ac = new AbortController();
    const waiting = b.limiter('api').take(1, { signal: ac.signal });
    ac.abort(new Error('stop waiting'));
    await expect(waiting).rejects.toThrow('stop waiting');
  });

  it('a pool with a limiter runs no more tasks at once than maxConcurrent allows, and every task completes', async () => {
    const bus = new InProcBus();
    const h = await node(bus, 'a');
    h.limiter('model', { maxConcurrent: 2 });
    h.budget('spend', { limit: 1000, per: 'total' });
    let running = 0;
    let most = 0;
    const pool = await h.pool<{ n: number }, number>('calls', {
      agent: async (task, ctx) => {
        running += 1;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 5));
        await ctx.budget('spend').charge(1);
        running -= 1;
        return task.n;
      },
      min: 6,
      max: 6,
      limiter: { name: 'model', n: () => 1 },
    });
    const results = await Promise.all(Array.from({ length: 12 }, (_, n) => pool.submit({ n }, { timeoutMs: 20_000 })));
    expect(results).toEqual(Array.from({ length: 12 }, (_, n) => n));
    expect(most).toBeLessThanOrEqual(2);
    expect(await h.budget('spend').status()).toMatchObject({ spent: 12 });
  });

  it('pool.limiter options are validated', async () => {
    const bus = new InProcBus();
    const h = await node(bus, 'a');
    await expect(h.pool('p', { agent: () => 1, limiter: { name: 'x', n: -1 } })).rejects.toThrow(/pool\.limiter\.n/);
    await expect(h.pool('q', { agent: () => 1, limiter: 'bad name' })).rejects.toThrow(/pool\.limiter/);
  });
});
