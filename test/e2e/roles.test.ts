// Roles on the bus, enforced by nats-server itself (issue 12): `hive auth init` writes the server config and
// one env file per user; a nats-server runs with that config. As a client: ask, virtual ask, submit and
// memory (its namespace) work through the `hive` CLI; spawn, sys.*, $JS/$KV, task.* and other clients'
// inboxes are refused by the server. As admin: status and spawn work. The node runs as `node`.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHive, startHiveNode, type HiveNode } from '../support/hiveProcess.js';
import { natsBinaryAvailable, startNatsServer, uniqueName, type OwnNatsServer } from '../support/services.js';

const fixtures = join(import.meta.dirname, 'fixtures');

/** Reads a generated `<user>.env` file into variables. */
function envOf(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

describe.skipIf(!natsBinaryAvailable())('roles enforced by nats-server', () => {
  let dir: string;
  let server: OwnNatsServer;
  let node: HiveNode | undefined;
  const cluster = uniqueName('roles');
  const conns: NatsConnection[] = [];
  let env: Record<string, Record<string, string>>;

  const as = (user: string): NodeJS.ProcessEnv => ({ ...process.env, ...env[user], HIVE_NATS_URL: server.url });
  async function raw(user: string): Promise<NatsConnection> {
    const e = env[user];
    const nc = await connect({ servers: server.url, user: e['HIVE_NATS_USER'], pass: e['HIVE_NATS_PASSWORD'], inboxPrefix: e['HIVE_NATS_INBOX_PREFIX'] });
    conns.push(nc);
    return nc;
  }
  /** Expects the server to refuse publishing a request to `subject` (a permissions violation, not a timeout). */
  async function refusedRequest(nc: NatsConnection, subject: string): Promise<void> {
    const err = await nc.request(subject, '{"type":"ping"}', { timeout: 5000 }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message, subject).toMatch(/Permissions Violation for Publish/);
  }
  /** Expects the server to refuse a subscription to `subject`. */
  async function refusedSubscription(nc: NatsConnection, subject: string): Promise<void> {
    const sub = nc.subscribe(subject);
    const closed = await sub.closed;
    expect((closed as Error | undefined)?.message, subject).toMatch(/Permissions Violation for Subscription/);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hive-roles-'));
    const init = await runHive(['auth', 'init', '--cluster', cluster, '--out', join(dir, 'auth'), '--client', 'alice', '--client', 'bob=bobdocs']);
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    server = await startNatsServer({ args: ['-c', join(dir, 'auth', 'nats-server.conf')] });
    env = Object.fromEntries(['node', 'admin', 'alice', 'bob'].map((u) => [u, envOf(join(dir, 'auth', `${u}.env`))]));
    node = await startHiveNode(['--data-dir', join(dir, 'n1'), '--load', join(fixtures, 'pool.ts'), '--load', join(fixtures, 'greeter.ts')], 'n1', as('node'), 60_000);
    // the first open of an embedded store keeps the node busy for seconds: wait until memory is ready
    const end = Date.now() + 60_000;
    while (!node.out().includes('memory ready') && Date.now() < end && node.proc.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    expect(node.out()).toContain('memory ready');
  }, 120_000);

  afterAll(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    if (node !== undefined && node.proc.exitCode === null) node.proc.kill('SIGKILL');
    await node?.exited;
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the config and env files readable by their owner only', () => {
    const conf = readFileSync(join(dir, 'auth', 'nats-server.conf'), 'utf8');
    expect(conf).toContain('"_INBOX_alice.>"');
    expect(conf).toContain(`"hive.${cluster}.memory.bobdocs"`);
    expect(env['alice']?.['HIVE_NATS_INBOX_PREFIX']).toBe('_INBOX_alice');
  });

  it('as admin: status and spawn work', { timeout: 60_000 }, async () => {
    const status = await runHive(['status'], as('admin'));
    expect(status.stderr).toBe('');
    expect(status.stdout).toContain('n1');
    const spawned = await runHive(['spawn', 'echo', '--id', 'e1'], as('admin'));
    expect(spawned.stderr).toBe('');
    expect(spawned.stdout).toContain('spawned e1');
  });

  it('as a client: ask, virtual ask, submit and memory work through the hive CLI', { timeout: 90_000 }, async () => {
    const asked = await runHive(['ask', 'e1', '{"type":"ping"}'], as('alice'));
    expect(asked.stderr).toBe('');
    expect(JSON.parse(asked.stdout)).toEqual({ type: 'pong' });
    const submitted = await runHive(['submit', 'work', '{"n":7,"ms":1}', '--wait'], as('alice'));
    expect(submitted.stderr).toBe('');
    expect(JSON.parse(submitted.stdout)).toMatchObject({ n: 7 });
    const docs = join(dir, 'docs.jsonl');
    writeFileSync(docs, '{"id":"d1","content":"the hive keeps its secrets"}\n{"id":"d2","content":"bees make honey"}\n');
    const ingested = await runHive(['ingest', docs, '--namespace', 'alicedocs'], as('alice'));
    expect(ingested.code, ingested.stderr).toBe(0);
    const found = await runHive(['search', 'honey bees', '--namespace', 'alicedocs', '--json'], as('alice'));
    expect(found.stderr).toBe('');
    expect(found.stdout).toContain('d2');
    const nc = await raw('alice');
    const greet = await nc.request(`hive.${cluster}.kind.greeter.g1`, '{"type":"greet","name":"hive"}', { timeout: 10_000 });
    expect(JSON.parse(new TextDecoder().decode(greet.data))).toMatchObject({ type: 'greeting' });
  });

  it('as a client: spawn, status, resize, sys.*, $JS, $KV, task.* and the whole memory are refused by the server', { timeout: 60_000 }, async () => {
    const nc = await raw('alice');
    for (const subject of [
      `hive.${cluster}.sys.node.n1.spawn`,
      `hive.${cluster}.sys.status`,
      `hive.${cluster}.sys.pool.work.resize`,
      `hive.${cluster}.sys.node.n1.results`,
      `hive.${cluster}.sys.heartbeat`,
      `hive.${cluster}.sys.memory.done.n1`,
      `hive.${cluster}.sys.memory.invalidate`,
      `hive.${cluster}.sys.node.n1.kind.echo.forced`,
      `hive.${cluster}.memory`,
      '$JS.API.STREAM.LIST',
      `$JS.API.STREAM.DELETE.x`,
      `$KV.hive_${cluster}_placement.x`,
      `task._memory-${cluster}`,
    ]) {
      await refusedRequest(await raw('alice'), subject);
    }
    const spawn = await runHive(['spawn', 'echo', '--id', 'evil', '--node', 'n1'], as('alice'));
    expect(spawn.code).not.toBe(0);
    expect(spawn.stderr).toContain('PERMISSION_DENIED');
    // other clients' and the default inboxes, actor subjects (to steal messages), sys subjects
    for (const subject of ['_INBOX_bob.>', '_INBOX.>', `hive.${cluster}.actor.e1`, `hive.${cluster}.sys.>`, '>']) {
      await refusedSubscription(await raw('alice'), subject);
    }
    expect(nc.isClosed()).toBe(false);
  });

  it('a client limited to one memory namespace reaches that namespace only', { timeout: 60_000 }, async () => {
    const docs = join(dir, 'bob.jsonl');
    writeFileSync(docs, '{"id":"b1","content":"bob writes here"}\n');
    const ok = await runHive(['ingest', docs, '--namespace', 'bobdocs'], as('bob'));
    expect(ok.code, ok.stderr).toBe(0);
    await refusedRequest(await raw('bob'), `hive.${cluster}.memory.alicedocs`);
    // through the hive CLI: refused at once with PERMISSION_DENIED (not a 60 s timeout)
    const other = await runHive(['search', 'secrets', '--namespace', 'alicedocs', '--timeout', '30000'], as('bob'));
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain('PERMISSION_DENIED');
  });

  it('on a namespace subject, a request for another namespace or a whole-namespace delete is refused by the node', { timeout: 30_000 }, async () => {
    const nc = await raw('alice');
    const ask = async (event: unknown): Promise<unknown> =>
      JSON.parse(new TextDecoder().decode((await nc.request(`hive.${cluster}.memory.alicedocs`, JSON.stringify(event), { timeout: 10_000 })).data));
    expect(await ask({ type: 'memory.search', namespace: 'bobdocs', text: 'bob' })).toMatchObject({ type: 'hive.error', code: 'INVALID_ARGUMENT' });
    expect(await ask({ type: 'memory.ingest', docs: [{ content: 'x', namespace: 'bobdocs' }] })).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await ask({ type: 'memory.delete', namespace: 'alicedocs' })).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await ask({ type: 'memory.search', text: 'honey' })).toMatchObject({ type: 'memory.results' });
  });
});
