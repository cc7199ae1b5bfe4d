// Chaos: 3 `hive start` processes under steady load (pool tasks, virtual-actor increments, memory ingestion) while a node is killed -9, a NATS server and PostgreSQL are restarted; lost, duplicated, crashes, recovery.
//
// Usage: npm run bench -- chaos [--duration=80000] [--nats=cluster|single] [--nodes=3] [--down=3000] [--no-build] [--logs=<dir>]
//
// What runs (everything on loopback, started and removed by this run):
//   NATS        --nats=cluster (default): three nats-servers as one JetStream cluster (test/support/natsCluster.ts),
//               nodes with --replicas 3; --nats=single: one nats-server, --replicas 1.
//   PostgreSQL  its own cluster (initdb + pg_ctl from /usr/lib/postgresql/15/bin in a temp folder, pgvector when
//               installed); without PostgreSQL binaries or pgvector the memory load is left out (said so).
//   nodes       --nodes (default 3) `hive start` processes (bin/hive.js; `npm run build` first unless --no-build)
//               loading bench/support/chaosNode.ts: pool `chaos` (2 agents x 4 slots per node), memory on PostgreSQL.
//   client      this process: a Hive node without pools or kinds, and a memory client.
// Load, for --duration (default 80 s; with start-up and checks the run takes about 2 minutes):
//   tasks       4 submitters; each task has an id (`t<n>`) and is submitted with it until acknowledged (the outcome
//               came back) or 60 s pass: a retry of the same id is how a client gets exactly-once results.
//   increments  2 loops, each asking `inc` on its own virtual counter (5 s timeout); an answered ask is acknowledged,
//               a failed one is ambiguous (it may or may not have counted) and is not retried.
//   memory      1 loop ingesting batches of 10 documents with ids (`d<n>`), waiting for the commit; a failed batch is
//               sent again (ids make it idempotent) until acknowledged or 60 s pass.
// Faults, at 15%, 40% and 65% of the load: kill -9 a node and restart it; kill -9 a NATS server (the client's; with
// --nats=single the only one) and restart it on the same store; stop PostgreSQL (immediate) and start it again.
// Each is down for --down ms (default 3000). Each fault is proven: the process is gone (signal 0 fails).
// Afterwards (load stopped, every retry finished):
//   lost        tasks: acknowledged, but no stored result in the results bucket; increments: acknowledged minus the
//               final count (when above 0); memory: acknowledged ids missing from the documents table.
//   duplicated  tasks: submitted again with the same id, the answer comes from another run than the one acknowledged
//               (or the stored result is another run's); increments: the final count above acknowledged + ambiguous;
//               memory: rows above distinct ids (0 by the table's primary key, counted anyway).
//   crashes     a node process that exited without being killed by this run, and process-guard lines (a node that
//               survived an unhandled error).
//   recovery    per fault and load kind: from the injection until the first success after the last failure of an
//               operation it caused (started after it, failed before the next fault; none: the first success of
//               an operation started after it), and the slowest operation that was in flight when the fault hit.
// Writes bench/results/chaos.json.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { Hive } from '../cluster/Hive.js';
import { hiveInternals } from '../cluster/internal.js';
import { tcpOpen } from '../cluster/localNats.js';
import { MemoryClient } from '../cluster/MemoryClient.js';
import type { NatsTransport } from '../cluster/NatsTransport.js';
import { decodeJson } from '../protocols/frame.js';
import { silentLogger } from '../runtime/logger.js';
import { startNatsCluster, type OwnNatsCluster } from '../test/support/natsCluster.js';
import { probeNatsBinary, probeThrowawayPostgres, requireService, startNatsServer, startThrowawayPostgres, type OwnNatsServer, type ThrowawayPostgres } from '../test/support/services.js';
import { numberArg, parseArgs, printTable, rng, round, sentence, writeResults } from './util.js';

const root = resolve(import.meta.dirname, '..');
const bin = join(root, 'bin', 'hive.js');
const fixture = join(root, 'bench', 'support', 'chaosNode.ts');

type Kind = 'tasks' | 'increments' | 'memory';
const KINDS: Kind[] = ['tasks', 'increments', 'memory'];

interface Op {
  kind: Kind;
  start: number;
  end: number;
  ok: boolean;
  code?: string;
}

