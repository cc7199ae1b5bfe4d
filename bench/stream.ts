// Streamed replies: chunks/s and time to first chunk through Hive (askStream between two processes) vs raw NATS publish of the same chunks to a reply inbox, in one run.
//
// Usage: npm run bench -- stream [--url=nats://127.0.0.1:4222] [--duration=ms] [--rounds=n] [--chunks=n] [--size=bytes] [--window=n] [--firsts=n]
//   --duration  measured time of each throughput row per round (default 4000 ms)
//   --rounds    rounds; the systems alternate within a round and the median round counts (default 3)
//   --chunks    chunks per stream in the throughput rows (default 20000)
//   --size      chunk size in bytes (default 100)
//   --window    Hive's credit window (default: the default window, 256)
//   --firsts    streams timed for the time to first chunk, per round and system (default 300)
//
// Two processes on one nats-server: this one reads, a child produces (bench/support/streamServer.ts: a Hive node
// with a streaming actor, and a raw @nats-io/transport-node responder, both in the child; a unique cluster name
// per run). Rows:
//   Hive      hive.ref('gen').askStream({ type: 'generate', n, size }, { window }) from a Hive node here: the child's
//             actor sends each chunk with `await stream(event, chunk)`, `end(event)` at the end; credits flow back.
//   raw NATS  the limit: a raw connection here publishes { n, size } with reply subject <shared inbox>.<id>; the
//             child's raw responder publishes n payloads of `size` bytes to it and an empty payload (the end),
//             with no flow control at all; this side counts them.
// Throughput: streams of --chunks chunks one after the other for --duration ms; chunks/s and CPU µs per chunk of
// both processes (process.cpuUsage here, /proc for the child). Time to first chunk: --firsts streams of one
// chunk, one at a time, from the call to the first chunk in hand; for raw NATS that is a plain request/reply
// round trip (the baseline of the target). Writes bench/results/stream.json with the load average.
import type { ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, createInbox, type NatsConnection } from '@nats-io/transport-node';
import { Hive } from '../cluster/Hive.js';
import { silentLogger } from '../runtime/logger.js';
import { DEFAULT_STREAM_WINDOW } from '../protocols/streams.js';
import { deleteClusterStreams, probeNats, requireService } from '../test/support/services.js';
import { processCpuMicros, startReadyChild, stopChild } from './support/child.js';
import { median, numberArg, parseArgs, percentile, printTable, round, writeResults } from './util.js';

const here = dirname(fileURLToPath(import.meta.url));
const SERVER = join(here, 'support', 'streamServer.ts');
const TARGETS = { chunks_vs_raw: 0.5, first_chunk_vs_raw_rt: 2 } as const;

let child: ChildProcess | undefined;

function ownCpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** A system under test: one whole stream, and the time to its first chunk. */
interface System {
  stream(n: number, size: number): Promise<number>;
  first(size: number): Promise<number>;
}

function hiveSystem(hive: Hive, window: number): System {
  const ref = hive.ref('gen');
  return {
    async stream(n, size) {
      let c = 0;
      for await (const _ of ref.askStream({ type: 'generate', n, size }, { window })) c++;
      return c;
    },
    async first(size) {
      const t0 = performance.now();
      const it = ref.askStream({ type: 'generate', n: 1, size }, { window })[Symbol.asyncIterator]();
      await it.next();
      const dt = performance.now() - t0;
      while ((await it.next()).done !== true);
      return dt;
    },
  };
}

function rawSystem(nc: NatsConnection, subject: string): System {
  const inbox = createInbox();
  const open = new Map<string, { onChunk: () => void; onEnd: () => void }>();
  nc.subscribe(`${inbox}.*`, {
    callback: (err, msg) => {
      if (err !== null) return;
      const s = open.get(msg.subject.slice(inbox.length + 1));
      if (s === undefined) return;
      if (msg.data.length === 0) s.onEnd();
      else s.onChunk();
    },
  });
  let next = 0;
  const request = (n: number, size: number, onChunk: () => void): Promise<void> =>
    new Promise((resolve) => {
      const id = String(next++);
      open.set(id, {
        onChunk,
        onEnd: () => {
          open.delete(id);
          resolve();
        },
      });
      nc.publish(subject, JSON.stringify({ n, size }), { reply: `${inbox}.${id}` });
    });
  return {
    async stream(n, size) {
      let c = 0;
      await request(n, size, () => c++);
      return c;
    },
    async first(size) {
      const t0 = performance.now();
      let dt = NaN;
      await request(1, size, () => (dt = performance.now() - t0));
      return dt;
    },
  };
}

