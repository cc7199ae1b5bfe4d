// Remote ask benchmark: request/reply between two processes on one nats-server, Hive ask vs raw NATS (shared inbox) vs Moleculer 0.15, at 1 and 64 in flight.
//
// Usage: npm run bench -- ask [--url=nats://127.0.0.1:4222] [--duration=ms] [--warmup=ms] [--rounds=n] [--bytes=n]
//   --duration  measured time per row (default 5000 ms)
//   --warmup    un-measured time before each row (default 1500 ms)
//   --rounds    rounds; the systems alternate within a round and the median round counts (default 1)
//   --bytes     application payload size: the JSON text of the event { type: 'echo', data: 'xx…' } (default 200)
//   --only      measure only these rows (comma list of hive, virtual, raw, transport, moleculer; for profiling)
//   --levels    in-flight levels to measure (default 1,64; for profiling one level, e.g. --levels=64)
//   --server-node-flags  extra node flags for EVERY answering child, e.g. "--max-semi-space-size=32" (default
//               none: the headline figures use Node's defaults). Such a run writes bench/results/ask-server-flags.json.
//
// Two node processes per system: this one asks, a child answers (bench/support/askServer.ts, started with
// `node --import tsx`, one child per system so each answers alone in a clean process; all on one nats-server
// with a unique cluster/namespace name per run). Rows:
//   Hive ask            hive.ref('echo-1').ask(event) from a Hive node on NATS in this process to the built-in
//                       echo actor (actors/echo.ts) on a Hive node in the child: binary frames (msgpack
//                       envelope), NatsTransport's shared reply inbox + correlation id, the actor's mailbox,
//                       an xstate transition and reply(event, event) on the other side.
//   Hive virtual ask    hive.actor('echo', 'bench').ask(event): the same echo machine registered as kind `echo` in
//                       the child, activated there as a virtual actor; this node caches its placement and asks
//                       the owner node directly (one hop, no KV read). Its ratio to the Hive ask row is
//                       virtual_vs_ask_64 (target >= 0.9).
//   raw NATS            the limit: a raw @nats-io/transport-node connection publishes the event's 200 JSON bytes
//                       with reply subject <one shared inbox>.<correlation id> (nc.publish + one wildcard
//                       subscription + a Map of pending requests, no timeout timers); the child answers with
//                       msg.respond(msg.data). The ratio vs_raw_nats_64 is against this row.
//   NatsTransport       Hive's transport alone: NatsTransport.request (the same shared inbox pattern plus a
//                       timeout timer per request) to the same raw responder. Shows where Hive's cost sits.
//   Moleculer           Moleculer 0.15 ServiceBroker.call('echo.echo', event) over its NATS transporter (`nats`
//                       v2 client) with its default JSON serializer, to a broker in the child whose action
//                       returns ctx.params.
// Each row keeps N requests in flight for `--duration` ms after `--warmup` ms and times every request; CPU
// time per request is read for this process (process.cpuUsage) and for the answering child (/proc) over the
// same window. Children are stopped at the end, on error and on Ctrl-C. Writes bench/results/ask.json.
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, createInbox, type NatsConnection } from '@nats-io/transport-node';
import { ServiceBroker } from 'moleculer';
import { Hive } from '../cluster/Hive.js';
import { NatsTransport } from '../cluster/NatsTransport.js';
import type { HiveEvent } from '../protocols/envelope.js';
import { ENVELOPE_VERSION } from '../protocols/envelope.js';
import { silentLogger } from '../runtime/logger.js';
import { processCpuMicros, startReadyChild, stopChild } from './support/child.js';
import { closedLoop, type LoadResult, type WindowHooks } from './support/load.js';
import { median, numberArg, parseArgs, printTable, round, writeResults } from './util.js';
import { deleteClusterStreams, probeNats, requireService } from '../test/support/services.js';
import { hiveInternals } from '../cluster/internal.js';

const here = dirname(fileURLToPath(import.meta.url));
const SERVER = join(here, 'support', 'askServer.ts');
const TARGETS = { vs_raw_nats_64: 0.7, vs_moleculer_64: 2, p50_us_1: 150, p50_vs_raw_1: 1.2, virtual_vs_ask_64: 0.9 } as const;
const DEFAULT_LEVELS: readonly number[] = [1, 64];
const ECHO_ID = 'echo-1';

