// Node footprint: RSS of a `hive start` node with embedded memory (PGlite) holding 20,000 embedded documents, idle and under load, beside a node started with --no-memory.
// Run: npm run build && npm run bench -- footprint [--docs=20000] [--settle=8000] [--load-ms=8000] [--nats=nats://127.0.0.1:4222]
// Each node is a real `bin/hive.js start` process (compiled dist/: run `npm run build` first) on its own
// cluster and data folder. The memory node: RSS once memory is open (empty store), its peak while 20,000
// text documents are ingested (embedded by the built-in HashingEmbedder; the HNSW index is built after the
// load), idle once the index is built, then restarted on the same folder: idle (the headline figure: a node
// holding 20k documents), peak under load (text searches 4 in flight plus virtual-actor asks), idle again.
// The --no-memory node: idle, and peak under the same asks. RSS from /proc/<pid>/status; V8 heap and external
// memory (PGlite's WebAssembly memory is external) from the node's /metrics. Writes bench/results/footprint.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { MemoryClient } from '../cluster/MemoryClient.js';
import { probeNats, requireService } from '../test/support/services.js';
import { numberArg, parseArgs, printTable, round, writeResults } from './util.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const WORDS = 'agent memory vector search cluster node actor message pool balance supervisor breaker latency throughput document embedding index query postgres nats jetstream worker thread heap wasm cache footprint resident idle load'.split(' ');

interface Node {
  proc: ChildProcess;
  out: () => string;
  http: string;
  exited: Promise<void>;
}

interface Sample {
  rss_mb: number;
  peak_rss_mb?: number;
  heap_used_mb: number;
  heap_total_mb: number;
  external_mb: number;
  threads: number;
}

