// The WorkQueue seam over JetStream: one work-queue stream per cluster (`HIVE_<cluster>_TASKS`, subjects
// `hive.<cluster>.task.<queue>`), one shared durable pull consumer per queue (explicit ack, `max_deliver`,
// `ack_wait`), message-id de-duplication, and a dead-letter stream (`HIVE_<cluster>_DLQ`). Every node
// pulls only as many messages as it has free capacity, so a node killed with -9 loses nothing: what it
// held unacknowledged is redelivered to the others once `ack_wait` passes.
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, type Consumer, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { headers, nanos } from '@nats-io/transport-node';
import { UnavailableError } from '../protocols/errors.js';
import type { DeadLetter, DeadLetterReason, Delivery, WorkConsumer, WorkQueue, WorkQueueOptions } from '../runtime/WorkQueue.js';
import type { NatsTransport } from './NatsTransport.js';
import { replicasHint } from './jsReplicas.js';

/** The work queues of one cluster, on JetStream. */
export class JetStreamWorkQueue implements WorkQueue {
  private readonly js: JetStreamClient;
  private readonly taskStream: string;
  private readonly dlqStream: string;
  private streamsReady: Promise<void> | undefined;
  private readonly ensured = new Map<string, WorkQueueOptions>();
  /** Replicas of the streams this creates (the node's `jsReplicas`). */
  private readonly replicas: number;

  private constructor(
    transport: NatsTransport,
    private readonly jsm: JetStreamManager,
    private readonly cluster: string,
  ) {
    this.js = transport.jetstream();
    this.replicas = transport.jsReplicas;
    this.taskStream = `HIVE_${cluster}_TASKS`;
    this.dlqStream = `HIVE_${cluster}_DLQ`;
  }

  /** Opens the cluster's work queues (the streams are created on first use). */
  static async open(transport: NatsTransport, cluster: string): Promise<JetStreamWorkQueue> {
    try {
      return new JetStreamWorkQueue(transport, await transport.jetstreamManager(), cluster);
    } catch (err) {
      throw new UnavailableError(`JetStream is not available on ${transport.description}: ${(err as Error).message}`, { cause: err });
    }
  }

  private subject(queue: string): string {
    return `hive.${this.cluster}.task.${queue}`;
  }

  private dlqSubject(queue: string): string {
    return `hive.${this.cluster}.dlq.${queue}`;
  }

  private ensureStreams(): Promise<void> {
    this.streamsReady ??= (async () => {
      await this.addStream({
        name: this.taskStream,
        subjects: [`hive.${this.cluster}.task.*`],
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        duplicate_window: nanos(120_000),
      });
      await this.addStream({
        name: this.dlqStream,
        subjects: [`hive.${this.cluster}.dlq.*`],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        max_age: nanos(7 * 24 * 3600_000),
        max_msgs_per_subject: 10_000,
      });
    })().catch((err: unknown) => {
      this.streamsReady = undefined;
      throw err;
    });
    return this.streamsReady;
  }

  private async addStream(config: Parameters<JetStreamManager['streams']['add']>[0]): Promise<void> {
    try {
      await this.jsm.streams.info(config.name);
    } catch {
      try {
        await this.jsm.streams.add({ ...config, num_replicas: this.replicas });
      } catch (err) {
        throw new UnavailableError(`cannot create JetStream stream "${config.name}": ${replicasHint(err, this.replicas)}`, { cause: err });
      }
    }
  }

  private durable(queue: string): string {
    return `pool-${queue}`;
  }

  async ensure(queue: string, options: WorkQueueOptions): Promise<void> {
    this.ensured.set(queue, options);
    await this.ensureStreams();
    const config = {
      durable_name: this.durable(queue),
      filter_subject: this.subject(queue),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_deliver: options.maxDeliver,
      ack_wait: nanos(options.ackWaitMs),
      max_ack_pending: -1,
    };
    try {
      await this.jsm.consumers.info(this.taskStream, config.durable_name);
      await this.jsm.consumers.update(this.taskStream, config.durable_name, { max_deliver: config.max_deliver, ack_wait: config.ack_wait });
    } catch {
      try {
        await this.jsm.consumers.add(this.taskStream, config);
      } catch (err) {
        // another node created it at the same moment
        await this.jsm.consumers.info(this.taskStream, config.durable_name).catch(() => {
          throw err;
        });
      }
    }
  }

  async publish(queue: string, data: Uint8Array, msgId: string): Promise<void> {
    try {
      await this.js.publish(this.subject(queue), data, { msgID: msgId });
    } catch (err) {
      throw new UnavailableError(`could not queue a task on "${queue}": ${(err as Error).message}`, { cause: err });
    }
  }

