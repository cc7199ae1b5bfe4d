// Limiter: one node's handle on a cluster-wide limiter. The limit lives in one KV key (limiterState.ts);
// a node leases tokens from it with compare-and-set and hands them out from a local bucket, so a take
// costs a KV round trip only when the node holds nothing (and prefetches about 100 ms of the rate when the
// rate is high enough for that to matter) — the design of Doorman and Envoy's global rate limit. Waiters
// queue FIFO on each node; `take` waits as long as it takes and never fails for lack of capacity.
import { ActorStoppedError, InvalidArgumentError } from '../../protocols/errors.js';
import { decodeJson, encodeJson } from '../../protocols/frame.js';
import type { Clock, TimerHandle } from '../../runtime/Clock.js';
import type { KeyValueStore } from '../../runtime/KeyValueStore.js';
import type { Logger } from '../../runtime/logger.js';
import type { LatencyRecorder } from '../../runtime/metrics.js';
import { ratesOf, resolveLimiterOptions, sameLimiter, type LimiterOptions, type ResolvedLimiterOptions, type ResolvedRate } from './limitOptions.js';
import { freshState, grant, parseLimiterState, refill, type LimiterState } from './limiterState.js';

/** Options of one take. */
export interface TakeOptions {
  /** Gives up waiting: the take rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** What a take grants. Release it when the work is done (it frees a `maxConcurrent` slot; otherwise a no-op). */
export interface Permit {
  /** Milliseconds the take waited. */
  readonly waitedMs: number;
  /** Gives the concurrency slot back. Idempotent. */
  release(): void;
}

/** How long leased tokens stay valid (and count against the bucket) when unused. */
export const LEASE_TTL_MS = 500;
/** A node prefetches this much of the rate beyond what its waiters need (when that is at least one token). */
export const PREFETCH_MS = 100;
/** Slots of a node that stops refreshing them (a crashed node) are free again after this. */
export const SLOT_TTL_MS = 10_000;
/** How long a node waits before asking again when only concurrency blocks it (woken sooner by local releases). */
const SLOT_POLL_MS = 20;
/** A take on a limiter no node has defined waits this long for a definition before it fails. */
export const UNDEFINED_GRACE_MS = 5000;
const MAX_STATE_BYTES = 1024 * 1024;

interface Waiter {
  n: number;
  enqueuedAt: number;
  resolve: (p: Permit) => void;
  reject: (e: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** The parts a limiter runs on. */
export interface LimiterDeps {
  name: string;
  node: string;
  kv: KeyValueStore;
  clock: Clock;
  logger: Logger;
  /** Records each take's wait (seconds). */
  waits?: LatencyRecorder;
}

/** One node's handle on the cluster-wide limiter `name`. */
export class Limiter {
  readonly name: string;
  private def: ResolvedLimiterOptions | undefined;
  private rates: ResolvedRate[] = [];
  /** Unassigned leased tokens per rate, valid until `leaseUntil`. */
  private local: number[] = [];
  private leaseUntil = 0;
  /** Slots this node holds in the shared state, and how many of them permits use. */
  private heldSlots = 0;
  private usedSlots = 0;
  private slotsRefreshAt = 0;
  private readonly waiters: Waiter[] = [];
  private syncing = false;
  private dirty = false;
  private wakeTimer: TimerHandle | undefined;
  private wakeAt = Infinity;
  private failures = 0;
  /** Demand is running down the node's leased tokens: lease more before anyone waits. */
  private prefetchWanted = false;
  private stopped = false;
  /** A definition to write (from `hive.limiter(name, options)`), until written. */
  private pendingDef: ResolvedLimiterOptions | undefined;
  private readonly key: string;

  constructor(private readonly deps: LimiterDeps) {
    this.name = deps.name;
    this.key = `lim.${deps.name}`;
  }

  /** The definition this node applies (undefined until defined here or read from the cluster). */
  get options(): ResolvedLimiterOptions | undefined {
    return this.def;
  }

  /**
   * Sets (or changes, for every node) the limiter's definition: validated at once (`INVALID_CONFIG` naming
   * the bad option), stored in the background before this node grants anything under it (retried while the
   * KV is unreachable).
   */
  define(options: LimiterOptions): void {
    const def = resolveLimiterOptions(options);
    this.adopt(def);
    this.pendingDef = def;
    this.kick();
  }

  /**
   * Waits for capacity and resolves with a permit for one request of `n` units (tokens): `n` counts against
   * `tokensPerMinute`, 1 against `requestsPerMinute` (or `n` when the limiter has no token rate), one slot
   * against `maxConcurrent`. Never fails for lack of capacity; rejects at once with `INVALID_ARGUMENT` when
   * `n` is above the burst (it could never be granted), and with the signal's reason when aborted.
   */
  take(n = 1, options: TakeOptions = {}): Promise<Permit> {
    if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) {
      return Promise.reject(new InvalidArgumentError(`limiter "${this.name}": take(n) needs a positive number, got ${String(n)}`, { details: { argument: 'n' } }));
    }
    const tooBig = this.tooBig(n);
    if (tooBig !== undefined) return Promise.reject(tooBig);
    if (this.stopped) return Promise.reject(new ActorStoppedError(`limiter "${this.name}" is stopped (its node is stopping)`));
    const signal = options.signal;
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    const now = this.deps.clock.now();
    // the fast path: nothing queued and the node holds enough
    if (this.waiters.length === 0 && this.def !== undefined && this.canServe(n, now)) return Promise.resolve(this.assign(n, now, now));
    return new Promise<Permit>((resolve, reject) => {
      const w: Waiter = { n, enqueuedAt: now, resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        w.onAbort = () => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(abortReason(signal));
          this.kick();
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.waiters.push(w);
      this.kick();
    });
  }

  /** Runs `fn` with a permit for `n` units, releasing it after. */
  async run<T>(n: number, fn: () => Promise<T> | T, options: TakeOptions = {}): Promise<T> {
    const permit = await this.take(n, options);
    try {
      return await fn();
    } finally {
      permit.release();
    }
  }

  /** Waiters on this node. */
  get waiting(): number {
    return this.waiters.length;
  }

  private tooBig(n: number): InvalidArgumentError | undefined {
    if (this.def === undefined) return undefined;
    for (const r of this.rates) {
      const cost = r.per === 'unit' ? n : 1;
      if (cost > r.capacity) {
        return new InvalidArgumentError(`limiter "${this.name}": take(${n}) asks more than its burst (${r.capacity}) and could never be granted`, {
          details: { argument: 'n', burst: r.capacity },
        });
      }
    }
    return undefined;
  }

  private adopt(def: ResolvedLimiterOptions): void {
    if (this.def !== undefined && sameLimiter(this.def, def)) return;
    const shapeChanged = this.def === undefined || ratesOf(this.def).length !== ratesOf(def).length;
    this.def = def;
    this.rates = ratesOf(def);
    if (shapeChanged) this.local = this.rates.map(() => 0);
  }

  private cost(n: number): number[] {
    return this.rates.map((r) => (r.per === 'unit' ? n : 1));
  }

  private canServe(n: number, now: number): boolean {
    if (this.def === undefined) return false;
    if (now >= this.leaseUntil) this.local = this.rates.map(() => 0);
    if (this.def?.maxConcurrent !== undefined && this.heldSlots - this.usedSlots < 1) return false;
    return this.cost(n).every((c, i) => (this.local[i] ?? 0) >= c);
  }

  /** Tokens a node prefetches for rate `r` (0 when the rate is too slow for that to matter). */
  private prefetchOf(r: ResolvedRate): number {
    const p = Math.floor(r.perMs * PREFETCH_MS);
    return p >= 1 ? Math.min(p, Math.floor(r.capacity / 4)) : 0;
  }

  private assign(n: number, now: number, enqueuedAt: number): Permit {
    this.cost(n).forEach((c, i) => (this.local[i] = (this.local[i] ?? 0) - c));
    // below half a prefetch: lease the next one in the background, before a take has to wait for it
    // (or the lease is half gone: renewing it keeps the tokens the node holds valid)
    const lowOrOld = this.rates.some((r, i) => this.prefetchOf(r) > 0 && ((this.local[i] ?? 0) < this.prefetchOf(r) / 2 || now >= this.leaseUntil - LEASE_TTL_MS / 2));
    if (!this.prefetchWanted && lowOrOld) {
      this.prefetchWanted = true;
      void this.sync();
    }
    const slot = this.def?.maxConcurrent !== undefined;
    if (slot) this.usedSlots += 1;
    const waitedMs = now - enqueuedAt;
    this.deps.waits?.observe(waitedMs / 1000);
    let released = false;
    return {
      waitedMs,
      release: () => {
        if (released || !slot) return;
        released = true;
        this.usedSlots -= 1;
        this.kick();
      },
    };
  }

  /** Serves the queue from what the node holds, in order. */
  private pump(now: number): void {
    while (this.waiters.length > 0) {
      const w = this.waiters[0];
      const tooBig = this.tooBig(w.n);
      if (tooBig !== undefined) {
        this.waiters.shift();
        this.detach(w);
        w.reject(tooBig);
        continue;
      }
      if (!this.canServe(w.n, now)) return;
      this.waiters.shift();
      this.detach(w);
      w.resolve(this.assign(w.n, now, w.enqueuedAt));
    }
  }

  private detach(w: Waiter): void {
    if (w.signal !== undefined && w.onAbort !== undefined) w.signal.removeEventListener('abort', w.onAbort);
  }

  private kick(): void {
    if (this.stopped) return;
    this.pump(this.deps.clock.now());
    if (this.waiters.length > 0 || this.spareSlots() > 0 || this.pendingDef !== undefined) void this.sync();
  }

  /** Slots held but neither used nor needed by a waiter. */
  private spareSlots(): number {
    if (this.def?.maxConcurrent === undefined) return 0;
    return Math.max(0, this.heldSlots - this.usedSlots - this.waiters.length);
  }

  private wake(ms: number): void {
    const at = this.deps.clock.now() + ms;
    if (this.wakeTimer !== undefined && this.wakeAt <= at) return;
    if (this.wakeTimer !== undefined) this.deps.clock.clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = this.deps.clock.setTimeout(() => {
      this.wakeTimer = undefined;
      this.wakeAt = Infinity;
      this.kick();
      if (this.heldSlots > 0 && !this.stopped) void this.sync();
    }, Math.max(0, ms));
  }

  /** One compare-and-set exchange with the shared state at a time; loops while there is work it can do. */
  private async sync(): Promise<void> {
    if (this.syncing) {
      this.dirty = true;
      return;
    }
    this.syncing = true;
    try {
      for (let round = 0; round < 64 && !this.stopped; round++) {
        this.dirty = false;
        const now = this.deps.clock.now();
        this.pump(now);
        const refresh = this.heldSlots > 0 && now >= this.slotsRefreshAt;
        const release = this.spareSlots();
        const prefetching = this.prefetchWanted;
        if (this.waiters.length === 0 && release === 0 && !refresh && this.pendingDef === undefined && !prefetching) break;
        const entry = await this.deps.kv.get(this.key);
        let state: LimiterState | undefined;
        if (entry !== undefined) {
          try {
            state = parseLimiterState(decodeJson(entry.value, MAX_STATE_BYTES), now);
          } catch {
            state = undefined;
          }
        }
        const pending = this.pendingDef;
        if (pending !== undefined && (state === undefined || !sameLimiter(state.def, pending))) {
          const fresh = freshState(pending, now);
          // a changed definition keeps the buckets it can (clamped), so redefining does not hand out a new burst
          const old = state;
          if (old !== undefined && old.b.length === fresh.b.length) fresh.b.forEach((b, i) => (b.t = Math.min(b.t, old.b[i]?.t ?? b.t)));
          if (old !== undefined) fresh.c = old.c;
          state = fresh;
        }
        if (state === undefined) {
          // nobody defined it (yet: the defining node may still be starting): wait a little, then say so
          const err = new InvalidArgumentError(`no limiter named "${this.name}" is defined in this cluster (define it with hive.limiter(name, options))`, {
            details: { argument: 'name', limiter: this.name },
          });
          for (let i = this.waiters.length - 1; i >= 0; i--) {
            const w = this.waiters[i];
            if (now - w.enqueuedAt < UNDEFINED_GRACE_MS) continue;
            this.waiters.splice(i, 1);
            this.detach(w);
            w.reject(err);
          }
          if (this.waiters.length > 0) this.wake(100);
          break;
        }
        this.adopt(state.def);
        refill(state, now);
        const head = this.waiters[0];
        const local = now >= this.leaseUntil ? this.rates.map(() => 0) : this.local.slice();
        const need = head === undefined ? this.rates.map(() => 0) : this.cost(head.n).map((c, i) => Math.max(0, c - (local[i] ?? 0)));
        const queued = this.rates.map(() => 0);
        for (const w of this.waiters) this.cost(w.n).forEach((c, i) => (queued[i] = (queued[i] ?? 0) + c));
        const want = this.rates.map((r, i) => {
          const prefetch = this.prefetchOf(r);
          return Math.max(0, (queued[i] ?? 0) + (head === undefined && !prefetching ? 0 : prefetch) - (local[i] ?? 0));
        });
        const slotsNeeded = head !== undefined && this.def?.maxConcurrent !== undefined && this.heldSlots - this.usedSlots < 1 ? 1 : 0;
        const leaseUntil = now + LEASE_TTL_MS;
        const result = grant(state, {
          node: this.deps.node,
          now,
          need,
          want,
          slots: slotsNeeded,
          release,
          leaseUntil,
          slotsUntil: now + SLOT_TTL_MS,
          heldAfter: (granted) => this.heldAfter(local, granted),
        });
        const grew = result.ok && result.granted.some((g) => g > 0);
        // a prefetch that takes nothing new still renews the lease on what the node holds
        const renew = result.ok && prefetching && local.some((l) => l > 0);
        const changed = (result.ok && head !== undefined) || grew || renew || release > 0 || refresh || pending !== undefined;
        if (!changed) this.prefetchWanted = false;
        if (!changed) {
          this.wake(slotsNeeded > 0 && result.waitMs === 0 ? SLOT_POLL_MS : Math.max(1, result.waitMs));
          break;
        }
        const bytes = encodeJson(state);
        const rev = entry === undefined ? await this.deps.kv.create(this.key, bytes) : await this.deps.kv.update(this.key, bytes, entry.revision);
        if (rev === undefined) continue; // another node wrote first: read again
        this.failures = 0;
        if (pending !== undefined && this.pendingDef === pending) this.pendingDef = undefined;
        this.heldSlots = Math.max(0, this.heldSlots - release) + result.slots;
        if (this.heldSlots > 0) this.slotsRefreshAt = now + SLOT_TTL_MS / 3;
        this.prefetchWanted = false;
        if (result.ok) {
          // what the node held may have been handed out meanwhile (the fast path): add to the live figures
          if (this.deps.clock.now() >= this.leaseUntil) this.local = this.rates.map(() => 0);
          this.local = this.rates.map((_, i) => (this.local[i] ?? 0) + (result.granted[i] ?? 0));
          this.leaseUntil = leaseUntil;
          this.pump(this.deps.clock.now());
        } else if (head !== undefined) {
          this.wake(slotsNeeded > 0 && result.waitMs === 0 ? SLOT_POLL_MS : Math.max(1, result.waitMs));
          break;
        }
      }
      if (this.heldSlots > 0) this.wake(Math.max(0, this.slotsRefreshAt - this.deps.clock.now()));
    } catch (err) {
      // the KV is unreachable: keep waiting (a take never fails for lack of capacity), retry with backoff
      this.failures += 1;
      const delay = Math.min(2000, 50 * 2 ** Math.min(6, this.failures));
      this.deps.logger.warn({ err, limiter: this.name, retryInMs: delay }, 'limiter state unreachable; retrying');
      this.wake(delay);
    } finally {
      this.syncing = false;
      if (this.dirty && !this.stopped) void this.sync();
    }
  }

  /** Unassigned tokens the node will hold once `granted` is added and its queue served in order. */
  private heldAfter(local: number[], granted: number[]): number[] {
    const have = local.map((l, i) => l + (granted[i] ?? 0));
    for (const w of this.waiters) {
      const c = this.cost(w.n);
      if (!c.every((x, i) => (have[i] ?? 0) >= x)) break;
      c.forEach((x, i) => (have[i] = (have[i] ?? 0) - x));
    }
    return have;
  }

  /** Rejects the waiters and gives back the node's slots (best effort). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.wakeTimer !== undefined) this.deps.clock.clearTimeout(this.wakeTimer);
    for (const w of this.waiters.splice(0)) {
      this.detach(w);
      w.reject(new ActorStoppedError(`limiter "${this.name}" stopped while waiting (its node is stopping)`));
    }
    if (this.heldSlots === 0) return;
    try {
      for (let i = 0; i < 5; i++) {
        const entry = await this.deps.kv.get(this.key);
        if (entry === undefined) return;
        const now = this.deps.clock.now();
        const state = parseLimiterState(decodeJson(entry.value, MAX_STATE_BYTES), now);
        if (state === undefined) return;
        delete state.c[this.deps.node];
        if ((await this.deps.kv.update(this.key, encodeJson(state), entry.revision)) !== undefined) return;
      }
    } catch {
      // the slots expire by themselves after SLOT_TTL_MS
    }
  }
}

/** Why a signal aborted, as an Error (the reason it carries, or a generic abort error). */
function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new Error(`aborted: ${String(r)}`);
}
