// The service probes every test relies on: what they report against a real PostgreSQL that lacks pgvector
// (a throwaway cluster run from a copy of the installation without it) and a role without CREATEDB, and what
// the suites that need pgvector do there: skip with one notice line, or fail naming pgvector under CI=true.
import { spawn } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { repoRoot } from '../../support/hiveProcess.js';
import { probePostgres, report, ServiceMissing, startThrowawayPostgres, throwawayPostgresAvailable, type ThrowawayPostgres } from '../../support/services.js';

describe('report', () => {
  it('a missing service is one notice line naming it and .ci/services.sh, and a skip', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      expect(report('pgvector missing: PostgreSQL at h:1 has no "vector" extension', false)).toBe(false);
      expect(warn).toHaveBeenCalledTimes(1);
      const line = String(warn.mock.calls[0]?.[0]);
      expect(line.split('\n')).toHaveLength(1);
      expect(line).toContain('pgvector missing');
      expect(line).toContain('.ci/services.sh');
    } finally {
      warn.mockRestore();
    }
  });

  it('under CI=true a missing service is a failure naming it', () => {
    expect(() => report('pgvector missing: x', true)).toThrow(ServiceMissing);
    expect(() => report('pgvector missing: x', true)).toThrow(/CI=true but pgvector missing/);
    expect(report(undefined, true)).toBe(true);
  });
});

/** Runs node with `args` in the repository in a child process with `env`; resolves to its exit code and output. */
function node(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((done) => {
    const p = spawn(process.execPath, args, { cwd: repoRoot, env: { ...process.env, ...env } });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', (code) => done({ code, out }));
  });
}

describe.skipIf(!throwawayPostgresAvailable({ vector: false }))('probes against a PostgreSQL without pgvector', () => {
  let server: ThrowawayPostgres;
  let limitedUrl: string;

  beforeAll(async () => {
    server = await startThrowawayPostgres({ withoutVector: true });
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    await admin.query('CREATE ROLE limited LOGIN NOCREATEDB');
    await admin.end();
    limitedUrl = server.url.replace('postgres@', 'limited@');
  }, 120_000);

  afterAll(async () => {
    await server?.destroy();
  });

  it('names pgvector when the vector extension is not available, and nothing when it is not needed', async () => {
    expect(await probePostgres(server.url, { vector: true })).toMatch(/^pgvector missing: PostgreSQL at 127\.0\.0\.1:\d+ has no "vector" extension$/);
    expect(await probePostgres(server.url)).toBeUndefined();
  });

  it('names the missing right to create a database', async () => {
    expect(await probePostgres(limitedUrl, { createDatabase: true })).toMatch(/rights to create a database missing/);
    expect(await probePostgres(server.url, { createDatabase: true })).toBeUndefined();
  });

  it('names a server that does not answer', async () => {
    const gone = server.url.replace(/:\d+\//, ':1/');
    expect(await probePostgres(gone)).toMatch(/^PostgreSQL missing: nothing answers at 127\.0\.0\.1:1$/);
  });

  it('the suites that need pgvector skip there with a notice, and fail naming pgvector under CI=true', async () => {
    const files = ['test/integration/memory/breaker.test.ts', 'test/integration/memory/postgres.test.ts', 'test/integration/protocols/copy.test.ts'];
    const env = { HIVE_TEST_DATABASE: server.url, HIVE_TEST_PG_BIN: server.bin };
    const fresh = await node(['node_modules/vitest/vitest.mjs', 'run', ...files], { ...env, CI: 'false' });
    expect(fresh.code, fresh.out).toBe(0);
    expect(fresh.out).toMatch(/NOTICE: skipping the tests that need it: pgvector missing/);
    expect(fresh.out).not.toMatch(/extension "vector" is not available/);
    const ci = await node(['node_modules/vitest/vitest.mjs', 'run', ...files], { ...env, CI: 'true' });
    expect(ci.code).not.toBe(0);
    expect(ci.out).toMatch(/CI=true but pgvector missing/);
  }, 120_000);

  it('a benchmark that needs pgvector says so in one line and exits non-zero', async () => {
    const run = await node(['--import', 'tsx', 'bench/run.ts', 'memory', `--url=${server.url}`], {});
    expect(run.code).toBe(1);
    expect(run.out.trim()).toMatch(/^bench memory: pgvector missing: PostgreSQL at 127\.0\.0\.1:\d+ has no "vector" extension \(run \.ci\/services\.sh to install and start it\)$/);
  }, 60_000);
});
