// Membership and failure detection: each node publishes a heartbeat on `hive.<cluster>.sys.heartbeat`;
// every node keeps the table of live nodes and reports join, leave (a clean stop) and failure (no heartbeat
// for `failureAfterMs`) to its subscribers.
import { decodeJson, encodeJson } from '../protocols/frame.js';
import { sysSubject } from '../protocols/subjects.js';
import type { Clock, TimerHandle } from '../runtime/Clock.js';
import type { Logger } from '../runtime/logger.js';
import type { MetricsRegistry } from '../runtime/metrics.js';
import type { Transport, TransportSubscription } from '../runtime/Transport.js';

/** What a node says about itself in each heartbeat. */
export interface NodeAnnouncement {
  type: 'hive.heartbeat';
  node: string;
  /** Epoch ms the node started. */
  startedAt: number;
  /** Actors living on the node. */
  actors: number;
  /** Kinds the node can activate. */
  kinds: string[];
  /** Pools the node hosts agents for. */
  pools?: string[];
  /** Busy and total agent slots per pool on the node. */
  poolLoad?: Record<string, { busy: number; capacity: number }>;
}

/** A live node as this node knows it. */
export interface Member extends NodeAnnouncement {
  /** Epoch ms of the last heartbeat. */
  lastSeen: number;
}

/** A change in the set of live nodes. */
export type MembershipEvent =
  | { type: 'join'; member: Member }
  | { type: 'update'; member: Member }
  | { type: 'leave'; node: string }
  | { type: 'fail'; node: string; silentMs: number };

/** Heartbeats, the live-node table and join/leave/fail events for one node. */
export class Membership {
  private readonly members = new Map<string, Member>();
  private readonly listeners = new Set<(e: MembershipEvent) => void>();
  private subs: TransportSubscription[] = [];
  private timer: TimerHandle | undefined;
  private running = false;
  private readonly heartbeatSubject: string;
  private readonly leaveSubject: string;

  constructor(
    private readonly deps: {
      cluster: string;
      nodeId: string;
      transport: Transport;
      clock: Clock;
      logger: Logger;
      metrics: MetricsRegistry;
      heartbeatMs: number;
      failureAfterMs: number;
      /** Builds this node's announcement (called for each heartbeat). */
      announce: () => NodeAnnouncement;
    },
  ) {
    this.heartbeatSubject = sysSubject(deps.cluster, 'heartbeat');
    this.leaveSubject = sysSubject(deps.cluster, 'leave');
    const members = this.members;
    deps.metrics.gauge('hive_cluster_nodes', 'Live nodes this node sees (itself included)', [], function () {
      this.set(members.size);
    });
  }

  /** Starts heartbeating and listening. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.subs.push(this.deps.transport.subscribe(this.heartbeatSubject, (m) => this.onHeartbeat(m.data)));
    this.subs.push(this.deps.transport.subscribe(this.leaveSubject, (m) => this.onLeave(m.data)));
    this.tick();
  }

  private tick = (): void => {
    if (!this.running) return;
    this.beat();
    this.expire();
    this.timer = this.deps.clock.setTimeout(this.tick, this.deps.heartbeatMs);
  };

  /** Publishes this node's heartbeat now (also called when something worth announcing changed). */
  beat(): void {
    const me = this.deps.announce();
    this.see(me);
    if (!this.deps.transport.connected) return;
    try {
      this.deps.transport.publish(this.heartbeatSubject, encodeJson(me));
    } catch (err) {
      this.deps.logger.debug({ err }, 'heartbeat not sent');
    }
  }

  private onHeartbeat(data: Uint8Array): void {
    let a: NodeAnnouncement;
    try {
      a = decodeJson(data, 1024 * 1024) as NodeAnnouncement;
    } catch {
      return;
    }
    if (typeof a?.node !== 'string' || a.node === this.deps.nodeId) return;
    this.see(a);
  }

  private see(a: NodeAnnouncement): void {
    const known = this.members.get(a.node);
    const member: Member = { ...a, kinds: Array.isArray(a.kinds) ? a.kinds : [], lastSeen: this.deps.clock.now() };
    this.members.set(a.node, member);
    if (known === undefined || known.startedAt !== a.startedAt) {
      if (a.node !== this.deps.nodeId) this.deps.logger.info({ peer: a.node }, 'node joined');
      this.emit({ type: 'join', member });
    } else if (!sameList(known.kinds, member.kinds) || !sameList(known.pools, member.pools)) {
      this.emit({ type: 'update', member });
    }
  }

  private onLeave(data: Uint8Array): void {
    let msg: { node?: unknown };
    try {
      msg = decodeJson(data, 64 * 1024) as { node?: unknown };
    } catch {
      return;
    }
    if (typeof msg.node !== 'string' || msg.node === this.deps.nodeId) return;
    if (this.members.delete(msg.node)) {
      this.deps.logger.info({ peer: msg.node }, 'node left');
      this.emit({ type: 'leave', node: msg.node });
    }
  }

  private expire(): void {
    const now = this.deps.clock.now();
    for (const [id, m] of this.members) {
      if (id === this.deps.nodeId) continue;
      const silent = now - m.lastSeen;
      if (silent > this.deps.failureAfterMs) {
        this.members.delete(id);
        this.deps.logger.warn({ peer: id, silentMs: silent }, 'node failed (no heartbeat)');
        this.emit({ type: 'fail', node: id, silentMs: silent });
      }
    }
  }

  private emit(e: MembershipEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.deps.logger.error({ err }, 'membership listener threw');
      }
    }
  }

  /** Calls `listener` on join, leave and fail; returns an unsubscribe function. */
  subscribe(listener: (e: MembershipEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Live nodes, this one included. */
  live(): Member[] {
    return [...this.members.values()];
  }

  /** True when `node` is live (a heartbeat within `failureAfterMs`). */
  isLive(node: string): boolean {
    const m = this.members.get(node);
    return m !== undefined && this.deps.clock.now() - m.lastSeen <= this.deps.failureAfterMs;
  }

  /** Stops heartbeating and tells the others this node leaves. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    try {
      if (this.deps.transport.connected) this.deps.transport.publish(this.leaveSubject, encodeJson({ type: 'hive.leave', node: this.deps.nodeId }));
    } catch {
      // leaving while disconnected: the others will notice the silence
    }
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