interface NodeProc {
  id: string;
  proc: ChildProcess;
  out: string;
  killedByUs: boolean;
  exited: Promise<void>;
}

interface Crash {
  node: string;
  code: number | null;
  signal: string | null;
  tail: string;
}

interface FaultRecord {
  fault: string;
  target: string;
  at: number;
  restoredAt: number;
  proof: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const codeOf = (err: unknown): string => (typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : err instanceof Error ? err.name : 'ERROR');

function processGone(pid: number | undefined): boolean {
  if (pid === undefined) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

async function until(check: () => boolean | Promise<boolean>, what: string, limitMs: number): Promise<void> {
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`gave up waiting for ${what}`);
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const args = parseArgs(argv);
  const durationMs = numberArg(args, 'duration', 80_000);
  const downMs = numberArg(args, 'down', 3_000);
  const nodeCount = numberArg(args, 'nodes', 3);
  const natsMode = args.get('nats') ?? 'cluster';
  if (natsMode !== 'cluster' && natsMode !== 'single') throw new Error(`--nats must be cluster or single, got ${natsMode}`);
  requireService(probeNatsBinary());
  const pgMissing = probeThrowawayPostgres({ vector: true });
  if (pgMissing !== undefined) console.warn(`[chaos] NOTICE: no memory load and no PostgreSQL restart: ${pgMissing}`);
  const withMemory = pgMissing === undefined;
  if (args.get('no-build') !== 'true') {
    console.log('building dist/ (npm run build) for the node processes ...');
    const b = spawnSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
    if (b.status !== 0) throw new Error('npm run build failed');
  }

  const cluster = `chaos${process.pid}${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), 'hive-chaos-'));
  const replicas = natsMode === 'cluster' ? 3 : 1;
  let natsCluster: OwnNatsCluster | undefined;
  let natsSingle: OwnNatsServer | undefined;
  let pgServer: ThrowawayPostgres | undefined;
  const nodes = new Map<string, NodeProc>();
  /** Every node process this run started (a restarted node's earlier processes too). */
  const allProcs: NodeProc[] = [];
  const crashes: Crash[] = [];
  let stopping = false;
  let client: Hive | undefined;
  let memory: MemoryClient | undefined;

  const startNode = async (id: string, urls: string[], database: string | undefined): Promise<NodeProc> => {
    const a = ['start', '--node-id', id, '--cluster', cluster, '--nats', urls.join(','), '--replicas', String(replicas), '--data-dir', join(dir, id), '--load', fixture];
    a.push('--log-level', 'warn', '--log-format', 'json', '--no-http', '--no-config');
    if (database !== undefined) a.push('--database', database);
    else a.push('--no-memory');
    const proc = spawn(process.execPath, [bin, ...a], { cwd: root, env: { ...process.env, HIVE_HEARTBEAT_MS: '250', HIVE_FAILURE_AFTER_MS: '2000', HIVE_MEMORY_SCHEMA: 'hive' } });
    const n: NodeProc = { id, proc, out: '', killedByUs: false, exited: Promise.resolve() };
    proc.stdout.on('data', (d: Buffer) => (n.out = (n.out + d.toString()).slice(-200_000)));
    proc.stderr.on('data', (d: Buffer) => (n.out = (n.out + d.toString()).slice(-200_000)));
    n.exited = new Promise<void>((r) =>
      proc.once('exit', (code, signal) => {
        if (!n.killedByUs && !stopping) crashes.push({ node: id, code, signal, tail: n.out.slice(-2000) });
        r();
      }),
    );
    nodes.set(id, n);
    allProcs.push(n);
    await until(() => n.out.includes(`hive node ${id} started`) || proc.exitCode !== null, `node ${id} to start`, 60_000);
    if (proc.exitCode !== null) throw new Error(`node ${id} exited at start: ${n.out.slice(-3000)}`);
    return n;
  };

  try {
    // --- services
    let urls: string[];
    if (natsMode === 'cluster') {
      natsCluster = await startNatsCluster({ size: 3, name: cluster });
      urls = natsCluster.urls;
    } else {
      natsSingle = await startNatsServer();
      urls = [natsSingle.url];
    }
    let database: string | undefined;
    if (withMemory) {
      pgServer = await startThrowawayPostgres();
      database = pgServer.url;
    }
    console.log(`NATS: ${natsMode} (${urls.join(', ')}), replicas ${replicas}; PostgreSQL: ${database ?? 'none'}; ${nodeCount} nodes; load ${durationMs / 1000} s`);

    // --- nodes and the client
    const ids = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
    for (const id of ids) await startNode(id, urls, database);
    client = await Hive.start({ cluster, nodeId: 'chaos-client', nats: urls, jsReplicas: replicas, env: false, logger: silentLogger(), heartbeatMs: 250, failureAfterMs: 2000 });
    const c = client;
    await until(() => c.members().filter((m) => m.pools?.includes('chaos')).length === nodeCount, 'every node in the client view', 30_000);
    if (withMemory) {
      memory = await MemoryClient.connect({ cluster, nats: urls.join(','), name: 'chaos-memory' });
      const m = memory;
      // memory opens in the background on the nodes: wait until a batch is stored
      await until(async () => (await m.ingest([{ id: 'warmup', content: 'warm up' }], { namespace: 'chaoswarm', wait: true, timeoutMs: 5_000 }).then(() => true, () => false)), 'memory to open', 60_000);
    }

    // --- load
    const ops: Op[] = [];
    const taskAcks = new Map<string, { n: number; run: string }>();
    const taskGaveUp: string[] = [];
    const incAcked = new Map<string, number>();
    const incAmbiguous = new Map<string, number>();
    const docsAcked = new Set<string>();
    const docsGaveUp: string[] = [];
    let loadOn = true;
    let nextTask = 0;
    let nextDoc = 0;
    const next = rng(7);

    const taskLoop = async () => {
      while (loadOn) {
        const n = nextTask++;
        const id = `t${n}`;
        const first = Date.now();
        for (;;) {
          const start = Date.now();
          try {
            const r = (await c.submit('chaos', { n }, { id, timeoutMs: 15_000 })) as { run: string };
            ops.push({ kind: 'tasks', start, end: Date.now(), ok: true });
            taskAcks.set(id, { n, run: r.run });
            break;
          } catch (err) {
            ops.push({ kind: 'tasks', start, end: Date.now(), ok: false, code: codeOf(err) });
            if (Date.now() - first > 60_000) {
              taskGaveUp.push(id);
              break;
            }
            await sleep(200);
          }
        }
      }
    };
    const incLoop = async (key: string) => {
      incAcked.set(key, 0);
      incAmbiguous.set(key, 0);
      while (loadOn) {
        const start = Date.now();
        try {
          await c.actor('counter', key).ask({ type: 'inc' }, { timeoutMs: 5_000 });
          ops.push({ kind: 'increments', start, end: Date.now(), ok: true });
          incAcked.set(key, incAcked.get(key)! + 1);
        } catch (err) {
          ops.push({ kind: 'increments', start, end: Date.now(), ok: false, code: codeOf(err) });
          incAmbiguous.set(key, incAmbiguous.get(key)! + 1);
          await sleep(100);
        }
      }
    };
    const memoryLoop = async (m: MemoryClient) => {
      while (loadOn) {
        const docs = Array.from({ length: 10 }, () => ({ id: `d${nextDoc++}`, content: sentence(next) }));
        const first = Date.now();
        for (;;) {
          const start = Date.now();
          try {
            const a = await m.ingest(docs, { namespace: 'chaos', wait: true, timeoutMs: 15_000 });
            if (a.type !== 'memory.ingested' || a.inserted + a.duplicates !== docs.length) throw new Error(`unexpected answer ${JSON.stringify(a)}`);
            ops.push({ kind: 'memory', start, end: Date.now(), ok: true });
            for (const d of docs) docsAcked.add(d.id);
            break;
          } catch (err) {
            ops.push({ kind: 'memory', start, end: Date.now(), ok: false, code: codeOf(err) });
            if (Date.now() - first > 60_000) {
              docsGaveUp.push(...docs.map((d) => d.id));
              break;
            }
            await sleep(200);
          }
        }
      }
    };
    const loadStart = Date.now();
    const loops = [
      ...Array.from({ length: 4 }, taskLoop),
      incLoop('k0'),
      incLoop('k1'),
      ...(memory === undefined ? [] : [memoryLoop(memory)]),
    ];

    // --- faults
    const faults: FaultRecord[] = [];
    const at = (fraction: number) => sleep(Math.max(0, loadStart + durationMs * fraction - Date.now()));
    const victimId = ids[ids.length - 1];

    await at(0.15);
    {
      const victim = nodes.get(victimId)!;
      const pid = victim.proc.pid;
      const t = Date.now();
      victim.killedByUs = true;
      victim.proc.kill('SIGKILL');
      await victim.exited;
      const proof = `pid ${pid} gone: ${processGone(pid)}, exit signal ${victim.proc.signalCode}`;
      await sleep(downMs);
      await startNode(victimId, urls, database);
      await until(() => c.members().some((m) => m.node === victimId && m.startedAt > t && m.pools?.includes('chaos') === true), `${victimId} back in the membership`, 30_000);
      faults.push({ fault: 'node kill -9 + restart', target: victimId, at: t, restoredAt: Date.now(), proof });
      console.log(`fault 1: ${victimId} killed -9 and restarted (${proof})`);
    }

    await at(0.4);
    {
      const transport = hiveInternals(c).transport as NatsTransport;
      const t = Date.now();
      let proof: string;
      let target: string;
      if (natsCluster !== undefined) {
        const port = Number(transport.connection.getServer().split(':').pop());
        const server = natsCluster.servers.find((s) => s.port === port) ?? natsCluster.servers[0];
        const pid = server.pid;
        await server.kill();
        proof = `pid ${pid} gone: ${processGone(pid)}`;
        target = `${server.name} (${server.url}, the client's server)`;
        await sleep(downMs);
        await server.restart();
        await natsCluster.ready(60_000);
      } else {
        const s = natsSingle!;
        await s.kill();
        proof = `port ${s.port} closed: ${!(await tcpOpen('127.0.0.1', s.port))}`;
        target = s.url;
        await sleep(downMs);
        await s.restart();
      }
      faults.push({ fault: 'nats-server kill -9 + restart', target, at: t, restoredAt: Date.now(), proof });
      console.log(`fault 2: NATS server ${target} killed -9 and restarted (${proof})`);
    }

