// Memory end to end, with `hive` as separate processes: `hive start` with nothing configured (PGlite), then
// `hive ingest` of a JSONL file (a malformed line and a bad document rejected with reasons, the rest stored)
// and `hive search`, and a raw NATS JSON request; the same on PostgreSQL with --database; and a node killed
// with -9 in the middle of a durable ingestion, restarted: every document is then stored exactly once.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHive, startHiveNode, stopHiveNode, type HiveNode } from '../support/hiveProcess.js';
import { natsBinaryAvailable, PG_URL, pgvectorAvailable, startNatsServer, uniqueName, type OwnNatsServer } from '../support/services.js';

const hasNats = natsBinaryAvailable();
const hasPg = hasNats && (await pgvectorAvailable());

/** The environment minus HIVE_DATABASE_URL: "nothing configured" means PGlite, whatever the runner has set. */
function withoutDatabase(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  delete copy['HIVE_DATABASE_URL'];
  return copy;
}

/** Runs a `hive` command to completion. */
const hive = (args: string[], env: Record<string, string> = {}) => runHive(args, withoutDatabase({ ...process.env, ...env }));

type NodeProc = HiveNode;
const started: NodeProc[] = [];

/** Starts `hive start` and waits for its banner. */
async function startNode(args: string[], id: string, env: Record<string, string> = {}): Promise<NodeProc> {
  const node = await startHiveNode(args, id, withoutDatabase({ ...process.env, ...env }));
  started.push(node);
  return node;
}

const killNode = stopHiveNode;

const WORDS = 'agent memory vector search cluster node actor message pool balance supervisor breaker latency throughput document embedding index query'.split(' ');

/** A JSONL file: `n` documents, then a malformed line and a document with a wrong-size embedding. */
function writeJsonl(path: string, n: number): void {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const words = Array.from({ length: 30 }, (_, j) => WORDS[(i * 7 + j * 3) % WORDS.length]);
    lines.push(JSON.stringify({ id: `doc-${i}`, content: `document ${i}: ${words.join(' ')}`, metadata: { n: i } }));
  }
  lines.push(JSON.stringify({ id: 'pgvector-note', content: 'pgvector keeps embeddings in postgres tables with an hnsw index', metadata: { topic: 'db' } }));
  lines.push('{"id": "broken", "content": ');
  lines.push(JSON.stringify({ id: 'wrong-dims', content: 'has a three-dimension embedding', embedding: [1, 2, 3] }));
  writeFileSync(path, `${lines.join('\n')}\n`);
}

/** Ingests and searches through the CLI, then a raw NATS JSON request; shared by the PGlite and PostgreSQL runs. */
async function ingestAndSearch(common: string[], dir: string, natsUrl: string, cluster: string): Promise<void> {
  const file = join(dir, 'docs.jsonl');
  writeJsonl(file, 500);
  const ingested = await hive(['ingest', file, '--namespace', 'e2e', ...common]);
  expect(ingested.stdout).toContain('501 stored, 0 duplicates, 2 rejected');
  expect(ingested.stdout).toMatch(/line 502: not valid JSON/);
  expect(ingested.stdout).toContain('line 503 (id wrong-dims): embedding: embedding has 3 dimensions, expected 384');
  expect(ingested.code).toBe(1); // some lines were rejected

  const again = await hive(['ingest', file, '--namespace', 'e2e', ...common]);
  expect(again.stdout).toContain('0 stored, 501 duplicates, 2 rejected');

  const found = await hive(['search', 'pgvector embeddings postgres hnsw', '--namespace', 'e2e', '-k', '3', ...common]);
  expect(found.code).toBe(0);
  expect(found.stdout.split('\n')[0]).toMatch(/^SCORE\s+ID\s+CONTENT$/);
  expect(found.stdout.split('\n')[1]).toContain('pgvector-note');

  const json = await hive(['search', 'document 7', '--namespace', 'e2e', '-k', '2', '--json', ...common]);
  expect((JSON.parse(json.stdout) as { hits: unknown[] }).hits).toHaveLength(2);

  const nc = await connect({ servers: natsUrl });
  try {
    const r = await nc.request(`hive.${cluster}.memory`, '{"type":"memory.search","text":"pgvector hnsw index","namespace":"e2e","k":1}', { timeout: 30_000 });
    expect(JSON.parse(new TextDecoder().decode(r.data))).toMatchObject({ type: 'memory.results', hits: [{ id: 'pgvector-note', metadata: { topic: 'db' } }] });
    const bad = await nc.request(`hive.${cluster}.memory`, '{"type":"memory.search","vector":[1,2],"namespace":"e2e"}', { timeout: 30_000 });
    expect(JSON.parse(new TextDecoder().decode(bad.data))).toMatchObject({ type: 'hive.error', code: 'INVALID_ARGUMENT', details: { argument: 'vector' } });
  } finally {
    await nc.close();
  }
}

