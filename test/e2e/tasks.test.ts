// The CLI a user reaches for, as processes against a real nats-server: `hive result` of a task submitted
// without --wait, failures that say how many attempts were made and that the task was dead-lettered,
// `hive dead` and `--replay`, a memory column in `hive status`, virtual actors listed as kind/key, `hive send`
// to nothing failing, and HIVE_ASK_TIMEOUT_MS honoured (and named when wrong).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHive, startHiveNode, type HiveNode } from '../support/hiveProcess.js';
import { natsBinaryAvailable, startNatsServer, uniqueName, type OwnNatsServer } from '../support/services.js';

describe.skipIf(!natsBinaryAvailable())('hive CLI - tasks, dead letters, status, send', () => {
  let server: OwnNatsServer;
  let dataDir: string;
  let node: HiveNode;
  let common: string[];
  const hive = (args: string[], env: NodeJS.ProcessEnv = process.env) => runHive([...args, ...common], env);

  beforeAll(async () => {
    server = await startNatsServer();
    dataDir = mkdtempSync(join(tmpdir(), 'hive-e2e-tasks-'));
    common = ['--nats', server.url, '--cluster', uniqueName('tasks')];
    node = await startHiveNode([...common, '--no-memory', '--data-dir', join(dataDir, 'n1'), '--load', join(import.meta.dirname, 'fixtures', 'tasks.ts')], 'n1');
  }, 60_000);

  afterAll(async () => {
    if (node?.proc.exitCode === null) node.proc.kill('SIGKILL');
    await node?.exited;
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('the banner lists the loaded module and the pools', () => {
    expect(node.out()).toMatch(/loaded {5}\S*fixtures\/tasks\.ts/);
    expect(node.out()).toMatch(/pools {6}double, broken/);
  });

  it('hive result prints the result of a task submitted without --wait', async () => {
    const queued = await hive(['submit', 'double', '{"n":21}', '--id', 'd1']);
    expect(queued.stdout).toContain('queued task d1 on pool double');
    let r = await hive(['result', 'double', 'd1']);
    for (let i = 0; i < 100 && r.code !== 0; i++) {
      expect(r.stderr).toContain('no result for task d1');
      await new Promise((res) => setTimeout(res, 100));
      r = await hive(['result', 'double', 'd1']);
    }
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ doubled: 42 });
    const unknown = await hive(['result', 'double', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no result for task nope of pool "double"');
  }, 30_000);

  it('a failed task says how many attempts were made and that it was dead-lettered; hive dead lists it; --replay resubmits it', async () => {
    const failed = await hive(['submit', 'broken', '{"n":1}', '--id', 'b1', '--wait']);
    expect(failed.code).toBe(1);
    expect(failed.stderr.trim()).toMatch(/^hive: INTERNAL: it broke.* \[task b1: 3 attempts, dead-lettered; see hive dead broken\]$/);
    const result = await hive(['result', 'broken', 'b1']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[task b1: 3 attempts, dead-lettered; see hive dead broken]');

    const dead = await hive(['dead', 'broken']);
    expect(dead.code).toBe(0);
    expect(dead.stdout).toMatch(/TASK\s+ATTEMPTS\s+ERROR\s+WHEN/);
    expect(dead.stdout).toMatch(/^b1\s+3\s+INTERNAL: it broke/m);
    const json = JSON.parse((await hive(['dead', 'broken', '--json'])).stdout) as { dead: Array<{ id: string; attempts: number; task: unknown }> };
    expect(json.dead).toEqual([expect.objectContaining({ id: 'b1', attempts: 3, task: { n: 1 } })]);

    const replay = await hive(['dead', 'broken', '--replay']);
    expect(replay.code).toBe(0);
    const newId = /replayed b1 as task (\S+)/.exec(replay.stdout)?.[1];
    expect(newId).toBeDefined();
    // the replayed task runs again (and, still broken, is dead-lettered again under its new id)
    let again = await hive(['dead', 'broken', '--json']);
    for (let i = 0; i < 100; i++) {
      const ids = (JSON.parse(again.stdout) as { dead: Array<{ id: string }> }).dead.map((d) => d.id);
      if (ids.includes(newId ?? '')) break;
      await new Promise((res) => setTimeout(res, 100));
      again = await hive(['dead', 'broken', '--json']);
    }
    expect((JSON.parse(again.stdout) as { dead: Array<{ id: string }> }).dead.map((d) => d.id)).toEqual([newId]);
    expect((await hive(['dead', 'double'])).stdout).toContain('pool double: no dead-lettered tasks');
  }, 60_000);

  it('hive status has a memory column and lists a virtual actor as kind/key', async () => {
    expect((await hive(['ask', 'counter/k1', '{"type":"inc"}'])).stdout.trim()).toBe('{"type":"count","value":1}');
    const status = await hive(['status']);
    expect(status.stdout).toMatch(/NODE\s+UPTIME\s+ACTORS\s+KINDS\s+MEMORY\s+RSS\s+PID/);
    expect(status.stdout).toMatch(/^n1\s.*\soff\s/m);
    expect(status.stdout).toMatch(/^counter\/k1\s+n1\s+counter\s/m);
    expect(status.stdout).not.toContain('counter--k1');
  }, 30_000);

  it('hive send to nothing says so and exits 1; to an actor or a registered kind it sends', async () => {
    const none = await hive(['send', 'nobody', '{"type":"inc"}']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('nothing hosts "nobody"');
    expect(none.stdout).toBe('');
    const noKind = await hive(['send', 'nokind/k', '{"type":"inc"}']);
    expect(noKind.code).toBe(1);
    const sent = await hive(['send', 'counter/k1', '{"type":"inc"}']);
    expect(sent.code).toBe(0);
    expect(sent.stdout).toContain('sent inc to counter/k1');
  }, 30_000);

  it('HIVE_ASK_TIMEOUT_MS is the CLI ask timeout, and a bad value is named', async () => {
    const bad = await hive(['ask', 'counter/k1', '{"type":"get"}'], { ...process.env, HIVE_ASK_TIMEOUT_MS: '-5' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("option '--timeout' (from HIVE_ASK_TIMEOUT_MS) must be a positive integer, got '-5'");
    const ok = await hive(['ask', 'counter/k1', '{"type":"get"}'], { ...process.env, HIVE_ASK_TIMEOUT_MS: '3000' });
    expect(JSON.parse(ok.stdout)).toEqual({ type: 'count', value: 2 });
  }, 30_000);
});
