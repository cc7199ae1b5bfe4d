// Where virtual actors live: the placement record (one KV entry per active virtual actor, `<kind>.<key>` →
// owner node; its revision is the owner's fencing token) and each node's cache of owners.
import type { FrameCodec } from '../../protocols/frame.js';
import { isToken } from '../../protocols/subjects.js';
import type { MetricsRegistry } from '../../runtime/metrics.js';
import type { Membership } from '../Membership.js';

/** Where a virtual actor lives, as stored in the placement bucket. */
export interface Placement {
  node: string;
  /** Epoch ms the owner won it. */
  at: number;
}

/** KV key of a virtual actor (placement and snapshot): `<kind>.<key>`. */
export function placementKey(kind: string, key: string): string {
  return `${kind}.${key}`;
}

/** Kind and key of a KV key written by {@link placementKey}, or undefined for anything else. */
export function parsePlacementKey(k: string): { kind: string; key: string } | undefined {
  const dot = k.indexOf('.');
  if (dot < 0) return undefined;
  const kind = k.slice(0, dot);
  const key = k.slice(dot + 1);
  return isToken(kind) && isToken(key) ? { kind, key } : undefined;
}

export function encodePlacement(codec: FrameCodec, node: string, at: number): Uint8Array {
  const p: Placement = { node, at };
  return codec.encode(p);
}

/**
 * A placement read from the bucket (anyone with KV rights may have written it: checked), or undefined when
 * it is not one; an undecodable placement names no owner, so it is taken over like a dead owner's.
 */
export function decodePlacement(codec: FrameCodec, bytes: Uint8Array): Placement | undefined {
  let v: unknown;
  try {
    v = codec.decode(bytes);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const p = v as Record<string, unknown>;
  return isToken(p['node']) && typeof p['at'] === 'number' ? { node: p['node'], at: p['at'] } : undefined;
}

/** Owners of virtual actors this node remembers (the oldest are forgotten first). */
export const MAX_CACHED_PLACEMENTS = 10_000;

/**
 * Owners of virtual actors on other nodes (actor id → node), so a message goes straight to its owner's
 * subject: one hop, no KV read. Forgets a node's entries when it leaves or fails, everything when a node
 * joins, and an entry when the placement bucket reports its key changed or its owner answers NO_SUCH_ACTOR.
 */
export class PlacementCache {
  private readonly owners = new Map<string, string>();
  private readonly unwatch: (() => void) | undefined;
  private readonly lookups: { cache: () => void; kv: () => void };

  constructor(
    private readonly nodeId: string,
    private readonly membership: Membership | undefined,
    metrics: MetricsRegistry,
  ) {
    this.unwatch = membership?.subscribe((e) => {
      if (e.type === 'join') this.owners.clear();
      else if (e.type === 'leave' || e.type === 'fail') for (const [id, node] of this.owners) if (node === e.node) this.owners.delete(id);
    });
    const c = metrics.counter('hive_placement_lookups_total', "Where this node found a virtual actor's owner: its placement cache or the KV bucket", ['source']);
    const cache = c.labels('cache');
    const kv = c.labels('kv');
    this.lookups = { cache: () => cache.inc(), kv: () => kv.inc() };
  }

  /** The cached owner of virtual actor `id`, when it is another live node. */
  owner(id: string): string | undefined {
    const node = this.owners.get(id);
    if (node === undefined) return undefined;
    if (node === this.nodeId || !this.isLive(node)) {
      this.owners.delete(id);
      return undefined;
    }
    this.lookups.cache();
    return node;
  }

  remember(id: string, node: string): void {
    if (node === this.nodeId) return;
    this.owners.delete(id);
    this.owners.set(id, node);
    if (this.owners.size > MAX_CACHED_PLACEMENTS) this.owners.delete(this.owners.keys().next().value!);
  }

  forget(id: string): void {
    this.owners.delete(id);
  }

  /** Counts a KV read (the cache is there to avoid them). */
  countRead(): void {
    this.lookups.kv();
  }

  /** True when `node` is live as far as this node's membership knows (always, without membership). */
  isLive(node: string): boolean {
    return this.membership === undefined || this.membership.isLive(node);
  }

  stop(): void {
    this.unwatch?.();
    this.owners.clear();
  }
}
