// The node as a NATS service (the services protocol of the official clients' `micro` API, what `nats micro
// ls / info / stats` reads): every node answers `$SRV.PING|INFO|STATS`, `$SRV.<verb>.hive` and
// `$SRV.<verb>.hive.<id>` as service `hive`, with its cluster and node id in the metadata and its endpoints
// (actors, virtual actors, pools, memory) with request counts, errors and processing time. The counts come
// from the transit (every ask a node serves is answered there) and, for pools, from the pools' counters.
// Implemented from the protocol's documentation (ADR-32): `@nats-io/services` is only published as a 3.0
// prerelease tied to an older `@nats-io/nats-core`.
import { randomBytes } from 'node:crypto';
import { encodeJson } from '../../protocols/frame.js';
import type { TransportMessage, TransportSubscription } from '../../runtime/Transport.js';
import type { Hive } from '../Hive.js';
import { hiveInternals } from '../internal.js';

/** The service name every Hive node registers as. */
export const SERVICE_NAME = 'hive';
/** The service version (the package's). */
export const SERVICE_VERSION = '0.1.0';

/** One endpoint's counters, as `$SRV.STATS` reports them (times in nanoseconds). */
export interface EndpointStats {
  name: string;
  subject: string;
  queue_group: string;
  num_requests: number;
  num_errors: number;
  last_error: string;
  processing_time: number;
  average_processing_time: number;
}

type EndpointName = 'actors' | 'virtual' | 'memory' | 'pools';

interface Counter {
  requests: number;
  errors: number;
  lastError: string;
  seconds: number;
}

/** Answers the services protocol for one node. */
export class NodeService {
  /** This instance's id (unique per process, a subject token). */
  readonly id = randomBytes(11).toString('hex');
  private readonly started = new Date().toISOString();
  private readonly counters = new Map<EndpointName, Counter>();
  private subs: TransportSubscription[] = [];

  constructor(private readonly hive: Hive) {}

  /** Subscribes to the `$SRV.*` subjects and starts counting served requests. */
  start(): void {
    const t = hiveInternals(this.hive).transport;
    hiveInternals(this.hive).system.transit.onServed = (subject, seconds, err) => this.count(subject, seconds, err);
    for (const verb of ['PING', 'INFO', 'STATS'] as const) {
      for (const subject of [`$SRV.${verb}`, `$SRV.${verb}.${SERVICE_NAME}`, `$SRV.${verb}.${SERVICE_NAME}.${this.id}`]) {
        try {
          this.subs.push(t.subscribe(subject, (m) => this.answer(m, verb)));
        } catch (err) {
          this.hive.logger.warn({ err, subject }, 'cannot answer the NATS services protocol');
        }
      }
    }
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    if (hiveInternals(this.hive).system.transit.onServed !== undefined) hiveInternals(this.hive).system.transit.onServed = undefined;
  }

  /** Subject prefixes of the endpoints, built once (this runs for every served request). */
  private prefixes: { actor: string; kind: string; placed: string; memory: string; memoryDot: string } | undefined;

  private endpointOf(subject: string): EndpointName | undefined {
    const p = (this.prefixes ??= {
      actor: `hive.${this.hive.cluster}.actor.`,
      kind: `hive.${this.hive.cluster}.kind.`,
      placed: `hive.${this.hive.cluster}.sys.node.${this.hive.nodeId}.kind.`,
      memory: `hive.${this.hive.cluster}.memory`,
      memoryDot: `hive.${this.hive.cluster}.memory.`,
    });
    if (subject.startsWith(p.actor)) return 'actors';
    if (subject.startsWith(p.kind) || subject.startsWith(p.placed)) return 'virtual';
    if (subject === p.memory || subject.startsWith(p.memoryDot)) return 'memory';
    return undefined;
  }

  private count(subject: string, seconds: number, err: unknown): void {
    const name = this.endpointOf(subject);
    if (name === undefined) return;
    let c = this.counters.get(name);
    if (c === undefined) {
      c = { requests: 0, errors: 0, lastError: '', seconds: 0 };
      this.counters.set(name, c);
    }
    c.requests++;
    c.seconds += seconds;
    if (err !== undefined) {
      c.errors++;
      const e = err as { code?: unknown; message?: unknown };
      c.lastError = `${typeof e.code === 'string' ? e.code : 'ERROR'}: ${typeof e.message === 'string' ? e.message.slice(0, 200) : ''}`;
    }
  }

  private metadata(): Record<string, string> {
    return { cluster: this.hive.cluster, node: this.hive.nodeId };
  }

  private endpoints(): Array<{ name: EndpointName; subject: string; queue_group: string }> {
    const c = this.hive.cluster;
    return [
      { name: 'actors', subject: `hive.${c}.actor.>`, queue_group: '' },
      { name: 'virtual', subject: `hive.${c}.kind.>`, queue_group: 'hive-kind-<kind>' },
      { name: 'pools', subject: `hive.${c}.pool.>`, queue_group: 'hive-pool-<pool>' },
      { name: 'memory', subject: `hive.${c}.memory`, queue_group: 'hive-memory' },
    ];
  }

  /** What `$SRV.STATS` answers for each endpoint. */
  stats(): EndpointStats[] {
    const pools = hiveInternals(this.hive).pools.status();
    return this.endpoints().map((e) => {
      let c = this.counters.get(e.name) ?? { requests: 0, errors: 0, lastError: '', seconds: 0 };
      if (e.name === 'pools') {
        // tasks this node's agents ran (a pool task is a durable message, not a request to this node)
        const done = pools.reduce((a, p) => a + p.done, 0);
        const failed = pools.reduce((a, p) => a + p.failed + p.deadLettered, 0);
        c = { requests: done + failed, errors: failed, lastError: '', seconds: 0 };
      }
      const ns = Math.round(c.seconds * 1e9);
      return { ...e, num_requests: c.requests, num_errors: c.errors, last_error: c.lastError, processing_time: ns, average_processing_time: c.requests === 0 ? 0 : Math.round(ns / c.requests) };
    });
  }

  private answer(m: TransportMessage, verb: 'PING' | 'INFO' | 'STATS'): void {
    if (m.reply === undefined) return;
    const base = { name: SERVICE_NAME, id: this.id, version: SERVICE_VERSION, metadata: this.metadata() };
    let body: Record<string, unknown>;
    if (verb === 'PING') body = { type: 'io.nats.micro.v1.ping_response', ...base };
    else if (verb === 'INFO') {
      body = {
        type: 'io.nats.micro.v1.info_response',
        ...base,
        description: `Hive node ${this.hive.nodeId} of cluster ${this.hive.cluster}`,
        endpoints: this.endpoints().map((e) => ({ ...e, metadata: null })),
      };
    } else body = { type: 'io.nats.micro.v1.stats_response', ...base, started: this.started, endpoints: this.stats() };
    try {
      hiveInternals(this.hive).transport.publish(m.reply, encodeJson(body));
    } catch (err) {
      this.hive.logger.debug({ err }, 'could not answer a services request');
    }
  }
}
