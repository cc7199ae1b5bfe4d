// The Balancer as an xstate v5 actor: a strategy plus the agent-state cache in its context, fed by
// `agent.up` / `agent.down` / `agent.report` events and answering `pick` asks with `{ type: 'picked', agent }`.
// The pure strategy (createStrategy) is what a pool calls on its hot path; this is the actor form.
import { setup } from 'xstate';
import type { Counter, Gauge } from 'prom-client';
import type { HiveEvent } from '../../protocols/envelope.js';
import { InvalidEventError } from '../../protocols/errors.js';
import type { Clock } from '../../runtime/Clock.js';
import type { MetricsRegistry } from '../../runtime/metrics.js';
import { reply, replyError } from '../../runtime/reply.js';
import { AgentStateCache, type AgentReport } from './AgentStateCache.js';
import { createStrategy, type StrategyOptions } from './createStrategy.js';
import type { AgentInit, Strategy, StrategyName } from './Strategy.js';

/** Input of {@link balancerMachine}. */
export interface BalancerInput {
  /** A strategy name (default `p2c`) or a strategy instance. */
  strategy?: StrategyName | Strategy;
  /** Options for a strategy given by name. */
  strategyOptions?: StrategyOptions;
  /** Agent state lifetime, ms (default 10 000): agents that stop reporting are not picked. */
  ttlMs?: number;
  /** Time source for the TTL (default the system clock). */
  clock?: Clock;
  /** Label of this balancer in metrics (default `balancer`). */
  name?: string;
  /** Registers `hive_balancer_decisions_total{balancer,result}` and `hive_balancer_agents{balancer,state}`. */
  metrics?: MetricsRegistry;
}

/** The events a balancer handles (as sent; they arrive as plain {@link HiveEvent}s, validated on receipt). */
export type BalancerEvent =
  | { type: 'agent.up'; agent: string; weight?: number; capacity?: number; load?: number; latencyEwmaMs?: number; live?: boolean }
  | { type: 'agent.down'; agent: string }
  | { type: 'agent.report'; agent: string; load?: number; latencyEwmaMs?: number; latencyMs?: number; capacity?: number; weight?: number; live?: boolean }
  | { type: 'pick'; key?: string }
  | { type: 'balancer.status' };

/** The answer to `pick`: the chosen agent, or `null` when no agent is available. */
export interface PickedEvent {
  type: 'picked';
  agent: string | null;
  [key: string]: unknown;
}

/** The balancer's context: the cache (which owns the strategy) and its metric handles. */
export interface BalancerContext {
  name: string;
  cache: AgentStateCache;
  picked: { inc(): void } | undefined;
  none: { inc(): void } | undefined;
  agentsGauge: Gauge<'balancer' | 'state'> | undefined;
}

const NUMERIC = ['weight', 'capacity', 'load', 'latencyEwmaMs', 'latencyMs'] as const;

/** Copies the known numeric/boolean fields of an event (the strategy validates their values). */
function fieldsOf(event: HiveEvent): AgentReport {
  const out: Record<string, unknown> = {};
  for (const k of NUMERIC) if (event[k] !== undefined) out[k] = event[k];
  if (event['live'] !== undefined) out['live'] = event['live'];
  return out;
}

function publish(context: BalancerContext): void {
  const g = context.agentsGauge;
  if (g === undefined) return;
  g.set({ balancer: context.name, state: 'known' }, context.cache.size);
  g.set({ balancer: context.name, state: 'available' }, context.cache.strategy.available);
}

/** Runs `fn`, answering an ask with its error instead of failing the actor. */
function guarded(event: HiveEvent, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    replyError(event, err);
  }
}

function createContext(input: BalancerInput | undefined): BalancerContext {
  const i = input ?? {};
  const strategy = typeof i.strategy === 'object' && i.strategy !== null ? i.strategy : createStrategy(i.strategy ?? 'p2c', i.strategyOptions ?? {});
  const cacheOptions: { ttlMs?: number; clock?: Clock } = {};
  if (i.ttlMs !== undefined) cacheOptions.ttlMs = i.ttlMs;
  if (i.clock !== undefined) cacheOptions.clock = i.clock;
  const name = i.name ?? 'balancer';
  const context: BalancerContext = { name, cache: new AgentStateCache(strategy, cacheOptions), picked: undefined, none: undefined, agentsGauge: undefined };
  if (i.metrics !== undefined) {
    const decisions: Counter<'balancer' | 'result'> = i.metrics.counter('hive_balancer_decisions_total', 'Balancer decisions, by result (picked: an agent; none: no agent available)', ['balancer', 'result']);
    context.picked = decisions.labels(name, 'picked');
    context.none = decisions.labels(name, 'none');
    context.agentsGauge = i.metrics.gauge('hive_balancer_agents', 'Agents a balancer knows (known) and may pick now (available)', ['balancer', 'state']);
  }
  return context;
}

