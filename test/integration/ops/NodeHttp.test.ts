// A node's HTTP endpoint against real parts: /metrics with process, pool and KPI series after real tasks,
// /healthz, /readyz (503 while the test's own nats-server is down, 200 once it is back), /api/cluster gathered
// over NATS from two nodes, the dashboard and its assets, and the default port moving on when taken.
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { echoMachine } from '../../../actors/echo.js';
import { Hive } from '../../../cluster/Hive.js';
import { NodeHttp } from '../../../cluster/ops/NodeHttp.js';
import { silentLogger } from '../../../runtime/logger.js';
import { NATS_URL, deleteClusterStreams, natsAvailable, natsBinaryAvailable, startNatsServer, uniqueName, type OwnNatsServer } from '../../support/services.js';

const hasNats = await natsAvailable();
const hasNatsBinary = natsBinaryAvailable();
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function node(options: { cluster: string; nodeId: string; nats?: string }): Promise<{ hive: Hive; http: NodeHttp }> {
  const hive = await Hive.start({ ...options, env: false, logger: silentLogger(), heartbeatMs: 100, failureAfterMs: 1500 });
  const http = await NodeHttp.start(hive, { host: '127.0.0.1', port: 0, fallback: false });
  cleanups.push(async () => {
    await http.close();
    await hive.stop();
  });
  return { hive, http };
}

async function get(url: string): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, limitMs = 15_000): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('node HTTP endpoint (in-process node)', () => {
  it('serves metrics with pool and process series, health, readiness and the dashboard', async () => {
    const { hive, http } = await node({ cluster: uniqueName('http'), nodeId: 'solo' });
    const pool = await hive.pool<{ n: number }, number>('squares', { agent: async (t) => t.n * t.n, min: 2, max: 2 });
    for (let i = 0; i < 5; i++) expect(await pool.submit({ n: i })).toBe(i * i);
    const m = await get(`${http.url}/metrics`);
    expect(m.status).toBe(200);
    expect(m.type).toContain('text/plain');
    expect(m.text).toMatch(/^hive_process_resident_memory_bytes\{cluster="[^"]+",node="solo"\} \d+/m);
    expect(m.text).toMatch(/^hive_pool_tasks_total\{pool="squares",result="done",cluster="[^"]+",node="solo"\} 5$/m);
    expect(m.text).toMatch(/^hive_pool_agents\{pool="squares",.*\} 2$/m);
    expect(m.text).toContain('# TYPE hive_ask_duration_seconds histogram');

    const h = await get(`${http.url}/healthz`);
    expect(h.status).toBe(200);
    expect(JSON.parse(h.text)).toMatchObject({ status: 'ok', node: 'solo' });
    const r = await get(`${http.url}/readyz`);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toMatchObject({ ready: true, checks: [{ name: 'nats', ok: true }, { name: 'subscriptions', ok: true }, { name: 'memory', ok: true }] });

    const page = await get(`${http.url}/`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('<script src="/assets/dashboard.js">');
    for (const asset of ['/assets/dashboard.js', '/assets/dashboard.css', '/assets/uPlot.iife.min.js', '/assets/uPlot.min.css']) {
      const a = await get(`${http.url}${asset}`);
      expect(a.status, asset).toBe(200);
      expect(a.text.length, asset).toBeGreaterThan(100);
    }
    expect((await get(`${http.url}/nope`)).status).toBe(404);
    expect((await fetch(`${http.url}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('moves on to the next free port when the default one is taken, and fails on a taken explicit port', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));
    const taken = (blocker.address() as { port: number }).port;
    const hive = await Hive.start({ cluster: uniqueName('port'), nodeId: 'p', env: false, logger: silentLogger() });
    cleanups.push(() => hive.stop());
    const http = await NodeHttp.start(hive, { host: '127.0.0.1', port: taken, fallback: true });
    cleanups.push(() => http.close());
    expect(http.port).not.toBe(taken);
    expect((await get(`${http.url}/healthz`)).status).toBe(200);
    await expect(NodeHttp.start(hive, { host: '127.0.0.1', port: taken, fallback: false })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});

describe.skipIf(!hasNats)('node HTTP endpoint over NATS', () => {
  it('gathers the cluster view of both nodes over NATS', async () => {
    const cluster = uniqueName('view');
    cleanups.push(() => deleteClusterStreams(NATS_URL, cluster));
    const a = await node({ cluster, nodeId: 'a', nats: NATS_URL });
    const b = await node({ cluster, nodeId: 'b', nats: NATS_URL });
    await b.hive.spawn(echoMachine, { id: 'on-b' });
    const view = await until('both nodes in the view', async () => {
      const v = JSON.parse((await get(`${a.http.url}/api/cluster`)).text) as { servedBy: string; nodes: Array<{ node: string; actors: Array<{ id: string }>; extra: { kpis: { samples: unknown[] } } }>; kpis: unknown[] };
      return v.nodes.length === 2 ? v : undefined;
    });
    expect(view.servedBy).toBe('a');
    expect(view.nodes.map((n) => n.node)).toEqual(['a', 'b']);
    expect(view.nodes[1].actors.map((x) => x.id)).toContain('on-b');
    expect(view.nodes[0].extra.kpis.samples.length).toBeGreaterThan(0);
    expect(view.kpis.length).toBeGreaterThan(5);
  });
});

describe.skipIf(!hasNatsBinary)('readiness follows NATS', () => {
  let server: OwnNatsServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('/readyz is 503 with the reason while the nats-server is down, and 200 once it is back', async () => {
    server = await startNatsServer();
    const own = server;
    const { http } = await node({ cluster: uniqueName('ready'), nodeId: 'r', nats: own.url });
    expect((await get(`${http.url}/readyz`)).status).toBe(200);
    await own.kill();
    const down = await until('readyz 503', async () => {
      const r = await get(`${http.url}/readyz`);
      return r.status === 503 ? r : undefined;
    });
    const body = JSON.parse(down.text) as { ready: boolean; reason: string };
    expect(body.ready).toBe(false);
    // whichever the node notices first: the connection is down, or its own subject no longer answers through the server
    expect(body.reason).toMatch(/^(nats|subscriptions): /);
    expect((await get(`${http.url}/healthz`)).status).toBe(200); // alive all along
    await own.restart();
    await until('readyz 200 again', async () => ((await get(`${http.url}/readyz`)).status === 200 ? true : undefined), 30_000);
  });
});
