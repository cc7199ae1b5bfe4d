// The WorkQueue seam over JetStream: one work-queue stream per cluster (`HIVE_<cluster>_TASKS`, subjects
// `hive.<cluster>.task.<queue>`), one shared durable pull consumer per queue (explicit ack, `max_deliver`,
// `ack_wait`), message-id de-duplication, and a dead-letter stream (`HIVE_<cluster>_DLQ`). Every node
// pulls only as many messages as it has free capacity, so a node killed with -9 loses nothing: what it
// held unacknowledged is redelivered to the others once `ack_wait` passes.
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamInfo,
} from '@nats-io/jetstream';
import { headers, nanos } from '@nats-io/transport-node';
import { OverloadedError, TooLargeError, UnavailableError } from '../protocols/errors.js';
import { assertToken, isToken } from '../protocols/subjects.js';
import { silentLogger, type Logger } from '../runtime/logger.js';
import type { MetricsRegistry } from '../runtime/metrics.js';
import { DEAD_LETTER_QUEUE_LIMITS, DEFAULT_WORK_QUEUE_LIMITS, DUPLICATE_WINDOW_MS, messageId, type DeadLetter, type DeadLetterReason, type Delivery, type WorkConsumer, type WorkQueue, type WorkQueueLimits, type WorkQueueOptions } from '../runtime/WorkQueue.js';
import type { NatsTransport } from './NatsTransport.js';
import { replicasHint } from './jsReplicas.js';
import { StrandedMessages } from './StrandedMessages.js';

/** Options of {@link JetStreamWorkQueue.open}. */
export interface JetStreamWorkQueueOptions {
  /** Limits of the tasks stream (default {@link DEFAULT_WORK_QUEUE_LIMITS}); applied to an existing stream too. */
  limits?: Partial<WorkQueueLimits>;
  metrics?: MetricsRegistry;
  logger?: Logger;
}

/** JetStream's API error codes for a stream that refuses a message because it is full (discard policy `new`). */
const FULL_CODES = new Set([10077 /* maximum messages (or bytes) exceeded */, 10047 /* insufficient resources: the server's storage is full */]);
const TOO_LARGE_CODE = 10054; // message size exceeds maximum allowed

/** The work queues of one cluster, on JetStream. */
export class JetStreamWorkQueue implements WorkQueue {
  private readonly js: JetStreamClient;
  private readonly taskStream: string;
  private readonly dlqStream: string;
  private streamsReady: Promise<void> | undefined;
  private readonly ensured = new Map<string, WorkQueueOptions>();
  /** Replicas of the streams this creates (the node's `jsReplicas`). */
  private readonly replicas: number;
  /** Queues whose subject the tasks stream is known to accept. */
  private readonly accepted = new Map<string, Promise<void>>();
  readonly limits: Readonly<WorkQueueLimits>;
  private readonly logger: Logger;
  private readonly metric: {
    refused: ReturnType<MetricsRegistry['counter']> | undefined;
    errors: ReturnType<MetricsRegistry['counter']> | undefined;
    stranded: ReturnType<MetricsRegistry['counter']> | undefined;
  };
  /** The tasks stream's contents as last read (for the metric; kept when a read fails). */
  private stored = { messages: Number.NaN, bytes: Number.NaN };

  private constructor(
    private readonly transport: NatsTransport,
    private readonly jsm: JetStreamManager,
    private readonly cluster: string,
    options: JetStreamWorkQueueOptions,
  ) {
    this.js = transport.jetstream();
    this.replicas = transport.jsReplicas;
    this.taskStream = `HIVE_${cluster}_TASKS`;
    this.dlqStream = `HIVE_${cluster}_DLQ`;
    this.limits = Object.freeze({ ...DEFAULT_WORK_QUEUE_LIMITS, ...stripUndefined(options.limits ?? {}) });
    this.logger = options.logger ?? silentLogger();
    const m = options.metrics;
    this.metric = {
      refused: m?.counter('hive_task_queue_refused_total', 'Durable messages the tasks stream refused, by queue and reason (full, too_large)', ['queue', 'reason']),
      errors: m?.counter('hive_task_queue_errors_total', 'Failed reads of the tasks stream or its consumers, by operation (depth, info)', ['op']),
      stranded: m?.counter('hive_queue_stranded_total', 'Messages found out of deliveries without an outcome and offered to be dead-lettered, by queue and how they were found (advisory, sweep)', ['queue', 'how']),
    };
    if (m !== undefined) {
      const limits = this.limits;
      m.gauge('hive_task_queue_limit', "Limits of the cluster's tasks stream (messages, bytes, message_bytes)", ['limit'], function () {
        this.set({ limit: 'messages' }, limits.maxMessages);
        this.set({ limit: 'bytes' }, limits.maxBytes);
        this.set({ limit: 'message_bytes' }, limits.maxMessageBytes);
      });
      const read = () => this.readStored();
      m.gauge('hive_task_queue_stored', "What the cluster's tasks stream holds now (messages, bytes; the last value read when a read fails)", ['unit'], async function () {
        const stored = await read();
        this.set({ unit: 'messages' }, stored.messages);
        this.set({ unit: 'bytes' }, stored.bytes);
      });
    }
  }

