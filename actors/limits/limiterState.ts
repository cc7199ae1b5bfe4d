// The shared state of one cluster-wide limiter, as stored in one KV key: its definition, a token bucket per
// rate (tokens, last refill time, and the unassigned tokens each node holds on lease), and the concurrency
// slots each node holds. Pure functions: parse (the value comes from the wire: validated, bounded),
// refill, grant. Invariant of each bucket: tokens + the live leases of every node <= capacity, so in any
// window of W ms the cluster admits at most capacity + rate x W.
import { resolveLimiterOptions, ratesOf, type ResolvedLimiterOptions } from './limitOptions.js';

/** Unassigned tokens (or held slots) of one node, valid until `exp` (epoch ms). */
export interface Lease {
  n: number;
  exp: number;
}

/** One rate's bucket. */
export interface BucketState {
  /** Tokens in the bucket. */
  t: number;
  /** Epoch ms of the last refill. */
  at: number;
  /** Leases of unassigned tokens, per node. */
  held: Record<string, Lease>;
}

/** The stored value (JSON). */
export interface LimiterState {
  v: 1;
  def: ResolvedLimiterOptions;
  b: BucketState[];
  /** Concurrency slots held, per node. */
  c: Record<string, Lease>;
}

/** Most nodes a state keeps leases for (a hostile or runaway value cannot grow it past this). */
export const MAX_HOLDERS = 4096;

function num(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function leases(v: unknown, now: number): Record<string, Lease> {
  const out: Record<string, Lease> = Object.create(null) as Record<string, Lease>;
  if (typeof v !== 'object' || v === null) return out;
  let count = 0;
  for (const [node, l] of Object.entries(v as Record<string, unknown>)) {
    if (count >= MAX_HOLDERS) break;
    if (typeof l !== 'object' || l === null) continue;
    const { n, exp } = l as { n?: unknown; exp?: unknown };
    if (!num(n) || !num(exp) || n <= 0 || exp <= now) continue;
    out[node] = { n, exp };
    count++;
  }
  return out;
}

/** A fresh state for a definition: every bucket full. */
export function freshState(def: ResolvedLimiterOptions, now: number): LimiterState {
  return { v: 1, def, b: ratesOf(def).map((r) => ({ t: r.capacity, at: now, held: {} })), c: {} };
}

/**
 * Parses a stored value; anything malformed or of another shape is replaced by sane values (a bad
 * definition makes the whole state undefined: the caller writes its own). Expired leases are dropped.
 */
export function parseLimiterState(value: unknown, now: number): LimiterState | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  let def: ResolvedLimiterOptions;
  try {
    const d = v['def'] as Record<string, unknown>;
    def = resolveLimiterOptions({
      ...(d['requestsPerMinute'] == null ? {} : { requestsPerMinute: d['requestsPerMinute'] as number }),
      ...(d['tokensPerMinute'] == null ? {} : { tokensPerMinute: d['tokensPerMinute'] as number }),
      ...(d['maxConcurrent'] == null ? {} : { maxConcurrent: d['maxConcurrent'] as number }),
      burst: d['burst'] as number,
    });
  } catch {
    return undefined;
  }
  const rates = ratesOf(def);
  const given = Array.isArray(v['b']) ? (v['b'] as unknown[]) : [];
  const b = rates.map((r, i): BucketState => {
    const g = given[i] as Record<string, unknown> | undefined;
    const t = g !== undefined && num(g['t']) ? Math.min(r.capacity, Math.max(0, g['t'])) : r.capacity;
    const at = g !== undefined && num(g['at']) ? Math.min(now, g['at']) : now;
    return { t, at, held: leases(g?.['held'], now) };
  });
  return { v: 1, def, b, c: leases(v['c'], now) };
}

function sum(ls: Record<string, Lease>, except?: string): number {
  let s = 0;
  for (const [node, l] of Object.entries(ls)) if (node !== except) s += l.n;
  return s;
}

/** Refills every bucket to `now` (capped so tokens + live leases stay within capacity). Mutates `s`. */
export function refill(s: LimiterState, now: number): void {
  const rates = ratesOf(s.def);
  s.b.forEach((b, i) => {
    const r = rates[i];
    const room = Math.max(0, r.capacity - sum(b.held));
    if (now > b.at) b.t = Math.min(room, b.t + (now - b.at) * r.perMs);
    else b.t = Math.min(room, b.t);
    b.at = Math.max(b.at, now);
  });
}

/** Slots free for `node` (the maximum less every live holder's slots). Infinity without a concurrency limit. */
export function freeSlots(s: LimiterState): number {
  return s.def.maxConcurrent === undefined ? Infinity : Math.max(0, s.def.maxConcurrent - sum(s.c));
}

/** What a node asks of the shared state in one compare-and-set. */
export interface GrantRequest {
  node: string;
  now: number;
  /** Per rate: the least that is useful (the first waiter's cost less what the node holds); 0 when nothing is needed. */
  need: number[];
  /** Per rate: the most worth taking (every waiter's cost plus a prefetch, less what the node holds). */
  want: number[];
  /** Slots to acquire (all or nothing). */
  slots: number;
  /** Slots the node gives back. */
  release: number;
  /** Per rate: unassigned tokens the node will hold after this grant, as a function of what it is granted. */
  heldAfter: (granted: number[]) => number[];
  /** The node's lease validity (epoch ms) after this write. */
  leaseUntil: number;
  /** The node's slot lease validity after this write. */
  slotsUntil: number;
}

/** What a grant gave. */
export interface GrantResult {
  /** Whether everything needed was available (when false, `granted` is all zeros and no slot was taken). */
  ok: boolean;
  granted: number[];
  slots: number;
  /** When not ok: the shortest wait after which the rates could have what is needed (slots excluded). */
  waitMs: number;
}

/**
 * Takes what a node asks from a refilled state, all or nothing: every rate must have its `need` (and the
 * slots must be free). Gives up to `want` where available. Records the node's leases. Mutates `s`.
 */
export function grant(s: LimiterState, q: GrantRequest): GrantResult {
  const rates = ratesOf(s.def);
  // slots given back first: they are free for this node's own waiters too
  const mine = s.c[q.node];
  const have = mine?.n ?? 0;
  const afterRelease = Math.max(0, have - q.release);
  if (afterRelease > 0) s.c[q.node] = { n: afterRelease, exp: q.slotsUntil };
  else delete s.c[q.node];
  let waitMs = 0;
  let ok = true;
  rates.forEach((r, i) => {
    const needed = q.need[i] ?? 0;
    const t = (s.b[i]).t;
    if (needed > t) {
      ok = false;
      waitMs = Math.max(waitMs, (needed - t) / r.perMs);
    }
  });
  if (q.slots > 0 && freeSlots(s) < q.slots) ok = false;
  const granted = rates.map(() => 0);
  if (!ok) return { ok, granted, slots: 0, waitMs: Math.ceil(waitMs) };
  rates.forEach((_, i) => {
    const b = s.b[i];
    const g = Math.min(b.t, Math.max(q.need[i] ?? 0, q.want[i] ?? 0));
    granted[i] = g;
    b.t -= g;
  });
  const held = q.heldAfter(granted);
  rates.forEach((_, i) => {
    const b = s.b[i];
    const h = held[i] ?? 0;
    if (h > 0) b.held[q.node] = { n: h, exp: q.leaseUntil };
    else delete b.held[q.node];
  });
  if (q.slots > 0) s.c[q.node] = { n: afterRelease + q.slots, exp: q.slotsUntil };
  return { ok, granted, slots: q.slots, waitMs: 0 };
}
