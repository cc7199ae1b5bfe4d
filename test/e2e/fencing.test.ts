// A paused owner, end to end: two `hive start` processes on a nats-server this test owns; a client increments
// the built-in counter `counter/k` concurrently while the process that owns it is stopped with SIGSTOP for longer
// than failureAfterMs, then continued with SIGCONT. The test proves its fault (the paused process held the
// actor, the other took it over during the pause, and the paused one, once continued, fenced its own activation
// off instead of serving), then that exactly one activation remains and the count equals the increments
// acknowledged.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatherStatus } from '../../cluster/gatherStatus.js';
import { Hive } from '../../cluster/Hive.js';
import { hiveInternals } from '../../cluster/internal.js';
import { decodePlacement } from '../../cluster/virtual/placement.js';
import { silentLogger } from '../../runtime/logger.js';
import { incrementLoad } from '../support/incrementLoad.js';
import { assertNoUnhandled, startHiveNode, type HiveNode } from '../support/hiveProcess.js';
import { until } from '../support/natsNodes.js';
import { natsBinaryAvailable, startNatsServer, uniqueName, type OwnNatsServer } from '../support/services.js';

const FAILURE_AFTER_MS = 1_500;

describe.skipIf(!natsBinaryAvailable())('one activation per virtual actor under a paused owner - end to end', () => {
  let server: OwnNatsServer;
  let dataDir: string;
  const cluster = uniqueName('pause');
  const procs: HiveNode[] = [];
  let client: Hive;

  beforeAll(async () => {
    server = await startNatsServer();
    dataDir = mkdtempSync(join(tmpdir(), 'hive-fence-'));
    for (const id of ['n1', 'n2']) {
      const args = ['--no-memory', '--nats', server.url, '--cluster', cluster, '--data-dir', join(dataDir, id)];
      procs.push(await startHiveNode(args, id, { ...process.env, HIVE_HEARTBEAT_MS: '200', HIVE_FAILURE_AFTER_MS: String(FAILURE_AFTER_MS) }));
    }
    client = await Hive.start({ cluster, nodeId: 'client', nats: server.url, env: false, logger: silentLogger(), heartbeatMs: 200, failureAfterMs: FAILURE_AFTER_MS });
    await until(() => client.members().filter((m) => m.kinds.includes('counter')).length === 2, 'both nodes with the counter kind', 20_000);
  });

  afterAll(async () => {
    for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGCONT');
    await client?.stop();
    for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The node the placement bucket names as the counter's owner. */
  async function placedOn(): Promise<string | undefined> {
    const e = await hiveInternals(client).virtual.stores.placement.get('counter.k');
    return e === undefined ? undefined : decodePlacement(hiveInternals(client).system.codec, e.value)?.node;
  }

  /** The nodes whose status lists the counter as an active actor. */
  async function holders(): Promise<string[]> {
    const status = await gatherStatus(hiveInternals(client).transport, cluster, 3_000, 300);
    return status.filter((s) => s.actors.some((a) => a.id === 'counter/k')).map((s) => s.node);
  }

  it('SIGSTOP the owner longer than failureAfterMs, then SIGCONT: one activation, count = acknowledged increments', { timeout: 120_000 }, async () => {
    expect(await client.actor('counter', 'k').ask({ type: 'inc' }, { timeoutMs: 10_000 })).toEqual({ type: 'count', value: 1 });
    const ownerId = (await placedOn())!;
    const owner = procs.find((p) => p.id === ownerId)!;
    const survivor = procs.find((p) => p.id !== ownerId)!;
    expect(owner).toBeDefined();
    // the paused node really holds the actor: its status lists it
    expect(await holders()).toEqual([ownerId]);

    // increments in flight when the owner stops: they wait in its socket and are answered after SIGCONT
    const before = incrementLoad(client, 'k');
    await until(() => before.acks() >= 20, 'increments to flow');
    owner.proc.kill('SIGSTOP');
    const pausedAt = Date.now();
    // reads (no change) reach the kind's queue group once the owner is silent for failureAfterMs: the survivor
    // takes the counter over
    await until(
      async () => {
        await client.actor('counter', 'k').ask({ type: 'get' }, { timeoutMs: 500 }).catch(() => undefined);
        return (await placedOn()) === survivor.id;
      },
      'the survivor to take the counter over',
      30_000,
    );
    expect(Date.now() - pausedAt).toBeGreaterThan(FAILURE_AFTER_MS);
    const pausedAcks = before.acks();
    // increments during the pause, served by the survivor
    const during = incrementLoad(client, 'k');
    await until(() => during.acks() >= 20, 'increments served by the survivor while the owner is paused', 30_000);
    expect(before.acks()).toBe(pausedAcks); // the first ones still wait in the paused owner
    owner.proc.kill('SIGCONT');
    // once continued, the old owner fences its own activation off (it does not keep serving): what waited
    // there is routed to the survivor and acknowledged once saved there
    await until(() => owner.out().includes('virtual actor activation fenced off'), 'the continued owner to fence its activation off', 30_000);
    await until(() => before.acks() > pausedAcks, 'the increments that waited in the paused owner to be answered', 30_000);
    const afterResume = during.acks();
    await until(() => during.acks() >= afterResume + 20, 'increments after the owner came back', 30_000);
    await Promise.all([before.stop(), during.stop()]);

    // exactly one activation, and it answers with the count of acknowledged increments from every node
    await until(async () => (await holders()).length === 1, 'exactly one activation', 20_000);
    const [holder] = await holders();
    expect(holder).toBe(await placedOn());
    const expected = { type: 'count', value: 1 + before.acks() + during.acks() };
    expect([...before.errors, ...during.errors]).toEqual([]);
    for (let i = 0; i < 3; i++) expect(await client.actor('counter', 'k').ask({ type: 'get' }, { timeoutMs: 10_000 })).toEqual(expected);
    for (const p of procs) assertNoUnhandled(p);
  });
});
