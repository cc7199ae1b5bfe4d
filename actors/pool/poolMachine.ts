// The pool machine: one pool's lifecycle on one node, as an xstate v5 actor (`pool-<pool>-<node>`).
//
//   starting ──(queue consumer started)──▶ running ◀──(breaker closed)──▶ breakerOpen
//   running | breakerOpen ──(pool.stop)──▶ draining ──(tasks finished or redelivered, agents stopped)──▶ stopped
//   starting ──(the queue could not be opened)──▶ stopped
//
// The pool manager (PoolManager) is its context: the mutable object that holds the queue consumer, the
// balancer state and the task runner. The machine decides when things happen (agents join, leave, fail and
// come back; resizes; autoscaling looks; breaker changes; drain) and its actions apply the balancer's rules
// (poolBalancer.ts) through the manager. The per-task dispatch calls the same rules directly (a pick is a
// strategy call, not an event). The machine invokes the pool supervisor (poolSupervisor.ts), under which the
// agents live and which holds the breaker and makes the scaling decisions.
// Asks: `pool.status` answers the pool's status (with `state`), `pool.resize { size }` resizes it cluster-wide.
import { fromCallback, fromPromise, sendTo, setup } from 'xstate';
import type { HiveEvent } from '../../protocols/envelope.js';
import { InvalidArgumentError } from '../../protocols/errors.js';
import { reply, replyError } from '../../runtime/reply.js';
import type { BreakerStateChange } from '../breaker/CircuitBreaker.js';
import type { ScaleDecision } from './Autoscaler.js';
import type { PoolManager } from './PoolManager.js';
import { poolSupervisorMachine, type PoolSupervisorEvent, type PoolSupervisorInput } from './poolSupervisor.js';

/** The pool machine's states (the `state` of `hive pools --json` and `pool.status`). */
export type PoolState = 'starting' | 'running' | 'breakerOpen' | 'draining' | 'stopped';

/** Events the pool machine handles. */
export type PoolEvent =
  /** Ask: answers the pool's status. */
  | { type: 'pool.status' }
  /** Ask or tell: sets the pool's size on every node hosting it (clamped to min/max). */
  | { type: 'pool.resize'; size: number }
  /** Another node broadcast a new size: apply it here only. */
  | { type: 'pool.applySize'; size: number }
  /** Nodes joined or left: take this node's share of the agents again. */
  | { type: 'pool.rebalance' }
  /** Time for an autoscaling look (the first live host decides). */
  | { type: 'pool.scaleTick' }
  /** An agent stopped or finished on its own: it leaves the balancer and is replaced. */
  | { type: 'pool.agentLeft'; agent: string; how: 'stopped' | 'done' }
  /** An agent failed: its supervisor restarts it; until then it is not picked. */
  | { type: 'pool.agentFailed'; agent: string }
  /** A failed agent was restarted (same id). */
  | { type: 'pool.agentRestarted'; agent: string }
  /** Stop taking tasks, let the running ones finish, stop the agents. */
  | { type: 'pool.stop' }
  // from the pool supervisor
  | { type: 'pool.breakerChanged'; change: BreakerStateChange }
  | { type: 'pool.scaled'; decision: ScaleDecision }
  | { type: 'pool.agentGone'; agents: string[]; reason: string };

/** The pool machine's context. */
export interface PoolMachineContext {
  readonly manager: PoolManager;
  /** Why the pool stopped when it could not start. */
  error: unknown;
}

type Of<T extends PoolEvent['type']> = Extract<PoolEvent, { type: T }>;

/**
 * The machine's hands on the actor system: spawning and draining agents happens here, on `rebalance`, not
 * inside a custom action (xstate creates a machine's initial state with an action of its own, which its dev
 * build reports when it runs inside another machine's custom action), as the supervisor's child host does.
 */
const host = fromCallback<{ type: 'rebalance' }, { manager: PoolManager }>(({ input, receive }) => {
  receive(() => input.manager.rebalance());
});

/** The events a serving pool (running or with its breaker open) handles the same way. */
const serving = {
  'pool.resize': [{ guard: 'validSize', actions: ['resize', 'rebalance', 'broadcastSize', 'replyStatus'] }, { actions: 'refuseSize' }],
  'pool.applySize': { guard: 'validSize', actions: ['applySize', 'rebalance'] },
  'pool.rebalance': { actions: 'rebalance' },
  'pool.scaleTick': { guard: 'decidesScale', actions: 'observeScale' },
  'pool.scaled': { actions: ['applyScale', 'rebalance', 'broadcastSize'] },
  'pool.agentLeft': { actions: ['replaceAgent', 'rebalance'] },
  'pool.agentGone': { actions: ['replaceAgent', 'rebalance'] },
  'pool.agentFailed': { actions: 'agentDown' },
  'pool.agentRestarted': { actions: 'agentUp' },
  'pool.stop': { target: 'draining' },
} as const;

