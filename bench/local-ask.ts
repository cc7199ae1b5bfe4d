// Local ask benchmark: ask round trips/s between two xstate actors on one node, and across two nodes on the in-process transport (codec), vs a bare xstate actor's send() events/s.
//
// Usage: npm run bench -- local-ask [--duration=ms] [--warmup=ms] [--inflight=1,64,256]
//   --duration  measured time per row (default 3000 ms)
//   --warmup    un-measured time before each row (default 1000 ms)
//   --inflight  asks in flight for each row (default 1,64,256)
//   --only      run only these rows (comma list of baseline, local, local-awaited, transport, transport-awaited)
//
// What runs (all in this one process, one after the other):
//   baseline   a bare xstate actor (createActor(echoMachine).start()) driven with send() in a tight loop:
//              events/s. Nothing answers; it is the cost of one xstate transition with an action. Sampled
//              before each group of rows and at the end (the machines are shared; the median counts).
//   local      two actors spawned with hive.spawn on one node: a requester machine and the built-in echo
//              machine. The requester asks the echo actor ({ type: 'probe', t }), the echo machine answers
//              with reply(event, event), and the answer comes back to the requester AS AN EVENT through its
//              Hive mailbox (ref.tell); the requester's transition records the round trip and asks again.
//              One round trip = two mailbox deliveries and two xstate transitions. Local path: no encoding.
//   local (awaited)  the same two actors, but the requester's action runs N async loops that `await
//              target.ask(...)` (the answer resolves the promise inside the requester, it is not re-delivered
//              as an event). One round trip = one mailbox delivery and one transition.
//   transport  the same as `local` and `local (awaited)`, with the requester on node A and the echo actor
//              on node B, two Hive nodes on one InProcBus: every ask and answer is a binary frame (encode,
//              copy, decode) through the in-process transport's shared reply inbox.
// Each row keeps N asks in flight (N independent loops) and times every round trip; process CPU time per ask is
// shown too (steadier than wall time on a shared machine). Writes bench/results/local-ask.json:
// `asks_per_s.local` is the best in-flight level of the `local` rows (answer delivered as an event, the
// stricter reading of "round trip between two actors"), `asks_per_s.transport` the same for `transport`;
// every level of every variant is under `by_inflight`.
import { createActor, setup } from 'xstate';
import { echoMachine } from '../actors/echo.js';
import { Hive } from '../cluster/Hive.js';
import type { HiveEvent } from '../protocols/envelope.js';
import type { ActorRef } from '../runtime/ActorRef.js';
import { InProcBus, InProcTransport } from '../runtime/InProcTransport.js';
import { silentLogger } from '../runtime/logger.js';
import { reply } from '../runtime/reply.js';
import { closedLoop, syncLoop, Window, type LoadResult } from './support/load.js';
import { median, numberArg, parseArgs, printTable, round, writeResults } from './util.js';
import { hiveInternals } from '../cluster/internal.js';

const TARGET_LOCAL = 100_000;

/** Shared between the bench and a requester actor: the measured window, and when every loop has stopped. */
class Probe {
  readonly window: Window;
  private running = 0;
  private failure: unknown;
  private finish: (() => void) | undefined;
  readonly done: Promise<void>;

  constructor(measureFrom: number, endAt: number) {
    this.window = new Window(measureFrom, endAt);
    this.done = new Promise<void>((resolve) => (this.finish = resolve));
  }

  /** A loop starts. */
  started(): void {
    this.running++;
  }

  /** Records the answer to an ask sent at `t`; true when the loop should ask again. */
  answered(t: number): boolean {
    if (this.failure === undefined && this.window.record(t, performance.now())) return true;
    this.stopped();
    return false;
  }

  /** An ask failed: every loop stops and the run reports the error. */
  failed(err: unknown): void {
    this.failure ??= err;
    this.stopped();
  }

  private stopped(): void {
    if (--this.running === 0) this.finish?.();
  }

