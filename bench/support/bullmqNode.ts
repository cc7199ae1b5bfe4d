// A BullMQ worker process for `npm run bench -- pool`: the same work as bench/support/poolNode.ts's pool
// agents (four SHA-256 hashes of 4 KB per task) with the same concurrency as one Hive bench node (its agents
// x their slots). Prints "ready" once the worker runs; stops on SIGTERM.
// Args: <redisUrl> <queueName> <concurrency>
import { Worker } from 'bullmq';
import { work } from './benchWork.js';

const [url, queueName, concurrencyArg = '32'] = process.argv.slice(2);
const { hostname, port } = new URL(url);
const worker = new Worker<{ n: number }, string>(queueName, async (job) => work(job.data.n), {
  connection: { host: hostname, port: Number(port || 6379), maxRetriesPerRequest: null },
  concurrency: Number(concurrencyArg),
  // the same bounded retention the producer asks for: results are read through QueueEvents, not kept forever
  removeOnComplete: { count: 10_000 },
  removeOnFail: { count: 10_000 },
});
worker.on('error', (err) => process.stderr.write(`bullmq worker error: ${String(err)}\n`));
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void worker.close().then(() => process.exit(0));
});
