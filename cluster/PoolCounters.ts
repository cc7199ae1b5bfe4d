// PoolCounters: pool counters that outlive the node that counted them. Each node writes its own counters per
// pool (done, failed, retried, dead-lettered) to the KV key `<pool>.<node>` (bucket `hive_<cluster>_poolstats`
// over NATS, the in-memory twin in-process) at most once per second and when it stops; a pool's cluster-wide
// totals are the sum over every node that ever wrote for it, live or gone. A node restarted under the same id
// continues from what it wrote before.
import { decodeJson, encodeJson } from '../protocols/frame.js';
import type { Clock, TimerHandle } from '../runtime/Clock.js';
import type { KeyValueStore } from '../runtime/KeyValueStore.js';
import type { Logger } from '../runtime/logger.js';

/** The counters kept cluster-wide. */
export const POOL_COUNTER_FIELDS = ['done', 'failed', 'retried', 'deadLettered'] as const;
/** A pool's durable counters. */
export type PoolCounts = Record<(typeof POOL_COUNTER_FIELDS)[number], number>;
/** How often a node writes its counters (and reads the cluster's totals). */
export const POOL_COUNTERS_FLUSH_MS = 1000;
/** Most node entries read per pool (bounds what a crowded bucket costs). */
const MAX_ENTRIES_PER_POOL = 10_000;
const MAX_ENTRY_BYTES = 4096;

const zero = (): PoolCounts => ({ done: 0, failed: 0, retried: 0, deadLettered: 0 });

/** Counters from a stored entry (untrusted: anything that is not a non-negative finite count reads as 0), or undefined. */
export function parsePoolCounts(data: Uint8Array): PoolCounts | undefined {
  let raw: unknown;
  try {
    raw = decodeJson(data, MAX_ENTRY_BYTES);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const out = zero();
  for (const f of POOL_COUNTER_FIELDS) {
    const v = Object.prototype.hasOwnProperty.call(raw, f) ? (raw as Record<string, unknown>)[f] : undefined;
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) out[f] = Math.floor(v);
  }
  return out;
}

/** Writes this node's pool counters and reads the cluster-wide totals. */
export class PoolCounters {
  /** What this node id counted in earlier runs, per pool. */
  private readonly base = new Map<string, PoolCounts>();
  /** Cluster-wide totals per pool, as last read. */
  private readonly totals = new Map<string, PoolCounts>();
  /** The last counters written per pool (nothing is written while they stay the same). */
  private readonly written = new Map<string, PoolCounts>();
  private timer: TimerHandle | undefined;
  private running = false;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly deps: { kv: KeyValueStore; node: string; clock: Clock; logger: Logger; local: () => Array<{ pool: string } & PoolCounts> },
  ) {}

  /** Reads what this node id wrote for `pool` before (a restart continues from it); call before the pool counts. */
  async adopt(pool: string): Promise<void> {
    try {
      const e = await this.deps.kv.get(`${pool}.${this.deps.node}`);
      const prev = e === undefined ? undefined : parsePoolCounts(e.value);
      if (prev !== undefined) this.base.set(pool, prev);
    } catch (err) {
      this.deps.logger.warn({ err, pool }, 'could not read the pool counters this node wrote before (they start from 0)');
    }
    if (!this.running) {
      this.running = true;
      this.schedule();
    }
  }

  /** This node's counters for a pool: earlier runs plus this one. */
  mine(s: { pool: string } & PoolCounts): PoolCounts {
    const b = this.base.get(s.pool) ?? zero();
    const out = zero();
    for (const f of POOL_COUNTER_FIELDS) out[f] = b[f] + s[f];
    return out;
  }

  /** Cluster-wide totals of `pool` (every node that ever counted for it), with this node's counters up to date. */
  totalsOf(s: { pool: string } & PoolCounts): PoolCounts {
    const t = this.totals.get(s.pool);
    const mine = this.mine(s);
    if (t === undefined) return mine;
    // the last read holds what this node had written then; count this node's current numbers instead
    const before = this.written.get(s.pool) ?? zero();
    const out = zero();
    for (const f of POOL_COUNTER_FIELDS) out[f] = Math.max(mine[f], t[f] - before[f] + mine[f]);
    return out;
  }

  /** Writes this node's changed counters, then reads every pool's totals. */
  flush(): Promise<void> {
    this.flushing ??= this.doFlush().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async doFlush(): Promise<void> {
    for (const s of this.deps.local()) {
      const mine = this.mine(s);
      const own = `${s.pool}.${this.deps.node}`;
      try {
        const last = this.written.get(s.pool);
        if (last === undefined || POOL_COUNTER_FIELDS.some((f) => last[f] !== mine[f])) {
          await this.deps.kv.put(own, encodeJson(mine));
          this.written.set(s.pool, mine);
        }
        const keys = (await this.deps.kv.keys(`${s.pool}.`)).slice(0, MAX_ENTRIES_PER_POOL);
        const sum = zero();
        for (const k of keys) {
          if (k === own) continue;
          const e = await this.deps.kv.get(k);
          const c = e === undefined ? undefined : parsePoolCounts(e.value);
          if (c !== undefined) for (const f of POOL_COUNTER_FIELDS) sum[f] += c[f];
        }
        for (const f of POOL_COUNTER_FIELDS) sum[f] += mine[f];
        this.totals.set(s.pool, sum);
      } catch (err) {
        this.deps.logger.debug({ err, pool: s.pool }, 'could not write or read the durable pool counters (retried in a second)');
      }
    }
  }

  private schedule(): void {
    this.timer = this.deps.clock.setTimeout(() => {
      void this.flush()
        .catch((err: unknown) => this.deps.logger.debug({ err }, 'pool counters flush failed'))
        .finally(() => {
          if (this.running) this.schedule();
        });
    }, POOL_COUNTERS_FLUSH_MS);
  }

  /** Stops the timer and writes the last counters. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    await this.flush();
  }
}