/** The pool machine (see the file comment). Spawned by PoolManager.start with `{ manager }`. */
export const poolMachine = setup({
  types: {
    context: {} as PoolMachineContext,
    events: {} as PoolEvent,
    input: {} as { manager: PoolManager },
  },
  actors: {
    supervisor: poolSupervisorMachine,
    host,
    open: fromPromise<void, { manager: PoolManager }>(({ input }) => input.manager.open()),
    drain: fromPromise<void, { manager: PoolManager }>(({ input }) => input.manager.drain()),
  },
  guards: {
    validSize: ({ event }) => {
      const size = (event as Of<'pool.resize'> | Of<'pool.applySize'>).size;
      return typeof size === 'number' && Number.isFinite(size);
    },
    breakerOpened: ({ event }) => (event as Of<'pool.breakerChanged'>).change.to !== 'closed',
    breakerClosed: ({ event }) => (event as Of<'pool.breakerChanged'>).change.to === 'closed',
    decidesScale: ({ context }) => context.manager.decidesScale(),
  },
  actions: {
    serve: ({ context }) => context.manager.serve(),
    recordError: ({ context, event }) => {
      context.error = (event as unknown as { error: unknown }).error;
    },
    replyStatus: ({ context, event }) => reply(event as unknown as HiveEvent, { ...context.manager.status(), type: 'pool.status' }),
    resize: ({ context, event }) => context.manager.applyTarget((event as Of<'pool.resize'>).size),
    broadcastSize: ({ context }) => context.manager.broadcastTarget(),
    rebalance: sendTo('host', { type: 'rebalance' }),
    refuseSize: ({ event }) => replyError(event as unknown as HiveEvent, new InvalidArgumentError(`pool.resize: "size" must be a number, got ${JSON.stringify((event as Of<'pool.resize'>).size)}`)),
    applySize: ({ context, event }) => context.manager.applyTarget((event as Of<'pool.applySize'>).size),
    /** Gives the pool supervisor the cluster-wide load; it answers a change with `pool.scaled`. */
    observeScale: sendTo('supervisor', ({ context }) => ({ type: 'scale.observe', sample: context.manager.scaleSample(), now: context.manager.system.clock.now() }) satisfies PoolSupervisorEvent),
    applyScale: ({ context, event }) => context.manager.applyTarget((event as Of<'pool.scaled'>).decision.to),
    replaceAgent: ({ context, event }) => {
      const e = event as Of<'pool.agentLeft'> | Of<'pool.agentGone'>;
      if (e.type === 'pool.agentLeft') context.manager.agentLeft(e.agent, e.how);
      else for (const agent of e.agents) context.manager.agentLeft(agent, e.reason);
    },
    agentDown: ({ context, event }) => context.manager.agentDown((event as Of<'pool.agentFailed'>).agent),
    agentUp: ({ context, event }) => context.manager.agentUp((event as Of<'pool.agentRestarted'>).agent),
    breakerChanged: ({ context, event }) => context.manager.breakerChanged((event as Of<'pool.breakerChanged'>).change),
  },
}).createMachine({
  id: 'pool',
  context: ({ input }) => ({ manager: input.manager, error: undefined }),
  invoke: [
    {
      id: 'supervisor',
      src: 'supervisor',
      input: ({ context }): PoolSupervisorInput => ({ pool: context.manager.name, system: context.manager.system, options: context.manager.options }),
    },
    { id: 'host', src: 'host', input: ({ context }) => ({ manager: context.manager }) },
  ],
  initial: 'starting',
  on: {
    'pool.status': { actions: 'replyStatus' },
  },
  states: {
    starting: {
      invoke: {
        src: 'open',
        input: ({ context }) => ({ manager: context.manager }),
        onDone: { target: 'running', actions: ['serve', 'rebalance'] },
        onError: { target: 'stopped', actions: 'recordError' },
      },
    },
    running: {
      on: {
        ...serving,
        'pool.breakerChanged': [{ guard: 'breakerOpened', target: 'breakerOpen', actions: 'breakerChanged' }, { actions: 'breakerChanged' }],
      },
    },
    /** The breaker around the agents' handler is open or half-open: no tasks but a probe after the cool-down. */
    breakerOpen: {
      on: {
        ...serving,
        'pool.breakerChanged': [{ guard: 'breakerClosed', target: 'running', actions: 'breakerChanged' }, { actions: 'breakerChanged' }],
      },
    },
    draining: {
      invoke: {
        src: 'drain',
        input: ({ context }) => ({ manager: context.manager }),
        onDone: { target: 'stopped' },
        onError: { target: 'stopped', actions: 'recordError' },
      },
    },
    stopped: { type: 'final' },
  },
});

/** The state name of a pool machine snapshot value. */
export function poolStateOf(value: unknown): PoolState {
  return typeof value === 'string' && ['starting', 'running', 'breakerOpen', 'draining', 'stopped'].includes(value) ? (value as PoolState) : 'stopped';
}