  /** Opens the cluster's work queues (the streams are created on first use). */
  static async open(transport: NatsTransport, cluster: string, options: JetStreamWorkQueueOptions = {}): Promise<JetStreamWorkQueue> {
    let jsm: JetStreamManager;
    try {
      jsm = await transport.jetstreamManager();
    } catch (err) {
      throw new UnavailableError(`JetStream is not available on ${transport.description}: ${(err as Error).message}`, { cause: err });
    }
    return new JetStreamWorkQueue(transport, jsm, cluster, options);
  }

  private subject(queue: string): string {
    return `hive.${this.cluster}.task.${queue}`;
  }

  private dlqSubject(queue: string): string {
    return `hive.${this.cluster}.dlq.${queue}`;
  }

  private async readStored(): Promise<{ messages: number; bytes: number }> {
    try {
      const info = await this.jsm.streams.info(this.taskStream);
      this.stored = { messages: info.state.messages, bytes: info.state.bytes };
    } catch (err) {
      if (!streamNotFound(err)) {
        this.metric.errors?.inc({ op: 'info' });
        this.logger.debug({ err, stream: this.taskStream }, 'could not read the tasks stream for its metrics (the last value read stays)');
      } else this.stored = { messages: 0, bytes: 0 };
    }
    return this.stored;
  }

  /** The tasks stream's limits, as JetStream takes them: a full stream refuses new messages (`discard: new`). */
  private taskLimits() {
    // allow_direct: the stranded-message sweep reads the next message of a subject (cluster/StrandedMessages.ts)
    return { discard: DiscardPolicy.New, max_msgs: this.limits.maxMessages, max_bytes: this.limits.maxBytes, max_msg_size: this.limits.maxMessageBytes, allow_direct: true };
  }

