// A NATS cluster this test (or benchmark) owns: N nats-servers on loopback, random client/route/monitor
// ports, routes to each other, JetStream on with a store folder each. A server can be killed (SIGKILL, a
// crash) and restarted on the same ports and store; `ready()` waits until JetStream has a meta leader and
// every running server reports itself healthy (`/healthz`), so a fault is injected into a working cluster.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './services.js';

/** One server of an {@link OwnNatsCluster}. */
export interface NatsClusterServer {
  /** `s1`, `s2`, ... (its `server_name`). */
  readonly name: string;
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** The process id of the running server, undefined while it is down. */
  readonly pid: number | undefined;
  /** True while its process runs (checked with signal 0, not just our bookkeeping). */
  alive(): boolean;
  /** SIGKILL it (a crash) and wait until its process is gone. */
  kill(): Promise<void>;
  /** Start it again on the same ports and store. */
  restart(): Promise<void>;
}

/** N nats-servers forming one JetStream cluster. */
export interface OwnNatsCluster {
  readonly name: string;
  readonly servers: readonly NatsClusterServer[];
  /** Every server's client URL (what `--nats a,b,c` takes). */
  readonly urls: string[];
  /** Resolves when JetStream has a meta leader and every running server answers /healthz ok (throws past `limitMs`). */
  ready(limitMs?: number): Promise<void>;
  /** Stops every server and deletes their stores. */
  stop(): Promise<void>;
}

function processAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function getJson(url: string): Promise<Record<string, unknown> | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    return (await r.json()) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * Starts `size` (default 3) nats-servers as one cluster with JetStream. Call `stop()` in afterAll.
 * Throws when `nats-server` is not on PATH or the cluster does not become ready.
 */
export async function startNatsCluster(options: { size?: number; name?: string; maxPayload?: string } = {}): Promise<OwnNatsCluster> {
  const size = options.size ?? 3;
  const name = options.name ?? `hive_test_${process.pid}_${Date.now().toString(36)}`;
  const root = mkdtempSync(join(tmpdir(), 'hive-natscluster-'));
  const ports: Array<{ client: number; route: number; http: number }> = [];
  for (let i = 0; i < size; i++) ports.push({ client: await freePort(), route: await freePort(), http: await freePort() });
  const routes = ports.map((p) => `"nats-route://127.0.0.1:${p.route}"`).join(', ');
  const children: Array<ChildProcess | undefined> = [];
  const stopping = { now: false };

  const configOf = (i: number): string => {
    const p = ports[i];
    const file = join(root, `s${i + 1}.conf`);
    writeFileSync(
      file,
      [
        `server_name: "s${i + 1}"`,
        `listen: "127.0.0.1:${p.client}"`,
        `http: "127.0.0.1:${p.http}"`,
        `max_payload: ${options.maxPayload ?? '8MB'}`,
        `jetstream { store_dir: "${join(root, `store-s${i + 1}`)}" }`,
        `cluster { name: "${name}", listen: "127.0.0.1:${p.route}", routes: [${routes}] }`,
        '',
      ].join('\n'),
    );
    return file;
  };

  const launch = async (i: number): Promise<void> => {
    const child = spawn('nats-server', ['-c', configOf(i)], { stdio: 'ignore' });
    children[i] = child;
    const failed = new Promise<Error>((r) => {
      child.once('error', (e) => r(e));
      child.once('exit', (code, signal) => r(new Error(`nats-server s${i + 1} exited (${code ?? signal}) while starting`)));
    });
    const end = Date.now() + 15_000;
    while (Date.now() < end) {
      const up = getJson(`http://127.0.0.1:${ports[i].http}/varz`).then((v) => v !== undefined);
      const r = await Promise.race([failed, up]);
      if (r instanceof Error) throw r;
      if (r) return;
      await new Promise((res) => setTimeout(res, 50));
    }
    child.kill('SIGKILL');
    throw new Error(`nats-server s${i + 1} did not start on port ${ports[i].client}`);
  };

  const halt = async (i: number, signal: NodeJS.Signals): Promise<void> => {
    const c = children[i];
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill(signal);
    });
  };

  const servers: NatsClusterServer[] = ports.map((p, i) => ({
    name: `s${i + 1}`,
    url: `nats://127.0.0.1:${p.client}`,
    port: p.client,
    get pid() {
      const c = children[i];
      return c !== undefined && c.exitCode === null && c.signalCode === null ? c.pid : undefined;
    },
    alive: () => processAlive(children[i]?.pid) && children[i]?.exitCode === null && children[i]?.signalCode === null,
    kill: () => halt(i, 'SIGKILL'),
    restart: async () => {
      if (stopping.now) return;
      await halt(i, 'SIGKILL');
      await launch(i);
    },
  }));

  const ready = async (limitMs = 30_000): Promise<void> => {
    const end = Date.now() + limitMs;
    let last = '';
    while (Date.now() < end) {
      const running = ports.filter((_, i) => servers[i].alive());
      const checks = await Promise.all(
        running.map(async (p) => {
          const health = await getJson(`http://127.0.0.1:${p.http}/healthz`);
          const jsz = await getJson(`http://127.0.0.1:${p.http}/jsz`);
          const meta = jsz?.['meta_cluster'] as { leader?: string; cluster_size?: number } | undefined;
          return { ok: health?.['status'] === 'ok' && typeof meta?.leader === 'string' && meta.leader !== '', why: `${p.client}: ${JSON.stringify(health)} leader=${meta?.leader}` };
        }),
      );
      if (running.length > 0 && checks.every((c) => c.ok)) return;
      last = checks.map((c) => c.why).join('; ');
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`NATS cluster ${name} not ready after ${limitMs} ms: ${last}`);
  };

  try {
    await Promise.all(ports.map((_, i) => launch(i)));
    await ready();
  } catch (err) {
    await Promise.all(ports.map((_, i) => halt(i, 'SIGKILL')));
    rmSync(root, { recursive: true, force: true });
    throw err;
  }

  return {
    name,
    servers,
    urls: servers.map((s) => s.url),
    ready,
    async stop() {
      stopping.now = true;
      await Promise.all(ports.map((_, i) => halt(i, 'SIGTERM')));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
