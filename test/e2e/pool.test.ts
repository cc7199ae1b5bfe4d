// Pools across node processes on a real nats-server: a node killed with -9 while its agents run tasks;
// those tasks are redelivered to the surviving node and each completes exactly once in the results. The test
// proves its fault: the killed node held tasks in flight when it died, and those tasks were redelivered
// (attempt > 1) to the survivor.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hive } from '../../cluster/Hive.js';
import { silentLogger } from '../../runtime/logger.js';
import { runHive, startHiveNode, type HiveNode } from '../support/hiveProcess.js';
import { natsBinaryAvailable, startNatsServer, uniqueName, type OwnNatsServer } from '../support/services.js';

const cli = (args: string[]) => runHive(args);

async function until(check: () => boolean | Promise<boolean>, what: string, limitMs = 20_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`gave up waiting for ${what}`);
}

type Done = { n: number; node: string; attempt: number };

describe.skipIf(!natsBinaryAvailable())('pools across processes - end to end', () => {
  let server: OwnNatsServer;
  let dataDir: string;
  const cluster = uniqueName('pool');
  const procs: HiveNode[] = [];
  let client: Hive;

  async function startNode(id: string): Promise<void> {
    const args = ['--no-memory', '--nats', server.url, '--cluster', cluster, '--data-dir', join(dataDir, id), '--load', join(import.meta.dirname, 'fixtures', 'pool.ts')];
    procs.push(await startHiveNode(args, id, process.env, 20_000));
  }

  beforeAll(async () => {
    server = await startNatsServer();
    dataDir = mkdtempSync(join(tmpdir(), 'hive-pool-'));
    await startNode('p1');
    await startNode('p2');
    client = await Hive.start({ cluster, nodeId: 'client', nats: server.url, env: false, logger: silentLogger(), heartbeatMs: 200, failureAfterMs: 1500 });
    await until(() => client.members().filter((m) => m.pools?.includes('work')).length === 2, 'both pool nodes in the membership');
  });

  afterAll(async () => {
    await client?.stop();
    for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('pool - tasks of a node killed with -9 are redelivered and each completes exactly once', { timeout: 90_000 }, async () => {
    const ids = Array.from({ length: 24 }, (_, n) => `t${n}`);
    const results = ids.map((id, n) => client.submit('work', { n, ms: 400 }, { id, timeoutMs: 30_000 }) as Promise<Done>);
    // the fault must hit work in flight: wait until the victim's agents run tasks
    let heldAtKill = 0;
    await until(async () => {
      const s = (await client.ref('pool-work-p1').ask({ type: 'pool.status' }, { timeoutMs: 2_000 }).catch(() => ({ busy: 0 }))) as unknown as { busy: number };
      heldAtKill = s.busy;
      return heldAtKill > 0;
    }, 'node p1 to run tasks');
    const victim = procs.find((p) => p.id === 'p1')!;
    victim.proc.kill('SIGKILL');
    expect(await victim.exited).toBeNull(); // killed by the signal, not exited on its own
    const done = await Promise.all(results);
    expect(done.map((r) => r.n)).toEqual(ids.map((_, n) => n));
    // the victim's in-flight tasks were redelivered and finished on the survivor
    const redelivered = done.filter((r) => r.attempt > 1);
    expect(redelivered.length).toBeGreaterThanOrEqual(1);
    expect(redelivered.every((r) => r.node === 'p2')).toBe(true);
    expect(done.filter((r) => r.node === 'p1').length).toBeLessThan(ids.length);
    // asking again by id returns the same recorded outcome (exactly once in the results)
    const again = await Promise.all(ids.map((id, n) => client.submit('work', { n, ms: 400 }, { id }) as Promise<Done>));
    expect(again).toEqual(done);
  });

  it('pool - hive pools counters are cluster-wide and durable: DONE does not drop when a node that did tasks is killed', { timeout: 90_000 }, async () => {
    type PoolsJson = { pools: Array<{ pool: string; done: number }>; nodes: Array<{ node: string; pools: Array<{ pool: string; done: number; cluster?: { done: number } }> }> };
    const pools = async () => JSON.parse((await cli(['pools', '--json', '--nats', server.url, '--cluster', cluster])).stdout) as PoolsJson;
    const doneOf = (j: PoolsJson) => j.pools.find((x) => x.pool === 'work')?.done ?? 0;
    const hosts = (j: PoolsJson) => j.nodes.filter((n) => n.pools.some((x) => x.pool === 'work')).map((n) => n.node).sort();
    const viewOf = (j: PoolsJson, node: string) => j.nodes.find((n) => n.node === node)?.pools.find((x) => x.pool === 'work')?.cluster?.done ?? -1;
    await startNode('p3');
    await until(() => client.members().filter((m) => m.pools?.includes('work')).length === 2, 'p2 and p3 in the membership');
    await until(async () => hosts(await pools()).join() === 'p2,p3', 'p2 and p3 answering hive pools');
    const before = doneOf(await pools());
    const ids = Array.from({ length: 16 }, (_, n) => `c${n}`);
    const done = await Promise.all(ids.map((id, n) => client.submit('work', { n, ms: 200 }, { id, timeoutMs: 30_000 }) as Promise<Done>));
    // the fault must take counted work with it: the victim did some of these tasks
    const byVictim = done.filter((r) => r.node === 'p3').length;
    expect(byVictim).toBeGreaterThan(0);
    expect(byVictim).toBeLessThan(ids.length);
    // the survivor's view of the cluster's totals holds the victim's count (written to the KV bucket)
    let counted = 0;
    await until(async () => {
      const j = await pools();
      counted = doneOf(j);
      return counted >= before + ids.length && viewOf(j, 'p2') >= before + ids.length;
    }, 'the survivor to see every done task in the durable counters');
    const victim = procs.find((p) => p.id === 'p3')!;
    victim.proc.kill('SIGKILL');
    expect(await victim.exited).toBeNull();
    await until(async () => hosts(await pools()).join() === 'p2' && !client.members().some((m) => m.node === 'p3'), 'p3 gone from the cluster');
    const after = await pools();
    expect(hosts(after)).toEqual(['p2']);
    expect(doneOf(after)).toBeGreaterThanOrEqual(counted);
    // summing the live nodes' own counters, as hive pools once did, would have lost the victim's tasks
    const liveSum = after.nodes.flatMap((n) => n.pools).filter((x) => x.pool === 'work').reduce((a, x) => a + x.done, 0);
    expect(liveSum).toBeLessThan(doneOf(after));
  });

  it('pool - hive submit and hive pools work from the CLI', { timeout: 60_000 }, async () => {
    const r = await cli(['submit', 'work', '{"n":7,"ms":1}', '--wait', '--nats', server.url, '--cluster', cluster]);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ n: 7 });
    // after p1's death the survivor takes over the whole pool (4 agents)
    for (let i = 0; i < 40; i++) {
      const j = JSON.parse((await cli(['pools', '--json', '--nats', server.url, '--cluster', cluster])).stdout) as { pools: Array<{ pool: string; size: number }> };
      if (j.pools.find((x) => x.pool === 'work')?.size === 4) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    // each node's pool machine state is visible: in the JSON per node and per pool, and in the table
    const j = JSON.parse((await cli(['pools', '--json', '--nats', server.url, '--cluster', cluster])).stdout) as { pools: Array<{ pool: string; states: Record<string, string> }>; nodes: Array<{ node: string; pools: Array<{ pool: string; state: string }> }> };
    const hostsOfWork = j.nodes.filter((n) => n.pools.some((x) => x.pool === 'work'));
    expect(hostsOfWork.length).toBeGreaterThan(0);
    for (const n of hostsOfWork) expect(n.pools.find((x) => x.pool === 'work')?.state).toBe('running');
    expect(Object.values(j.pools.find((x) => x.pool === 'work')?.states ?? {})).toContain('running');
    const p = await cli(['pools', '--nats', server.url, '--cluster', cluster]);
    expect(p.stdout).toMatch(/POOL\s+SIZE\s+TARGET\s+BUSY.*BREAKER\s+STATE/);
    expect(p.stdout).toMatch(/\srunning\s/);
    expect(p.stdout).toMatch(/\s(closed|half-open|open)\s/);
    expect(p.stdout).toMatch(/^work\s+4\s+4\s/m);
    const unknown = await cli(['submit', 'nope', '{}', '--wait', '--nats', server.url, '--cluster', cluster]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('NO_SUCH_ACTOR');
  });
});
