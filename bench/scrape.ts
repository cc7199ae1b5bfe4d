// What a Prometheus scrape costs: /metrics time and bytes on a node with 10,000 actors and 4 pools, beside an empty node.
//
// Usage: npm run bench -- scrape [--actors=N] [--pools=n] [--scrapes=n]
//   Two nodes in this process (in-process transport, each with its HTTP endpoint on a free loopback port):
//   "empty" (no actors, no pools) and "loaded" (N idle counter actors, n pools of 4 agents that ran 50 tasks
//   each, so every pool series has values). Scrapes alternate between the two (GET /metrics over HTTP, body
//   read whole); the table reports median and p95 time per scrape and the body size. Writes
//   bench/results/scrape.json. Absolute times drift with machine load; the side-by-side ratio is what counts.
import { counterMachine } from '../actors/counter.js';
import { Hive } from '../cluster/Hive.js';
import { NodeHttp } from '../cluster/ops/NodeHttp.js';
import { silentLogger } from '../runtime/logger.js';
import { median, numberArg, parseArgs, percentile, printTable, round, writeResults } from './util.js';

async function node(nodeId: string): Promise<{ hive: Hive; http: NodeHttp }> {
  const hive = await Hive.start({ cluster: `scrape${process.pid}`, nodeId, env: false, logger: silentLogger() });
  const http = await NodeHttp.start(hive, { host: '127.0.0.1', port: 0, fallback: false });
  return { hive, http };
}

async function scrape(url: string): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/metrics`);
  const body = await res.arrayBuffer();
  return { ms: performance.now() - t0, bytes: body.byteLength };
}

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const actors = numberArg(args, 'actors', 10_000);
  const pools = numberArg(args, 'pools', 4);
  const scrapes = numberArg(args, 'scrapes', 50);
  const empty = await node('empty');
  const loaded = await node('loaded');
  try {
    for (let i = 0; i < actors; i++) await loaded.hive.spawn(counterMachine, { id: `c${i}`, input: { count: i } });
    for (let p = 0; p < pools; p++) {
      const pool = await loaded.hive.pool<{ n: number }, number>(`pool${p}`, { agent: async (t) => t.n * 2, min: 4, max: 4 });
      await Promise.all(Array.from({ length: 50 }, (_, n) => pool.submit({ n })));
    }
    // warm up both (first scrapes build prom-client's label caches)
    for (let i = 0; i < 5; i++) {
      await scrape(empty.http.url);
      await scrape(loaded.http.url);
    }
    const times: Record<'empty' | 'loaded', number[]> = { empty: [], loaded: [] };
    const bytes: Record<'empty' | 'loaded', number> = { empty: 0, loaded: 0 };
    for (let i = 0; i < scrapes; i++) {
      for (const [name, n] of [['empty', empty], ['loaded', loaded]] as const) {
        const r = await scrape(n.http.url);
        times[name].push(r.ms);
        bytes[name] = r.bytes;
      }
    }
    const rows = (['empty', 'loaded'] as const).map((k) => [
      k === 'empty' ? 'empty node' : `${actors.toLocaleString('en')} actors, ${pools} pools`,
      round(median(times[k]), 2),
      round(percentile(times[k], 95), 2),
      bytes[k].toLocaleString('en'),
    ]);
    printTable(['node', 'median ms', 'p95 ms', 'bytes'], rows);
    const file = writeResults('scrape', {
      actors,
      pools,
      scrapes,
      empty: { medianMs: round(median(times.empty), 3), p95Ms: round(percentile(times.empty, 95), 3), bytes: bytes.empty },
      loaded: { medianMs: round(median(times.loaded), 3), p95Ms: round(percentile(times.loaded, 95), 3), bytes: bytes.loaded },
    });
    console.log(`\nwritten ${file}`);
  } finally {
    await empty.http.close();
    await loaded.http.close();
    await empty.hive.stop();
    await loaded.hive.stop();
  }
}