interface Throughput {
  chunksPerSec: number;
  cpuUsPerChunk: number;
  streams: number;
}

async function throughput(sys: System, chunks: number, size: number, durationMs: number): Promise<Throughput> {
  await sys.stream(Math.min(chunks, 2000), size); // warm-up
  const cpu0 = ownCpuMicros() + processCpuMicros(child?.pid);
  const t0 = performance.now();
  let total = 0;
  let streams = 0;
  while (performance.now() - t0 < durationMs) {
    const got = await sys.stream(chunks, size);
    if (got !== chunks) throw new Error(`a stream delivered ${got} of ${chunks} chunks`);
    total += got;
    streams++;
  }
  const secs = (performance.now() - t0) / 1000;
  const cpu = ownCpuMicros() + processCpuMicros(child?.pid) - cpu0;
  return { chunksPerSec: total / secs, cpuUsPerChunk: cpu / total, streams };
}

async function firsts(first: () => Promise<number>, k: number): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 20; i++) await first();
  const ms: number[] = [];
  for (let i = 0; i < k; i++) ms.push(await first());
  return { p50: percentile(ms, 50) * 1000, p99: percentile(ms, 99) * 1000 };
}

/** A plain Hive ask's round trip to the child's echo actor (context for the time to first chunk). */
async function hiveAsk(hive: Hive): Promise<number> {
  const t0 = performance.now();
  await hive.ref('echo').ask({ type: 'ping' });
  return performance.now() - t0;
}