  private ensureStreams(): Promise<void> {
    this.streamsReady ??= (async () => {
      await this.addStream({
        name: this.dlqStream,
        subjects: [`hive.${this.cluster}.dlq.*`],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        max_age: nanos(DEAD_LETTER_QUEUE_LIMITS.maxAgeMs),
        max_msgs_per_subject: DEAD_LETTER_QUEUE_LIMITS.maxMessagesPerQueue,
        max_bytes: DEAD_LETTER_QUEUE_LIMITS.maxBytes,
        // a dead letter is published under its source message's id: two publishes of one are stored once
        duplicate_window: nanos(DUPLICATE_WINDOW_MS),
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

  /**
   * Makes the tasks stream accept `queue`'s subject (creating the stream with its limits, or adding the subject
   * and applying the limits to the existing one). The stream lists exactly the subjects of Hive's queues: a
   * message on any other `task.` subject has no stream and is refused by the server, never stored.
   */
  private accept(queue: string): Promise<void> {
    let p = this.accepted.get(queue);
    if (p === undefined) {
      p = this.addSubject(queue).catch((err: unknown) => {
        this.accepted.delete(queue);
        throw err;
      });
      this.accepted.set(queue, p);
    }
    return p;
  }

  private async addSubject(queue: string): Promise<void> {
    assertToken(queue, 'queue name');
    const subject = this.subject(queue);
    const wildcard = `hive.${this.cluster}.task.*`;
    // Nodes add their subjects concurrently and a stream update replaces the whole list: check, retry.
    for (let attempt = 0; ; attempt++) {
      let info: StreamInfo | undefined;
      try {
        info = await this.jsm.streams.info(this.taskStream, { subjects_filter: wildcard });
      } catch (err) {
        if (!streamNotFound(err)) throw err;
      }
      if (info === undefined) {
        try {
          await this.jsm.streams.add({
            name: this.taskStream,
            subjects: [subject],
            retention: RetentionPolicy.Workqueue,
            storage: StorageType.File,
            duplicate_window: nanos(DUPLICATE_WINDOW_MS),
            num_replicas: this.replicas,
            ...this.taskLimits(),
          });
        } catch (err) {
          // another node created it at the same moment: go round again
          if (attempt >= 5) throw new UnavailableError(`cannot create JetStream stream "${this.taskStream}": ${replicasHint(err, this.replicas)}`, { cause: err });
        }
        continue;
      }
      const c = info.config;
      const limits = this.taskLimits();
      const limitsDiffer = c.discard !== limits.discard || c.max_msgs !== limits.max_msgs || c.max_bytes !== limits.max_bytes || c.max_msg_size !== limits.max_msg_size || c.allow_direct !== true;
      const subjects = c.subjects ?? [];
      if (subjects.includes(subject) && !subjects.includes(wildcard) && !limitsDiffer) return;
      if (attempt >= 8) throw new UnavailableError(`could not add "${subject}" to stream ${this.taskStream} (other nodes keep changing it)`);
      let next = subjects.filter((x) => x !== wildcard);
      if (subjects.includes(wildcard)) {
        // a stream made by an older Hive took any task subject: keep those in use (stored messages, consumers)
        const inUse = new Set(Object.keys(info.state.subjects ?? {}));
        for await (const ci of this.jsm.consumers.list(this.taskStream)) if (ci.config.filter_subject !== undefined) inUse.add(ci.config.filter_subject);
        for (const x of inUse) if (x !== wildcard && x.startsWith(`hive.${this.cluster}.task.`) && isToken(x.slice(wildcard.length - 1))) next.push(x);
      }
      if (!next.includes(subject)) next.push(subject);
      next = [...new Set(next)].sort();
      if (limitsDiffer) this.logger.info({ stream: this.taskStream, limits }, 'applying the configured limits to the tasks stream');
      await this.jsm.streams.update(this.taskStream, { ...c, subjects: next, ...limits });
    }
  }

  private durable(queue: string): string {
    return `pool-${queue}`;
  }

  async ensure(queue: string, options: WorkQueueOptions): Promise<void> {
    this.ensured.set(queue, options);
    await this.ensureStreams();
    await this.accept(queue);
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
    if (data.length > this.limits.maxMessageBytes) throw this.tooLarge(queue, data.length);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.accept(queue);
        await this.js.publish(this.subject(queue), data, { msgID: msgId });
        return;
      } catch (err) {
        const code = err instanceof JetStreamApiError ? err.code : undefined;
        if (code !== undefined && FULL_CODES.has(code)) {
          this.metric.refused?.inc({ queue, reason: 'full' });
          throw new OverloadedError(
            `the task queue of cluster "${this.cluster}" is full (limits: ${this.limits.maxMessages} messages, ${this.limits.maxBytes} bytes): "${queue}" takes no new task now; try again later`,
            { cause: err, details: { queue, stream: this.taskStream, maxMessages: this.limits.maxMessages, maxBytes: this.limits.maxBytes } },
          );
        }
        if (code === TOO_LARGE_CODE) throw this.tooLarge(queue, data.length, err);
        // no stream took the subject (deleted, or its subject dropped by a racing update): make it accept it, once
        if (attempt === 0 && (streamNotFound(err) || (err as Error).name === 'JetStreamNotEnabled' || /no responders|not enabled|no stream/i.test((err as Error).message))) {
          this.accepted.delete(queue);
          continue;
        }
        throw new UnavailableError(`could not queue a task on "${queue}": ${(err as Error).message}`, { cause: err });
      }
    }
  }

  private tooLarge(queue: string, bytes: number, cause?: unknown): TooLargeError {
    this.metric.refused?.inc({ queue, reason: 'too_large' });
    return new TooLargeError(`a task of ${bytes} bytes is over the task queue's limit of ${this.limits.maxMessageBytes} bytes (taskMaxBytes)`, {
      ...(cause !== undefined && { cause }),
      details: { queue, bytes, limit: this.limits.maxMessageBytes },
    });
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
        id: messageId(m.info.streamSequence, Math.floor(m.info.timestampNanos / 1e6)),
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
            await this.ensure(queue, options).catch((e: unknown) => this.logger.warn({ err: e, queue }, 'could not create a deleted work-queue consumer again; retrying'));
          }
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    };
    const running = loop();
    const stranded = new StrandedMessages({
      transport: this.transport,
      jsm: this.jsm,
      stream: this.taskStream,
      durable: this.durable(queue),
      subject: this.subject(queue),
      maxDeliver: () => this.ensured.get(queue)?.maxDeliver ?? 1,
      handler,
      logger: this.logger,
      onFound: (how) => this.metric.stranded?.inc({ queue, how }),
    });
    return {
      wake: () => {
        dispatch();
        wake();
      },
      stop: async () => {
        active = false;
        stranded.stop();
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
      this.metric.errors?.inc({ op: 'depth' });
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
    // one dead letter per source message: the advisory and the sweep (or two nodes) may both dead-letter it
    const msgID = reason?.source === undefined ? undefined : `dlq.${queue}.${reason.source}`;
    await this.js.publish(this.dlqSubject(queue), data, msgID === undefined ? { headers: h } : { headers: h, msgID });
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

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

function streamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}
