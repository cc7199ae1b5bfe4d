// Actor footprint benchmark: heap and RSS per idle actor, 100,000 Hive actors (hive.spawn) vs 100,000 bare xstate actors of the same machine.
//
// Usage: npm run bench -- actors [--nats[=url]] [--count=N] [--rounds=n]
//   --nats     Hive actors on a NATS node, each reachable by id over NATS (its own subscription); default URL
//              nats://127.0.0.1:4222, a unique cluster name per run. Writes bench/results/actors-nats.json.
//              Without it the Hive node runs on the in-process transport (each actor still subscribes its
//              subject there) and the result goes to bench/results/actors.json.
//   --count    actors per side (default 100,000)
//   --rounds   child processes per side; sides alternate and the median counts (default 1)
//
// Each measurement runs in its own child process (`node --expose-gc --import tsx bench/support/actorsChild.ts`)
// so each side starts from a clean heap: warm-up batch, forced GC, memoryUsage(), spawn N idle actors of the
// built-in counter machine (actors/counter.ts: context, a guard, assign), forced GC, memoryUsage() again.
// Bare side: createActor(counterMachine, { input }).start(), kept in an array. Hive side: await
// hive.spawn(counterMachine, { id, input }) (supervised by the node's root supervisor, as every hive.spawn is);
// both sides share one input object. With --nats the Hive child stays
// up after measuring and this process asks a sample of its actors over NATS from another connection (binary
// asks through a second Hive node, plain JSON like the NATS CLI) and checks that an unknown id gets
// NO_SUCH_ACTOR fast; then the child is stopped. Children are killed on error and on Ctrl-C.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { Hive } from '../cluster/Hive.js';
import { HiveError } from '../protocols/errors.js';
import { silentLogger } from '../runtime/logger.js';
import type { ActorsChildResult } from './support/actorsChild.js';
import { median, numberArg, parseArgs, printTable, round, writeResults } from './util.js';
import { probeNats, requireService } from '../test/support/services.js';

const here = dirname(fileURLToPath(import.meta.url));
const CHILD = join(here, 'support', 'actorsChild.ts');
const TARGETS = { heap_per_actor_vs_xstate: 1.5, rss_per_actor_vs_xstate: 2 } as const;

/** A running child and the result line it printed. */
interface Child {
  proc: ChildProcess;
  result: ActorsChildResult;
}

const children = new Set<ChildProcess>();

function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/** Starts a measuring child and waits for its result line (with --nats it stays alive afterwards). */
async function runChild(args: string[]): Promise<Child> {
  const proc = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD, ...args], {
    cwd: join(here, '..'),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  let buf = '';
  const result = await new Promise<ActorsChildResult>((resolve, reject) => {
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl === -1) return;
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as ActorsChildResult);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
    proc.on('exit', (code, signal) => reject(new Error(`actors child exited (code ${String(code)}, signal ${String(signal)}) before reporting`)));
    proc.on('error', reject);
  });
  return { proc, result };
}

