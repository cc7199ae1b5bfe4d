// The memory breaker against a real PostgreSQL this test stops and starts: calls fail fast while it is down,
// the breaker probes and closes by itself once it is back, and nothing acknowledged is lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hive } from '../../../cluster/Hive.js';
import { HiveError } from '../../../protocols/errors.js';
import { silentLogger } from '../../../runtime/logger.js';
import { NATS_URL, deleteClusterStreams, natsAvailable, startThrowawayPostgres, throwawayPostgresAvailable, uniqueName, type ThrowawayPostgres } from '../../support/services.js';

const ready = throwawayPostgresAvailable() && (await natsAvailable());

async function until(check: () => Promise<boolean>, what: string, limitMs = 60_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

function docs(prefix: string, n: number) {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, namespace: 'facts', content: `fact number ${i} about ${prefix} and the hive` }));
}

describe.skipIf(!ready)('memory breaker - PostgreSQL stopped and restarted', () => {
  let pg: ThrowawayPostgres;
  let hive: Hive;
  const cluster = uniqueName('membrk');

  beforeAll(async () => {
    pg = await startThrowawayPostgres();
    hive = await Hive.start({ cluster, nats: NATS_URL, env: false, logger: silentLogger(), database: pg.url, memory: { breaker: { consecutiveFailures: 2, coolDownMs: 300, maxCoolDownMs: 1000, probesToClose: 1 } } });
  }, 120_000);

  afterAll(async () => {
    await hive?.stop();
    await pg?.destroy();
    await deleteClusterStreams(NATS_URL, cluster);
  });

  it('memory - fails fast while the database is down, recovers by itself, and loses nothing acknowledged', async () => {
    expect((await hive.memory.ingest(docs('before', 50))).inserted).toBe(50);
    // acknowledged as durably queued, then the database goes away
    const queued = await hive.memory.ingest(docs('queued', 300), { wait: false });
    expect(queued.type).toBe('memory.queued');
    await pg.stop();

    const codes: string[] = [];
    for (let i = 0; i < 6; i++) {
      try {
        await hive.memory.search({ namespace: 'facts', text: 'hive', timeoutMs: 10_000 });
        codes.push('ok');
      } catch (err) {
        expect(err).toBeInstanceOf(HiveError);
        expect((err as HiveError).retryable).toBe(true);
        codes.push((err as HiveError).code);
      }
    }
    // the first calls see the database error, then the breaker answers for it
    expect(codes).not.toContain('ok');
    expect(codes.at(-1)).toBe('CIRCUIT_OPEN');
    expect((hive.status().extra?.['memory'] as { breaker?: string }).breaker).toMatch(/open/);

    await pg.start();
    await until(async () => {
      try {
        await hive.memory.search({ namespace: 'facts', text: 'hive', timeoutMs: 5_000 });
        return true;
      } catch {
        return false;
      }
    }, 'memory to answer again');
    expect((hive.status().extra?.['memory'] as { breaker?: string }).breaker).toBe('closed');
    // what was queued before the outage is committed once the database is back, exactly once
    await until(async () => (await hive.memory.stats('facts')).documents === 350, 'the queued documents to be stored');
    expect((await hive.memory.stats('facts')).documents).toBe(350);
  }, 120_000);
});