type Mode = 'hive' | 'raw' | 'moleculer';
type RowName = 'hive' | 'virtual' | 'raw' | 'transport' | 'moleculer';

const ROWS: ReadonlyArray<{ name: RowName; server: Mode; label: string }> = [
  { name: 'hive', server: 'hive', label: 'Hive ask (hive.ref(id).ask)' },
  { name: 'virtual', server: 'hive', label: 'Hive virtual actor ask (hive.actor(kind, key).ask, owner on the other node)' },
  { name: 'raw', server: 'raw', label: 'raw NATS publish + shared inbox (limit)' },
  { name: 'transport', server: 'raw', label: 'NatsTransport.request (Hive transport only)' },
  { name: 'moleculer', server: 'moleculer', label: 'Moleculer 0.15 broker.call (NATS, JSON)' },
];

/** One measured row plus the answering process's CPU time per request. */
interface Measured extends LoadResult {
  serverCpuUsPerOp: number;
}

// ------------------------------------------------------------------ child processes

const children = new Set<ChildProcess>();

function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/** Starts an answering child and waits for its ready line. */
async function startServer(mode: Mode, url: string, cluster: string, nodeFlags: string[]): Promise<ChildProcess> {
  const args = [...nodeFlags, '--import', 'tsx', SERVER, `--mode=${mode}`, `--url=${url}`, `--cluster=${cluster}`, `--id=${ECHO_ID}`, `--subject=${rawSubject(cluster)}`];
  const proc = await startReadyChild(args, join(here, '..'), `${mode} server`);
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  return proc;
}

function rawSubject(cluster: string): string {
  return `bench.${cluster}.raw`;
}

// ------------------------------------------------------------------ the requesting sides

/** Raw NATS request/reply over one shared inbox with a correlation id (no timers: the limit). */
class RawRequester {
  private readonly inbox: string;
  private readonly prefixLength: number;
  private readonly pending = new Map<string, (data: Uint8Array) => void>();
  private next = 0;

  constructor(private readonly nc: NatsConnection) {
    this.inbox = createInbox();
    this.prefixLength = this.inbox.length + 1;
    nc.subscribe(`${this.inbox}.*`, {
      callback: (err, msg) => {
        if (err !== null) return;
        const cid = msg.subject.substring(this.prefixLength);
        const resolve = this.pending.get(cid);
        if (resolve === undefined) return;
        this.pending.delete(cid);
        resolve(msg.data);
      },
    });
  }

  request(subject: string, data: Uint8Array): Promise<Uint8Array> {
    const cid = (this.next++).toString(36);
    return new Promise<Uint8Array>((resolve) => {
      this.pending.set(cid, resolve);
      this.nc.publish(subject, data, { reply: `${this.inbox}.${cid}` });
    });
  }
}

