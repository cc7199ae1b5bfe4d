// The agent table every strategy shares: one record per agent in a Map, plus a dense array of the agents
// `pick` may return (live, and below capacity when capacity is respected) kept up to date in O(1) per change.
import { InvalidArgumentError } from '../../protocols/errors.js';
import type { AgentInit, AgentPatch, AgentState, Strategy, StrategyName } from './Strategy.js';

/** Bits passed to {@link BaseStrategy.onChange} saying which fields changed. */
export const Changed = { weight: 1, load: 2, capacity: 4, latency: 8, live: 16 } as const;

/** One agent's mutable record. Strategies keep their own indexes in `index` / `score` / `seq`. */
export class AgentRecord implements AgentState {
  weight: number;
  load: number;
  capacity: number;
  latencyEwmaMs: number;
  live: boolean;
  /** Position in {@link BaseStrategy.pool}, or -1 when not available. */
  availIndex = -1;
  /** Strategy-owned position (heap index, ring slot, ...), -1 when unused. */
  index = -1;
  /** Strategy-owned sort key. */
  score = 0;
  /** Strategy-owned tie breaker. */
  seq = 0;

  constructor(
    readonly id: string,
    init: AgentInit,
  ) {
    this.weight = init.weight ?? 1;
    this.load = init.load ?? 0;
    this.capacity = init.capacity ?? Infinity;
    this.latencyEwmaMs = init.latencyEwmaMs ?? 0;
    this.live = init.live ?? true;
  }
}

/** Options every strategy takes. */
export interface BaseStrategyOptions {
  /** Never pick an agent whose `load >= capacity` (default true). */
  respectCapacity?: boolean;
  /** Random source in [0, 1) for strategies that sample (default `Math.random`); inject a seeded one in tests. */
  random?: () => number;
}

function bad(agent: string, field: string, value: unknown, rule: string): never {
  throw new InvalidArgumentError(`agent ${JSON.stringify(agent)}: ${field} must be ${rule}, got ${String(value)}`, {
    details: { argument: field, agent, value: String(value) },
  });
}

/** Validates the fields present in `p` (numbers finite and non-negative, capacity > 0, live boolean). */
function checkPatch(id: string, p: AgentPatch): void {
  const { weight, load, capacity, latencyEwmaMs, live } = p;
  if (weight !== undefined && !(typeof weight === 'number' && weight >= 0 && weight < Infinity)) bad(id, 'weight', weight, 'a finite number >= 0');
  if (load !== undefined && !(typeof load === 'number' && load >= 0 && load < Infinity)) bad(id, 'load', load, 'a finite number >= 0');
  if (capacity !== undefined && !(typeof capacity === 'number' && capacity > 0)) bad(id, 'capacity', capacity, 'a number > 0 (Infinity for unbounded)');
  if (latencyEwmaMs !== undefined && !(typeof latencyEwmaMs === 'number' && latencyEwmaMs >= 0 && latencyEwmaMs < Infinity)) {
    bad(id, 'latencyEwmaMs', latencyEwmaMs, 'a finite number >= 0');
  }
  if (live !== undefined && typeof live !== 'boolean') bad(id, 'live', live, 'a boolean');
}

/**
 * Base class of the built-in strategies: the agent table and the "available" set. Subclasses implement
 * `pick` and react to membership and field changes through the `on*` hooks (all called after the change).
 */
export abstract class BaseStrategy implements Strategy {
  abstract readonly name: StrategyName;
  /** Whether `pick` refuses agents at capacity. */
  readonly respectCapacity: boolean;
  protected readonly random: () => number;
  protected readonly agents = new Map<string, AgentRecord>();
  /** The agents `pick` may return, in no particular order (swap-remove keeps it dense). */
  protected readonly pool: AgentRecord[] = [];

  constructor(options: BaseStrategyOptions = {}) {
    this.respectCapacity = options.respectCapacity ?? true;
    this.random = options.random ?? Math.random;
  }

  get size(): number {
    return this.agents.size;
  }

  get available(): number {
    return this.pool.length;
  }

  add(agent: AgentInit): void {
    if (typeof agent !== 'object' || agent === null || typeof agent.id !== 'string' || agent.id === '') {
      throw new InvalidArgumentError(`agent must be an object with a non-empty string id, got ${JSON.stringify(agent)}`, { details: { argument: 'id' } });
    }
    const existing = this.agents.get(agent.id);
    if (existing !== undefined) {
      const { id: _id, ...patch } = agent;
      this.update(agent.id, patch);
      return;
    }
    checkPatch(agent.id, agent);
    const rec = new AgentRecord(agent.id, agent);
    this.agents.set(rec.id, rec);
    this.onAdd(rec);
    this.refresh(rec);
  }

  remove(id: string): boolean {
    const rec = this.agents.get(id);
    if (rec === undefined) return false;
    this.agents.delete(id);
    if (rec.availIndex >= 0) this.leavePool(rec);
    this.onRemove(rec);
    return true;
  }

  update(id: string, patch: AgentPatch): boolean {
    const rec = this.agents.get(id);
    if (rec === undefined) return false;
    checkPatch(id, patch);
    let changed = 0;
    if (patch.load !== undefined && patch.load !== rec.load) {
      rec.load = patch.load;
      changed |= Changed.load;
    }
    if (patch.latencyEwmaMs !== undefined && patch.latencyEwmaMs !== rec.latencyEwmaMs) {
      rec.latencyEwmaMs = patch.latencyEwmaMs;
      changed |= Changed.latency;
    }
    if (patch.weight !== undefined && patch.weight !== rec.weight) {
      rec.weight = patch.weight;
      changed |= Changed.weight;
    }
    if (patch.capacity !== undefined && patch.capacity !== rec.capacity) {
      rec.capacity = patch.capacity;
      changed |= Changed.capacity;
    }
    if (patch.live !== undefined && patch.live !== rec.live) {
      rec.live = patch.live;
      changed |= Changed.live;
    }
    if (changed !== 0) {
      this.onChange(rec, changed);
      this.refresh(rec);
    }
    return true;
  }

  abstract pick(key?: string): string | undefined;

  get(id: string): Readonly<AgentState> | undefined {
    return this.agents.get(id);
  }

  has(id: string): boolean {
    return this.agents.has(id);
  }

  ids(): IterableIterator<string> {
    return this.agents.keys();
  }

  /** True when `pick` may return the agent. */
  protected isAvailable(rec: AgentRecord): boolean {
    return rec.live && (!this.respectCapacity || rec.load < rec.capacity);
  }

  /** Called after an agent was added (before it may join the available pool). */
  protected onAdd(_rec: AgentRecord): void {}
  /** Called after an agent was removed (and left the available pool). */
  protected onRemove(_rec: AgentRecord): void {}
  /** Called after fields of an agent changed (`changed` is a mask of {@link Changed} bits). */
  protected onChange(_rec: AgentRecord, _changed: number): void {}

  /** Moves the agent in or out of the available pool after a change. O(1). */
  private refresh(rec: AgentRecord): void {
    const want = this.isAvailable(rec);
    if (want) {
      if (rec.availIndex < 0) {
        rec.availIndex = this.pool.length;
        this.pool.push(rec);
      }
    } else if (rec.availIndex >= 0) {
      this.leavePool(rec);
    }
  }

  private leavePool(rec: AgentRecord): void {
    const pool = this.pool;
    const last = pool.pop()!;
    if (last !== rec) {
      pool[rec.availIndex] = last;
      last.availIndex = rec.availIndex;
    }
    rec.availIndex = -1;
  }
}
