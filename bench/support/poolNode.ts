// A benchmark node process: joins the cluster over NATS and hosts the `bench` pool whose agents do a small
// fixed amount of CPU work per task, plus `bench-agent-<n>` actors that do the same work when asked
// directly (the non-durable baseline). Prints "ready" when it is serving; stops on SIGTERM.
// Args: <natsUrl> <cluster> <nodeId> [agents] [concurrency] [autoscale json]
import { setup } from 'xstate';
import { Hive } from '../../cluster/Hive.js';
import { silentLogger } from '../../runtime/logger.js';
import { reply } from '../../runtime/reply.js';
import { work } from './benchWork.js';

const [url, cluster, nodeId, agentsArg = '8', concurrencyArg = '4', autoscaleArg] = process.argv.slice(2);

const hive = await Hive.start({ cluster: cluster, nodeId: nodeId, nats: url, env: false, logger: silentLogger(), heartbeatMs: 250, failureAfterMs: 2000 });
const agents = Number(agentsArg);
const autoscale = autoscaleArg === undefined ? false : (JSON.parse(autoscaleArg) as Record<string, number>);
await hive.pool<{ n: number }, string>('bench', {
  agent: async (task) => work(task.n),
  min: autoscale === false ? agents * 2 : 1,
  max: autoscale === false ? agents * 2 : agents * 2,
  concurrency: Number(concurrencyArg),
  autoscale,
  ackWaitMs: 5000,
});
const direct = setup({}).createMachine({
  on: { work: { actions: ({ event }) => reply(event, { type: 'done', h: work((event as unknown as { n: number }).n) }) } },
});
for (let i = 0; i < agents; i++) await hive.spawn(direct, { id: `bench-agent-${nodeId}-${i}` });
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void hive.stop().then(() => process.exit(0));
});
