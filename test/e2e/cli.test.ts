// The `hive` CLI as separate processes against a real nats-server: start nodes, spawn, ask, status,
// raw JSON from a plain NATS client, kill -9 failover of a virtual actor, usage errors, clean shutdown.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHive, startHiveNode, type HiveNode } from '../support/hiveProcess.js';
import { natsBinaryAvailable, startNatsServer, uniqueName, type OwnNatsServer } from '../support/services.js';

const fixtures = join(import.meta.dirname, 'fixtures');
const hive = (args: string[]) => runHive(args);
const started: HiveNode[] = [];

async function startNode(args: string[], id: string): Promise<HiveNode> {
  const node = await startHiveNode(['--no-memory', ...args], id, process.env, 20_000);
  started.push(node);
  return node;
}

describe.skipIf(!natsBinaryAvailable())('hive CLI - end to end', () => {
  let server: OwnNatsServer;
  let dataDir: string;
  let cluster: string;
  let common: string[];

  beforeAll(async () => {
    server = await startNatsServer();
    dataDir = mkdtempSync(join(tmpdir(), 'hive-e2e-'));
    cluster = uniqueName('e2e');
    common = ['--nats', server.url, '--cluster', cluster];
  });

  afterAll(async () => {
    for (const n of started) if (n.proc.exitCode === null) n.proc.kill('SIGKILL');
    await Promise.all(started.map((n) => n.exited));
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('cli - starts a node that spawns and answers asks, and a raw JSON request gets JSON', async () => {
    const n1 = await startNode([...common, '--data-dir', join(dataDir, 'n1'), '--load', join(fixtures, 'greeter.ts')], 'n1');
    expect(n1.out()).toContain(`hive.${cluster}.actor.<actor-id>`);
    expect(n1.out()).toContain('greeter');

    const spawned = await hive(['spawn', 'echo', '--id', 'e1', ...common]);
    expect(spawned.stderr).toBe('');
    expect(spawned.stdout).toContain('spawned e1 (echo) on node n1');
    const asked = await hive(['ask', 'e1', '{"type":"ping"}', ...common]);
    expect(asked.code).toBe(0);
    expect(JSON.parse(asked.stdout)).toEqual({ type: 'pong' });

    // what the NATS CLI does: a plain payload, no headers, a reply subject
    const nc = await connect({ servers: server.url });
    try {
      const r = await nc.request(`hive.${cluster}.actor.e1`, '{"type":"ping"}', { timeout: 5000 });
      expect(JSON.parse(new TextDecoder().decode(r.data))).toEqual({ type: 'pong' });
      const bad = await nc.request(`hive.${cluster}.actor.e1`, 'not json', { timeout: 5000 });
      expect(JSON.parse(new TextDecoder().decode(bad.data))).toMatchObject({ type: 'hive.error', code: 'BAD_FRAME' });
      const greet = await nc.request(`hive.${cluster}.kind.greeter.g1`, '{"type":"greet","name":"hive"}', { timeout: 5000 });
      expect(JSON.parse(new TextDecoder().decode(greet.data))).toEqual({ type: 'greeting', text: 'hello, hive' });
    } finally {
      await nc.close();
    }

    const missing = await hive(['ask', 'nobody', '{"type":"ping"}', ...common]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('NO_SUCH_ACTOR');
  });

  it('cli - status lists both live nodes and asks cross between them', async () => {
    await startNode([...common, '--data-dir', join(dataDir, 'n2')], 'n2');
    const spawned = await hive(['spawn', 'counter', '--id', 'c2', '--node', 'n2', '--input', '{"value":10}', ...common]);
    expect(spawned.stdout).toContain('on node n2');
    expect(JSON.parse((await hive(['ask', 'c2', '{"type":"inc","by":5}', ...common])).stdout)).toEqual({ type: 'count', value: 15 });

    const status = await hive(['status', '--json', ...common]);
    const parsed = JSON.parse(status.stdout) as { nodes: Array<{ node: string; actors: Array<{ id: string }> }> };
    expect(parsed.nodes.map((n) => n.node)).toEqual(['n1', 'n2']);
    expect(parsed.nodes.find((n) => n.node === 'n2')!.actors.map((a) => a.id)).toContain('c2');
    const text = await hive(['status', ...common]);
    expect(text.stdout).toMatch(/NODE\s+UPTIME\s+ACTORS/);
    expect(text.stdout).toMatch(/c2\s+n2\s+counter\s+running/);
  });

  it('cli - a virtual counter comes back on another node with its count after kill -9', async () => {
    for (let i = 0; i < 3; i++) expect((await hive(['ask', 'counter/survivor', '{"type":"inc"}', ...common])).code).toBe(0);
    const status = JSON.parse((await hive(['status', '--json', ...common])).stdout) as { nodes: Array<{ node: string; actors: Array<{ id: string }> }> };
    const host = status.nodes.find((n) => n.actors.some((a) => a.id === 'counter/survivor'))!.node;
    const victim = started.find((n) => n.id === host)!;
    victim.proc.kill('SIGKILL');
    await victim.exited;
    const after = await hive(['ask', 'counter/survivor', '{"type":"get"}', '--timeout', '10000', ...common]);
    expect(after.stderr).toBe('');
    expect(JSON.parse(after.stdout)).toEqual({ type: 'count', value: 3 });
    const again = JSON.parse((await hive(['status', '--json', ...common])).stdout) as { nodes: Array<{ node: string; actors: Array<{ id: string }> }> };
    expect(again.nodes.map((n) => n.node)).not.toContain(host);
    expect(again.nodes.find((n) => n.actors.some((a) => a.id === 'counter/survivor'))).toBeDefined();
  });

  it('cli - stops cleanly on SIGTERM with exit code 0', async () => {
    const n3 = await startNode([...common, '--data-dir', join(dataDir, 'n3')], 'n3');
    n3.proc.kill('SIGTERM');
    expect(await n3.exited).toBe(0);
    expect(n3.out()).toContain('hive node n3 stopped');
  });

  it('cli - a setup module that fails stops the node with its error and a non-zero exit', async () => {
    const r = await hive(['start', ...common, '--no-memory', '--node-id', 'broken', '--data-dir', join(dataDir, 'b'), '--load', join(fixtures, 'broken.mjs')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('broken setup: missing API key');
  });
});

describe('hive CLI - usage', () => {
  it('cli - prints usage with --help', async () => {
    const r = await hive(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: hive');
    for (const cmd of ['start', 'status', 'spawn', 'send', 'ask']) expect(r.stdout).toContain(cmd);
  });

  it('cli - refuses a bad flag with a usage error naming it and exit code 2', async () => {
    const r = await hive(['start', '--clustr', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'--clustr'");
    const t = await hive(['ask', 'e1', '{"type":"ping"}', '--timeout', 'soon']);
    expect(t.code).toBe(2);
    expect(t.stderr).toContain('--timeout');
  });

  it('cli - refuses an invalid cluster name and a non-JSON event with exit code 2', async () => {
    const r = await hive(['ask', 'e1', '{"type":"ping"}', '--cluster', 'a.b']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"a.b"');
    const j = await hive(['ask', 'e1', '{type:ping}']);
    expect(j.code).toBe(2);
    expect(j.stderr).toContain('not valid JSON');
  });
});
