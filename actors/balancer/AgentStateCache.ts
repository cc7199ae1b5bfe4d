// The balancer's agent-state cache: each agent's reported state lives for a TTL (injected clock); an agent
// that stops reporting is treated as not live (never picked) until it reports again. Entries sit in an
// intrusive list in report order and one clock timer fires at the oldest entry's expiry, so a report is
// O(1) (a few pointer moves), a pick costs nothing extra, and expiry touches only the entries that expire.
import { ConfigError, InvalidArgumentError } from '../../protocols/errors.js';
import { systemClock, type Clock, type TimerHandle } from '../../runtime/Clock.js';
import { Ewma } from './Ewma.js';
import type { AgentInit, AgentPatch, Strategy } from './Strategy.js';

/** Options of {@link AgentStateCache}. */
export interface AgentStateCacheOptions {
  /** How long a report keeps an agent live, ms (default 10 000; `Infinity` never expires). */
  ttlMs?: number;
  /** Time source and timers (default the system clock). */
  clock?: Clock;
  /** Smoothing of raw `latencyMs` samples folded into the agent's latency EWMA (default 0.2). */
  latencyAlpha?: number;
}

/** What an agent reports (all optional). */
export interface AgentReport {
  /** Tasks in flight. */
  load?: number;
  /** The agent's own latency EWMA, ms (takes precedence over `latencyMs`). */
  latencyEwmaMs?: number;
  /** One raw latency sample, ms: the cache folds it into a per-agent EWMA. */
  latencyMs?: number;
  capacity?: number;
  weight?: number;
  /** The agent's own availability (false while draining). */
  live?: boolean;
}

/** One agent's freshness, linked in report order (oldest at the head) while fresh. */
class Entry {
  expiresAt = 0;
  fresh = false;
  prev: Entry | undefined = undefined;
  next: Entry | undefined = undefined;
  ewma: Ewma | undefined = undefined;
  constructor(
    readonly id: string,
    /** What the agent itself said (`up` / `live` in reports); liveness is this AND fresh. */
    public declaredLive: boolean,
  ) {}
}

/**
 * Wraps a {@link Strategy} with per-agent state expiry. Use `up` / `down` / `report` instead of the
 * strategy's `add` / `remove` / `update`, and `pick` here (or on the strategy: same thing). Agents whose
 * last report is older than `ttlMs` are marked not live in the strategy when the cache's timer fires at
 * their expiry (or when `expire()` is called); a report makes them live again.
 */
export class AgentStateCache {
  /** The wrapped strategy. */
  readonly strategy: Strategy;
  /** Report lifetime, ms. */
  readonly ttlMs: number;
  private readonly clock: Clock;
  private readonly latencyAlpha: number;
  private readonly entries = new Map<string, Entry>();
  private head: Entry | undefined = undefined;
  private tail: Entry | undefined = undefined;
  private freshEntries = 0;
  private timer: TimerHandle | undefined = undefined;
  private timerAt = Infinity;

  constructor(strategy: Strategy, options: AgentStateCacheOptions = {}) {
    const ttlMs = options.ttlMs ?? 10_000;
    if (!(typeof ttlMs === 'number' && ttlMs > 0)) {
      throw new ConfigError(`invalid option ttlMs: must be a number > 0 (Infinity: never expire) (got ${String(ttlMs)})`, { details: { option: 'ttlMs' } });
    }
    const alpha = options.latencyAlpha ?? 0.2;
    if (!(typeof alpha === 'number' && alpha > 0 && alpha <= 1)) {
      throw new ConfigError(`invalid option latencyAlpha: must be in (0, 1] (got ${String(alpha)})`, { details: { option: 'latencyAlpha' } });
    }
    this.strategy = strategy;
    this.ttlMs = ttlMs;
    this.clock = options.clock ?? systemClock;
    this.latencyAlpha = alpha;
  }

  /** Agents known (fresh or expired). */
  get size(): number {
    return this.entries.size;
  }

  /** Agents whose state has not expired. */
  get freshCount(): number {
    return this.freshEntries;
  }

