// ClusterClient: what the CLI (and scripts) use to talk to a running cluster over NATS as a plain client,
// in JSON — the same payloads the NATS CLI sends: status from every node, spawn on a node, send, ask.
import type { HiveEvent } from '../protocols/envelope.js';
import { InvalidArgumentError, InvalidEventError, NoSuchActorError } from '../protocols/errors.js';
import { FrameCodec, encodeJson } from '../protocols/frame.js';
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
