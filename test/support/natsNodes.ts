// Hive nodes on the shared nats-server for integration tests, with the helpers those tests poll with. Every
// node started here is stopped, and every cluster's streams and KV buckets deleted, by `stopNatsNodes()`
// (call it in afterEach). Module state is per test file (each file runs in its own worker).
import { Hive } from '../../cluster/Hive.js';
import { silentLogger } from '../../runtime/logger.js';
import { NATS_URL, deleteClusterStreams } from './services.js';

const nodes: Hive[] = [];
const clusters: string[] = [];

/** Starts node `nodeId` of `cluster` on the shared nats-server (fast heartbeats). */
export async function startNatsNode(cluster: string, nodeId: string): Promise<Hive> {
  if (!clusters.includes(cluster)) clusters.push(cluster);
  const hive = await Hive.start({ cluster, nodeId, nats: NATS_URL, env: false, logger: silentLogger(), heartbeatMs: 100, failureAfterMs: 2000 });
  nodes.push(hive);
  return hive;
}

/** Stops every node started here and deletes its clusters' streams and buckets. */
export async function stopNatsNodes(): Promise<void> {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
  for (const c of clusters.splice(0)) await deleteClusterStreams(NATS_URL, c);
}

/** Polls `check` until it holds; throws naming `what` after `limitMs`. */
export async function until(check: () => boolean | Promise<boolean>, what: string | (() => string), limitMs = 15_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`gave up waiting for ${typeof what === 'string' ? what : what()}`);
}

/** The value of the first exposed sample of metric `name` whose line contains `label` (0 when none). */
export async function metricValue(hive: Hive, name: string, label: string): Promise<number> {
  const line = (await hive.metrics.text()).split('\n').find((l) => l.startsWith(name) && l.includes(label));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}