  /** An agent joined (or re-announced itself): added to the strategy, fresh from now. */
  up(agent: AgentInit): void {
    let entry = this.entries.get(agent.id);
    const declaredLive = agent.live ?? true;
    this.strategy.add({ ...agent, live: declaredLive });
    if (entry === undefined) {
      entry = new Entry(agent.id, declaredLive);
      this.entries.set(agent.id, entry);
    }
    entry.declaredLive = declaredLive;
    this.touch(entry);
  }

  /** An agent left: removed from the strategy and the cache. @returns false when unknown. */
  down(id: string): boolean {
    const entry = this.entries.get(id);
    this.strategy.remove(id);
    if (entry === undefined) return false;
    this.entries.delete(id);
    if (entry.fresh) this.unlink(entry);
    return true;
  }

  /**
   * An agent reported its state: updates the strategy and makes the agent fresh (live again if it had
   * expired). @returns false when the agent is unknown (announce it with `up` first).
   */
  report(id: string, r: AgentReport): boolean {
    const entry = this.entries.get(id);
    if (entry === undefined) return false;
    let latencyEwmaMs = r.latencyEwmaMs;
    if (latencyEwmaMs === undefined && r.latencyMs !== undefined) {
      if (!(typeof r.latencyMs === 'number' && r.latencyMs >= 0 && r.latencyMs < Infinity)) {
        throw new InvalidArgumentError(`agent ${JSON.stringify(id)}: latencyMs must be a finite number >= 0, got ${String(r.latencyMs)}`, {
          details: { argument: 'latencyMs', agent: id },
        });
      }
      entry.ewma ??= new Ewma({ alpha: this.latencyAlpha });
      latencyEwmaMs = entry.ewma.add(r.latencyMs);
    }
    if (r.live !== undefined) entry.declaredLive = r.live;
    const patch: AgentPatch = {};
    if (r.load !== undefined) patch.load = r.load;
    if (latencyEwmaMs !== undefined) patch.latencyEwmaMs = latencyEwmaMs;
    if (r.capacity !== undefined) patch.capacity = r.capacity;
    if (r.weight !== undefined) patch.weight = r.weight;
    if (r.live !== undefined || !entry.fresh) patch.live = entry.declaredLive;
    this.strategy.update(id, patch);
    this.touch(entry);
    return true;
  }

  /** Asks the strategy (expired agents are already marked not live). @returns an agent id, or undefined. */
  pick(key?: string): string | undefined {
    return this.strategy.pick(key);
  }

  /** True when the agent is known and its state has not expired (checked against the clock now). */
  isFresh(id: string): boolean {
    const entry = this.entries.get(id);
    return entry !== undefined && entry.fresh && entry.expiresAt > this.clock.now();
  }

  /** Marks agents whose state expired by `now` as not live (the timer does this by itself). @returns how many. */
  expire(now: number = this.clock.now()): number {
    let count = 0;
    let e = this.head;
    while (e !== undefined && e.expiresAt <= now) {
      const next = e.next;
      this.unlink(e);
      this.strategy.update(e.id, { live: false });
      count++;
      e = next;
    }
    this.schedule();
    return count;
  }

  /** Stops the expiry timer (the cache keeps working; call `expire()` to expire by hand). */
  dispose(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  /** Makes the entry fresh from now: moves it to the tail of the list. O(1). */
  private touch(entry: Entry): void {
    entry.expiresAt = this.clock.now() + this.ttlMs;
    if (entry.fresh) {
      if (entry === this.tail) return;
      this.unlink(entry);
    }
    entry.fresh = true;
    entry.prev = this.tail;
    entry.next = undefined;
    if (this.tail === undefined) this.head = entry;
    else this.tail.next = entry;
    this.tail = entry;
    this.freshEntries++;
    if (this.timer === undefined && entry.expiresAt < Infinity) this.schedule();
  }

  private unlink(entry: Entry): void {
    const { prev, next } = entry;
    if (prev === undefined) this.head = next;
    else prev.next = next;
    if (next === undefined) this.tail = prev;
    else next.prev = prev;
    entry.prev = entry.next = undefined;
    entry.fresh = false;
    this.freshEntries--;
  }

  /** Arms the timer at the oldest fresh entry's expiry (the head only moves later, so one timer suffices). */
  private schedule(): void {
    const at = this.head?.expiresAt ?? Infinity;
    if (at === this.timerAt) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (at === Infinity) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.expire();
    }, at - this.clock.now());
  }
}
