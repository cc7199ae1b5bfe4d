// The balancer strategy interface: agents identified by string id, with weight, in-flight load, capacity,
// latency EWMA and liveness; incremental add/remove/update and a cheap `pick(key?)` decision.

/** The names `createStrategy` accepts. */
export const strategyNames = ['round-robin', 'weighted', 'least-loaded', 'p2c', 'consistent-hash'] as const;

/** A balancer strategy name. */
export type StrategyName = (typeof strategyNames)[number];

/** What a strategy knows about one agent. */
export interface AgentState {
  /** The agent's id (what `pick` returns). */
  readonly id: string;
  /** Relative share for `weighted` (default 1; 0 means "send nothing"). */
  weight: number;
  /** Tasks in flight on the agent (default 0). */
  load: number;
  /** Most tasks the agent runs at once (default `Infinity`). */
  capacity: number;
  /** Exponentially weighted moving average of task latency, ms (default 0). */
  latencyEwmaMs: number;
  /** False while the agent is down, draining or its reported state expired (default true). */
  live: boolean;
}

/** An agent as passed to {@link Strategy.add}: only `id` is required. */
export interface AgentInit {
  id: string;
  weight?: number;
  load?: number;
  capacity?: number;
  latencyEwmaMs?: number;
  live?: boolean;
}

/** A partial update of an agent's state, as passed to {@link Strategy.update}. */
export interface AgentPatch {
  weight?: number;
  load?: number;
  capacity?: number;
  latencyEwmaMs?: number;
  live?: boolean;
}

/**
 * A load-balancing strategy: a small in-memory table of agents plus a decision rule.
 *
 * All updates are incremental (O(1) or O(log n)); structures that need a rebuild (the weighted alias table,
 * the consistent-hash ring) rebuild lazily, once, on the next `pick` after membership or weights changed.
 * `pick` never returns an agent that is not live; a strategy that respects capacity (the default, see
 * `StrategyOptions.respectCapacity`) never returns an agent whose `load >= capacity`.
 */
export interface Strategy {
  /** The strategy's name. */
  readonly name: StrategyName;
  /** Number of agents known (live or not). */
  readonly size: number;
  /** Number of agents `pick` may currently return (live, and below capacity when capacity is respected). */
  readonly available: number;
  /** Adds an agent; adding an id already present updates it instead. Throws InvalidArgumentError on bad values. */
  add(agent: AgentInit): void;
  /** Removes an agent. @returns false when the id is unknown. */
  remove(id: string): boolean;
  /** Updates some of an agent's fields. @returns false when the id is unknown (the update is dropped). */
  update(id: string, patch: AgentPatch): boolean;
  /** Chooses an agent (`key` is used by `consistent-hash`). @returns undefined when no agent is available. */
  pick(key?: string): string | undefined;
  /** The agent's current state (read-only view), or undefined. */
  get(id: string): Readonly<AgentState> | undefined;
  /** True when the agent is known. */
  has(id: string): boolean;
  /** Ids of all known agents. */
  ids(): IterableIterator<string>;
}