const mb = (bytes: number) => round(bytes / 1048576, 1);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function startNode(args: string[], id: string, readyText: string | undefined, limitMs = 180_000): Promise<Node> {
  const proc = spawn(process.execPath, [join(root, 'bin/hive.js'), 'start', '--node-id', id, '--log-level', 'warn', ...args], {
    cwd: root,
    env: { ...process.env, HIVE_HTTP: '127.0.0.1:0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.on('close', () => r()));
  const end = Date.now() + limitMs;
  while (!out.includes(`hive node ${id} started`) || (readyText !== undefined && !out.includes(readyText))) {
    if (proc.exitCode !== null) throw new Error(`node ${id} exited: ${out}`);
    if (Date.now() > end) {
      proc.kill('SIGKILL');
      throw new Error(`node ${id} not ready in time: ${out}`);
    }
    await sleep(100);
  }
  const http = /metrics (http:\/\/[0-9.:]+)\/metrics/.exec(out)?.[1];
  if (http === undefined) throw new Error(`node ${id}: no metrics address in its banner: ${out}`);
  return { proc, out: () => out, http, exited };
}

async function stopNode(n: Node): Promise<void> {
  if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGTERM');
  const t = setTimeout(() => n.proc.kill('SIGKILL'), 20_000);
  await n.exited;
  clearTimeout(t);
}

function procStatus(pid: number): { rss: number; hwm: number; threads: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM'), threads: kb('Threads') / 1024 };
}

async function sample(n: Node): Promise<Sample> {
  const text = await (await fetch(`${n.http}/metrics`, { signal: AbortSignal.timeout(30_000) })).text();
  const metric = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} ([0-9.e+]+)`, 'm').exec(text)?.[1] ?? NaN);
  const p = procStatus(n.proc.pid!);
  return {
    rss_mb: mb(p.rss),
    heap_used_mb: mb(metric('hive_nodejs_heap_size_used_bytes')),
    heap_total_mb: mb(metric('hive_nodejs_heap_size_total_bytes')),
    external_mb: mb(metric('hive_nodejs_external_memory_bytes')),
    threads: p.threads,
  };
}

/** Runs `work` while sampling the node's RSS every 100 ms; returns the peak and a sample at the end. */
async function underLoad(n: Node, work: () => Promise<void>): Promise<Sample> {
  let peak = 0;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, procStatus(n.proc.pid!).rss);
    } catch {
      // the node is gone: the work fails on its own
    }
  }, 100);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  const s = await sample(n);
  return { ...s, peak_rss_mb: mb(Math.max(peak, s.rss_mb * 1048576)) };
}

async function waitForIndex(n: Node, limitMs: number): Promise<boolean> {
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    const body = await fetch(`${n.http}/api/cluster`, { signal: AbortSignal.timeout(30_000) })
      .then((r) => r.text())
      .catch(() => '');
    if (body.includes('"index":"indexed"')) return true;
    await sleep(500);
  }
  return false;
}

/** Virtual echo-actor asks, `inFlight` at once, for `ms`. */
async function askLoad(nc: NatsConnection, cluster: string, ms: number, inFlight = 8): Promise<number> {
  const end = Date.now() + ms;
  let done = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async (_, w) => {
      for (let i = 0; Date.now() < end; i++) {
        await nc.request(`hive.${cluster}.kind.echo.k${w}-${i % 50}`, '{"type":"ping"}', { timeout: 30_000 });
        done++;
      }
    }),
  );
  return done;
}

function docs(from: number, n: number): Array<{ id: string; content: string; metadata: { n: number } }> {
  return Array.from({ length: n }, (_, j) => {
    const i = from + j;
    const words = Array.from({ length: 40 }, (_, k) => WORDS[(i * 7 + k * 13 + ((i * k) % 11)) % WORDS.length]);
    return { id: `d${i}`, content: `document ${i}: ${words.join(' ')}`, metadata: { n: i } };
  });
}

async function dropCluster(nc: NatsConnection, cluster: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for await (const s of jsm.streams.list()) {
    if (s.config.name.includes(cluster)) await jsm.streams.delete(s.config.name).catch(() => undefined);
  }
}

/** Runs the benchmark; see the header. */
export async function run(argv: readonly string[] = []): Promise<Record<string, unknown>> {
  const a = parseArgs(argv);
  const total = numberArg(a, 'docs', 20_000);
  const settleMs = numberArg(a, 'settle', 8000);
  const loadMs = numberArg(a, 'load-ms', 8000);
  const natsUrl = a.get('nats') ?? 'nats://127.0.0.1:4222';
  requireService(await probeNats(natsUrl));
  if (!existsSync(join(root, 'dist/cluster/cli.js'))) throw new Error('bench footprint runs the compiled CLI: run `npm run build` first');
  const tmp = mkdtempSync(join(tmpdir(), 'hive-bench-footprint-'));
  const tag = `${process.pid}_${Date.now().toString(36)}`;
  const memCluster = `fp_mem_${tag}`;
  const bareCluster = `fp_bare_${tag}`;
  const nc = await connect({ servers: natsUrl });
  const nodes: Node[] = [];
  const results: Record<string, unknown> = {};
  console.log(`footprint: a node with embedded memory (PGlite) holding ${total.toLocaleString('en-US')} documents, and a node with --no-memory`);
  try {
    const common = ['--nats', natsUrl];
    // --- the memory node, first run: open, ingest, index
    const memArgs = [...common, '--cluster', memCluster, '--data-dir', join(tmp, 'mem')];
    let node = await startNode(memArgs, 'fpm', 'memory ready');
    nodes.push(node);
    await sleep(settleMs);
    const opened = await sample(node);
    const client = await MemoryClient.connect({ cluster: memCluster, nats: natsUrl, name: 'bench-footprint' });
    let ingestMs = 0;
    const ingest = await underLoad(node, async () => {
      const t = Date.now();
      const inflight = new Set<Promise<unknown>>();
      for (let i = 0; i < total; i += 1000) {
        const p = client.ingest(docs(i, Math.min(1000, total - i)), { namespace: 'fp', wait: true, timeoutMs: 600_000 });
        inflight.add(p);
        void p.finally(() => inflight.delete(p)).catch(() => undefined);
        if (inflight.size >= 2) await Promise.race(inflight);
      }
      await Promise.all(inflight);
      ingestMs = Date.now() - t;
    });
    const indexed = await waitForIndex(node, 600_000);
    await sleep(settleMs);
    const afterIngest = await sample(node);
    const firstRunHwm = mb(procStatus(node.proc.pid!).hwm);
    await client.close();
    await stopNode(node);

    // --- the memory node restarted on the same folder: idle, under load, idle again
    node = await startNode(memArgs, 'fpm', 'memory ready');
    nodes.push(node);
    await sleep(settleMs);
    const idle = await sample(node);
    const client2 = await MemoryClient.connect({ cluster: memCluster, nats: natsUrl, name: 'bench-footprint' });
    let searches = 0;
    let asks = 0;
    const load = await underLoad(node, async () => {
      const end = Date.now() + loadMs;
      const searching = Promise.all(
        Array.from({ length: 4 }, async (_, w) => {
          for (let i = 0; Date.now() < end; i++) {
            await client2.search({ text: `${WORDS[(w * 5 + i) % WORDS.length]} ${WORDS[(i * 3) % WORDS.length]} document`, namespace: 'fp', k: 10 }, 30_000);
            searches++;
          }
        }),
      );
      asks = (await Promise.all([askLoad(nc, memCluster, loadMs), searching]))[0];
    });
    await client2.close();
    await sleep(settleMs);
    const idleAgain = await sample(node);
    const memHwm = mb(procStatus(node.proc.pid!).hwm);
    await stopNode(node);

    // --- the --no-memory node
    const bare = await startNode([...common, '--cluster', bareCluster, '--data-dir', join(tmp, 'bare'), '--no-memory'], 'fpb', undefined);
    nodes.push(bare);
    await sleep(settleMs);
    const bareIdle = await sample(bare);
    let bareAsks = 0;
    const bareLoad = await underLoad(bare, async () => {
      bareAsks = await askLoad(nc, bareCluster, loadMs);
    });
    await stopNode(bare);

    const row = (what: string, s: Sample) => [what, s.rss_mb, s.peak_rss_mb ?? '-', s.heap_used_mb, s.external_mb, s.threads];
    printTable(
      ['node', 'RSS MB', 'peak RSS MB', 'V8 heap used MB', 'external MB', 'threads'],
      [
        row('memory: open, empty store', opened),
        row(`memory: ingesting ${total} docs`, ingest),
        row(`memory: idle after ingest + index (first run)`, afterIngest),
        row(`memory: restarted, idle, ${total} docs`, idle),
        row('memory: under load (searches + asks)', load),
        row('memory: idle after the load', idleAgain),
        row('--no-memory: idle', bareIdle),
        row('--no-memory: under load (asks)', bareLoad),
      ],
    );
    console.log(`ingest ${total} docs in ${ingestMs} ms (index built: ${indexed}); load: ${searches} searches + ${asks} asks; --no-memory: ${bareAsks} asks; peak RSS first run ${firstRunHwm} MB, restarted ${memHwm} MB`);
    const target = 250;
    Object.assign(results, {
      config: { docs: total, settle_ms: settleMs, load_ms: loadMs, backend: 'pglite', embedder: 'hashing (384-d)' },
      memory: {
        opened_empty: opened,
        ingesting: { ...ingest, ms: ingestMs, indexed },
        idle_after_ingest_first_run: { ...afterIngest, process_peak_rss_mb: firstRunHwm },
        idle: idle,
        under_load: { ...load, searches, asks },
        idle_after_load: { ...idleAgain, process_peak_rss_mb: memHwm },
      },
      no_memory: { idle: bareIdle, under_load: { ...bareLoad, asks: bareAsks } },
      targets: { idle_with_memory_mb: target },
      met: { idle_with_memory_mb: idle.rss_mb <= target },
    });
    const out = writeResults('footprint', results);
    console.log(`idle with memory (restarted, ${total} docs): ${idle.rss_mb} MB (target ≤ ${target}); --no-memory idle ${bareIdle.rss_mb} MB; wrote ${out}`);
    return results;
  } finally {
    for (const n of nodes) if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.exited));
    await dropCluster(nc, memCluster).catch(() => undefined);
    await dropCluster(nc, bareCluster).catch(() => undefined);
    await nc.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}
