// Cluster-wide limits on a real nats-server: a limiter held across three node processes, and a budget that
// survives a node restart (its state is in the JetStream KV bucket hive_<cluster>_limits).
import { afterAll, describe, expect, it } from 'vitest';
import { Hive } from '../../../cluster/Hive.js';
import { silentLogger } from '../../../runtime/logger.js';
import { codeOf } from '../../support/errors.js';
import { maxExcess, runLimiterNodes } from '../../support/limiterRun.js';
import { NATS_URL, deleteClusterStreams, natsAvailable, uniqueName } from '../../support/services.js';

const nats = await natsAvailable();

describe.skipIf(!nats)('cluster-wide limits over NATS', () => {
  const clusters: string[] = [];
  afterAll(async () => {
    for (const c of clusters) await deleteClusterStreams(NATS_URL, c);
  });

  it('a limiter holds across three node processes: no window admits more than rate x window + burst', { timeout: 60_000 }, async () => {
    const cluster = uniqueName('lim');
    clusters.push(cluster);
    const rpm = 600;
    const burst = 10;
    const { start, results } = await runLimiterNodes({ url: NATS_URL, cluster, nodes: 3, name: 'api', limiter: { requestsPerMinute: rpm, burst }, submitters: 8, durationMs: 6000 });
    const all = results.flatMap((r) => r.admitted).filter((t) => t >= start);
    const perMs = rpm / 60_000;
    for (const w of [1000, 3000, 6000]) expect(maxExcess(all, perMs, w).excess).toBeLessThanOrEqual(burst);
    // every process was admitted: the limit is shared, not held by one node
    for (const r of results) expect(r.admitted.length).toBeGreaterThan(0);
  });

  it('a budget survives a node restart', { timeout: 30_000 }, async () => {
    const cluster = uniqueName('bud');
    clusters.push(cluster);
    const start = () => Hive.start({ cluster, nats: NATS_URL, env: false, logger: silentLogger() });
    const first = await start();
    const budget = first.budget('team', { limit: 10, per: 'total' });
    await budget.charge(7);
    await first.stop();
    const second = await start();
    try {
      // no definition given on this node: it reads the cluster's
      const again = second.budget('team');
      expect(await again.status()).toMatchObject({ spent: 7, remaining: 3, limit: 10 });
      await again.charge(4);
      expect(await codeOf(again.charge(1))).toBe('BUDGET_EXHAUSTED');
    } finally {
      await second.stop();
    }
  });
});