describe.skipIf(!hasNats)('memory - end to end', () => {
  let server: OwnNatsServer;
  let dir: string;

  beforeAll(async () => {
    server = await startNatsServer();
    dir = mkdtempSync(join(tmpdir(), 'hive-e2e-memory-'));
  });

  afterAll(async () => {
    for (const n of started) if (n.proc.exitCode === null) n.proc.kill('SIGKILL');
    await Promise.all(started.map((n) => n.exited));
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('memory e2e - with nothing configured, hive start then hive ingest and hive search work on PGlite', async () => {
    const cluster = uniqueName('mem_pglite');
    const common = ['--nats', server.url, '--cluster', cluster];
    const n = await startNode([...common, '--data-dir', join(dir, 'pglite')], 'p1');
    expect(n.out()).toContain(`memory     PGlite ${join(dir, 'pglite', 'memory')}`);
    expect(n.out()).toContain(`hive.${cluster}.memory`);
    await ingestAndSearch(common, dir, server.url, cluster);
    await killNode(n, 'SIGTERM');
    expect(await n.exited).toBe(0);
  }, 120_000);

  describe.skipIf(!hasPg)('on PostgreSQL', () => {
    const schema = uniqueName('hive_e2e_mem').toLowerCase();
    const admin = hasPg ? new pg.Pool({ connectionString: PG_URL, max: 2 }) : undefined;
    const count = async (): Promise<{ all: number; distinct: number }> => {
      const r = await admin!.query<{ all: number; distinct: number }>(`SELECT count(*)::int AS all, count(DISTINCT id)::int AS distinct FROM "${schema}".memory_documents WHERE namespace = 'crash'`);
      return r.rows[0];
    };

    afterAll(async () => {
      await admin?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
      await admin?.end();
    });

    it('memory e2e - hive start --database, then hive ingest and hive search work on PostgreSQL', async () => {
      const cluster = uniqueName('mem_pg');
      const common = ['--nats', server.url, '--cluster', cluster];
      const n = await startNode([...common, '--data-dir', join(dir, 'pg'), '--database', PG_URL], 'g1', { HIVE_MEMORY_SCHEMA: schema });
      expect(n.out()).toContain('memory     PostgreSQL postgres://');
      await ingestAndSearch(common, dir, server.url, cluster);
      await killNode(n, 'SIGTERM');
    }, 120_000);

    it('memory e2e - a node killed with -9 mid-ingest loses and duplicates nothing once restarted', async () => {
      const cluster = uniqueName('mem_crash');
      const args = ['--nats', server.url, '--cluster', cluster, '--data-dir', join(dir, 'crash'), '--database', PG_URL];
      const env = { HIVE_MEMORY_SCHEMA: schema, HIVE_MEMORY_ACK_WAIT_MS: '1500' };
      const first = await startNode(args, 'k1', env);
      // enough to be mid-ingest at the kill, small enough for a loaded CI machine (2 cores shared with the suite)
      const requests = 24;
      const perRequest = 500;
      const total = requests * perRequest;
      const nc = await connect({ servers: server.url });
      try {
        // Queue everything durably (each request answers once its documents are in JetStream).
        const answers = await Promise.all(
          Array.from({ length: requests }, async (_, r) => {
            const docs = Array.from({ length: perRequest }, (_, i) => {
              const n = r * perRequest + i;
              return { id: `c-${n}`, content: `crash test document ${n} ${WORDS[n % WORDS.length]} ${WORDS[(n * 7) % WORDS.length]}`, metadata: { n } };
            });
            const reply = await nc.request(`hive.${cluster}.memory`, JSON.stringify({ type: 'memory.ingest', namespace: 'crash', wait: false, docs }), { timeout: 60_000 });
            return JSON.parse(new TextDecoder().decode(reply.data)) as { type: string; queued: number };
          }),
        );
        expect(answers.every((a) => a.type === 'memory.queued')).toBe(true);
        expect(answers.reduce((s, a) => s + a.queued, 0)).toBe(total);
      } finally {
        await nc.close();
      }
      await killNode(first, 'SIGKILL');
      // the kill left work behind: batches still in the durable queue (acknowledged ones leave the work-queue
      // stream, and no node consumes it now), whatever the machine's speed
      const probe = await connect({ servers: server.url });
      try {
        const left = (await (await jetstreamManager(probe)).streams.info(`HIVE_${cluster}_TASKS`)).state.messages;
        expect(left).toBeGreaterThan(0);
      } finally {
        await probe.close();
      }
      const atKill = await count().catch(() => ({ all: 0, distinct: 0 }));

      await startNode(args, 'k2', env);
      const end = Date.now() + 150_000;
      let now = atKill;
      while (Date.now() < end) {
        now = await count().catch(() => ({ all: 0, distinct: 0 }));
        if (now.all >= total) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(now).toEqual({ all: total, distinct: total });
      const ids = await admin!.query<{ missing: number }>(
        `SELECT count(*)::int AS missing FROM generate_series(0, ${total - 1}) g WHERE NOT EXISTS (SELECT 1 FROM "${schema}".memory_documents d WHERE d.namespace = 'crash' AND d.id = 'c-' || g)`,
      );
      expect(ids.rows[0].missing).toBe(0);
    }, 240_000);
  });
});
