// Durable timers across node processes on a real nats-server: the node that owns the timers is killed with
// -9 after a timer was set; another node takes the lease once it lapses and fires the timer.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { Hive } from '../../cluster/Hive.js';
import type { NatsTransport } from '../../cluster/NatsTransport.js';
import type { HiveEvent } from '../../protocols/envelope.js';
import { silentLogger } from '../../runtime/logger.js';
import { startHiveNode, type HiveNode } from '../support/hiveProcess.js';
import { natsBinaryAvailable, startNatsServer, uniqueName, type OwnNatsServer } from '../support/services.js';
import { hiveInternals } from '../../cluster/internal.js';

describe.skipIf(!natsBinaryAvailable())('durable timers across processes - end to end', () => {
  let server: OwnNatsServer;
  let dataDir: string;
  const cluster = uniqueName('timers');
  const procs: HiveNode[] = [];
  let client: Hive | undefined;

  beforeAll(async () => {
    server = await startNatsServer();
    dataDir = mkdtempSync(join(tmpdir(), 'hive-timers-'));
  });

  afterAll(async () => {
    await client?.stop();
    for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function ownerOf(): Promise<string | undefined> {
    const kv = await (hiveInternals(client!).transport as NatsTransport).kv(`hive_${cluster}_timers`);
    const e = await kv.get('owner');
    if (e === null || e.operation !== 'PUT') return undefined;
    return e.json<{ node?: string }>().node;
  }

  it('a timer fires after the node that owned it is killed with -9', { timeout: 90_000 }, async () => {
    const start = (id: string) => startHiveNode(['--no-memory', '--nats', server.url, '--cluster', cluster, '--data-dir', join(dataDir, id)], id, process.env, 30_000);
    procs.push(await start('t1'));
    const received: HiveEvent[] = [];
    client = await Hive.start({ cluster, nodeId: 'client', nats: server.url, env: false, logger: silentLogger(), heartbeatMs: 200, failureAfterMs: 1500 });
    // t1 started first and holds the timers' lease
    const deadline = Date.now() + 15_000;
    while ((await ownerOf()) !== 't1' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await ownerOf()).toBe('t1');
    procs.push(await start('t2'));
    await client.spawn(setup({ types: { events: {} as HiveEvent } }).createMachine({ on: { '*': { actions: ({ event }) => received.push(event) } } }), { id: 'sink' });
    const due = await client.schedule('sink', { type: 'reminder', about: 'approval-42' }, { afterMs: 2000, id: 'reminder-42' });
    expect(due.created).toBe(true);
    const owner = procs.find((p) => p.id === 't1')!;
    owner.proc.kill('SIGKILL');
    await owner.exited;
    const end = Date.now() + 30_000;
    while (received.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    expect(received).toEqual([{ type: 'reminder', about: 'approval-42', timerId: 'reminder-42' }]);
    expect(['t2', 'client']).toContain(await ownerOf());
    // fired timers are deleted: cancelling it now finds nothing
    expect(await client.cancelSchedule('reminder-42')).toBe(false);
  });
});