export async function run(argv: string[]): Promise<unknown> {
  const args = parseArgs(argv);
  const url = args.get('url') ?? 'nats://127.0.0.1:4222';
  requireService(await probeNats(url));
  const durationMs = numberArg(args, 'duration', 4000);
  const rounds = numberArg(args, 'rounds', 3);
  const chunks = numberArg(args, 'chunks', 20_000);
  const size = numberArg(args, 'size', 100);
  const window = numberArg(args, 'window', DEFAULT_STREAM_WINDOW);
  const k = numberArg(args, 'firsts', 300);
  const cluster = `benchstream${process.pid}`;
  const loadBefore = loadavg();
  console.log(`stream bench: ${chunks} chunks of ${size} B per stream, window ${window}, ${rounds} rounds of ${durationMs} ms; load average ${loadBefore.map((l) => l.toFixed(1)).join(' ')}`);
  child = await startReadyChild(['--import', 'tsx', SERVER, `--url=${url}`, `--cluster=${cluster}`], join(here, '..'), 'stream server');
  const hive = await Hive.start({ nats: url, cluster, nodeId: 'reader', env: false, logger: silentLogger() });
  const nc = await connect({ servers: url, name: `bench-stream-reader-${process.pid}` });
  const systems: Record<'hive' | 'raw', System> = { hive: hiveSystem(hive, window), raw: rawSystem(nc, `bench.${cluster}.stream`) };
  const askP50: number[] = [];
  const perRound: Array<Record<'hive' | 'raw', Throughput & { firstP50Us: number; firstP99Us: number }>> = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const order: Array<'hive' | 'raw'> = r % 2 === 0 ? ['hive', 'raw'] : ['raw', 'hive'];
      const row = {} as Record<'hive' | 'raw', Throughput & { firstP50Us: number; firstP99Us: number }>;
      for (const name of order) {
        const t = await throughput(systems[name], chunks, size, durationMs);
        const f = await firsts(() => systems[name].first(size), k);
        row[name] = { ...t, firstP50Us: f.p50, firstP99Us: f.p99 };
      }
      const ask = await firsts(() => hiveAsk(hive), k);
      askP50.push(ask.p50);
      perRound.push(row);
      console.log(`round ${r + 1}: Hive ${Math.round(row.hive.chunksPerSec)} chunks/s, first ${round(row.hive.firstP50Us, 0)} µs; raw ${Math.round(row.raw.chunksPerSec)} chunks/s, first ${round(row.raw.firstP50Us, 0)} µs; Hive plain ask ${round(ask.p50, 0)} µs`);
    }
  } finally {
    await nc.close();
    await hive.stop();
    await stopChild(child);
    await deleteClusterStreams(url, cluster).catch(() => undefined);
  }
  const med = (name: 'hive' | 'raw', key: keyof (Throughput & { firstP50Us: number; firstP99Us: number })) => median(perRound.map((p) => p[name][key]));
  const summary = {
    hive: { chunksPerSec: med('hive', 'chunksPerSec'), cpuUsPerChunk: med('hive', 'cpuUsPerChunk'), firstChunkP50Us: med('hive', 'firstP50Us'), firstChunkP99Us: med('hive', 'firstP99Us') },
    raw: { chunksPerSec: med('raw', 'chunksPerSec'), cpuUsPerChunk: med('raw', 'cpuUsPerChunk'), firstChunkP50Us: med('raw', 'firstP50Us'), firstChunkP99Us: med('raw', 'firstP99Us') },
  };
  const ratios = {
    chunks_vs_raw: round(summary.hive.chunksPerSec / summary.raw.chunksPerSec),
    first_chunk_vs_raw_rt: round(summary.hive.firstChunkP50Us / summary.raw.firstChunkP50Us),
    cpu_per_chunk_vs_raw: round(summary.hive.cpuUsPerChunk / summary.raw.cpuUsPerChunk),
    /** Context: a plain Hive ask's p50 round trip over the raw one (the first chunk rides on an ask). */
    hive_ask_vs_raw_rt: round(median(askP50) / summary.raw.firstChunkP50Us),
    first_chunk_vs_hive_ask: round(summary.hive.firstChunkP50Us / median(askP50)),
  };
  const loadAfter = loadavg();
  printTable(
    ['system', 'chunks/s', 'CPU µs/chunk (both)', 'first chunk p50 µs', 'p99 µs'],
    [
      [`Hive askStream (window ${window})`, Math.round(summary.hive.chunksPerSec), round(summary.hive.cpuUsPerChunk, 2), Math.round(summary.hive.firstChunkP50Us), Math.round(summary.hive.firstChunkP99Us)],
      ['raw NATS publish to a reply inbox', Math.round(summary.raw.chunksPerSec), round(summary.raw.cpuUsPerChunk, 2), Math.round(summary.raw.firstChunkP50Us), Math.round(summary.raw.firstChunkP99Us)],
      ['(context) Hive plain ask round trip', '', '', Math.round(median(askP50)), ''],
    ],
  );
  console.log(
    `Hive/raw chunks/s ${ratios.chunks_vs_raw} (target >= ${TARGETS.chunks_vs_raw}); first chunk / raw round trip ${ratios.first_chunk_vs_raw_rt} (target <= ${TARGETS.first_chunk_vs_raw_rt}); CPU per chunk ${ratios.cpu_per_chunk_vs_raw}x raw; a plain Hive ask is ${ratios.hive_ask_vs_raw_rt}x the raw round trip, the first chunk ${ratios.first_chunk_vs_hive_ask}x a Hive ask; load average ${loadAfter.map((l) => l.toFixed(1)).join(' ')}`,
  );
  const result = {
    config: { chunks, size, window, durationMs, rounds, firsts: k, url },
    load: { before: loadBefore, after: loadAfter },
    targets: TARGETS,
    ratios,
    summary: { ...summary, hiveAskP50Us: median(askP50) },
    rounds: perRound,
    meets: { chunks: ratios.chunks_vs_raw >= TARGETS.chunks_vs_raw, firstChunk: ratios.first_chunk_vs_raw_rt <= TARGETS.first_chunk_vs_raw_rt },
  };
  console.log(`wrote ${writeResults('stream', result)}`);
  return result;
}