async function stopChild(c: Child): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const exited = once(c.proc, 'exit');
  c.proc.stdin?.end();
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Asks a sample of the child's actors over NATS from this process; returns what it found. */
async function verifyOverNats(url: string, cluster: string, r: ActorsChildResult, sampleSize: number): Promise<Record<string, unknown>> {
  const hive = await Hive.start({ nats: url, cluster, env: false, logger: silentLogger() });
  const nc = await connect({ servers: url, name: 'bench-actors-verify' });
  try {
    const ids: string[] = [];
    for (let i = 0; i < sampleSize; i++) ids.push(`${r.idPrefix}${Math.floor((i * r.count) / sampleSize)}`);
    ids.push(`${r.idPrefix}${r.count - 1}`);
    let ok = 0;
    const t0 = performance.now();
    await Promise.all(
      ids.map(async (id) => {
        const a = await hive.ref(id).ask({ type: 'inc', by: 2 }, { timeoutMs: 5000 });
        if (a.type === 'count' && a['value'] === 2) ok++;
      }),
    );
    const askMs = performance.now() - t0;
    // Plain JSON on the actor subject, no headers, as the NATS CLI sends it.
    const jsonIds = ids.slice(0, 10);
    let jsonOk = 0;
    for (const id of jsonIds) {
      const m = await nc.request(`hive.${cluster}.actor.${id}`, '{"type":"get"}', { timeout: 5000 });
      const body = JSON.parse(m.string()) as { type?: string; value?: number };
      if (body.type === 'count' && body.value === 2) jsonOk++;
    }
    // Ids nobody hosts: NO_SUCH_ACTOR, fast (NATS "no responders"), not a timeout. The second one is timed.
    let unknownCode = 'none';
    let unknownMs = NaN;
    for (const id of ['no-such-actor-1', 'no-such-actor-2']) {
      const u0 = performance.now();
      try {
        await hive.ref(id).ask({ type: 'get' }, { timeoutMs: 5000 });
        unknownCode = 'answered';
      } catch (err) {
        unknownCode = err instanceof HiveError ? err.code : String(err);
      }
      unknownMs = performance.now() - u0;
    }
    return {
      sampled: ids.length,
      answered_ok: ok,
      ask_all_ms: round(askMs, 1),
      json_sampled: jsonIds.length,
      json_ok: jsonOk,
      unknown_id_code: unknownCode,
      unknown_id_ms: round(unknownMs, 2),
    };
  } finally {
    await nc.close();
    await hive.stop();
  }
}

