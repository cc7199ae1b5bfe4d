// The pool supervisor: the xstate actor each pool's agents live under on a node, as Akka's pool routers own
// their resizer. It
//   - restarts the agents (a `supervisorMachine` it invokes: one-for-one, `transient` agents, restart
//     intensity and backoff): an agent whose machine fails comes back under the same id;
//   - holds the pool's circuit breaker (a CircuitBreaker, i.e. the breaker machine's rules) around the agents'
//     handler, and tells its parent, the pool machine, when the breaker opens or closes;
//   - makes the pool's scaling decisions (its Autoscaler) from the samples the pool machine sends it, and
//     answers each change to its parent.
// It runs as the `supervisor` child of the pool machine (poolMachine.ts); events to the parent are `pool.*`.
import { fromCallback, raise, sendParent, sendTo, setup } from 'xstate';
import { HiveError } from '../../protocols/errors.js';
import type { ActorSystem } from '../../runtime/ActorSystem.js';
import { CircuitBreaker, type BreakerStateChange } from '../breaker/CircuitBreaker.js';
import type { ResolvedChildSpec } from '../supervisor/ChildTable.js';
import { SupervisionSignals, type SupervisionEvent } from '../supervisor/signals.js';
import { supervisorMachine, type SupervisorInput, type SupervisorMessage } from '../supervisor/supervisorMachine.js';
import { Autoscaler, type ScaleDecision, type ScaleSample } from './Autoscaler.js';
import type { ResolvedPoolOptions } from './poolOptions.js';

/** Errors that say nothing about the handler's health (a bad task, a busy or gone agent): they do not trip the breaker. */
const notHandlerFailures = new Set(['INVALID_ARGUMENT', 'INVALID_EVENT', 'OVERLOADED', 'NO_SUCH_ACTOR', 'ACTOR_STOPPED', 'UNAVAILABLE', 'CANCELLED']);

/** What the pool supervisor is started with. */
export interface PoolSupervisorInput {
  pool: string;
  system: ActorSystem;
  options: ResolvedPoolOptions;
}

/** The pool supervisor's context (mutable objects, changed by their own methods only). */
export interface PoolSupervisorContext {
  readonly pool: string;
  readonly system: ActorSystem;
  /** Undefined when the pool has `breaker: false`. */
  readonly breaker: CircuitBreaker | undefined;
  /** Undefined when the pool does not autoscale. */
  readonly autoscaler: Autoscaler | undefined;
  /** What the agents' supervisor did, forwarded to the pool machine. */
  readonly signals: SupervisionSignals;
  /** The agents' supervisor's name (`pool-<pool>`: its label in `hive_supervisor_restarts_total`). */
  readonly agentsName: string;
  /** The last scaling decision, until it is reported to the pool machine. */
  decision: ScaleDecision | undefined;
}

/** Events the pool supervisor handles. */
export type PoolSupervisorEvent =
  /** Supervise an agent the pool has just spawned. */
  | { type: 'agent.adopt'; spec: ResolvedChildSpec }
  /** One autoscaling look at the cluster-wide load (sent by the pool machine on the first live host). */
  | { type: 'scale.observe'; sample: ScaleSample; now: number }
  | { type: 'breaker.changed'; change: BreakerStateChange }
  | { type: 'agents.signal'; signal: SupervisionEvent }
  /** Raised after a look that decided a change. */
  | { type: 'scale.decided' };

/** Events the pool supervisor sends its parent, the pool machine. */
export type PoolSupervisorReport =
  | { type: 'pool.breakerChanged'; change: BreakerStateChange }
  | { type: 'pool.scaled'; decision: ScaleDecision }
  /** An agent is gone for good (not restarted, or its supervisor gave up): the pool replaces it. */
  | { type: 'pool.agentGone'; agents: string[]; reason: string };

function createContext(input: PoolSupervisorInput): PoolSupervisorContext {
  const { pool, system, options } = input;
  let breaker: CircuitBreaker | undefined;
  if (options.breaker !== false) {
    breaker = new CircuitBreaker(
      `pool-${pool}`,
      // the handler's own failures trip it; a caller's bad task or a busy or gone agent does not
      { isFailure: (err) => !(err instanceof HiveError && notHandlerFailures.has(err.code)), ...options.breaker },
      { clock: system.clock, metrics: system.metrics },
    );
  }
  const autoscaler = options.autoscale === false ? undefined : new Autoscaler(options.autoscale, options.min, options.max);
  return { pool, system, breaker, autoscaler, signals: new SupervisionSignals(), agentsName: `pool-${pool}`, decision: undefined };
}

