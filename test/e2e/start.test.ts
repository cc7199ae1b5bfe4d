// `hive start` as a process: one node per data folder (a lock with the pid; a second node is refused and told
// to pass --data-dir; a lock left by a node killed with -9 is taken over), configuration errors that fail at
// once with one line naming the fix (a database that does not exist, a role without rights, a server without
// pgvector, a bad HIVE_* variable), and an unreachable database that starts the node degraded, saying so.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHive, startHiveNode, stopHiveNode, type HiveNode } from '../support/hiveProcess.js';
import {
  freePort,
  natsBinaryAvailable,
  PG_URL,
  postgresAvailable,
  startNatsServer,
  startThrowawayPostgres,
  throwawayPostgresAvailable,
  uniqueName,
  type OwnNatsServer,
} from '../support/services.js';

const hasNats = natsBinaryAvailable();
const hasPostgres = await postgresAvailable();
const started: HiveNode[] = [];
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hive-e2e-start-'));
});

afterAll(async () => {
  for (const n of started) if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGKILL');
  await Promise.all(started.map((n) => n.exited));
  rmSync(dir, { recursive: true, force: true });
});

/** The one line a failed `hive start` printed on stderr. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  return lines[0] ?? '';
}

describe.skipIf(!hasNats)('hive start - one node per data folder', () => {
  let server: OwnNatsServer;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('a second node on the same folder is refused and told to pass --data-dir; a stale lock is taken over', async () => {
    const cluster = uniqueName('lock');
    const data = join(dir, 'shared');
    const args = ['--nats', server.url, '--cluster', cluster, '--no-memory', '--data-dir', data];
    const first = await startHiveNode(args, 'first');
    started.push(first);
    const lock = JSON.parse(readFileSync(join(data, 'hive.lock'), 'utf8')) as { pid: number; node: string };
    expect(lock).toMatchObject({ pid: first.proc.pid, node: 'first' });
    expect(first.out()).toContain('(locked by this node)');

    const second = await runHive(['start', ...args, '--node-id', 'second']);
    expect(second.code).toBe(2);
    const line = oneLine(second.stderr);
    expect(line).toContain(`is in use by node first (pid ${first.proc.pid})`);
    expect(line).toContain('pass --data-dir');

    // killed with -9: the lock stays behind, and its process is gone
    await stopHiveNode(first, 'SIGKILL');
    expect(existsSync(join(data, 'hive.lock'))).toBe(true);
    const third = await startHiveNode(args, 'third');
    started.push(third);
    expect(JSON.parse(readFileSync(join(data, 'hive.lock'), 'utf8'))).toMatchObject({ pid: third.proc.pid, node: 'third' });
    // a clean stop removes the lock
    await stopHiveNode(third, 'SIGTERM');
    expect(existsSync(join(data, 'hive.lock'))).toBe(false);
  }, 90_000);

  it('an unreachable database starts the node degraded, and the banner says so', async () => {
    const port = await freePort();
    const node = await startHiveNode(['--nats', server.url, '--cluster', uniqueName('degraded'), '--data-dir', join(dir, 'degraded'), '--database', `postgres://postgres@127.0.0.1:${port}/test`], 'deg');
    started.push(node);
    expect(node.out()).toMatch(/memory {5}PostgreSQL postgres:\/\/\S+@127\.0\.0\.1:\d+\/test DEGRADED: the database does not answer/);
    await stopHiveNode(node, 'SIGTERM');
    expect(await node.exited).toBe(0);
  }, 60_000);
});

describe('hive start - configuration errors fail at once, in one line naming the fix', () => {
  it('a HIVE_* variable with a bad value is named', async () => {
    const r = await runHive(['start', '--data-dir', join(dir, 'env')], { ...process.env, HIVE_MAILBOX_CAPACITY: '-5' });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/mailboxCapacity \(from HIVE_MAILBOX_CAPACITY\).*-5/);
  });

  it('task queue limits out of range are named, from the flag or from HIVE_TASK_*', async () => {
    const flag = await runHive(['start', '--data-dir', join(dir, 'tq1'), '--task-queue-max-messages', '0']);
    expect(flag.code).toBe(2);
    expect(oneLine(flag.stderr)).toMatch(/option '--task-queue-max-messages' must be a positive integer, got '0'/);
    const env = await runHive(['start', '--data-dir', join(dir, 'tq2')], { ...process.env, HIVE_TASK_MAX_BYTES: '10' });
    expect(env.code).toBe(2);
    expect(oneLine(env.stderr)).toMatch(/taskMaxBytes \(from HIVE_TASK_MAX_BYTES\).*10/);
    const both = await runHive(['start', '--data-dir', join(dir, 'tq3'), '--task-queue-max-bytes', '2048', '--task-max-bytes', '4096']);
    expect(both.code).toBe(2);
    expect(oneLine(both.stderr)).toMatch(/taskMaxBytes: must not be greater than taskQueueMaxBytes/);
  });

  it('--replicas out of range is named, from the flag or from HIVE_JS_REPLICAS', async () => {
    const flag = await runHive(['start', '--data-dir', join(dir, 'rep1'), '--replicas', '7']);
    expect(flag.code).toBe(2);
    expect(oneLine(flag.stderr)).toMatch(/option '--replicas' must be an integer from 1 to 5, got '7'/);
    const env = await runHive(['start', '--data-dir', join(dir, 'rep2')], { ...process.env, HIVE_JS_REPLICAS: '0' });
    expect(env.code).toBe(2);
    expect(oneLine(env.stderr)).toMatch(/option '--replicas' \(from HIVE_JS_REPLICAS\) must be an integer from 1 to 5, got '0'/);
  });

  it.skipIf(!hasPostgres)('a database that does not exist', async () => {
    const missing = uniqueName('nodb').toLowerCase();
    const url = new URL(PG_URL);
    url.pathname = `/${missing}`;
    const r = await runHive(['start', '--data-dir', join(dir, 'nodb'), '--database', url.toString()]);
    expect(r.code).toBe(2);
    const line = oneLine(r.stderr);
    expect(line).toContain(`database "${missing}" does not exist`);
    expect(line).toContain(`createdb`);
    expect(r.stdout).not.toContain('started');
  }, 30_000);

  describe.skipIf(!throwawayPostgresAvailable({ vector: false }))('on PostgreSQL servers this test owns', () => {
    it('a server without pgvector', async () => {
      const server = await startThrowawayPostgres({ withoutVector: true });
      try {
        const r = await runHive(['start', '--data-dir', join(dir, 'novector'), '--database', server.url]);
        expect(r.code).toBe(2);
        const line = oneLine(r.stderr);
        expect(line).toMatch(/pgvector missing: PostgreSQL at 127\.0\.0\.1:\d+ has no "vector" extension; install pgvector/);
      } finally {
        await server.destroy();
      }
    }, 120_000);

    it.skipIf(!throwawayPostgresAvailable())('a role without the rights to create the vector extension, or the schema', async () => {
      const server = await startThrowawayPostgres();
      try {
        const admin = new pg.Client({ connectionString: server.url });
        await admin.connect();
        await admin.query('CREATE ROLE plain LOGIN');
        await admin.query('CREATE DATABASE app');
        await admin.query('REVOKE CREATE ON DATABASE app FROM PUBLIC');
        await admin.end();
        const app = server.url.replace('postgres@', 'plain@').replace(/\/postgres$/, '/app');
        const r = await runHive(['start', '--data-dir', join(dir, 'norights'), '--database', app]);
        expect(r.code).toBe(2);
        expect(oneLine(r.stderr)).toContain('role "plain" lacks the rights to create the "vector" extension (as a superuser run: CREATE EXTENSION vector;');

        // with the extension created by a superuser, the missing right is the schema's
        const su = new pg.Client({ connectionString: server.url.replace(/\/postgres$/, '/app') });
        await su.connect();
        await su.query('CREATE EXTENSION vector');
        await su.end();
        const again = await runHive(['start', '--data-dir', join(dir, 'norights'), '--database', app]);
        expect(again.code).toBe(2);
        expect(oneLine(again.stderr)).toContain('role "plain" lacks the rights to create schema "hive" and its tables (GRANT CREATE ON DATABASE "app" TO "plain")');
      } finally {
        await server.destroy();
      }
    }, 120_000);
  });
});