  result(inflight: number): LoadResult {
    if (this.failure !== undefined) throw this.failure instanceof Error ? this.failure : new Error(`ask failed: ${JSON.stringify(this.failure)}`);
    return this.window.result(inflight);
  }
}

interface RequesterContext {
  /** The echo actor it asks. */
  target: ActorRef;
  /** Its own ref: answers are told to it, so they arrive through its Hive mailbox. */
  self: ActorRef;
  probe: Probe | undefined;
  /** Set by `loops`: the awaited variant's result. */
  awaited: Promise<LoadResult> | undefined;
}

function askAgain(ctx: RequesterContext, probe: Probe): void {
  ctx.target.ask({ type: 'probe', t: performance.now() }).then(
    (answer) => ctx.self.tell(answer),
    (err: unknown) => probe.failed(err),
  );
}

/**
 * The requester. `start { loops, probe }`: starts `loops` ask loops whose answers come back as `probe` events.
 * `awaited { loops, measureFrom, endAt }`: runs `loops` async loops that await each ask inside the action.
 */
const requesterMachine = setup({
  types: { context: {} as RequesterContext, input: {} as { target: ActorRef; self: ActorRef }, events: {} as HiveEvent },
}).createMachine({
  id: 'requester',
  context: ({ input }) => ({ target: input.target, self: input.self, probe: undefined, awaited: undefined }),
  on: {
    start: {
      actions: ({ context, event }) => {
        const probe = event['probe'] as Probe;
        context.probe = probe;
        for (let i = 0; i < (event['loops'] as number); i++) {
          probe.started();
          askAgain(context, probe);
        }
      },
    },
    probe: {
      actions: ({ context, event }) => {
        const probe = context.probe!;
        if (probe.answered(event['t'] as number)) askAgain(context, probe);
      },
    },
    awaited: {
      actions: ({ context, event }) => {
        const target = context.target;
        const warmupMs = (event['measureFrom'] as number) - performance.now();
        const durationMs = (event['endAt'] as number) - (event['measureFrom'] as number);
        context.awaited = closedLoop(() => target.ask({ type: 'probe', t: 0 }), { inflight: event['loops'] as number, warmupMs, durationMs });
        reply(event, { type: 'started' });
      },
    },
  },
});

/** A requester/responder pair: where the requester lives, and how to reach both. */
interface Pair {
  label: string;
  requester: ActorRef;
  requesterHive: Hive;
}

async function startNode(cluster: string, transport: InProcTransport): Promise<Hive> {
  return Hive.start({ cluster, env: false, logger: silentLogger(), transport });
}

async function runEvents(pair: Pair, inflight: number, warmupMs: number, durationMs: number): Promise<LoadResult> {
  const measureFrom = performance.now() + warmupMs;
  const probe = new Probe(measureFrom, measureFrom + durationMs);
  pair.requester.tell({ type: 'start', loops: inflight, probe });
  await probe.done;
  return probe.result(inflight);
}

async function runAwaited(pair: Pair, inflight: number, warmupMs: number, durationMs: number): Promise<LoadResult> {
  const measureFrom = performance.now() + warmupMs;
  await pair.requester.ask({ type: 'awaited', loops: inflight, measureFrom, endAt: measureFrom + durationMs });
  const actor = hiveInternals(pair.requesterHive).system.localActor(pair.requester.id)!;
  const awaited = (actor.getSnapshot() as { context: RequesterContext }).context.awaited;
  if (awaited === undefined) throw new Error('the requester did not start its loops');
  return awaited;
}

