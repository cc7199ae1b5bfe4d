// Membership and failure detection: each node publishes a heartbeat on `hive.<cluster>.sys.heartbeat`;
// every node keeps the table of live nodes and reports join, leave (a clean stop) and failure (no heartbeat
// for `failureAfterMs`) to its subscribers. A starting node says hello on `hive.<cluster>.sys.hello` and the
// others heartbeat at once, so its view of the cluster is complete within a round trip; until a settling
// window of two heartbeat intervals has passed, callers that miss a node in the view wait for it
// (`waitFor`) instead of failing.
import { decodeJson, encodeJson } from '../protocols/frame.js';
import { isToken, sysSubject } from '../protocols/subjects.js';
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

/** Most kinds or pools one heartbeat may list. */
const MAX_LISTED = 1024;
/** Most peers the table keeps (a flood of forged node ids cannot grow it without bound). */
export const MAX_MEMBERS = 1024;

/**
 * Checks a heartbeat from the wire: `node` one safe token, `startedAt` a finite number, `actors` a
 * non-negative safe integer, `kinds` and `pools` arrays of at most 1024 tokens, `poolLoad` entries of
 * non-negative integers with busy ≤ capacity. Returns the announcement rebuilt from those fields only, or a
 * string saying what is wrong (a forged `actors: -1` must not win placement).
 */
export function parseAnnouncement(value: unknown): NodeAnnouncement | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const v = value as Record<string, unknown>;
  if (v['type'] !== 'hive.heartbeat') return 'type is not hive.heartbeat';
  if (!isToken(v['node'])) return 'node is not a token';
  if (typeof v['startedAt'] !== 'number' || !Number.isFinite(v['startedAt'])) return 'startedAt is not a finite number';
  if (!isCount(v['actors'])) return 'actors is not a non-negative integer';
  const kinds = tokens(v['kinds']);
  if (kinds === undefined) return 'kinds is not a list of tokens';
  const a: NodeAnnouncement = { type: 'hive.heartbeat', node: v['node'], startedAt: v['startedAt'], actors: v['actors'], kinds };
  if (v['pools'] !== undefined) {
    const pools = tokens(v['pools']);
    if (pools === undefined) return 'pools is not a list of tokens';
    a.pools = pools;
  }
  if (v['poolLoad'] !== undefined) {
    const raw = v['poolLoad'];
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'poolLoad is not an object';
    const load: Record<string, { busy: number; capacity: number }> = {};
    const entries = Object.entries(raw as Record<string, unknown>);
    if (entries.length > MAX_LISTED) return 'poolLoad lists too many pools';
    for (const [pool, l] of entries) {
      const e = l as { busy?: unknown; capacity?: unknown } | null;
      if (!isToken(pool) || typeof e !== 'object' || e === null || !isCount(e.busy) || !isCount(e.capacity) || e.busy > e.capacity) {
        return `poolLoad.${pool.slice(0, 40)} is not { busy, capacity } counts with busy <= capacity`;
      }
      load[pool] = { busy: e.busy, capacity: e.capacity };
    }
    a.poolLoad = load;
  }
  return a;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function tokens(v: unknown): string[] | undefined {
  if (!Array.isArray(v) || v.length > MAX_LISTED) return undefined;
  for (const t of v) if (!isToken(t)) return undefined;
  return v as string[];
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
  private readonly helloSubject: string;
  /** Epoch ms until which the view may still be incomplete (set by start()). */
  private settledAt = 0;
  /** Epoch ms of the last heartbeat sent in answer to a hello (answers are at most one per quarter interval). */
  private lastHelloBeat = 0;

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
    this.helloSubject = sysSubject(deps.cluster, 'hello');
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
    this.subs.push(this.deps.transport.subscribe(this.helloSubject, (m) => this.onHello(m.data)));
    this.settledAt = this.deps.clock.now() + 2 * this.deps.heartbeatMs;
    this.tick();
    if (this.deps.transport.connected) {
      try {
        this.deps.transport.publish(this.helloSubject, encodeJson({ type: 'hive.hello', node: this.deps.nodeId }));
      } catch (err) {
        this.deps.logger.debug({ err }, 'hello not sent');
      }
    }
  }

  /** Another node started: heartbeat now so its view is complete at once (throttled: the wire may flood hellos). */
  private onHello(data: Uint8Array): void {
    let msg: { node?: unknown };
    try {
      msg = decodeJson(data, 1024) as { node?: unknown };
    } catch {
      return;
    }
    if (typeof msg !== 'object' || msg === null || !isToken(msg.node) || msg.node === this.deps.nodeId) return;
    const now = this.deps.clock.now();
    if (now - this.lastHelloBeat < this.deps.heartbeatMs / 4) return;
    this.lastHelloBeat = now;
    this.beat();
  }

  /**
   * Resolves true as soon as `test(live())` holds; false once it still does not hold when the view has
   * settled (at once if it already has) or at `deadline` (epoch ms), whichever comes first.
   * @example if (!(await membership.waitFor((ms) => ms.some((m) => m.pools?.includes('p')), deadline))) throw ...
   */
  waitFor(test: (members: Member[]) => boolean, deadline: number): Promise<boolean> {
    if (test(this.live())) return Promise.resolve(true);
    const until = Math.min(deadline, this.settledAt);
    const now = this.deps.clock.now();
    if (!this.running || until <= now) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const finish = (ok: boolean) => {
        off();
        this.deps.clock.clearTimeout(timer);
        resolve(ok);
      };
      const off = this.subscribe((e) => {
        if ((e.type === 'join' || e.type === 'update') && test(this.live())) finish(true);
      });
      const timer = this.deps.clock.setTimeout(() => finish(test(this.live())), until - now);
    });
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
    let a: NodeAnnouncement | string;
    try {
      a = parseAnnouncement(decodeJson(data, 1024 * 1024));
    } catch {
      a = 'not JSON';
    }
    if (typeof a === 'string') {
      this.deps.logger.debug({ reason: a }, 'heartbeat refused');
      return;
    }
    if (a.node === this.deps.nodeId) return;
    if (!this.members.has(a.node) && this.members.size >= MAX_MEMBERS) {
      this.deps.logger.warn({ peer: a.node, max: MAX_MEMBERS }, 'heartbeat of a new node refused: the member table is full');
      return;
    }
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
    if (!isToken(msg.node) || msg.node === this.deps.nodeId) return;
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
