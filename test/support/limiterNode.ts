// A node process for the limiter's cross-process test and benchmark: joins the cluster over NATS, defines
// limiter `name`, and from `start` (epoch ms) to `start + durationMs` runs `submitters` loops that each take
// a permit (1 unit) and, when `paceMs` > 0, pause that long before the next take. Prints "ready" once it
// serves, then reads the start time (epoch ms) as a line on stdin; at the end prints one JSON line: the epoch
// ms of every admission and every wait (ms). Args: <natsUrl> <cluster> <nodeId> <json options>
import { Hive } from '../../cluster/Hive.js';
import { silentLogger } from '../../runtime/logger.js';
import type { LimiterOptions } from '../../actors/limits/limitOptions.js';

interface Options {
  name: string;
  limiter: LimiterOptions;
  submitters: number;
  durationMs: number;
  paceMs: number;
}

const [url, cluster, nodeId, json] = process.argv.slice(2);
const o = JSON.parse(json ?? '{}') as Options;
const hive = await Hive.start({ cluster, nodeId, nats: url, env: false, logger: silentLogger(), heartbeatMs: 250, failureAfterMs: 2000 });
const limiter = hive.limiter(o.name, o.limiter);
const now = () => performance.timeOrigin + performance.now();
const admitted: number[] = [];
const waits: number[] = [];
process.stdout.write('ready\n');
const start = await new Promise<number>((resolve) => {
  let line = '';
  process.stdin.on('data', (d: Buffer) => {
    line += d.toString();
    if (line.includes('\n')) resolve(Number(line.trim()));
  });
});
process.stdin.pause();
const end = start + o.durationMs;
await new Promise((r) => setTimeout(r, Math.max(0, start - Date.now())));
await Promise.all(
  Array.from({ length: o.submitters }, async () => {
    while (now() < end) {
      const asked = now();
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(new Error('run over')), Math.max(1, end - asked));
      const ok = await limiter.take(1, { signal: ac.signal }).then(
        (p) => {
          p.release();
          return true;
        },
        () => false,
      );
      clearTimeout(timer);
      if (!ok) break;
      const t = now();
      admitted.push(t);
      waits.push(t - asked);
      if (o.paceMs > 0) await new Promise((r) => setTimeout(r, o.paceMs));
    }
  }),
);
process.stdout.write(`${JSON.stringify({ node: nodeId, admitted, waits })}\n`);
await hive.stop();
process.exit(0);
