// Child process of bench/actors.ts: measures the heap and RSS that N idle actors of one small machine add to a
// clean process. Run with `node --expose-gc --import tsx bench/support/actorsChild.ts --side=<xstate|hive>
// [--count=N] [--nats=<url> --cluster=<name>]`. Prints one JSON line (`{"type":"result",...}`) on stdout; with
// --nats it then keeps the actors alive (reachable over NATS) until stdin closes or it gets SIGTERM, so the
// parent can ask a sample of them from another connection.
//
// Method: set up (a Hive node, or nothing for bare xstate), spawn a warm-up batch the same way (JIT, lazily
// grown tables), force GC until the heap stops shrinking, read process.memoryUsage(), spawn N more (and flush
// NATS so every SUB reached the server), force GC again, read it again. Per actor = difference / N. The actors
// stay referenced (the Hive node holds its cells; the bare actors sit in an array) and are read at the end.
import { createActor, type AnyActorRef } from 'xstate';
import { counterMachine, type CounterInput } from '../../actors/counter.js';
import { Hive } from '../../cluster/Hive.js';
import { silentLogger } from '../../runtime/logger.js';
import { hiveInternals } from '../../cluster/internal.js';

/** What the child reports. */
export interface ActorsChildResult {
  type: 'result';
  side: 'xstate' | 'hive';
  transport: string;
  count: number;
  warmup: number;
  heapBytesPerActor: number;
  rssBytesPerActor: number;
  externalBytesPerActor: number;
  spawnPerSec: number;
  heapUsedBefore: number;
  heapUsedAfter: number;
  rssBefore: number;
  rssAfter: number;
  /** Measured actors alive at the end (a check that none was collected or failed). */
  alive: number;
  /** Ids of the measured Hive actors are `<idPrefix><i>` for i in [0, count). */
  idPrefix: string;
}

function arg(name: string): string | undefined {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? undefined : hit.slice(name.length + 3);
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Forces full GCs until heapUsed stops shrinking (at most 10), pausing for finalizers and timers in between. */
async function settle(): Promise<NodeJS.MemoryUsage> {
  if (gc === undefined) throw new Error('run the child with node --expose-gc');
  let last = Infinity;
  for (let i = 0; i < 10; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
    const used = process.memoryUsage().heapUsed;
    if (used >= last - 1024) break;
    last = used;
  }
  gc();
  return process.memoryUsage();
}

async function main(): Promise<void> {
  const side = arg('side');
  if (side !== 'xstate' && side !== 'hive') throw new Error('--side=xstate or --side=hive');
  const count = Number(arg('count') ?? 100_000);
  const warmup = Number(arg('warmup') ?? 2_000);
  const nats = arg('nats');
  const cluster = arg('cluster') ?? `bench_actors_${process.pid}`;
  const idPrefix = 'a-';

  const bare: AnyActorRef[] = [];
  let hive: Hive | undefined;
  if (side === 'hive') {
    hive = await Hive.start({ cluster, env: false, logger: silentLogger(), ...(nats === undefined ? {} : { nats }) });
  }
  // The same input object for every actor on both sides.
  const input: CounterInput = {};
  const spawn = async (id: string): Promise<void> => {
    if (hive === undefined) bare.push(createActor(counterMachine, { input }).start());
    else await hive.spawn(counterMachine, { id, input });
  };

  for (let i = 0; i < warmup; i++) await spawn(`w-${i}`);
  if (hive !== undefined && nats !== undefined) await hiveInternals(hive).transport.flush();
  const before = await settle();

  const t0 = performance.now();
  for (let i = 0; i < count; i++) await spawn(`${idPrefix}${i}`);
  if (hive !== undefined && nats !== undefined) await hiveInternals(hive).transport.flush();
  const spawnMs = performance.now() - t0;
  const after = await settle();

  let alive: number;
  if (hive === undefined) alive = bare.filter((a) => a.getSnapshot().status === 'active').length - warmup;
  else {
    alive = 0;
    for (let i = 0; i < count; i++) if (hiveInternals(hive).system.has(`${idPrefix}${i}`)) alive++;
  }
  const result: ActorsChildResult = {
    type: 'result',
    side,
    transport: hive === undefined ? 'none' : hiveInternals(hive).transport.kind,
    count,
    warmup,
    heapBytesPerActor: (after.heapUsed - before.heapUsed) / count,
    rssBytesPerActor: (after.rss - before.rss) / count,
    externalBytesPerActor: (after.external - before.external) / count,
    spawnPerSec: (count * 1000) / spawnMs,
    heapUsedBefore: before.heapUsed,
    heapUsedAfter: after.heapUsed,
    rssBefore: before.rss,
    rssAfter: after.rss,
    alive,
    idPrefix,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);

  if (hive !== undefined && nats !== undefined) {
    // Stay reachable until the parent is done asking (stdin closes) or stops us.
    await new Promise<void>((resolve) => {
      process.stdin.on('end', resolve);
      process.stdin.on('close', resolve);
      process.on('SIGTERM', resolve);
      process.stdin.resume();
    });
  }
  await hive?.stop();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
