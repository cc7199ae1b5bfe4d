// A node's HTTP endpoint (node:http): Prometheus metrics, health and readiness for orchestrators, the cluster
// view as JSON and the live dashboard with its assets (served from the package, no CDN). Read-only: nothing
// here changes the cluster, so exposing it beyond loopback only discloses what `hive status` shows.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { Hive } from '../Hive.js';
import { gatherStatus } from '../gatherStatus.js';
import type { NodeStatus } from '../NodeControl.js';
import { DEFAULT_HTTP_PORT_TRIES, type HttpAddress } from './httpOptions.js';
import { KPIS } from './kpis.js';
import { checkReadiness } from './readiness.js';
import { hiveInternals } from '../internal.js';

/** What `/api/cluster` answers. */
export interface ClusterView {
  type: 'hive.cluster.view';
  cluster: string;
  /** The node that gathered the view. */
  servedBy: string;
  at: number;
  nodes: NodeStatus[];
  /** The KPIs with their thresholds (what the dashboard colours against). */
  kpis: typeof KPIS;
}

/** Options of {@link NodeHttp.start}. */
export interface NodeHttpOptions extends HttpAddress {
  /** A cluster view is reused for this long (default 1000 ms): many dashboards cost one gather. */
  viewCacheMs?: number;
  /** Longest wait for node answers when gathering the cluster view (default 1500 ms). */
  gatherWaitMs?: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

interface Asset {
  file: string;
  type: string;
}

const require = createRequire(import.meta.url);

/** The folder holding `dashboard/` (the package root, from the sources or from `dist/`). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'dashboard', 'index.html'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('the dashboard assets (dashboard/index.html) are missing from the package');
}

function assets(): Map<string, Asset> {
  const root = packageRoot();
  const uplot = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  return new Map<string, Asset>([
    ['/', { file: join(root, 'dashboard', 'index.html'), type: 'text/html; charset=utf-8' }],
    ['/assets/dashboard.js', { file: join(root, 'dashboard', 'dashboard.js'), type: 'text/javascript; charset=utf-8' }],
    ['/assets/dashboard.css', { file: join(root, 'dashboard', 'dashboard.css'), type: 'text/css; charset=utf-8' }],
    ['/assets/uPlot.iife.min.js', { file: join(uplot, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' }],
    ['/assets/uPlot.min.css', { file: join(uplot, 'uPlot.min.css'), type: 'text/css; charset=utf-8' }],
  ]);
}

/** Listens on `address`, moving on to the next ports (then any free port) when it may and the port is taken. */
function listen(server: Server, address: HttpAddress): Promise<void> {
  const attempt = (port: number) =>
    new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        server.off('listening', onListening);
        reject(err);
      };
      const onListening = () => {
        server.off('error', onError);
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen(port, address.host);
    });
  return (async () => {
    const ports = address.fallback ? [...Array.from({ length: DEFAULT_HTTP_PORT_TRIES }, (_, i) => address.port + i), 0] : [address.port];
    for (let i = 0; ; i++) {
      try {
        await attempt(ports[i]);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || i === ports.length - 1) throw err;
      }
    }
  })();
}

/** A node's HTTP endpoint. */
export class NodeHttp {
  private view: Promise<ClusterView> | undefined;
  private viewAt = -Infinity;
  private readonly routes: Map<string, Handler>;
  private readonly files: Map<string, Asset>;
  private readonly cache = new Map<string, Buffer>();

  private constructor(
    private readonly hive: Hive,
    private readonly server: Server,
    private readonly options: NodeHttpOptions,
  ) {
    this.files = assets();
    this.routes = new Map<string, Handler>([
      ['/metrics', (_req, res) => this.metrics(res)],
      ['/healthz', (_req, res) => this.json(res, 200, { status: 'ok', node: hive.nodeId, uptimeMs: hive.clock.now() - hive.startedAt })],
      ['/readyz', (_req, res) => this.readyz(res)],
      ['/api/cluster', (_req, res) => this.cluster(res)],
    ]);
  }

  /**
   * Starts the endpoint of `hive` on `options` (port 0: any free port; `fallback`: a taken port moves on to
   * the next ones, then to any free port). Rejects when it cannot listen.
   * @example const http = await NodeHttp.start(hive, { host: '127.0.0.1', port: 0, fallback: false }); console.log(http.url);
   */
  static async start(hive: Hive, options: NodeHttpOptions): Promise<NodeHttp> {
    const server = createServer();
    const node = new NodeHttp(hive, server, options);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => node.handle(req, res));
    // a client that goes away mid-request must not take the node down
    server.on('clientError', (_err, socket) => socket.destroy());
    await listen(server, options);
    return node;
  }

  /** The port it listens on. */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The base URL (`http://host:port`), what the banner prints. */
  get url(): string {
    const host = this.options.host === '0.0.0.0' || this.options.host === '::' ? '127.0.0.1' : this.options.host;
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  /** Stops listening and closes open connections. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const route = this.routes.get(path);
    const asset = route === undefined ? this.files.get(path === '/index.html' ? '/' : path) : undefined;
    if (route === undefined && asset === undefined) {
      this.json(res, 404, { error: 'not found', path, endpoints: ['/', '/metrics', '/healthz', '/readyz', '/api/cluster'] });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      this.json(res, 405, { error: `method ${req.method ?? ''} not allowed` });
      return;
    }
    const work = route !== undefined ? route(req, res) : this.asset(res, asset as Asset);
    Promise.resolve(work).catch((err: unknown) => {
      this.hive.logger.warn({ err, path }, 'HTTP request failed');
      if (!res.headersSent) this.json(res, 500, { error: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    });
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private async metrics(res: ServerResponse): Promise<void> {
    const registry = this.hive.metrics.registry;
    const text = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private async readyz(res: ServerResponse): Promise<void> {
    const r = await checkReadiness(this.hive);
    const reason = r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join('; ');
    this.json(res, r.ready ? 200 : 503, reason === '' ? r : { ...r, reason });
  }

  private async cluster(res: ServerResponse): Promise<void> {
    const now = Date.now();
    if (this.view === undefined || now - this.viewAt > (this.options.viewCacheMs ?? 1000)) {
      this.viewAt = now;
      this.view = this.gather().catch((err: unknown) => {
        this.view = undefined;
        throw err;
      });
    }
    this.json(res, 200, await this.view);
  }

  private async gather(): Promise<ClusterView> {
    const hive = this.hive;
    let nodes: NodeStatus[];
    if (hiveInternals(hive).transport.connected) {
      nodes = await gatherStatus(hiveInternals(hive).transport, hive.cluster, this.options.gatherWaitMs ?? 1500);
      // this node always shows, even when its own answer was lost
      if (!nodes.some((n) => n.node === hive.nodeId)) nodes = [...nodes, hive.status()].sort((a, b) => a.node.localeCompare(b.node));
    } else {
      nodes = [hive.status()];
    }
    return { type: 'hive.cluster.view', cluster: hive.cluster, servedBy: hive.nodeId, at: Date.now(), nodes, kpis: KPIS };
  }

  private async asset(res: ServerResponse, asset: Asset): Promise<void> {
    let body = this.cache.get(asset.file);
    if (body === undefined) {
      body = await readFile(asset.file);
      this.cache.set(asset.file, body);
    }
    res.writeHead(200, { 'content-type': asset.type, 'content-length': body.length, 'cache-control': 'no-cache' });
    res.end(body);
  }
}
