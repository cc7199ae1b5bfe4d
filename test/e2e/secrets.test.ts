// Secrets stay out of output (issue 12): a planted NATS password (in the URL and in HIVE_NATS_PASSWORD) and
// database passwords (`user:pass@` on a non-postgres scheme, `?password=` in the query) never appear in the
// `hive start` banner, its logs (debug level), its errors, `hive status`, or the metrics' labels.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hive } from '../../cluster/Hive.js';
import { silentLogger } from '../../runtime/logger.js';
import { runHive, startHiveNode, stopHiveNode, type HiveNode } from '../support/hiveProcess.js';
import { natsBinaryAvailable, startNatsServer, uniqueName, type OwnNatsServer } from '../support/services.js';

const NATS_SECRET = 'planted-nats-S3cr3t';
const DB_SECRET = 'planted-db-S3cr3t';
const secrets = [NATS_SECRET, DB_SECRET, encodeURIComponent(NATS_SECRET), encodeURIComponent(DB_SECRET)];

function expectClean(text: string, where: string): void {
  for (const s of secrets) expect(text.includes(s), `${where} shows a planted secret:\n${text}`).toBe(false);
}

describe.skipIf(!natsBinaryAvailable())('secrets in output', () => {
  let server: OwnNatsServer;
  let dataDir: string;
  let cluster: string;
  const nodes: HiveNode[] = [];

  beforeAll(async () => {
    server = await startNatsServer({ args: ['--user', 'hiveuser', '--pass', NATS_SECRET] });
    dataDir = mkdtempSync(join(tmpdir(), 'hive-secrets-'));
    cluster = uniqueName('sec');
  });

  afterAll(async () => {
    for (const n of nodes) if (n.proc.exitCode === null) n.proc.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.exited));
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('banner, logs, errors and hive status never show a planted password', async () => {
    const urlWithCreds = `nats://hiveuser:${NATS_SECRET}@127.0.0.1:${server.port}`;
    // credentials in the URL (they are used: the server refuses anyone without them)
    const n1 = await startHiveNode(['--nats', urlWithCreds, '--cluster', cluster, '--no-memory', '--data-dir', join(dataDir, 'n1'), '--log-level', 'debug'], 'n1');
    nodes.push(n1);
    expect(n1.out()).toContain('nats       nats://***@127.0.0.1');
    // credentials in the environment, a database URL with ?password= (unreachable: its errors are logged)
    const env = { ...process.env, HIVE_NATS_USER: 'hiveuser', HIVE_NATS_PASSWORD: NATS_SECRET };
    const n2 = await startHiveNode(
      ['--nats', server.url, '--cluster', cluster, '--data-dir', join(dataDir, 'n2'), '--log-level', 'debug', '--database', `postgres://hive@127.0.0.1:1/db?sslmode=disable&password=${DB_SECRET}`],
      'n2',
      env,
    );
    nodes.push(n2);
    expect(n2.out()).toContain('password=***');

    const status = await runHive(['status', '--cluster', cluster, '--nats', urlWithCreds]);
    expect(status.stdout).toContain('n1');
    expect(status.stdout).toContain('n2');
    expectClean(status.stdout + status.stderr, 'hive status');
    const statusJson = await runHive(['status', '--json', '--cluster', cluster], env);
    expectClean(statusJson.stdout + statusJson.stderr, 'hive status --json');

    // a database URL of another scheme is refused without echoing its password
    const bad = await runHive(['start', '--node-id', 'n3', '--nats', urlWithCreds, '--cluster', cluster, '--database', `mysql://root:${DB_SECRET}@127.0.0.1/db`]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('INVALID_CONFIG');
    expectClean(bad.stdout + bad.stderr, 'the database URL error');
    // wrong NATS credentials: the error names the server, not the password
    const refused = await runHive(['status', '--cluster', cluster, '--nats', `nats://hiveuser:${NATS_SECRET}x@127.0.0.1:${server.port}`]);
    expect(refused.code).not.toBe(0);
    expectClean(refused.stdout + refused.stderr, 'the NATS credentials error');

    await stopHiveNode(n1, 'SIGTERM');
    await stopHiveNode(n2, 'SIGTERM');
    expectClean(n1.out(), 'node n1 (banner and debug logs)');
    expectClean(n2.out(), 'node n2 (banner and debug logs)');
  });

  it('metrics labels never carry a planted password', async () => {
    const hive = await Hive.start({
      cluster: uniqueName('secm'),
      env: false,
      logger: silentLogger(),
      nats: { servers: [`nats://hiveuser:${NATS_SECRET}@127.0.0.1:${server.port}`] },
      database: `postgres://hive:${DB_SECRET}@127.0.0.1:1/db?password=${DB_SECRET}`,
      dataDir: join(dataDir, 'm'),
    });
    try {
      await hive.startMemory().catch(() => undefined);
      expectClean(await hive.metrics.text(), 'metrics');
    } finally {
      await hive.stop();
    }
  });
});
