// ClusterClient: what the CLI (and scripts) use to talk to a running cluster over NATS as a plain client,
// in JSON — the same payloads the NATS CLI sends: status from every node, spawn on a node, send, ask.
import type { HiveEvent } from '../protocols/envelope.js';
import { InvalidArgumentError, InvalidEventError, NoSuchActorError } from '../protocols/errors.js';
import { FrameCodec, decodeJson, encodeJson } from '../protocols/frame.js';
import { actorSubject, assertToken, poolSubject, sysSubject, virtualSubject } from '../protocols/subjects.js';
import { Transit } from '../runtime/Transit.js';
import { NatsTransport } from './NatsTransport.js';
import { natsOptionsFromEnv } from './natsOptions.js';
import type { NodeStatus } from './NodeControl.js';
import { gatherStatus } from './gatherStatus.js';
import { LOCAL_NATS_URL } from './localNats.js';

const MAX_REPLY = 64 * 1024 * 1024;

/** A client connection to one cluster. */
export class ClusterClient {
  private readonly transit: Transit;

  private constructor(
    readonly cluster: string,
    private readonly transport: NatsTransport,
  ) {
    this.transit = new Transit({ transport, codec: new FrameCodec({ maxMessageBytes: MAX_REPLY }), cluster, nodeId: 'client', maxMessageBytes: MAX_REPLY, defaultTimeoutMs: 5_000 });
  }

  /** Connects to NATS (`nats` URL(s), else HIVE_NATS_* from the environment, else the local server). */
  static async connect(options: { cluster: string; nats?: string | undefined }): Promise<ClusterClient> {
    const cluster = assertToken(options.cluster, 'cluster name');
    const env = natsOptionsFromEnv(process.env);
    const transport = await NatsTransport.connect({ ...env, servers: options.nats ?? env.servers ?? LOCAL_NATS_URL, name: 'hive-cli' });
    return new ClusterClient(cluster, transport);
  }

  /**
   * Every live node's status: collected until `quietMs` pass without a new answer after the first one, or
   * `waitMs` in all (nodes answer at once; the quiet period only covers stragglers on a busy machine).
   */
  async status(waitMs = 2000, quietMs = 200): Promise<NodeStatus[]> {
    return gatherStatus(this.transport, this.cluster, waitMs, quietMs);
  }

  /** Spawns `kind` as actor `id` on `node`, or on the least loaded node that has the kind. */
  async spawn(kind: string, id: string, input: unknown, node: string | undefined, timeoutMs: number): Promise<{ id: string; kind: string; node: string }> {
    assertToken(kind, 'kind');
    assertToken(id, 'actor id');
    let target = node;
    if (target === undefined) {
      const nodes = (await this.status(Math.min(timeoutMs, 5000))).filter((n) => n.kinds.includes(kind));
      if (nodes.length === 0) throw new NoSuchActorError(`no live node of cluster "${this.cluster}" has registered kind "${kind}"`, { details: { kind } });
      nodes.sort((a, b) => a.actorCount - b.actorCount);
      target = nodes[0].node;
    } else {
      assertToken(target, 'node id');
    }
    const body: Record<string, unknown> = { type: 'hive.spawn', kind, id };
    if (input !== undefined) body['input'] = input;
    const answer = await this.transit.requestJson(sysSubject(this.cluster, 'node', target, 'spawn'), body, {
      timeoutMs,
      noResponders: `no live node "${target}" in cluster "${this.cluster}"`,
    });
    return answer as { id: string; kind: string; node: string };
  }

  /** Sends `event` without waiting. `target` is an actor id, or `<kind>/<key>` for a virtual actor. */
  async send(target: string, event: HiveEvent): Promise<void> {
    this.transport.publish(this.subjectOf(target), encodeJson(checkEvent(event)));
    await this.transport.flush();
  }

  /**
   * Sends `event` and returns the reply; an error reply is thrown as its typed error. A binary ask through the
   * transit: its deadline travels with it (the node drops it when the CLI has given up).
   */
  async ask(target: string, event: HiveEvent, timeoutMs: number): Promise<unknown> {
    const subject = this.subjectOf(target);
    return this.transit.request(subject, checkEvent(event), {
      timeoutMs,
      what: target,
      noResponders: `no actor "${target}" in cluster "${this.cluster}" (nothing listens on ${subject})`,
    });
  }

  /**
   * Submits a task to pool `pool` over NATS. With `wait`, resolves with the task's outcome; otherwise once it
   * is queued, with its id. A failed task is thrown as its typed error.
   */
  async submit(pool: string, task: unknown, options: { key?: string | undefined; id?: string | undefined; wait: boolean; timeoutMs: number }): Promise<unknown> {
    const body: Record<string, unknown> = { task, wait: options.wait, timeoutMs: options.timeoutMs };
    if (options.key !== undefined) body['key'] = options.key;
    if (options.id !== undefined) body['id'] = assertToken(options.id, 'task id');
    return this.transit.requestJson(poolSubject(this.cluster, assertToken(pool, 'pool name')), body, {
      timeoutMs: options.timeoutMs + 2_000,
      noResponders: `no live node hosts pool "${pool}" in cluster "${this.cluster}"`,
    });
  }

