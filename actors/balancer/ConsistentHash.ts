// Consistent hashing on a task key: a ring of virtual nodes (sorted 32-bit points, binary search per pick).
// The same key maps to the same agent while it lives; an agent leaving moves only its own keys.
import { BaseStrategy, type AgentRecord, type BaseStrategyOptions } from './BaseStrategy.js';
import { fmix32, hash32 } from './hash32.js';

/** Options of {@link ConsistentHash}. */
export interface ConsistentHashOptions extends BaseStrategyOptions {
  /** Virtual nodes (ring points) per agent (default 160). More points, more even spread, more memory. */
  vnodes?: number;
  /** The key hash (default {@link hash32}): must return an unsigned 32-bit integer. */
  hash?: (key: string) => number;
}

/** Default ring points per agent. */
export const DEFAULT_VNODES = 160;

/** Ring points store (hash, slot) packed in one float64 while sorting: slot numbers stay below 2^21. */
const SLOT_SPACE = 2 ** 21;
const GOLDEN = 0x9e3779b9;

/**
 * Consistent hash ring with virtual nodes.
 *
 * - `pick(key)` hashes the key (FNV-1a + fmix32 by default), finds the first ring point at or after it
 *   (a bucket index on the hash's top bits, then a binary search over the few points of that bucket) and walks clockwise to the first agent that is available: a dead agent's
 *   keys go to the next agent on the ring and come back when it is live again; with capacity respected, a
 *   full agent's keys spill to the next agent with room ("bounded loads"). Pass `respectCapacity: false`
 *   for strict affinity.
 * - `pick()` without a key cycles round robin over the available agents.
 * - Agent `i`'s points are `fmix32(hash(id) + (v + 1) * φ)` for `v < vnodes`: they depend only on the id,
 *   so every process builds the same ring.
 * - Membership changes are lazy: adds are merged into the sorted ring on the next pick (O(new points ×
 *   log + ring size), batched however many agents joined), removals leave tombstones that picks skip
 *   (O(1)), compacted when they pass half of the ring. Liveness, load and latency changes cost nothing here.
 */
export class ConsistentHash extends BaseStrategy {
  readonly name = 'consistent-hash' as const;
  /** Ring points per agent. */
  readonly vnodes: number;
  private readonly hash: (key: string) => number;
  private hashes = new Uint32Array(0);
  private slots = new Int32Array(0);
  /** `index[b]` = first ring position whose hash's top `indexBits` bits are >= b (b up to 2^indexBits). */
  private index = new Int32Array(2);
  private indexShift = 31;
  /** Agents by slot; undefined marks a removed agent whose points are tombstones. */
  private slotRecs: Array<AgentRecord | undefined> = [];
  private pending: AgentRecord[] = [];
  private tombstones = 0;
  private cursor = 0;

  constructor(options: ConsistentHashOptions = {}) {
    super(options);
    this.vnodes = options.vnodes ?? DEFAULT_VNODES;
    this.hash = options.hash ?? hash32;
  }

  /** Number of points on the ring, tombstones included (pending adds are merged first). */
  get ringSize(): number {
    this.sync();
    return this.hashes.length;
  }