    if (pgServer !== undefined) {
      await at(0.65);
      const t = Date.now();
      await pgServer.stop();
      const probe = new pg.Client({ connectionString: pgServer.url, connectionTimeoutMillis: 1_000 });
      const down = await probe.connect().then(
        () => false,
        () => true,
      );
      await probe.end().catch(() => undefined);
      await sleep(downMs);
      await pgServer.start();
      faults.push({ fault: 'PostgreSQL stop (immediate) + start', target: pgServer.url, at: t, restoredAt: Date.now(), proof: `connections refused while down: ${down}` });
      console.log(`fault 3: PostgreSQL stopped and started (refused while down: ${down})`);
    }

    await sleep(Math.max(0, loadStart + durationMs - Date.now()));
    loadOn = false;
    console.log('load stopped; waiting for the last operations and retries ...');
    await Promise.all(loops);
    const loadEnd = Date.now();

    // --- verification
    const transport = hiveInternals(c).transport as NatsTransport;
    const results = await transport.kv(`hive_${cluster}_results`);
    let taskLost = 0;
    let taskDuplicated = 0;
    let recheckFailed = 0;
    const lostTasks: string[] = [];
    const entries = [...taskAcks.entries()];
    for (let i = 0; i < entries.length; i += 32) {
      await Promise.all(
        entries.slice(i, i + 32).map(async ([id, ack]) => {
          const e = await results.get(id).catch(() => null);
          if (e === null || e.operation !== 'PUT') {
            taskLost++;
            lostTasks.push(id);
            return;
          }
          const stored = decodeJson(e.value) as { result?: { run?: string } };
          if (stored.result?.run !== ack.run) taskDuplicated++;
          try {
            const again = (await c.submit('chaos', { n: ack.n }, { id, timeoutMs: 15_000 })) as { run: string };
            if (again.run !== ack.run) taskDuplicated++;
          } catch {
            recheckFailed++;
          }
        }),
      );
    }
    const counts = new Map<string, number[]>();
    for (const key of incAcked.keys()) {
      const reads: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r = (await c.actor('counter', key).ask({ type: 'get' }, { timeoutMs: 10_000 })) as unknown as { value: number };
        reads.push(r.value);
      }
      counts.set(key, reads);
    }
    let incLost = 0;
    let incDuplicated = 0;
    let divergentReads = 0;
    for (const [key, reads] of counts) {
      const final = reads[reads.length - 1];
      if (new Set(reads).size > 1) divergentReads++;
      incLost += Math.max(0, incAcked.get(key)! - final);
      incDuplicated += Math.max(0, final - incAcked.get(key)! - incAmbiguous.get(key)!);
    }
    let docLost = 0;
    let docDuplicated = 0;
    if (pgServer !== undefined) {
      const db = new pg.Client({ connectionString: pgServer.url });
      await db.connect();
      try {
        const r = await db.query<{ id: string; n: string }>("select id, count(*) as n from hive.memory_documents where namespace = 'chaos' group by id");
        const stored = new Map(r.rows.map((row) => [row.id, Number(row.n)]));
        for (const id of docsAcked) if (!stored.has(id)) docLost++;
        for (const n of stored.values()) docDuplicated += n - 1;
      } finally {
        await db.end();
      }
    }

    // --- crashes and process-guard lines
    const unhandled = allProcs.flatMap((n) => n.out.split('\n').filter((l) => l.includes('"unhandled":')).map((l) => `${n.id}: ${l.slice(0, 300)}`));

    // --- recovery per fault
    const windows = faults.map((f, i) => ({ f, from: f.at, to: faults[i + 1]?.at ?? loadEnd }));
    const recovery = windows.map(({ f, from, to }) => {
      const perKind: Record<string, { recoveryMs: number | null; failures: number; slowestInFlightMs: number }> = {};
      for (const kind of KINDS) {
        if (kind === 'memory' && memory === undefined) continue;
        // failures this fault caused: operations started after it that failed before the next one
        const failed = ops.filter((o) => o.kind === kind && !o.ok && o.start >= from && o.end < to);
        const lastFail = failed.length === 0 ? from : Math.max(...failed.map((o) => o.end));
        const firstOk = ops.filter((o) => o.kind === kind && o.ok && o.start >= from && o.end >= lastFail).map((o) => o.end);
        const inFlight = ops.filter((o) => o.kind === kind && o.start < from && o.end >= from);
        perKind[kind] = {
          recoveryMs: firstOk.length === 0 ? null : Math.min(...firstOk) - from,
          failures: failed.length,
          slowestInFlightMs: inFlight.length === 0 ? 0 : Math.max(...inFlight.map((o) => o.end - o.start)),
        };
      }
      const all = Object.values(perKind).map((k) => k.recoveryMs);
      return { fault: f.fault, target: f.target, atS: round((f.at - loadStart) / 1000, 1), downMs: f.restoredAt - f.at, proof: f.proof, recoveryMs: all.includes(null) ? null : Math.max(...(all as number[])), perKind };
    });

    // operations finished per second of the load, per kind: [ok, failed]
    const timeline: Array<Record<string, [number, number]>> = [];
    for (const o of ops) {
      const sec = Math.max(0, Math.floor((o.end - loadStart) / 1000));
      const row = (timeline[sec] ??= {});
      const cell = (row[o.kind] ??= [0, 0]);
      cell[o.ok ? 0 : 1]++;
    }
    const logs = args.get('logs');
    if (logs !== undefined) {
      mkdirSync(logs, { recursive: true });
      allProcs.forEach((n, i) => writeFileSync(join(logs, `${n.id}-${i}.log`), n.out));
      console.log(`node logs in ${logs}`);
    }
    const errorsByKind: Record<string, Record<string, number>> = {};
    for (const o of ops) {
      if (o.ok) continue;
      const k = (errorsByKind[o.kind] ??= {});
      k[o.code ?? 'ERROR'] = (k[o.code ?? 'ERROR'] ?? 0) + 1;
    }
    const incAckedTotal = [...incAcked.values()].reduce((a, b) => a + b, 0);
    const incAmbiguousTotal = [...incAmbiguous.values()].reduce((a, b) => a + b, 0);
    const acknowledged = { tasks: taskAcks.size, increments: incAckedTotal, docs: docsAcked.size };
    const lost = { tasks: taskLost, increments: incLost, docs: docLost, total: taskLost + incLost + docLost };
    const duplicated = { tasks: taskDuplicated, increments: incDuplicated, docs: docDuplicated, total: taskDuplicated + incDuplicated + docDuplicated };

    console.log('');
    printTable(
      ['fault', 'at s', 'down ms', 'recovery ms', 'tasks ms (fail)', 'increments ms (fail)', 'memory ms (fail)', 'slowest in-flight ms'],
      recovery.map((r) => [
        r.fault,
        r.atS,
        r.downMs,
        r.recoveryMs ?? 'never',
        ...(['tasks', 'increments', 'memory'] as const).map((k) => (r.perKind[k] === undefined ? '-' : `${r.perKind[k].recoveryMs ?? 'never'} (${r.perKind[k].failures})`)),
        Math.max(...Object.values(r.perKind).map((k) => k.slowestInFlightMs)),
      ]),
    );
    console.log('');
    printTable(
      ['load', 'acknowledged', 'not acknowledged', 'lost', 'duplicated', 'failed attempts'],
      [
        ['pool tasks (ids)', acknowledged.tasks, taskGaveUp.length, taskLost, taskDuplicated, ops.filter((o) => o.kind === 'tasks' && !o.ok).length],
        ['virtual-actor increments', incAckedTotal, `${incAmbiguousTotal} ambiguous`, incLost, incDuplicated, incAmbiguousTotal],
        ['memory documents', memory === undefined ? '-' : acknowledged.docs, memory === undefined ? '-' : docsGaveUp.length, memory === undefined ? '-' : docLost, memory === undefined ? '-' : docDuplicated, ops.filter((o) => o.kind === 'memory' && !o.ok).length],
      ],
    );
    console.log(`\nfaults injected ${faults.length}; lost ${lost.total}; duplicated ${duplicated.total}; node crashes ${crashes.length}; process-guard lines ${unhandled.length}; counter reads that disagreed ${divergentReads}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    for (const cr of crashes) console.log(`CRASH ${cr.node} (code ${cr.code}, signal ${cr.signal}): ${cr.tail.slice(-600)}`);
    for (const u of unhandled.slice(0, 5)) console.log(`UNHANDLED ${u}`);
    if (lostTasks.length > 0) console.log(`lost tasks (first 10): ${lostTasks.slice(0, 10).join(', ')}`);

    const result = {
      config: { durationMs, downMs, nodes: nodeCount, nats: natsMode, replicas, postgres: withMemory ? 'own (initdb), pgvector' : 'none: memory load off', taskSubmitters: 4, counterLoops: 2, memoryLoops: withMemory ? 1 : 0 },
      loadAverage: loadavg().map((l) => round(l, 2)),
      faultsInjected: faults.length,
      faults: recovery,
      acknowledged,
      notAcknowledged: { tasks: taskGaveUp.length, incrementsAmbiguous: incAmbiguousTotal, docs: docsGaveUp.length },
      lost,
      duplicated,
      crashes: crashes.length,
      crashDetails: crashes.map((cr) => ({ node: cr.node, code: cr.code, signal: cr.signal, tail: cr.tail.slice(-1000) })),
      unhandledErrors: unhandled.length,
      unhandledSample: unhandled.slice(0, 5),
      counters: Object.fromEntries([...counts].map(([k, reads]) => [k, { reads, acked: incAcked.get(k), ambiguous: incAmbiguous.get(k) }])),
      divergentCounterReads: divergentReads,
      taskRecheckFailed: recheckFailed,
      errorsByKind,
      timeline: Array.from(timeline, (row) => row ?? {}),
      targets: { lost: 0, duplicated: 0, crashes: 0 },
    };
    const path = writeResults('chaos', result);
    console.log(`wrote ${path}`);
    return result;
  } finally {
    stopping = true;
    await client?.stop().catch(() => undefined);
    await memory?.close().catch(() => undefined);
    for (const n of allProcs) if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGTERM');
    await Promise.race([Promise.all(allProcs.map((n) => n.exited)), sleep(15_000)]);
    for (const n of allProcs) if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGKILL');
    await natsCluster?.stop().catch(() => undefined);
    await natsSingle?.stop().catch(() => undefined);
    await pgServer?.destroy().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
