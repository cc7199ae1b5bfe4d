// The tasks stream is bounded and takes only Hive's subjects (a real nats-server, the shared one): a full queue
// refuses new tasks with OVERLOADED (retryable) and drops nothing it acknowledged, a task over taskMaxBytes is
// TOO_LARGE, a message on a task subject no pool uses is not stored, a stream made by an older Hive (any task
// subject, no limits) gets the limits and explicit subjects, and the limits and usage are metrics.
import { AckPolicy, DiscardPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Hive } from '../../../cluster/Hive.js';
import { silentLogger } from '../../../runtime/logger.js';
import { DEFAULT_WORK_QUEUE_LIMITS, MemoryWorkQueue } from '../../../runtime/WorkQueue.js';
import { defaultConfig } from '../../../runtime/config.js';
import { systemClock } from '../../../runtime/Clock.js';
import { codeOf } from '../../support/errors.js';
import { metricValue, until } from '../../support/natsNodes.js';
import { NATS_URL, deleteClusterStreams, natsAvailable, uniqueName } from '../../support/services.js';

const natsUp = await natsAvailable();
const nodes: Hive[] = [];
const clusters: string[] = [];
let raw: NatsConnection;
let jsm: JetStreamManager;

async function node(cluster: string, options: Record<string, number> = {}): Promise<Hive> {
  if (!clusters.includes(cluster)) clusters.push(cluster);
  const hive = await Hive.start({ cluster, nodeId: 'a', nats: NATS_URL, env: false, logger: silentLogger(), heartbeatMs: 100, failureAfterMs: 2000, ...options });
  nodes.push(hive);
  return hive;
}

