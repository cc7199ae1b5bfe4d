// The pool's balancer: this node's agents of one pool and the strategy that picks among them. Its rules are
// exported pure functions over a mutable state, in the breaker's style: the pool machine's actions apply
// them when agents join, leave, fail or come back, and the dispatch hot path calls the very same functions
// per task (a pick is a strategy call, well under a microsecond, timed into hive_balancer_decision_seconds).
import type { LatencyRecorder } from '../../runtime/metrics.js';
import type { HiveEvent } from '../../protocols/envelope.js';
import { loadFromAnswer } from '../agent/agentMachine.js';
import { createStrategy, type Strategy, type StrategyName } from '../balancer/createStrategy.js';
import { ewmaStep } from '../balancer/Ewma.js';

/** One agent of the pool on this node. */
export interface PoolAgent {
  readonly id: string;
  inFlight: number;
  readonly capacity: number;
  latencyEwmaMs: number;
  /** False while its supervisor restarts it (it failed): not picked, its slots not offered. */
  live: boolean;
}

/** The balancer's state (owned by one pool manager). */
export interface PoolBalancer {
  readonly strategy: Strategy;
  readonly agents: Map<string, PoolAgent>;
  /** Observes each decision's duration, seconds. */
  readonly decisions: LatencyRecorder;
}

/** A balancer with no agents yet. */
export function createPoolBalancer(strategy: StrategyName, decisions: LatencyRecorder): PoolBalancer {
  return { strategy: createStrategy(strategy), agents: new Map(), decisions };
}

/** A new agent with `capacity` slots. */
export function agentJoined(b: PoolBalancer, id: string, capacity: number): void {
  b.agents.set(id, { id, inFlight: 0, capacity, latencyEwmaMs: 0, live: true });
  b.strategy.add({ id, weight: 1, load: 0, capacity, latencyEwmaMs: 0, live: true });
}

/** An agent is gone (retired, stopped, not restarted). @returns false when it was not known. */
export function agentLeft(b: PoolBalancer, id: string): boolean {
  if (!b.agents.delete(id)) return false;
  b.strategy.remove(id);
  return true;
}

/** An agent failed and its supervisor restarts it: not picked until it is back; what it ran is lost with it. */
export function agentDown(b: PoolBalancer, id: string): boolean {
  const a = b.agents.get(id);
  if (a === undefined) return false;
  a.live = false;
  a.inFlight = 0;
  b.strategy.update(id, { live: false, load: 0 });
  return true;
}

/** A restarted agent is back (fresh: nothing in flight). */
export function agentUp(b: PoolBalancer, id: string): boolean {
  const a = b.agents.get(id);
  if (a === undefined || a.live) return false;
  a.live = true;
  a.inFlight = 0;
  b.strategy.update(id, { live: true, load: 0 });
  return true;
}

/** True when `id` is an agent that may be picked (known and not restarting). */
export function isLive(b: PoolBalancer, id: string): boolean {
  return b.agents.get(id)?.live === true;
}

/** Picks an agent for a task (by `key` for consistent hashing); undefined when none has a free slot. */
export function pickAgent(b: PoolBalancer, key: string | undefined): string | undefined {
  const t0 = performance.now();
  const id = b.strategy.pick(key);
  b.decisions.observe((performance.now() - t0) / 1000);
  return id;
}

/** A task went to agent `id`. @returns the agent, or undefined when it is not known. */
export function taskStarted(b: PoolBalancer, id: string): PoolAgent | undefined {
  const a = b.agents.get(id);
  if (a === undefined) return undefined;
  a.inFlight += 1;
  b.strategy.update(id, { load: a.inFlight });
  return a;
}

/**
 * A task of `agent` ended after `latencyMs`. The agent's answer carries its own load report (its latency
 * EWMA); without one (a failure) the pool folds the observed latency into its view with the same EWMA rule.
 */
export function taskSettled(b: PoolBalancer, agent: PoolAgent, answer: HiveEvent | undefined, latencyMs: number): void {
  agent.inFlight = Math.max(0, agent.inFlight - 1);
  const load = answer === undefined ? undefined : loadFromAnswer(answer);
  agent.latencyEwmaMs = load?.latencyEwmaMs ?? ewmaStep(agent.latencyEwmaMs, latencyMs, agent.latencyEwmaMs === 0);
  if (b.agents.get(agent.id) === agent && agent.live) b.strategy.update(agent.id, { load: agent.inFlight, latencyEwmaMs: agent.latencyEwmaMs });
}

/** Free and total slots of the live agents. */
export function slots(b: PoolBalancer): { busy: number; capacity: number } {
  let busy = 0;
  let capacity = 0;
  for (const a of b.agents.values()) {
    if (!a.live) continue;
    busy += a.inFlight;
    capacity += a.capacity;
  }
  return { busy, capacity };
}