  consume(queue: string, handler: (d: Delivery) => void, capacity: () => number, onError?: (err: Error) => void): WorkConsumer & { wake(): void } {
    let active = true;
    let inFlight = 0;
    let wakeUp: (() => void) | undefined;
    // Messages pulled ahead of free capacity wait here (told "working" so they are not redelivered meanwhile),
    // so the next task is already local when a slot frees up instead of one pull round trip away.
    const waiting: JsMsg[] = [];
    const ackWaitMs = this.ensured.get(queue)?.ackWaitMs ?? 30_000;
    const wake = () => {
      const w = wakeUp;
      wakeUp = undefined;
      w?.();
    };
    const dispatch = () => {
      while (active && waiting.length > 0 && inFlight < capacity()) deliver(waiting.shift()!);
    };
    const deliver = (m: JsMsg) => {
      inFlight += 1;
      let settled = false;
      const settle = (f: () => void) => {
        if (settled) return;
        settled = true;
        inFlight -= 1;
        try {
          f();
        } catch {
          // the connection is gone: the server redelivers after ack_wait
        }
        dispatch();
        wake();
      };
      handler({
        data: m.data,
        deliveryCount: m.info.deliveryCount,
        ack: () => settle(() => m.ack()),
        nak: (delayMs?: number) => settle(() => m.nak(delayMs)),
        term: () => settle(() => m.term()),
        working: () => {
          if (!settled) m.working();
        },
      });
    };
    const keepWaitingAlive = setInterval(() => {
      try {
        for (const m of waiting) m.working();
      } catch {
        // the connection is closed: nothing to keep alive, the server redelivers after ack_wait
      }
    }, Math.max(100, ackWaitMs / 3));
    keepWaitingAlive.unref();
    const loop = async () => {
      let consumer: Consumer | undefined;
      while (active) {
        const room = capacity() * 2 - inFlight - waiting.length;
        if (room <= 0) {
          await new Promise<void>((r) => (wakeUp = r));
          continue;
        }
        try {
          consumer ??= await this.js.consumers.get(this.taskStream, this.durable(queue));
          const batch = await consumer.fetch({ max_messages: room, expires: 1000 });
          for await (const m of batch) {
            if (!active) {
              m.nak();
              continue;
            }
            waiting.push(m);
            dispatch();
          }
        } catch (err) {
          consumer = undefined;
          if (!active) break;
          // reported, never silent: a deleted consumer or stream, a JetStream outage
          try {
            onError?.(err as Error);
          } catch {
            // the reporter's failure is its own
          }
          // a consumer (or stream) deleted under us is created again, with the options it was made with
          const options = this.ensured.get(queue);
          if (options !== undefined && /not found/i.test((err as Error).message)) {
            this.streamsReady = undefined;
            await this.ensure(queue, options).catch(() => undefined);
          }
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    };
    const running = loop();
    return {
      wake: () => {
        dispatch();
        wake();
      },
      stop: async () => {
        active = false;
        clearInterval(keepWaitingAlive);
        for (const m of waiting.splice(0)) {
          try {
            m.nak();
          } catch {
            // the connection is closed: the server redelivers after ack_wait
          }
        }
        wake();
        await running;
      },
    };
  }

  async depth(queue: string): Promise<number> {
    try {
      const info = await this.jsm.consumers.info(this.taskStream, this.durable(queue));
      return info.num_pending;
    } catch (err) {
      throw new UnavailableError(`could not read the depth of queue "${queue}": ${(err as Error).message}`, { cause: err });
    }
  }

  async deadLetter(queue: string, data: Uint8Array, reason?: DeadLetterReason): Promise<void> {
    await this.ensureStreams();
    const h = headers();
    if (reason !== undefined) {
      h.set('Hive-Dead-Code', reason.code);
      // header values are one line of text
      h.set('Hive-Dead-Reason', reason.message.replace(/[\r\n]+/g, ' ').slice(0, 1024));
      h.set('Hive-Deliveries', String(reason.deliveries));
    }
    await this.js.publish(this.dlqSubject(queue), data, { headers: h });
  }

  async deadLetters(queue: string, limit: number): Promise<DeadLetter[]> {
    await this.ensureStreams();
    const out: DeadLetter[] = [];
    const consumer = await this.js.consumers.get(this.dlqStream, { filter_subjects: this.dlqSubject(queue) });
    const info = await consumer.info(true).catch(() => undefined);
    const available = info?.num_pending ?? limit;
    if (available === 0) return out;
    const batch = await consumer.fetch({ max_messages: Math.min(limit, available), expires: 1000 });
    for await (const m of batch) {
      const code = m.headers?.get('Hive-Dead-Code');
      if (code === undefined || code === '') out.push({ data: m.data });
      else out.push({ data: m.data, reason: { code, message: m.headers?.get('Hive-Dead-Reason') ?? '', deliveries: Number(m.headers?.get('Hive-Deliveries') ?? 0) } });
    }
    return out;
  }
}