/**
 * The balancer actor.
 *
 * - `agent.up { agent, weight?, capacity?, load?, latencyEwmaMs?, live? }` adds (or re-announces) an agent.
 * - `agent.down { agent }` removes it.
 * - `agent.report { agent, load?, latencyEwmaMs? | latencyMs?, capacity?, weight?, live? }` updates it and
 *   refreshes its TTL (an agent whose last report is older than `ttlMs` is not picked until it reports).
 * - `pick { key? }` answers `{ type: 'picked', agent }` (`agent: null` when none is available).
 * - `balancer.status` answers `{ type: 'balancer.status', strategy, agents, fresh, available }`.
 *
 * Asks of `agent.*` are answered `{ type: 'balancer.ack', agent, known }`; bad fields get an
 * `INVALID_EVENT` / `INVALID_ARGUMENT` error reply, never a crash. The context holds mutable structures
 * (the strategy's tables), so this actor is not meant to be persisted; rebuild it from agent reports.
 * @example
 * const ref = await hive.spawn(balancerMachine, { id: 'summarize-balancer', input: { strategy: 'least-loaded' } });
 * ref.tell({ type: 'agent.up', agent: 'a1', capacity: 4 });
 * const { agent } = await ref.ask({ type: 'pick' });
 */
export const balancerMachine = setup({
  types: { context: {} as BalancerContext, events: {} as HiveEvent, input: {} },
  guards: {
    hasAgent: ({ event }) => typeof event['agent'] === 'string' && event['agent'] !== '',
    validKey: ({ event }) => event['key'] === undefined || event['key'] === null || typeof event['key'] === 'string',
  },
  actions: {
    up: ({ context, event }) =>
      guarded(event, () => {
        const agent = event['agent'] as string;
        const { latencyMs: _sample, ...fields } = fieldsOf(event);
        const init: AgentInit = { id: agent, ...fields };
        context.cache.up(init);
        publish(context);
        reply(event, { type: 'balancer.ack', agent, known: true });
      }),
    down: ({ context, event }) =>
      guarded(event, () => {
        const agent = event['agent'] as string;
        const known = context.cache.down(agent);
        publish(context);
        reply(event, { type: 'balancer.ack', agent, known });
      }),
    report: ({ context, event }) =>
      guarded(event, () => {
        const agent = event['agent'] as string;
        const known = context.cache.report(agent, fieldsOf(event));
        publish(context);
        reply(event, { type: 'balancer.ack', agent, known });
      }),
    pick: ({ context, event }) => {
      const key = event['key'];
      const fresh = context.cache.freshCount;
      const agent = context.cache.pick(typeof key === 'string' ? key : undefined);
      if (agent === undefined) context.none?.inc();
      else context.picked?.inc();
      if (context.cache.freshCount !== fresh) publish(context);
      reply(event, { type: 'picked', agent: agent ?? null });
    },
    status: ({ context, event }) => {
      const { cache } = context;
      reply(event, { type: 'balancer.status', strategy: cache.strategy.name, agents: cache.size, fresh: cache.freshCount, available: cache.strategy.available });
    },
    badAgent: ({ event }) => replyError(event, new InvalidEventError(`${event.type}: "agent" must be a non-empty string, got ${JSON.stringify(event['agent'])}`)),
    badKey: ({ event }) => replyError(event, new InvalidEventError(`pick: "key" must be a string, got ${JSON.stringify(event['key'])}`)),
  },
}).createMachine({
  id: 'balancer',
  context: ({ input }) => createContext(input),
  on: {
    'agent.up': [{ guard: 'hasAgent', actions: 'up' }, { actions: 'badAgent' }],
    'agent.down': [{ guard: 'hasAgent', actions: 'down' }, { actions: 'badAgent' }],
    'agent.report': [{ guard: 'hasAgent', actions: 'report' }, { actions: 'badAgent' }],
    pick: [{ guard: 'validKey', actions: 'pick' }, { actions: 'badKey' }],
    'balancer.status': { actions: 'status' },
  },
});