/** Runs the local-ask benchmark (see the module header). */
export async function run(args: string[]): Promise<void> {
  const opts = parseArgs(args);
  const durationMs = numberArg(opts, 'duration', 3000);
  const warmupMs = numberArg(opts, 'warmup', 1000);
  const levels = (opts.get('inflight') ?? '1,64,256').split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--inflight takes positive integers, got ${JSON.stringify(s)}`);
    return n;
  });
  const only = opts.get('only')?.split(',');
  const wanted = (row: string): boolean => only === undefined || only.includes(row);
  const cluster = `bench_local_${process.pid}`;
  console.log(`local-ask benchmark: ${durationMs} ms per row after ${warmupMs} ms warm-up; in flight: ${levels.join(', ')}\n`);

  // Baseline: a bare xstate actor of the same echo machine, driven with send(). Sampled before each group of
  // rows and at the end, so drift in the machine's load shows (the median counts).
  const bare = createActor(echoMachine).start();
  let t = 0;
  const baselineSamples: Array<{ perSec: number; cpuUsPerOp: number }> = [];
  const sampleBaseline = (): void => {
    if (!wanted('baseline')) return;
    const b = syncLoop(() => bare.send({ type: 'probe', t: t++ }), baselineSamples.length === 0 ? warmupMs : 200, durationMs);
    baselineSamples.push(b);
    console.log(`  baseline: ${Math.round(b.perSec).toLocaleString('en-US')} events/s`);
  };

  // One node: requester and echo actor side by side (local path, no encoding).
  const bus = new InProcBus();
  const local = await startNode(cluster, new InProcTransport(bus));
  await local.spawn(echoMachine, { id: 'echo-local' });
  const localReq = await local.spawn(requesterMachine, { id: 'req-local', input: { target: local.ref('echo-local'), self: local.ref('req-local') } });
  const localPair: Pair = { label: 'local', requester: localReq, requesterHive: local };

  // Two nodes on one in-process bus: requester on A, echo actor on B (frames through the codec).
  const bus2 = new InProcBus();
  const nodeA = await startNode(`${cluster}_x`, new InProcTransport(bus2));
  const nodeB = await startNode(`${cluster}_x`, new InProcTransport(bus2));
  await nodeB.spawn(echoMachine, { id: 'echo-remote' });
  const remoteReq = await nodeA.spawn(requesterMachine, { id: 'req-remote', input: { target: nodeA.ref('echo-remote'), self: nodeA.ref('req-remote') } });
  const remotePair: Pair = { label: 'transport', requester: remoteReq, requesterHive: nodeA };

  const rows: Array<{ variant: string; result: LoadResult }> = [];
  try {
    // Correctness first: both paths answer.
    const a = await localReq.ask({ type: 'ping' }).catch((e: unknown) => e);
    if ((a as { code?: string }).code !== 'INVALID_EVENT') throw new Error('the requester should refuse an unknown ask');
    for (const ref of [local.ref('echo-local'), nodeA.ref('echo-remote')]) {
      const pong = await ref.ask({ type: 'ping' });
      if (pong.type !== 'pong') throw new Error(`echo answered ${JSON.stringify(pong)}`);
    }
    for (const pair of [localPair, remotePair]) {
      if (wanted(pair.label)) sampleBaseline();
      for (const n of levels) {
        if (!wanted(pair.label)) break;
        const r = await runEvents(pair, n, warmupMs, durationMs);
        rows.push({ variant: pair.label, result: r });
        console.log(`  ${pair.label}, ${n} in flight: ${Math.round(r.perSec).toLocaleString('en-US')} asks/s`);
      }
      if (wanted(`${pair.label}-awaited`)) sampleBaseline();
      for (const n of levels) {
        if (!wanted(`${pair.label}-awaited`)) break;
        const r = await runAwaited(pair, n, warmupMs, durationMs);
        rows.push({ variant: `${pair.label} (awaited)`, result: r });
        console.log(`  ${pair.label} (awaited), ${n} in flight: ${Math.round(r.perSec).toLocaleString('en-US')} asks/s`);
      }
    }
    sampleBaseline();
  } finally {
    bare.stop();
    await Promise.all([local.stop(), nodeA.stop(), nodeB.stop()]);
  }
  const baseline = {
    perSec: median(baselineSamples.map((b) => b.perSec)),
    cpuUsPerOp: median(baselineSamples.map((b) => b.cpuUsPerOp)),
  };

  const describe: Record<string, string> = {
    local: 'same node, answer delivered to the requester as an event',
    'local (awaited)': 'same node, answer awaited in the requester action',
    transport: 'two nodes on one InProcBus (codec), answer as event',
    'transport (awaited)': 'two nodes on one InProcBus (codec), answer awaited',
  };
  console.log('');
  printTable(
    ['path', 'in flight', 'asks/s', 'vs bare', 'CPU µs/ask', 'asks/CPU-s', 'p50 µs', 'p99 µs', 'how'],
    [
      ['bare xstate send()', '-', baseline.perSec, 1, baseline.cpuUsPerOp, 1e6 / baseline.cpuUsPerOp, '', '', `events/s, no answer (median of ${baselineSamples.length} samples)`],
      ...rows.map((r) => [
        r.variant,
        r.result.inflight,
        r.result.perSec,
        r.result.perSec / baseline.perSec,
        r.result.cpuUsPerOp,
        1e6 / r.result.cpuUsPerOp,
        r.result.p50Us,
        r.result.p99Us,
        describe[r.variant] ?? '',
      ]),
    ],
  );

  const byLevel = (variant: string): Record<string, number> =>
    Object.fromEntries(rows.filter((r) => r.variant === variant).map((r) => [String(r.result.inflight), Math.round(r.result.perSec)]));
  const best = (variant: string): number => Math.max(...rows.filter((r) => r.variant === variant).map((r) => r.result.perSec));
  const asks_per_s = {
    local: Math.round(best('local')),
    transport: Math.round(best('transport')),
    local_awaited: Math.round(best('local (awaited)')),
    transport_awaited: Math.round(best('transport (awaited)')),
  };
  const met = { local: asks_per_s.local >= TARGET_LOCAL };
  console.log('');
  printTable(
    ['figure', 'measured', 'target', 'met'],
    [
      ['local asks/s (best in-flight level, answer as event)', asks_per_s.local, `>= ${TARGET_LOCAL.toLocaleString('en-US')}`, met.local ? 'yes' : 'NO'],
      ['local asks/s, 1 in flight', byLevel('local')['1'] ?? NaN, '-', '-'],
      ['transport asks/s (best level)', asks_per_s.transport, '-', '-'],
      ['bare xstate events/s', baseline.perSec, '-', '-'],
    ],
  );
  console.log(`\nbare xstate samples through the run (events/s): ${baselineSamples.map((b) => Math.round(b.perSec).toLocaleString('en-US')).join(', ')}`);

  const path = writeResults('local-ask', {
    command: `npm run bench -- local-ask ${args.join(' ')}`.trim(),
    settings: { durationMs, warmupMs, inflight: levels },
    asks_per_s,
    baseline: {
      bare_xstate_events_per_s: Math.round(baseline.perSec),
      bare_xstate_cpu_us_per_event: round(baseline.cpuUsPerOp, 3),
      samples_events_per_s: baselineSamples.map((b) => Math.round(b.perSec)),
      machine: 'actors/echo.ts (echoMachine)',
    },
    ratios: { local_vs_bare_xstate: round(asks_per_s.local / baseline.perSec, 3), transport_vs_local: round(asks_per_s.transport / asks_per_s.local, 3) },
    by_inflight: {
      local: byLevel('local'),
      local_awaited: byLevel('local (awaited)'),
      transport: byLevel('transport'),
      transport_awaited: byLevel('transport (awaited)'),
    },
    rows: rows.map((r) => ({
      variant: r.variant,
      inflight: r.result.inflight,
      asks: r.result.requests,
      asksPerSec: Math.round(r.result.perSec),
      cpuUsPerAsk: round(r.result.cpuUsPerOp, 3),
      p50Us: round(r.result.p50Us, 1),
      p90Us: round(r.result.p90Us, 1),
      p99Us: round(r.result.p99Us, 1),
    })),
    notes: describe,
    targets: { local: `>= ${TARGET_LOCAL}` },
    met,
  });
  console.log(`\nwrote ${path}`);
}