/** Runs the actors benchmark (see the module header). */
export async function run(args: string[]): Promise<void> {
  const opts = parseArgs(args);
  const natsFlag = opts.get('nats');
  const nats = natsFlag === undefined ? undefined : natsFlag === 'true' ? 'nats://127.0.0.1:4222' : natsFlag;
  if (nats !== undefined) requireService(await probeNats(nats));
  const count = Math.round(numberArg(opts, 'count', 100_000));
  const rounds = Math.max(1, Math.round(numberArg(opts, 'rounds', 1)));
  const cluster = `bench_actors_${process.pid}`;
  const name = nats === undefined ? 'actors' : 'actors-nats';

  const onSignal = (): void => {
    killAll();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  console.log(`${name} benchmark: ${count.toLocaleString('en-US')} idle actors of actors/counter.ts per side, one child process per measurement, ${rounds} round(s)`);
  console.log(`  Hive side: ${nats === undefined ? 'in-process transport' : `NATS ${nats}, cluster ${cluster}_<round>, one subscription per actor`}\n`);

  const bare: ActorsChildResult[] = [];
  const hive: ActorsChildResult[] = [];
  let verification: Record<string, unknown> | undefined;
  try {
    for (let r = 0; r < rounds; r++) {
      const b = await runChild(['--side=xstate', `--count=${count}`]);
      await stopChild(b);
      bare.push(b.result);
      console.log(`  round ${r + 1}: bare xstate ${Math.round(b.result.heapBytesPerActor)} B heap/actor, ${Math.round(b.result.rssBytesPerActor)} B RSS/actor`);
      const hiveArgs = ['--side=hive', `--count=${count}`];
      if (nats !== undefined) hiveArgs.push(`--nats=${nats}`, `--cluster=${cluster}_${r}`);
      const h = await runChild(hiveArgs);
      try {
        if (nats !== undefined && r === rounds - 1) verification = await verifyOverNats(nats, `${cluster}_${r}`, h.result, 200);
      } finally {
        await stopChild(h);
      }
      hive.push(h.result);
      console.log(`  round ${r + 1}: Hive ${Math.round(h.result.heapBytesPerActor)} B heap/actor, ${Math.round(h.result.rssBytesPerActor)} B RSS/actor`);
    }
  } finally {
    killAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const m = (rs: ActorsChildResult[], k: 'heapBytesPerActor' | 'rssBytesPerActor' | 'spawnPerSec' | 'externalBytesPerActor'): number => median(rs.map((x) => x[k]));
  const bareHeap = m(bare, 'heapBytesPerActor');
  const hiveHeap = m(hive, 'heapBytesPerActor');
  const bareRss = m(bare, 'rssBytesPerActor');
  const hiveRss = m(hive, 'rssBytesPerActor');
  console.log('');
  printTable(
    ['side', 'actors', 'heap B/actor', 'RSS B/actor', 'external B/actor', 'spawned/s', 'alive'],
    [
      ['bare xstate (createActor().start())', count, bareHeap, bareRss, m(bare, 'externalBytesPerActor'), m(bare, 'spawnPerSec'), bare.at(-1)?.alive ?? 0],
      [
        `Hive hive.spawn (${nats === undefined ? 'in-process transport' : 'NATS, one subscription each'})`,
        count,
        hiveHeap,
        hiveRss,
        m(hive, 'externalBytesPerActor'),
        m(hive, 'spawnPerSec'),
        hive.at(-1)?.alive ?? 0,
      ],
    ],
  );
  const ratios = { heap_per_actor_vs_xstate: round(hiveHeap / bareHeap, 3), rss_per_actor_vs_xstate: round(hiveRss / bareRss, 3) };
  const met = {
    heap_per_actor_vs_xstate: ratios.heap_per_actor_vs_xstate <= TARGETS.heap_per_actor_vs_xstate,
    rss_per_actor_vs_xstate: ratios.rss_per_actor_vs_xstate <= TARGETS.rss_per_actor_vs_xstate,
  };
  console.log('');
  printTable(
    ['ratio', 'measured', 'target', 'met'],
    [
      // The heap target is the in-process one (actors.json); the RSS target is the NATS one (actors-nats.json).
      nats === undefined
        ? ['heap per actor vs bare xstate', ratios.heap_per_actor_vs_xstate, `<= ${TARGETS.heap_per_actor_vs_xstate}`, met.heap_per_actor_vs_xstate ? 'yes' : 'NO']
        : ['heap per actor vs bare xstate', ratios.heap_per_actor_vs_xstate, '- (target is for in-process)', '-'],
      nats === undefined
        ? ['RSS per actor vs bare xstate', ratios.rss_per_actor_vs_xstate, '- (target is for --nats)', '-']
        : ['RSS per actor vs bare xstate', ratios.rss_per_actor_vs_xstate, `<= ${TARGETS.rss_per_actor_vs_xstate}`, met.rss_per_actor_vs_xstate ? 'yes' : 'NO'],
    ],
  );
  if (verification !== undefined) {
    console.log(
      `\nover NATS from another connection: ${String(verification['answered_ok'])}/${String(verification['sampled'])} sampled actors answered a binary ask, ` +
        `${String(verification['json_ok'])}/${String(verification['json_sampled'])} a plain JSON request; an unknown id got ${String(verification['unknown_id_code'])} in ${String(verification['unknown_id_ms'])} ms`,
    );
    if (verification['answered_ok'] !== verification['sampled'] || verification['json_ok'] !== verification['json_sampled'] || verification['unknown_id_code'] !== 'NO_SUCH_ACTOR') {
      process.exitCode = 1;
      console.error('verification FAILED: the actors are not all reachable over NATS');
    }
  }

  const path = writeResults(name, {
    command: `npm run bench -- actors ${args.join(' ')}`.trim(),
    settings: { count, rounds, machine: 'actors/counter.ts (counterMachine)', hiveTransport: nats === undefined ? 'inproc' : 'nats', nats: nats ?? null },
    ratios,
    targets: nats === undefined ? { heap_per_actor_vs_xstate: '<= 1.5' } : { rss_per_actor_vs_xstate: '<= 2' },
    met: nats === undefined ? { heap_per_actor_vs_xstate: met.heap_per_actor_vs_xstate } : { rss_per_actor_vs_xstate: met.rss_per_actor_vs_xstate },
    per_actor_bytes: {
      xstate: { heap: Math.round(bareHeap), rss: Math.round(bareRss) },
      hive: { heap: Math.round(hiveHeap), rss: Math.round(hiveRss) },
    },
    rounds: { xstate: bare, hive },
    ...(verification === undefined ? {} : { verification }),
  });
  console.log(`\nwrote ${path}`);
}
