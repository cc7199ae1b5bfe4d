// Test fixtures for real services. Each test probes exactly what it needs (a nats-server answering, the
// nats-server binary, PostgreSQL reachable, the `vector` extension, rights to create a database) and skips
// with one notice line naming what is missing and how to get it; under CI=true a missing service fails the
// run instead (.ci/run provisions everything). Benchmarks use the same probes through `requireService`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const NATS_URL = process.env['HIVE_TEST_NATS'] ?? 'nats://127.0.0.1:4222';
export const PG_URL = process.env['HIVE_TEST_DATABASE'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** How to get every service the tests and benchmarks use (named in every notice). */
export const HOW_TO_GET_SERVICES = 'run .ci/services.sh to install and start it';

/** A service a test or benchmark needs is missing: `message` is one line naming it and how to get it. */
export class ServiceMissing extends Error {
  override readonly name = 'ServiceMissing';
}

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

/**
 * Turns a probe's answer (undefined: present; else what is missing) into a skip decision: false with one
 * notice line on stderr, or, under CI=true (where .ci/run provisions everything), a thrown `ServiceMissing`.
 */
export function report(missing: string | undefined, inCI = process.env['CI'] === 'true'): boolean {
  if (missing === undefined) return true;
  if (inCI) throw new ServiceMissing(`CI=true but ${missing} (${HOW_TO_GET_SERVICES})`);
  console.warn(`[hive tests] NOTICE: skipping the tests that need it: ${missing} (${HOW_TO_GET_SERVICES})`);
  return false;
}

/** What is missing for a NATS server at `url`, or undefined when one answers. */
export async function probeNats(url = NATS_URL): Promise<string | undefined> {
  const u = new URL(url);
  return (await portOpen(u.hostname, Number(u.port || 4222))) ? undefined : `nats-server missing: nothing answers at ${url}`;
}

/** What is missing to start own nats-servers (the `nats-server` binary on PATH), or undefined. */
export function probeNatsBinary(): string | undefined {
  const r = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : 'nats-server missing: it is not on PATH';
}

/** What a test needs of a PostgreSQL server beyond answering. */
export interface PostgresNeeds {
  /** The pgvector extension is available (`vector` in pg_available_extensions). */
  vector?: boolean;
  /** The role may create databases (CREATEDB or superuser). */
  createDatabase?: boolean;
}

/** Runs one SQL query and returns its rows: lets the probe run against any PostgreSQL (pg client, PGlite). */
export type SqlQuery = <R>(text: string) => Promise<R[]>;

/** What a reachable PostgreSQL (reached through `query`) lacks of `needs`, or undefined. */
export async function probePostgresFeatures(query: SqlQuery, needs: PostgresNeeds, where: string): Promise<string | undefined> {
  if (needs.vector === true) {
    const rows = await query<{ n: number }>("select count(*)::int as n from pg_available_extensions where name = 'vector'");
    if (Number(rows[0]?.n) !== 1) return `pgvector missing: PostgreSQL at ${where} has no "vector" extension`;
  }
  if (needs.createDatabase === true) {
    const rows = await query<{ ok: boolean }>('select (rolcreatedb or rolsuper) as ok from pg_roles where rolname = current_user');
    if (rows[0]?.ok !== true) return `rights to create a database missing: the role at ${where} has no CREATEDB`;
  }
  return undefined;
}

/** What is missing for PostgreSQL at `url` with `needs`, or undefined when everything is there. */
export async function probePostgres(url = PG_URL, needs: PostgresNeeds = {}): Promise<string | undefined> {
  const u = new URL(url);
  if (!(await portOpen(u.hostname, Number(u.port || 5432)))) return `PostgreSQL missing: nothing answers at ${u.host}`;
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    return await probePostgresFeatures(async <R>(text: string) => (await client.query(text)).rows as R[], needs, u.host);
  } catch (err) {
    return `PostgreSQL unusable at ${u.host}: ${(err as Error).message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** True when a nats-server answers at NATS_URL (else a notice, or a failure under CI=true). */
export async function natsAvailable(): Promise<boolean> {
  return report(await probeNats());
}

/** True when `nats-server` is on PATH (tests that start and kill their own servers need it). */
export function natsBinaryAvailable(): boolean {
  return report(probeNatsBinary());
}

/** True when PostgreSQL answers at PG_URL with what `needs` asks (else a notice, or a failure under CI=true). */
export async function postgresAvailable(needs: PostgresNeeds = {}): Promise<boolean> {
  return report(await probePostgres(PG_URL, needs));
}

/** True when PostgreSQL with the pgvector extension answers at PG_URL. */
export async function pgvectorAvailable(): Promise<boolean> {
  return postgresAvailable({ vector: true });
}

/**
 * For benchmarks: throws `ServiceMissing` (one line, no stack: bench/run.ts prints its message and exits 1)
 * when a probe says something is missing.
 */
export function requireService(missing: string | undefined): void {
  if (missing !== undefined) throw new ServiceMissing(`${missing} (${HOW_TO_GET_SERVICES})`);
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

/** Starts `nats-server -js` on a random port (`args` first, e.g. `-c <config>`); call `stop()` in afterAll. */
export async function startNatsServer(options: { args?: readonly string[] } = {}): Promise<OwnNatsServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'hive-nats-'));
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn('nats-server', [...(options.args ?? []), '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: 'ignore' });
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
  /** The bin folder of the installation it runs from. */
  readonly bin: string;
  /** Stops the server at once (connections are cut, as in a crash). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and deletes its data. */
  destroy(): Promise<void>;
}

/** The PostgreSQL 15 installation throwaway clusters run from (HIVE_TEST_PG_BIN: another installation's bin folder). */
const PG_BIN = process.env['HIVE_TEST_PG_BIN'] ?? '/usr/lib/postgresql/15/bin';

/** The installation's share folder (where extensions live), as its own pg_config reports it. */
function pgShareDir(bin = PG_BIN): string {
  return spawnSync(`${bin}/pg_config`, ['--sharedir'], { encoding: 'utf8' }).stdout.trim();
}

/** What is missing to make a throwaway PostgreSQL cluster here (binaries, a postgres user, pgvector unless `vector: false`). */
export function probeThrowawayPostgres(needs: { vector?: boolean } = {}): string | undefined {
  const initdb = spawnSync(`${PG_BIN}/initdb`, ['--version'], { encoding: 'utf8' });
  if (initdb.status !== 0) return `PostgreSQL 15 server binaries missing: no ${PG_BIN}/initdb`;
  if (spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).status !== 0) return 'a "postgres" system user missing (throwaway PostgreSQL clusters run as it)';
  const ext = join(pgShareDir(), 'extension');
  if (needs.vector !== false && !existsSync(join(ext, 'vector.control'))) return `pgvector missing: no "vector" extension in ${ext}`;
  return undefined;
}

/** True when a throwaway PostgreSQL cluster can be made here (PostgreSQL binaries, a postgres user, pgvector unless `vector: false`). */
export function throwawayPostgresAvailable(needs: { vector?: boolean } = {}): boolean {
  return report(probeThrowawayPostgres(needs));
}

function asPostgres(cmd: string, args: string[]): { status: number | null; out: string } {
  const asRoot = process.getuid?.() === 0;
  const r = asRoot ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8' }) : spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/**
 * A copy of the PostgreSQL 15 installation without pgvector (PostgreSQL finds its share and lib folders
 * relative to its binary, so the copy's server has no `vector` in pg_available_extensions). Returns its bin folder.
 */
export function installationWithoutVector(into: string): string {
  const lib = join(into, 'usr/lib/postgresql');
  const share = join(into, 'usr/share/postgresql');
  mkdirSync(lib, { recursive: true });
  mkdirSync(share, { recursive: true });
  cpSync(dirname(PG_BIN), join(lib, '15'), { recursive: true });
  cpSync(pgShareDir(), join(share, '15'), { recursive: true });
  const ext = join(share, '15', 'extension');
  for (const f of readdirSync(ext)) if (f === 'vector.control' || f.startsWith('vector--')) rmSync(join(ext, f));
  rmSync(join(lib, '15', 'lib', 'vector.so'), { force: true });
  chmodSync(into, 0o755);
  return join(lib, '15', 'bin');
}

/**
 * initdb + start a PostgreSQL 15 cluster with trust auth on a free port. The pgvector extension is the
 * machine's, or absent with `withoutVector` (the server runs from a copy of the installation without it).
 */
export async function startThrowawayPostgres(options: { withoutVector?: boolean } = {}): Promise<ThrowawayPostgres> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'hive-pg-'));
  const install = options.withoutVector === true ? mkdtempSync(join(tmpdir(), 'hive-pg-install-')) : undefined;
  const bin = install === undefined ? PG_BIN : installationWithoutVector(install);
  spawnSync('chown', ['postgres:postgres', dir]);
  const init = asPostgres(`${bin}/initdb`, ['-D', dir, '-U', 'postgres', '-A', 'trust', '--no-sync']);
  if (init.status !== 0) throw new Error(`initdb failed: ${init.out}`);
  const ctl = (action: string, extra: string[] = []) => asPostgres(`${bin}/pg_ctl`, ['-D', dir, '-w', '-t', '30', ...extra, action]);
  const start = async () => {
    const r = ctl('start', ['-l', join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`]);
    if (r.status !== 0) throw new Error(`pg_ctl start failed: ${r.out}`);
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    bin,
    start,
    async stop() {
      ctl('stop', ['-m', 'immediate']);
    },
    async destroy() {
      ctl('stop', ['-m', 'immediate']);
      rmSync(dir, { recursive: true, force: true });
      if (install !== undefined) rmSync(install, { recursive: true, force: true });
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

/** What is missing to drive Debian's Chromium at `path` (the dashboard test), or undefined. */
export function probeChromium(path = process.env['HIVE_TEST_CHROMIUM'] ?? '/usr/bin/chromium'): string | undefined {
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0 ? undefined : `chromium missing: ${path} does not run (Debian package chromium)`;
}

/** Debian's Chromium for the dashboard test: its path, or undefined (a notice; a failure under CI=true). */
export function chromiumPath(): string | undefined {
  const path = process.env['HIVE_TEST_CHROMIUM'] ?? '/usr/bin/chromium';
  return report(probeChromium(path)) ? path : undefined;
}

/** What is missing of Debian's `prometheus` package (the `prometheus` server and `promtool`), or undefined. */
export function probePrometheus(): string | undefined {
  const p = spawnSync('prometheus', ['--version'], { encoding: 'utf8' });
  const t = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return p.status === 0 && t.status === 0 ? undefined : 'prometheus missing: prometheus or promtool is not on PATH (Debian package prometheus)';
}

/** True when `prometheus` and `promtool` are on PATH (else a notice, or a failure under CI=true). */
export function prometheusAvailable(): boolean {
  return report(probePrometheus());
}