/** The application payload: an event whose JSON text is `bytes` long. */
function payloadEvent(bytes: number): HiveEvent {
  const base = JSON.stringify({ type: 'echo', data: '' }).length;
  return { type: 'echo', data: 'x'.repeat(Math.max(0, bytes - base)) };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function sameEvent(a: unknown, b: HiveEvent): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

// ------------------------------------------------------------------ run

/** Runs the remote ask benchmark (see the module header). */
export async function run(args: string[]): Promise<void> {
  const opts = parseArgs(args);
  const url = opts.get('url') ?? 'nats://127.0.0.1:4222';
  requireService(await probeNats(url));
  const durationMs = numberArg(opts, 'duration', 5000);
  const warmupMs = numberArg(opts, 'warmup', 1500);
  const rounds = Math.max(1, Math.round(numberArg(opts, 'rounds', 1)));
  const bytes = Math.round(numberArg(opts, 'bytes', 200));
  const only = opts.get('only')?.split(',');
  const LEVELS = (opts.get('levels')?.split(',') ?? DEFAULT_LEVELS).map(Number);
  if (LEVELS.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--levels takes a comma list of positive integers, got ${String(opts.get('levels'))}`);
  const serverNodeFlags = (opts.get('server-node-flags') ?? '').split(' ').filter((f) => f !== '');
  for (const f of serverNodeFlags) if (!f.startsWith('--')) throw new Error(`--server-node-flags takes node flags (--name[=value]), got ${JSON.stringify(f)}`);
  const rows = ROWS.filter((r) => only === undefined || only.includes(r.name));
  if (rows.length === 0) throw new Error(`--only takes a comma list of ${ROWS.map((r) => r.name).join(', ')}`);
  const cluster = `bench_ask_${process.pid}`;
  const event = payloadEvent(bytes);
  const eventJson = new TextEncoder().encode(JSON.stringify(event));

  const onSignal = (): void => {
    killAll();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', killAll);

  console.log(
    `ask benchmark: ${url}, cluster ${cluster}, payload ${eventJson.length} B of JSON, in flight ${LEVELS.join(' and ')}, ${durationMs} ms per row after ${warmupMs} ms warm-up, ${rounds} round(s)` +
      `${serverNodeFlags.length > 0 ? `, answering children run with ${serverNodeFlags.join(' ')}` : ''}\n`,
  );

  const servers = new Map<Mode, ChildProcess>();
  let hive: Hive | undefined;
  let rawConn: NatsConnection | undefined;
  let transport: NatsTransport | undefined;
  let broker: ServiceBroker | undefined;
  const results = new Map<string, Measured[]>();
  let hiveFrameBytes = 0;
  try {
    for (const mode of new Set(rows.map((r) => r.server))) servers.set(mode, await startServer(mode, url, cluster, serverNodeFlags));

    // The requesting side of each selected system, each on its own connection; each answers correctly first.
    const subject = rawSubject(cluster);
    const senders: Partial<Record<RowName, () => Promise<unknown>>> = {};
    const wanted = (name: RowName): boolean => rows.some((r) => r.name === name);
    if (wanted('hive')) {
      hive = await Hive.start({ nats: url, cluster, env: false, logger: silentLogger() });
      const echo = hive.ref(ECHO_ID);
      hiveFrameBytes = hiveInternals(hive).system.codec.encode({ v: ENVELOPE_VERSION, k: 'a', e: event, c: 'zz', d: Date.now() }).length;
      if (!sameEvent(await echo.ask(event), event)) throw new Error('Hive echo answered something else');
      senders.hive = () => echo.ask(event);
    }
    if (wanted('virtual')) {
      hive ??= await Hive.start({ nats: url, cluster, env: false, logger: silentLogger() });
      const h = hive;
      await until(() => h.members().some((m) => m.kinds.includes('echo')), 'the child to announce kind echo');
      const v = h.actor('echo', 'bench');
      if (!sameEvent(await v.ask(event), event)) throw new Error('Hive virtual echo answered something else');
      senders.virtual = () => v.ask(event);
    }
    if (wanted('raw')) {
      rawConn = await connect({ servers: url, name: `bench-ask-raw-client-${process.pid}` });
      const raw = new RawRequester(rawConn);
      if (new TextDecoder().decode(await raw.request(subject, eventJson)) !== JSON.stringify(event)) throw new Error('raw responder answered something else');
      senders.raw = () => raw.request(subject, eventJson);
    }
    if (wanted('transport')) {
      transport = await NatsTransport.connect({ servers: [url], name: `bench-ask-transport-client-${process.pid}` });
      const t = transport;
      if (new TextDecoder().decode(await t.request(subject, eventJson, 5000)) !== JSON.stringify(event)) throw new Error('raw responder answered NatsTransport with something else');
      senders.transport = () => t.request(subject, eventJson, 5000);
    }
    if (wanted('moleculer')) {
      broker = new ServiceBroker({ nodeID: `bench-ask-client-${process.pid}`, namespace: cluster, transporter: { type: 'NATS', options: { url } }, logger: false });
      await broker.start();
      await broker.waitForServices('echo', 30_000);
      const b = broker;
      if (!sameEvent(await b.call('echo.echo', event), event)) throw new Error('Moleculer echo answered something else');
      senders.moleculer = () => b.call('echo.echo', event);
    }

    for (let r = 0; r < rounds; r++) {
      for (const row of rows) {
        for (const inflight of LEVELS) {
          const server = servers.get(row.server)!;
          let s0 = NaN;
          let s1 = NaN;
          const hooks: WindowHooks = { open: () => (s0 = processCpuMicros(server.pid)), close: () => (s1 = processCpuMicros(server.pid)) };
          const res = await closedLoop(senders[row.name]!, { inflight, warmupMs, durationMs, hooks });
          const m: Measured = { ...res, serverCpuUsPerOp: (s1 - s0) / res.requests };
          const key = `${row.name}/${inflight}`;
          results.set(key, [...(results.get(key) ?? []), m]);
          console.log(`  round ${r + 1}: ${row.label}, ${inflight} in flight: ${Math.round(m.perSec).toLocaleString('en-US')} req/s, p50 ${m.p50Us.toFixed(0)} µs`);
        }
      }
    }
  } finally {
    await broker?.stop().catch(() => undefined);
    await transport?.close().catch(() => undefined);
    await rawConn?.close().catch(() => undefined);
    await hive?.stop().catch(() => undefined);
    await Promise.all([...servers.values()].map((p) => stopChild(p)));
    killAll();
    await deleteClusterStreams(url, cluster).catch(() => undefined); // the virtual actor row's KV buckets
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', killAll);
  }

  const missing: Measured = { inflight: 0, requests: 0, seconds: NaN, perSec: NaN, cpuUsPerOp: NaN, p50Us: NaN, p90Us: NaN, p99Us: NaN, serverCpuUsPerOp: NaN };
  /** The median round of one row (by requests/s), so its latency and CPU figures stay together. */
  const pick = (name: RowName, inflight: number): Measured => {
    const all = results.get(`${name}/${inflight}`) ?? [];
    if (all.length === 0) return missing;
    const mid = median(all.map((x) => x.perSec));
    return all.reduce((best, x) => (Math.abs(x.perSec - mid) < Math.abs(best.perSec - mid) ? x : best), all[0]);
  };

  console.log('');
  const table: Array<Array<string | number>> = [];
  for (const row of rows) {
    for (const inflight of LEVELS) {
      const m = pick(row.name, inflight);
      table.push([row.label, inflight, m.perSec, m.p50Us, m.p99Us, m.cpuUsPerOp, m.serverCpuUsPerOp, m.cpuUsPerOp + m.serverCpuUsPerOp]);
    }
  }
  printTable(['system', 'in flight', 'req/s', 'p50 µs', 'p99 µs', 'client CPU µs/req', 'server CPU µs/req', 'both CPU µs/req'], table);

  const hive64 = pick('hive', 64);
  const raw64 = pick('raw', 64);
  const mol64 = pick('moleculer', 64);
  const hive1 = pick('hive', 1);
  const ratios = {
    vs_raw_nats_64: round(hive64.perSec / raw64.perSec, 3),
    vs_moleculer_64: round(hive64.perSec / mol64.perSec, 3),
    vs_nats_transport_64: round(hive64.perSec / pick('transport', 64).perSec, 3),
    vs_raw_nats_1: round(hive1.perSec / pick('raw', 1).perSec, 3),
    virtual_vs_ask_64: round(pick('virtual', 64).perSec / hive64.perSec, 3),
    virtual_vs_ask_1: round(pick('virtual', 1).perSec / hive1.perSec, 3),
    p50_vs_raw_1: round(hive1.p50Us / pick('raw', 1).p50Us, 3),
  };
  const p50_us_1 = round(hive1.p50Us, 1);
  const met = {
    vs_raw_nats_64: ratios.vs_raw_nats_64 >= TARGETS.vs_raw_nats_64,
    vs_moleculer_64: ratios.vs_moleculer_64 >= TARGETS.vs_moleculer_64,
    p50_us_1: p50_us_1 < TARGETS.p50_us_1,
    p50_vs_raw_1: ratios.p50_vs_raw_1 <= TARGETS.p50_vs_raw_1,
    virtual_vs_ask_64: ratios.virtual_vs_ask_64 >= TARGETS.virtual_vs_ask_64,
  };
  // Per request, both processes together: what the throughput would be if CPU were the only limit.
  const cpuPerReq = (m: Measured): number => m.cpuUsPerOp + m.serverCpuUsPerOp;
  const cpu_ratios_64 = {
    hive_vs_raw: round(cpuPerReq(hive64) / cpuPerReq(raw64), 3),
    moleculer_vs_hive: round(cpuPerReq(mol64) / cpuPerReq(hive64), 3),
  };
  console.log('');
  printTable(
    ['figure', 'measured', 'target', 'met'],
    [
      ['Hive / raw NATS, 64 in flight (req/s)', ratios.vs_raw_nats_64, `>= ${TARGETS.vs_raw_nats_64}`, met.vs_raw_nats_64 ? 'yes' : 'NO'],
      ['Hive / Moleculer, 64 in flight (req/s)', ratios.vs_moleculer_64, `>= ${TARGETS.vs_moleculer_64}`, met.vs_moleculer_64 ? 'yes' : 'NO'],
      ['Hive p50 at 1 in flight, µs', p50_us_1, `< ${TARGETS.p50_us_1}`, met.p50_us_1 ? 'yes' : 'NO'],
      ['Hive p50 / raw NATS p50, 1 in flight', ratios.p50_vs_raw_1, `<= ${TARGETS.p50_vs_raw_1}`, met.p50_vs_raw_1 ? 'yes' : 'NO'],
      ['virtual actor ask / plain ask, 64 in flight (req/s)', ratios.virtual_vs_ask_64, `>= ${TARGETS.virtual_vs_ask_64}`, met.virtual_vs_ask_64 ? 'yes' : 'NO'],
      ['Hive / NatsTransport.request, 64 in flight', ratios.vs_nats_transport_64, '-', '-'],
      ['CPU per request (both processes), Hive / raw, 64', cpu_ratios_64.hive_vs_raw, '-', '-'],
      ['CPU per request (both processes), Moleculer / Hive, 64', cpu_ratios_64.moleculer_vs_hive, '-', '-'],
    ],
  );

  const rowsOut: Record<string, unknown> = {};
  for (const row of rows) {
    for (const inflight of LEVELS) {
      const all = results.get(`${row.name}/${inflight}`) ?? [];
      const m = pick(row.name, inflight);
      rowsOut[`${row.name}_${inflight}`] = {
        label: row.label,
        inflight,
        req_per_s: Math.round(m.perSec),
        p50_us: round(m.p50Us, 1),
        p90_us: round(m.p90Us, 1),
        p99_us: round(m.p99Us, 1),
        client_cpu_us_per_req: round(m.cpuUsPerOp, 2),
        server_cpu_us_per_req: round(m.serverCpuUsPerOp, 2),
        cpu_us_per_req: round(m.cpuUsPerOp + m.serverCpuUsPerOp, 2),
        requests: m.requests,
        rounds_req_per_s: all.map((x) => Math.round(x.perSec)),
      };
    }
  }
  // The headline file keeps Node's defaults; a run with tuned children writes beside it.
  const path = writeResults(serverNodeFlags.length > 0 ? 'ask-server-flags' : 'ask', {
    command: `npm run bench -- ask ${args.join(' ')}`.trim(),
    settings: { url, durationMs, warmupMs, rounds, payloadJsonBytes: eventJson.length, hiveAskFrameBytes: hiveFrameBytes, levels: LEVELS, serverNodeFlags },
    ratios,
    p50_us_1,
    cpu_ratios_64,
    targets: {
      vs_raw_nats_64: `>= ${TARGETS.vs_raw_nats_64}`,
      vs_moleculer_64: `>= ${TARGETS.vs_moleculer_64}`,
      p50_us_1: `< ${TARGETS.p50_us_1}`,
      p50_vs_raw_1: `<= ${TARGETS.p50_vs_raw_1}`,
      virtual_vs_ask_64: `>= ${TARGETS.virtual_vs_ask_64}`,
    },
    met,
    rows: rowsOut,
    notes: {
      raw: 'raw @nats-io/transport-node: nc.publish with reply <shared inbox>.<cid>, one wildcard subscription, a Map of pending requests, no timers; responder msg.respond(msg.data)',
      transport: 'cluster/NatsTransport.request to the same raw responder (shared inbox, correlation id, a timeout timer per request)',
      hive: 'Hive node to Hive node, built-in echo actor, binary frames; with other asks in flight the frames of one turn leave as one NATS message (batch envelope)',
      virtual: 'Hive virtual actor (kind echo, owner in the child) through the placement cache: straight to the owner node',
      moleculer: 'moleculer 0.15 ServiceBroker, NATS transporter (nats v2), default JSON serializer',
    },
  });
  console.log(`\nwrote ${path}`);
}
