// Micro-benchmark (not a test): request/reply over a real nats-server in one process, one connection for the
// responder and one for the requester, N requests in flight. Compares the client's per-request
// `nc.request()` with NatsTransport.request() (one shared reply inbox + correlation id), plus both ends on
// NatsTransport. Run: node --import tsx -e "import('./bench/nats-raw.ts').then(m=>m.run([]))"
// Arguments: --url=nats://127.0.0.1:4222 --inflight=64 --seconds=3 --bytes=200
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsTransport } from '../cluster/NatsTransport.js';
import { probeNats, requireService } from '../test/support/services.js';

/** One measured variant. */
export interface NatsRawResult {
  name: string;
  requests: number;
  seconds: number;
  reqPerSec: number;
  /** Median round trip of the requests measured, µs. */
  p50Us: number;
}

function arg(args: readonly string[], key: string, fallback: string): string {
  const hit = args.find((a) => a.startsWith(`--${key}=`));
  return hit === undefined ? fallback : hit.slice(key.length + 3);
}

function numArg(args: readonly string[], key: string, fallback: number): number {
  const n = Number(arg(args, key, String(fallback)));
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${key} must be a positive number`);
  return n;
}

/** Keeps `inflight` requests going for `seconds` (after a short warm-up); returns throughput and median latency. */
async function drive(name: string, send: () => Promise<unknown>, inflight: number, seconds: number): Promise<NatsRawResult> {
  const warmEnd = performance.now() + 500;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (performance.now() < warmEnd) await send();
    }),
  );
  let count = 0;
  const samples: number[] = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      for (;;) {
        const t0 = performance.now();
        if (t0 >= end) return;
        await send();
        count++;
        if ((count & 15) === 0) samples.push((performance.now() - t0) * 1000);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  samples.sort((a, b) => a - b);
  const p50 = samples.length === 0 ? NaN : samples[Math.floor(samples.length / 2)];
  return { name, requests: count, seconds: elapsed, reqPerSec: count / elapsed, p50Us: p50 };
}

/** Runs the three variants and prints req/s for each; returns the figures. */
export async function run(args: readonly string[] = []): Promise<NatsRawResult[]> {
  const url = arg(args, 'url', 'nats://127.0.0.1:4222');
  requireService(await probeNats(url));
  const inflight = numArg(args, 'inflight', 64);
  const seconds = numArg(args, 'seconds', 3);
  const payload = new Uint8Array(numArg(args, 'bytes', 200)).fill(120);
  const subject = `bench.nats_raw.${process.pid}`;
  const tsubject = `${subject}.t`;

  const conns: NatsConnection[] = [];
  const transports: NatsTransport[] = [];
  const results: NatsRawResult[] = [];
  try {
    const responder = await connect({ servers: url, name: 'bench-responder' });
    conns.push(responder);
    responder.subscribe(subject, { callback: (_err, msg) => void msg.respond(msg.data) });
    await responder.flush();

    const requester = await connect({ servers: url, name: 'bench-requester' });
    conns.push(requester);
    results.push(await drive('raw nc.request()', () => requester.request(subject, payload, { timeout: 10_000 }), inflight, seconds));

    const treq = await NatsTransport.connect({ servers: url, name: 'bench-transport-requester' });
    transports.push(treq);
    results.push(await drive('NatsTransport.request() (shared inbox)', () => treq.request(subject, payload, 10_000), inflight, seconds));

    const tresp = await NatsTransport.connect({ servers: url, name: 'bench-transport-responder' });
    transports.push(tresp);
    tresp.subscribe(tsubject, (m) => {
      if (m.reply !== undefined) tresp.publish(m.reply, m.data);
    });
    await tresp.flush();
    results.push(await drive('NatsTransport both ends', () => treq.request(tsubject, payload, 10_000), inflight, seconds));
  } finally {
    await Promise.all(transports.map((t) => t.close()));
    await Promise.all(conns.map((c) => c.close()));
  }

  console.log(`nats-raw: ${url}, ${inflight} in flight, ${payload.length} B payload, ~${seconds} s each (node ${process.version})`);
  const width = Math.max(...results.map((r) => r.name.length));
  for (const r of results) {
    console.log(`  ${r.name.padEnd(width)}  ${Math.round(r.reqPerSec).toLocaleString('en-US').padStart(8)} req/s   p50 ${r.p50Us.toFixed(0).padStart(6)} µs`);
  }
  const raw = results[0].reqPerSec;
  console.log(`  shared inbox / raw request(): ${(results[1].reqPerSec / raw).toFixed(2)}x`);
  return results;
}