  /**
   * True when something in the cluster hosts `target`: a node lists the actor id in its status (or lists only
   * part of its actors), or, for `<kind>/<key>`, a node has registered the kind (it activates on a message).
   */
  async hosts(target: string, waitMs: number): Promise<boolean> {
    this.subjectOf(target);
    const nodes = await this.status(waitMs);
    const slash = target.indexOf('/');
    if (slash >= 0) return nodes.some((n) => n.kinds.includes(target.slice(0, slash)));
    return nodes.some((n) => n.truncated || n.actors.some((a) => a.id === target));
  }

  /** The stored outcome of task `id` (kept 24 h), or undefined when there is none (yet). Reads only; creates nothing. */
  async taskOutcome(id: string): Promise<Record<string, unknown> | undefined> {
    assertToken(id, 'task id');
    const bucket = `hive_${this.cluster}_results`;
    const jsm = await this.transport.jetstreamManager();
    let data: Uint8Array;
    try {
      const m = await jsm.streams.getMessage(`KV_${bucket}`, { last_by_subj: `$KV.${bucket}.${id}` });
      if (m === null || m.data.length === 0) return undefined;
      data = m.data;
    } catch (err) {
      if (/not found|no message/i.test((err as Error).message)) return undefined;
      throw err;
    }
    const value = decodeJson(data, MAX_REPLY);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  }

  /** Up to `limit` dead-lettered tasks of `pool`, oldest first, each with its stream sequence (for {@link dropDead}). */
  async deadTasks(pool: string, limit: number): Promise<Array<{ seq: number; record: Record<string, unknown>; code?: string; reason?: string; deliveries?: number }>> {
    assertToken(pool, 'pool name');
    const stream = `HIVE_${this.cluster}_DLQ`;
    const jsm = await this.transport.jetstreamManager();
    const info = await jsm.streams.info(stream, { subjects_filter: this.dlqSubject(pool) }).catch(() => undefined);
    const available = info?.state.subjects?.[this.dlqSubject(pool)] ?? 0;
    if (available === 0) return [];
    const consumer = await this.transport.jetstream().consumers.get(stream, { filter_subjects: this.dlqSubject(pool) });
    const out: Array<{ seq: number; record: Record<string, unknown>; code?: string; reason?: string; deliveries?: number }> = [];
    const batch = await consumer.fetch({ max_messages: Math.min(limit, available), expires: 2000 });
    for await (const m of batch) {
      let record: unknown;
      try {
        record = decodeJson(m.data, MAX_REPLY);
      } catch {
        record = undefined;
      }
      const entry: (typeof out)[number] = { seq: m.seq, record: typeof record === 'object' && record !== null && !Array.isArray(record) ? (record as Record<string, unknown>) : {} };
      const code = m.headers?.get('Hive-Dead-Code');
      if (code !== undefined && code !== '') {
        entry.code = code;
        entry.reason = m.headers?.get('Hive-Dead-Reason') ?? '';
        entry.deliveries = Number(m.headers?.get('Hive-Deliveries') ?? 0);
      }
      out.push(entry);
      if (out.length >= Math.min(limit, available)) break;
    }
    return out;
  }

  /** Removes dead letter `seq` of the cluster's dead-letter stream (after a replay). */
  async dropDead(seq: number): Promise<void> {
    const jsm = await this.transport.jetstreamManager();
    await jsm.streams.deleteMessage(`HIVE_${this.cluster}_DLQ`, seq);
  }

  private dlqSubject(pool: string): string {
    return `hive.${this.cluster}.dlq.${pool}`;
  }

  /** The subject of an actor id or a `<kind>/<key>` virtual actor. */
  subjectOf(target: string): string {
    const slash = target.indexOf('/');
    if (slash < 0) return actorSubject(this.cluster, assertToken(target, 'actor id'));
    return virtualSubject(this.cluster, assertToken(target.slice(0, slash), 'kind'), assertToken(target.slice(slash + 1), 'virtual actor key'));
  }

  close(): Promise<void> {
    this.transit.stop();
    return this.transport.close();
  }
}

/** Parses a JSON event given on the command line; the error names the argument. */
export function parseEventArg(json: string, what = 'event'): HiveEvent {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new InvalidArgumentError(`${what} is not valid JSON: ${(err as Error).message}`, { details: { argument: what } });
  }
  return checkEvent(value);
}

function checkEvent(value: unknown): HiveEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof (value as { type?: unknown }).type !== 'string') {
    throw new InvalidEventError('an event must be a JSON object with a string "type", e.g. {"type":"ping"}');
  }
  return value as HiveEvent;
}