describe.skipIf(!natsUp)('tasks stream limits', () => {
  beforeAll(async () => {
    raw = await connect({ servers: NATS_URL });
    jsm = await jetstreamManager(raw);
  });
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
    for (const c of clusters.splice(0)) await deleteClusterStreams(NATS_URL, c);
  });
  afterAll(async () => {
    await raw?.close();
  });

  it('has exported defaults that are the configuration defaults', () => {
    expect(defaultConfig.taskQueueMaxMessages).toBe(DEFAULT_WORK_QUEUE_LIMITS.maxMessages);
    expect(defaultConfig.taskQueueMaxBytes).toBe(DEFAULT_WORK_QUEUE_LIMITS.maxBytes);
    expect(defaultConfig.taskMaxBytes).toBe(DEFAULT_WORK_QUEUE_LIMITS.maxMessageBytes);
  });

  it('refuses a task with OVERLOADED when the queue is full, keeps and runs every task it accepted', async () => {
    const cluster = uniqueName('full');
    const hive = await node(cluster, { taskQueueMaxMessages: 3 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let runs = 0;
    const pool = await hive.pool('p', { agent: async () => (await gate, ++runs), min: 1, concurrency: 1, autoscale: false });
    const info = await jsm.streams.info(`HIVE_${cluster}_TASKS`);
    expect(info.config).toMatchObject({ discard: DiscardPolicy.New, max_msgs: 3, subjects: [`hive.${cluster}.task.p`] });
    const accepted = [await pool.enqueue({}, { id: 't1' }), await pool.enqueue({}, { id: 't2' }), await pool.enqueue({}, { id: 't3' })];
    expect(accepted).toEqual(['t1', 't2', 't3']);
    // the fourth: over the wire (a clear, retryable error) and from code
    const wire = (await raw.request(`hive.${cluster}.pool.p`, JSON.stringify({ task: {}, wait: false, id: 't4' }), { timeout: 10_000 })).json<{ type: string; code?: string; retryable?: boolean; message?: string }>();
    expect(wire).toMatchObject({ type: 'hive.error', code: 'OVERLOADED' });
    expect(wire.message).toContain('full');
    const refused = await pool.submit({}, { id: 't5' }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'OVERLOADED', retryable: true });
    expect(await metricValue(hive, 'hive_task_queue_refused_total', 'reason="full"')).toBe(2);
    expect(await metricValue(hive, 'hive_task_queue_limit', 'limit="messages"')).toBe(3);
    expect(await metricValue(hive, 'hive_task_queue_stored', 'unit="messages"')).toBe(3);
    release();
    await until(() => pool.status().done === 3, 'the three accepted tasks to run');
    expect(runs).toBe(3);
    // room again
    expect(await pool.submit({}, { id: 't6' })).toBe(4);
  });

  it('refuses a task over taskMaxBytes with TOO_LARGE', async () => {
    const cluster = uniqueName('big');
    const hive = await node(cluster, { taskMaxBytes: 4096 });
    const pool = await hive.pool('p', { agent: async () => 'ok', min: 1, autoscale: false });
    expect(await codeOf(pool.submit({ text: 'x'.repeat(5000) }))).toBe('TOO_LARGE');
    expect(await pool.submit({ text: 'x'.repeat(100) })).toBe('ok');
    expect((await jsm.streams.info(`HIVE_${cluster}_TASKS`)).config.max_msg_size).toBe(4096);
  });

  it('stores nothing published on a task subject no pool uses', async () => {
    const cluster = uniqueName('subj');
    const hive = await node(cluster);
    const pool = await hive.pool('p', { agent: async () => 'ok', min: 1, autoscale: false });
    expect(await pool.submit({})).toBe('ok');
    const js = jetstream(raw);
    await expect(js.publish(`hive.${cluster}.task.nosuchpool`, 'junk')).rejects.toThrow();
    const info = await jsm.streams.info(`HIVE_${cluster}_TASKS`, { subjects_filter: '>' });
    expect(info.config.subjects).toEqual([`hive.${cluster}.task.p`]);
    expect(Object.keys(info.state.subjects ?? {})).not.toContain(`hive.${cluster}.task.nosuchpool`);
    // a second pool adds its own subject
    await hive.pool('q', { agent: async () => 'q', min: 1, autoscale: false });
    expect(await hive.submit('q', {})).toBe('q');
    expect((await jsm.streams.info(`HIVE_${cluster}_TASKS`)).config.subjects?.sort()).toEqual([`hive.${cluster}.task.p`, `hive.${cluster}.task.q`]);
  });

  it('brings a stream made by an older Hive (any task subject, no limits) under the limits, keeping the queues in use', async () => {
    const cluster = uniqueName('old');
    clusters.push(cluster);
    const stream = `HIVE_${cluster}_TASKS`;
    await jsm.streams.add({ name: stream, subjects: [`hive.${cluster}.task.*`], retention: RetentionPolicy.Workqueue, storage: StorageType.File, duplicate_window: nanos(120_000) });
    await jsm.consumers.add(stream, { durable_name: 'pool-other', filter_subject: `hive.${cluster}.task.other`, ack_policy: AckPolicy.Explicit });
    await jetstream(raw).publish(`hive.${cluster}.task.stored`, 'left by an older node');
    const hive = await node(cluster, { taskQueueMaxMessages: 500, taskQueueMaxBytes: 10_000_000, taskMaxBytes: 1_000_000 });
    const pool = await hive.pool('p', { agent: async () => 'ok', min: 1, autoscale: false });
    expect(await pool.submit({})).toBe('ok');
    const info = await jsm.streams.info(stream);
    expect(info.config).toMatchObject({ discard: DiscardPolicy.New, max_msgs: 500, max_bytes: 10_000_000, max_msg_size: 1_000_000 });
    expect(info.config.subjects?.sort()).toEqual([`hive.${cluster}.task.other`, `hive.${cluster}.task.p`, `hive.${cluster}.task.stored`]);
    expect(info.state.messages).toBe(1); // the stored message is still there
  });

  it('bounds the in-process queue the same way', async () => {
    const q = new MemoryWorkQueue(systemClock, { maxMessages: 2, maxBytes: 1_000, maxMessageBytes: 100 });
    await q.ensure('p', { maxDeliver: 3, ackWaitMs: 1000 });
    await q.publish('p', new Uint8Array(10), 'a');
    await q.publish('p', new Uint8Array(10), 'a'); // a duplicate takes no room
    await q.publish('p', new Uint8Array(10), 'b');
    expect(await codeOf(q.publish('p', new Uint8Array(10), 'c'))).toBe('OVERLOADED');
    expect(await codeOf(q.publish('p', new Uint8Array(101), 'd'))).toBe('TOO_LARGE');
    expect(q.usage()).toEqual({ messages: 2, bytes: 20 });
  });
});