  pick(key?: string): string | undefined {
    if (this.pending.length > 0 || this.tombstones * 2 > this.hashes.length) this.sync();
    const pool = this.pool;
    if (pool.length === 0) return undefined;
    if (key === undefined) {
      if (this.cursor >= pool.length) this.cursor = 0;
      return pool[this.cursor++].id;
    }
    const hashes = this.hashes;
    const n = hashes.length;
    const h = this.hash(key) >>> 0;
    // The bucket index narrows the binary search to the few points sharing the hash's top bits.
    const b = h >>> this.indexShift;
    let lo = this.index[b];
    let hi = this.index[b + 1];
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (hashes[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    if (lo === n) lo = 0;
    const slots = this.slots;
    const recs = this.slotRecs;
    for (let step = 0; step < n; step++) {
      const rec = recs[slots[lo]];
      if (rec !== undefined && this.isAvailable(rec)) return rec.id;
      if (++lo === n) lo = 0;
    }
    return undefined;
  }

  protected override onAdd(rec: AgentRecord): void {
    if (this.slotRecs.length >= SLOT_SPACE) this.compact();
    if (this.slotRecs.length >= SLOT_SPACE) throw new RangeError(`consistent-hash supports at most ${SLOT_SPACE} agents`);
    rec.index = this.slotRecs.length;
    rec.seq = 0; // 0: points not on the ring yet
    this.slotRecs.push(rec);
    this.pending.push(rec);
  }

  protected override onRemove(rec: AgentRecord): void {
    this.slotRecs[rec.index] = undefined;
    if (rec.seq === 1) this.tombstones += this.vnodes;
  }

  /** Merges pending agents' points into the ring and drops tombstones when they are more than half. */
  private sync(): void {
    if (this.tombstones * 2 > this.hashes.length) this.compact();
    if (this.pending.length === 0) return;
    const fresh: AgentRecord[] = [];
    for (const rec of this.pending) if (this.slotRecs[rec.index] === rec) fresh.push(rec);
    this.pending = [];
    if (fresh.length === 0) return;
    const v = this.vnodes;
    const packed = new Float64Array(fresh.length * v);
    let k = 0;
    for (const rec of fresh) {
      const base = this.hash(rec.id) >>> 0;
      for (let i = 0; i < v; i++) packed[k++] = fmix32((base + Math.imul(i + 1, GOLDEN)) >>> 0) * SLOT_SPACE + rec.index;
      rec.seq = 1;
    }
    packed.sort();
    // Merge the sorted new points into the ring.
    const oldH = this.hashes;
    const oldS = this.slots;
    const total = oldH.length + packed.length;
    const hashes = new Uint32Array(total);
    const slots = new Int32Array(total);
    let a = 0;
    let b = 0;
    for (let o = 0; o < total; o++) {
      const nb = b < packed.length ? packed[b] : Infinity;
      const hb = Math.floor(nb / SLOT_SPACE);
      if (a < oldH.length && (oldH[a] < hb || (oldH[a] === hb && oldS[a] < nb - hb * SLOT_SPACE))) {
        hashes[o] = oldH[a]!;
        slots[o] = oldS[a++]!;
      } else {
        hashes[o] = hb;
        slots[o] = nb - hb * SLOT_SPACE;
        b++;
      }
    }
    this.hashes = hashes;
    this.slots = slots;
    this.buildIndex();
  }

  /** Rebuilds the bucket index over the ring's top hash bits (about 4-8 points per bucket). O(points + buckets). */
  private buildIndex(): void {
    const hashes = this.hashes;
    const n = hashes.length;
    const bits = Math.max(1, Math.min(20, Math.floor(Math.log2(Math.max(n, 2))) - 2));
    const shift = 32 - bits;
    const buckets = 1 << bits;
    const index = new Int32Array(buckets + 1);
    let pos = 0;
    for (let b = 0; b <= buckets; b++) {
      while (pos < n && hashes[pos] >>> shift < b) pos++;
      index[b] = pos;
    }
    index[buckets] = n;
    this.index = index;
    this.indexShift = shift;
  }

  /** Drops tombstoned points and renumbers slots densely. O(ring size). */
  private compact(): void {
    const old = this.slotRecs;
    const remap = new Int32Array(old.length).fill(-1);
    const recs: AgentRecord[] = [];
    for (let i = 0; i < old.length; i++) {
      const rec = old[i];
      if (rec === undefined) continue;
      remap[i] = recs.length;
      rec.index = recs.length;
      recs.push(rec);
    }
    const n = this.hashes.length;
    let w = 0;
    for (let r = 0; r < n; r++) {
      const slot = remap[this.slots[r]];
      if (slot < 0) continue;
      this.hashes[w] = this.hashes[r]!;
      this.slots[w++] = slot;
    }
    this.hashes = this.hashes.slice(0, w);
    this.slots = this.slots.slice(0, w);
    this.slotRecs = recs;
    this.tombstones = 0;
    this.buildIndex();
  }
}
