// Test fixtures for real services: find nats-server and PostgreSQL with pgvector, or skip with a visible
// notice. Under CI=true a missing service fails the run instead (.ci/run provisions everything).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NATS_URL = process.env['HIVE_TEST_NATS'] ?? 'nats://127.0.0.1:4222';
export const PG_URL = process.env['HIVE_TEST_DATABASE'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const inCI = process.env['CI'] === 'true';

function portOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.connect(port, host, () => done(true));
  });
}

/** Returns whether the service is usable; prints a notice when it is not, and throws under CI=true. */
function report(name: string, ok: boolean, why: string): boolean {
  if (ok) return true;
  const msg = `${name} unavailable (${why}): skipping the tests that need it`;
  if (inCI) throw new Error(`CI=true but ${msg.replace(': skipping the tests that need it', '')}`);
  console.warn(`\n[hive tests] NOTICE: ${msg}\n`);
  return false;
}

/** True when a nats-server answers at NATS_URL. */
export async function natsAvailable(): Promise<boolean> {
  const u = new URL(NATS_URL);
  return report('nats-server', await portOpen(u.hostname, Number(u.port || 4222)), `nothing at ${NATS_URL}`);
}

/** True when `nats-server` is on PATH (tests that start and kill their own servers need it). */
export function natsBinaryAvailable(): boolean {
  const r = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  return report('nats-server binary', r.status === 0, 'nats-server is not on PATH');
}

/** True when PostgreSQL with the pgvector extension answers at PG_URL. */
export async function pgvectorAvailable(): Promise<boolean> {
  const u = new URL(PG_URL);
  if (!(await portOpen(u.hostname, Number(u.port || 5432)))) return report('PostgreSQL', false, `nothing at ${u.host}`);
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: PG_URL });
  try {
    await client.connect();
    const r = await client.query<{ n: number }>("select count(*)::int as n from pg_available_extensions where name = 'vector'");
    return report('pgvector', r.rows[0]?.n === 1, `PostgreSQL at ${u.host} has no vector extension`);
  } catch (err) {
    return report('PostgreSQL', false, (err as Error).message);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A nats-server this test owns, on a random port, with JetStream in a temporary folder. */
export interface OwnNatsServer {
  readonly url: string;
  readonly port: number;
  /** SIGKILL the server (a crash). */
  kill(): Promise<void>;
  /** Start it again on the same port and store. */
  restart(): Promise<void>;
  /** Stop it and delete its store. */
  stop(): Promise<void>;
}

/** Starts `nats-server -js` on a random port; call `stop()` in afterAll. */
export async function startNatsServer(): Promise<OwnNatsServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'hive-nats-'));
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if (await portOpen('127.0.0.1', port, 200)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`nats-server did not start on port ${port}`);
  };
  const halt = async (signal: NodeJS.Signals) => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill(signal);
    });
  };
  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    kill: () => halt('SIGKILL'),
    restart: launch,
    async stop() {
      await halt('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A unique, subject-safe name for one test run (cluster names, schemas, databases). */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** A PostgreSQL cluster this test owns (initdb in a temp folder, random port), to stop and start at will. */
export interface ThrowawayPostgres {
  readonly url: string;
  /** Stops the server at once (connections are cut, as in a crash). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and deletes its data. */
  destroy(): Promise<void>;
}

const PG_BIN = '/usr/lib/postgresql/15/bin';

/** True when a throwaway PostgreSQL cluster can be made here (PostgreSQL binaries, pgvector, a postgres user). */
export function throwawayPostgresAvailable(): boolean {
  const initdb = spawnSync(`${PG_BIN}/initdb`, ['--version'], { encoding: 'utf8' });
  const user = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  return report('throwaway PostgreSQL', initdb.status === 0 && user.status === 0, `no ${PG_BIN}/initdb or no postgres user`);
}

function asPostgres(cmd: string, args: string[]): { status: number | null; out: string } {
  const asRoot = process.getuid?.() === 0;
  const r = asRoot ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8' }) : spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** initdb + start a PostgreSQL 15 cluster with trust auth on a free port; the pgvector extension is the machine's. */
export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'hive-pg-'));
  spawnSync('chown', ['postgres:postgres', dir]);
  const init = asPostgres(`${PG_BIN}/initdb`, ['-D', dir, '-U', 'postgres', '-A', 'trust', '--no-sync']);
  if (init.status !== 0) throw new Error(`initdb failed: ${init.out}`);
  const ctl = (action: string, extra: string[] = []) => asPostgres(`${PG_BIN}/pg_ctl`, ['-D', dir, '-w', '-t', '30', ...extra, action]);
  const start = async () => {
    const r = ctl('start', ['-l', join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`]);
    if (r.status !== 0) throw new Error(`pg_ctl start failed: ${r.out}`);
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start,
    async stop() {
      ctl('stop', ['-m', 'immediate']);
    },
    async destroy() {
      ctl('stop', ['-m', 'immediate']);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Deletes the JetStream streams (work queues, KV buckets) a test cluster made on a shared nats-server. */
export async function deleteClusterStreams(url: string, cluster: string): Promise<void> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const s of jsm.streams.list()) if (s.config.name.includes(cluster)) names.push(s.config.name);
    for (const name of names) await jsm.streams.delete(name).catch(() => undefined);
  } finally {
    await nc.close();
  }
}
