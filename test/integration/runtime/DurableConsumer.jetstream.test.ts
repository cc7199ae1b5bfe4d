// The DurableConsumer contract against the real JetStream (shared nats-server), plus what only JetStream can do
// to it: a dead-letter stream that is gone (the message stays queued and is retried, never terminated), and a
// consumer deleted under a running node (reported and counted, created again, never a silent stall).
import type { JetStreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamWorkQueue } from '../../../cluster/JetStreamWorkQueue.js';
import { NatsTransport } from '../../../cluster/NatsTransport.js';
import { DEAD_LETTER_DELIVERIES, DurableConsumer } from '../../../runtime/DurableConsumer.js';
import { MetricsRegistry } from '../../../runtime/metrics.js';
import { describeDurableConsumer, until } from '../../support/durableConsumerContract.js';
import { NATS_URL, deleteClusterStreams, natsAvailable, uniqueName } from '../../support/services.js';

const natsUp = await natsAvailable();
const cluster = uniqueName('dc');
let transport: NatsTransport;
let queue: JetStreamWorkQueue;
let jsm: JetStreamManager;
let n = 0;

/** Messages of queue `name` the stream still stores (waiting, in flight, or out of deliveries). */
async function held(name: string): Promise<number> {
  const subject = `hive.${cluster}.task.${name}`;
  const info = await jsm.streams.info(`HIVE_${cluster}_TASKS`, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

describe.skipIf(!natsUp)('DurableConsumer over JetStream', () => {
  beforeAll(async () => {
    transport = await NatsTransport.connect({ servers: NATS_URL });
    queue = await JetStreamWorkQueue.open(transport, cluster);
    jsm = await transport.jetstreamManager();
  });
  afterAll(async () => {
    await transport?.close();
    await deleteClusterStreams(NATS_URL, cluster);
  });

  describeDurableConsumer('the real JetStream', () => ({ queue, name: () => `q${++n}`, held, ackWaitMs: 1000 }));

  it('leaves a message queued when its dead-letter publish fails, and dead-letters it once the stream is back', async () => {
    const name = `q${++n}`;
    const c = new DurableConsumer<string>({
      queue,
      name,
      maxDeliver: 5,
      ackWaitMs: 1000,
      capacity: () => 1,
      decode: () => {
        throw new Error('never decodes');
      },
      work: async () => ({ kind: 'ack' }),
      retry: { minMs: 20, maxMs: 50 },
    });
    await c.start();
    const dlq = `HIVE_${cluster}_DLQ`;
    const config = (await jsm.streams.info(dlq)).config;
    await jsm.streams.delete(dlq);
    try {
      await queue.publish(name, new TextEncoder().encode('junk'), 'junk');
      await until(() => c.stats().deadLetterFailures >= 2, 'dead-letter publishes to fail');
      expect(c.stats().deadLettered).toBe(0);
      expect(await held(name)).toBe(1); // still queued: not terminated
    } finally {
      await jsm.streams.add(config);
    }
    await until(() => c.stats().deadLettered === 1, 'the dead letter once the stream is back');
    const letters = await queue.deadLetters(name, 10);
    expect(letters.map((l) => l.reason?.code)).toEqual(['BAD_FRAME']);
    await until(async () => (await held(name)) === 0, 'the message to leave the queue');
    await c.stop();
  });

  it('stores one dead letter per source message: a delivery has a stable id, and two dead-letterings of it are one letter', async () => {
    const name = `q${++n}`;
    await queue.ensure(name, { maxDeliver: 5, ackWaitMs: 1000 });
    await queue.publish(name, new TextEncoder().encode('twice'), 'twice');
    const ids: (string | undefined)[] = [];
    const consumer = queue.consume(
      name,
      (d) => {
        ids.push(d.id);
        if (ids.length === 1) d.nak(0);
        else d.ack();
      },
      () => 1,
    );
    try {
      await until(() => ids.length === 2, 'the message and its redelivery');
    } finally {
      await consumer.stop();
    }
    expect(ids[0]).toMatch(/^\d+-\d+$/);
    expect(ids[1]).toBe(ids[0]);
    // the advisory and the sweep (or two nodes) may both dead-letter one stranded message
    const source = String(ids[0]);
    const reason = { code: 'UNAVAILABLE', message: 'never settled', deliveries: 5, source };
    await queue.deadLetter(name, new TextEncoder().encode('twice'), reason);
    await queue.deadLetter(name, new TextEncoder().encode('twice'), reason);
    await queue.deadLetter(name, new TextEncoder().encode('other'), { ...reason, source: `${source}0` });
    const letters = await queue.deadLetters(name, 10);
    expect(letters.map((l) => new TextDecoder().decode(l.data))).toEqual(['twice', 'other']);
  });

  it('dead-letters a message that ran out of deliveries while no node listened (found by the sweep at start)', async () => {
    const name = `q${++n}`;
    const stream = `HIVE_${cluster}_TASKS`;
    await queue.ensure(name, { maxDeliver: 1 + DEAD_LETTER_DELIVERIES, ackWaitMs: 1000 });
    await queue.publish(name, new TextEncoder().encode('job'), 'ran-out');
    // nodes that take it and die without settling it, every allowed delivery (nobody hears the advisory)
    const raw = await transport.jetstream().consumers.get(stream, `pool-${name}`);
    let deliveries = 0;
    await until(async () => {
      for await (const m of await raw.fetch({ max_messages: 1, expires: 1000 })) deliveries = m.info.deliveryCount;
      return deliveries === 1 + DEAD_LETTER_DELIVERIES;
    }, 'every allowed delivery to be taken');
    // a pull after the last delivery expired makes the server give up on it (its advisory goes unheard)
    await until(async () => {
      for await (const m of await raw.fetch({ max_messages: 1, expires: 1000 })) deliveries = m.info.deliveryCount;
      return (await jsm.consumers.info(stream, `pool-${name}`)).num_ack_pending === 0;
    }, 'the server to give up on the last delivery');
    expect(deliveries).toBe(1 + DEAD_LETTER_DELIVERIES);
    expect(await held(name)).toBe(1); // stranded: stored, never delivered again
    const metrics = new MetricsRegistry({ cluster, node: 'n1' }, { processMetrics: false });
    const sweeper = await JetStreamWorkQueue.open(transport, cluster, { metrics });
    const c = new DurableConsumer<string>({ queue: sweeper, name, maxDeliver: 1, ackWaitMs: 1000, capacity: () => 1, decode: (d) => new TextDecoder().decode(d), work: async () => ({ kind: 'ack' }) });
    await c.start();
    try {
      await until(() => c.stats().deadLettered === 1, () => `the stranded message to be dead-lettered (${JSON.stringify(c.stats())})`);
      const [letter] = await queue.deadLetters(name, 10);
      expect(letter.reason?.code).toBe('UNAVAILABLE');
      expect(letter.reason?.message).toContain('never settled');
      await until(async () => (await held(name)) === 0, 'the message to leave the stream');
      expect(await metrics.text()).toMatch(new RegExp(`hive_queue_stranded_total{queue="${name}",how="sweep"[^}]*} 1`));
    } finally {
      await c.stop();
    }
  });

  it('reports a deleted consumer (logged, counted) and takes work again once it is created anew', async () => {
    const name = `q${++n}`;
    const metrics = new MetricsRegistry({ cluster, node: 'n1' }, { processMetrics: false });
    const done: string[] = [];
    const c = new DurableConsumer<string>({
      queue,
      name,
      maxDeliver: 3,
      ackWaitMs: 1000,
      capacity: () => 1,
      decode: (d) => new TextDecoder().decode(d),
      work: async (item) => {
        done.push(item);
        return { kind: 'ack' };
      },
      metrics,
    });
    await c.start();
    await queue.publish(name, new TextEncoder().encode('before'), 'before');
    await until(() => done.length === 1, 'the first message');
    await jsm.consumers.delete(`HIVE_${cluster}_TASKS`, `pool-${name}`);
    await until(() => c.stats().fetchErrors > 0, 'the fetch error to be reported');
    await queue.publish(name, new TextEncoder().encode('after'), 'after');
    await until(() => done.includes('after'), 'the message published after the consumer was deleted');
    expect(await metrics.registry.metrics()).toMatch(new RegExp(`hive_queue_fetch_errors_total{queue="${name}"[^}]*} [1-9]`));
    await c.stop();
  });
});