/** Forwards the breaker's state changes and the agents' supervision signals to the pool supervisor. */
const watch = fromCallback<PoolSupervisorEvent, { ctx: PoolSupervisorContext }>(({ input, sendBack }) => {
  const { ctx } = input;
  const offBreaker = ctx.breaker?.onStateChange((change) => sendBack({ type: 'breaker.changed', change }));
  const offSignals = ctx.signals.subscribe((signal) => {
    if (signal.supervisor === ctx.agentsName) sendBack({ type: 'agents.signal', signal });
  });
  return () => {
    offBreaker?.();
    offSignals();
    ctx.breaker?.dispose();
  };
});

/** The pool supervisor machine (see the file comment). */
export const poolSupervisorMachine = setup({
  types: {
    context: {} as PoolSupervisorContext,
    events: {} as PoolSupervisorEvent,
    input: {} as PoolSupervisorInput,
  },
  actors: { agentSupervisor: supervisorMachine, watch },
  guards: {
    autoscales: ({ context }) => context.autoscaler !== undefined,
    decided: ({ context }) => context.decision !== undefined,
    /** An agent the agents' supervisor will not bring back. */
    agentGone: ({ event }) => event.type === 'agents.signal' && (event.signal.type === 'removed' || event.signal.type === 'escalated'),
  },
  actions: {
    adopt: sendTo('agents', ({ event }) => ({ type: 'adopt', spec: (event as Extract<PoolSupervisorEvent, { type: 'agent.adopt' }>).spec }) satisfies SupervisorMessage),
    reportBreaker: sendParent(({ event }) => ({ type: 'pool.breakerChanged', change: (event as Extract<PoolSupervisorEvent, { type: 'breaker.changed' }>).change }) satisfies PoolSupervisorReport),
    /** Decides; a change is raised, then reported to the pool machine, which applies it cluster-wide. */
    decide: ({ context, event }) => {
      if (event.type !== 'scale.observe') return;
      context.decision = context.autoscaler!.observe(event.sample, event.now);
      if (context.decision !== undefined) context.system.logger.info({ pool: context.pool, ...context.decision }, 'pool autoscaled');
    },
    raiseDecided: raise({ type: 'scale.decided' }),
    reportScale: sendParent(({ context }) => ({ type: 'pool.scaled', decision: context.decision! }) satisfies PoolSupervisorReport),
    clearDecision: ({ context }) => {
      context.decision = undefined;
    },
    reportGone: sendParent(({ event }) => {
      const s = (event as Extract<PoolSupervisorEvent, { type: 'agents.signal' }>).signal;
      const report: PoolSupervisorReport =
        s.type === 'escalated' ? { type: 'pool.agentGone', agents: s.children, reason: 'supervisor-escalated' } : { type: 'pool.agentGone', agents: s.type === 'removed' ? [s.child] : [], reason: s.type === 'removed' ? s.reason : s.type };
      return report;
    }),
  },
}).createMachine({
  id: 'poolSupervisor',
  context: ({ input }) => createContext(input),
  invoke: [
    {
      id: 'agents',
      src: 'agentSupervisor',
      input: ({ context }): SupervisorInput => ({
        id: context.agentsName,
        name: context.agentsName,
        system: context.system,
        strategy: 'one-for-one',
        signals: context.signals,
      }),
    },
    { id: 'watch', src: 'watch', input: ({ context }) => ({ ctx: context }) },
  ],
  on: {
    'agent.adopt': { actions: 'adopt' },
    'breaker.changed': { actions: 'reportBreaker' },
    'scale.observe': { guard: 'autoscales', actions: ['decide', 'raiseDecided'] },
    'scale.decided': { guard: 'decided', actions: ['reportScale', 'clearDecision'] },
    'agents.signal': { guard: 'agentGone', actions: 'reportGone' },
  },
});
