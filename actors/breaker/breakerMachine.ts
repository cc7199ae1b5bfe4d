// The circuit breaker as an xstate v5 machine: the single source of its transition rules.
//   closed ──(after a failure: failure rate over the window with enough calls, or N consecutive failures)──▶ open
//   open ──(cool-down elapsed: timer, or the first call after it)──▶ half-open (one probe at a time)
//   half-open ──(probe fails or times out; the cool-down grows, capped)──▶ open
//   half-open ──(N probes succeeded)──▶ closed
// Guards and actions are exported pure functions over a mutable context, so CircuitBreaker's hot paths
// (a success while closed, a rejection while open) apply the very same rules without an event round trip.
import { emit, raise, setup } from 'xstate';
import { CircuitOpenError } from '../../protocols/errors.js';
import { systemClock, type Clock } from '../../runtime/Clock.js';
import { reply, replyError } from '../../runtime/reply.js';
import { createWindow, resolveBreakerOptions, type BreakerOptions, type ResolvedBreakerOptions } from './breakerOptions.js';
import type { SlidingWindow } from './SlidingWindow.js';

/** The breaker's public states. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Why the breaker is in its current state. */
export type BreakerReason =
  | 'initial'
  | 'failure-rate'
  | 'consecutive-failures'
  | 'cool-down-elapsed'
  | 'probe-failed'
  | 'probe-timeout'
  | 'probes-succeeded'
  | 'forced-open'
  | 'forced-closed';

/** Input of {@link breakerMachine}. */
export interface BreakerMachineInput {
  /** The breaker's name (in errors, metrics and status). */
  name: string;
  /** Options (validated; a bad one throws ConfigError). */
  options?: BreakerOptions;
  /** Time source for the cool-down and the time window (default the system clock). Give the actor the same clock. */
  clock?: Clock;
}

/**
 * Events the machine handles. A caller asks `acquire` before a call and reports the outcome with the
 * `gen` it was admitted with; outcomes of calls admitted before the last state change are ignored.
 */
export type BreakerEvent =
  | { type: 'acquire' }
  | { type: 'call.success'; gen: number }
  | { type: 'call.failure'; gen: number }
  | { type: 'call.cancelled'; gen: number }
  | { type: 'breaker.trip' }
  | { type: 'breaker.reset' }
  | { type: 'breaker.status' }
  /** Raised internally after each recorded failure: the only moment the closed breaker checks whether to trip. */
  | { type: 'breaker.evaluate' };

/** Emitted when a probe ran past `probeTimeoutMs` (the breaker reopened; abort the probe). */
export interface ProbeTimeoutEvent {
  type: 'probe.timeout';
  gen: number;
}

/**
 * The machine's context. It is mutable on purpose: the window and counters are updated in place by the
 * exported rule functions (never replaced), which is what lets the hot path skip the event machinery.
 */
export interface BreakerContext {
  readonly name: string;
  readonly options: ResolvedBreakerOptions;
  readonly clock: Clock;
  readonly window: SlidingWindow;
  consecutiveFailures: number;
  /** The current cool-down (grows on failed probes, back to `options.coolDownMs` on close). */
  coolDownMs: number;
  /** When the breaker last opened. */
  openedAt: number;
  /** When the state last changed. */
  changedAt: number;
  /** Generation: bumped on every state entry and every probe, so stale outcomes are recognised. */
  gen: number;
  probeSuccesses: number;
  reason: BreakerReason;
  /** Result of the last `acquire`. */
  admitted: boolean;
  admittedGen: number;
  admittedProbe: boolean;
}

/** Builds the initial context (validating the options). */
export function createBreakerContext(input: BreakerMachineInput): BreakerContext {
  const options = resolveBreakerOptions(input.options ?? {});
  const clock = input.clock ?? systemClock;
  const now = clock.now();
  return {
    name: input.name,
    options,
    clock,
    window: createWindow(options.window),
    consecutiveFailures: 0,
    coolDownMs: options.coolDownMs,
    openedAt: 0,
    changedAt: now,
    gen: 0,
    probeSuccesses: 0,
    reason: 'initial',
    admitted: false,
    admittedGen: -1,
    admittedProbe: false,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The rules, as pure functions over the context.

/** True when an outcome reported with `gen` belongs to the current state (not a stale call). */
export function isCurrentCall(ctx: BreakerContext, gen: number): boolean {
  return gen === ctx.gen;
}

/** Records a successful call (closed state). */
export function recordSuccess(ctx: BreakerContext, now: number): void {
  ctx.window.record(false, now);
  ctx.consecutiveFailures = 0;
}

/** Records a failed call (closed state). */
export function recordFailure(ctx: BreakerContext, now: number): void {
  ctx.window.record(true, now);
  ctx.consecutiveFailures++;
}

/** Why the breaker should open now, or undefined when it should stay closed. */
export function tripReason(ctx: BreakerContext, now: number): 'consecutive-failures' | 'failure-rate' | undefined {
  const o = ctx.options;
  if (ctx.consecutiveFailures >= o.consecutiveFailures) return 'consecutive-failures';
  const calls = ctx.window.calls(now);
  if (calls >= o.minimumCalls && ctx.window.failures(now) >= o.failureRateThreshold * calls) return 'failure-rate';
  return undefined;
}

/** When the open breaker lets its first probe through. */
export function probeAt(ctx: BreakerContext): number {
  return ctx.openedAt + ctx.coolDownMs;
}

/** True when the open breaker's cool-down is over. */
export function coolDownElapsed(ctx: BreakerContext, now: number): boolean {
  return now >= probeAt(ctx);
}

/** The cool-down after one more failed probe: multiplied, capped. */
export function grownCoolDown(ctx: BreakerContext): number {
  return Math.min(ctx.coolDownMs * ctx.options.coolDownMultiplier, ctx.options.maxCoolDownMs);
}

/** The error a refused call gets: names the breaker, its state and when it will probe. */
export function circuitOpenError(ctx: BreakerContext, state: BreakerState, now: number): CircuitOpenError {
  if (state === 'half-open') {
    return new CircuitOpenError(`circuit breaker "${ctx.name}" is half-open: a probe call is in flight, retry when it settles`, {
      details: { breaker: ctx.name, state, reason: ctx.reason },
    });
  }
  const retryAt = probeAt(ctx);
  const retryInMs = Math.max(0, retryAt - now);
  return new CircuitOpenError(`circuit breaker "${ctx.name}" is open (${ctx.reason}): next probe in ${retryInMs} ms, at ${new Date(retryAt).toISOString()}`, {
    details: { breaker: ctx.name, state, reason: ctx.reason, retryAt, retryInMs },
  });
}

/** The public state of a machine state value. */
export function breakerStateOf(value: unknown): BreakerState {
  return value === 'closed' ? 'closed' : value === 'open' ? 'open' : 'half-open';
}

// ---------------------------------------------------------------------------------------------------------

const setReason =
  (reason: BreakerReason) =>
  ({ context }: { context: BreakerContext }): void => {
    context.reason = reason;
  };

/**
 * The circuit breaker machine. Drive it with {@link BreakerEvent}s (CircuitBreaker does), or spawn it as
 * a Hive actor and ask it: `acquire` answers `{ type: 'breaker.admitted', gen, probe }` or a
 * `CIRCUIT_OPEN` error; `breaker.status` answers the state, reason, window counts and next probe time.
 * Create the actor with the same clock as the input (`createActor(breakerMachine, { input, clock })`) so
 * the cool-down and probe-timeout timers follow it.
 */
export const breakerMachine = setup({
  types: {
    context: {} as BreakerContext,
    events: {} as BreakerEvent,
    input: {} as BreakerMachineInput,
    emitted: {} as ProbeTimeoutEvent,
  },
  guards: {
    isCurrent: ({ context, event }) => 'gen' in event && isCurrentCall(context, event.gen),
    shouldTrip: ({ context }) => tripReason(context, context.clock.now()) !== undefined,
    coolDownElapsed: ({ context }) => coolDownElapsed(context, context.clock.now()),
    enoughProbes: ({ context }) => context.probeSuccesses >= context.options.probesToClose,
  },
  actions: {
    recordSuccess: ({ context }) => recordSuccess(context, context.clock.now()),
    recordFailure: ({ context }) => recordFailure(context, context.clock.now()),
    setTripReason: ({ context }) => {
      context.reason = tripReason(context, context.clock.now()) ?? 'failure-rate';
    },
    enterClosed: ({ context }) => {
      context.gen++;
      context.changedAt = context.clock.now();
      context.window.reset();
      context.consecutiveFailures = 0;
      context.coolDownMs = context.options.coolDownMs;
    },
    enterOpen: ({ context }) => {
      context.gen++;
      context.openedAt = context.changedAt = context.clock.now();
      context.window.reset();
      context.consecutiveFailures = 0;
    },
    enterHalfOpen: ({ context }) => {
      context.gen++;
      context.changedAt = context.clock.now();
      context.probeSuccesses = 0;
    },
    admit: ({ context, event }) => {
      context.admitted = true;
      context.admittedGen = context.gen;
      context.admittedProbe = false;
      reply(event, { type: 'breaker.admitted', gen: context.gen, probe: false });
    },
    admitProbe: ({ context, event }) => {
      context.gen++;
      context.admitted = true;
      context.admittedGen = context.gen;
      context.admittedProbe = true;
      reply(event, { type: 'breaker.admitted', gen: context.gen, probe: true });
    },
    rejectOpen: ({ context, event }) => {
      context.admitted = false;
      replyError(event, circuitOpenError(context, 'open', context.clock.now()));
    },
    rejectProbing: ({ context, event }) => {
      context.admitted = false;
      replyError(event, circuitOpenError(context, 'half-open', context.clock.now()));
    },
    countProbeSuccess: ({ context }) => {
      context.probeSuccesses++;
    },
    growCoolDown: ({ context }) => {
      context.coolDownMs = grownCoolDown(context);
    },
    evaluate: raise({ type: 'breaker.evaluate' }),
    emitProbeTimeout: emit(({ context }): ProbeTimeoutEvent => ({ type: 'probe.timeout', gen: context.gen })),
    reasonCoolDown: setReason('cool-down-elapsed'),
    reasonProbeFailed: setReason('probe-failed'),
    reasonProbeTimeout: setReason('probe-timeout'),
    reasonProbesSucceeded: setReason('probes-succeeded'),
    reasonForcedOpen: setReason('forced-open'),
    reasonForcedClosed: setReason('forced-closed'),
    status: ({ context, event, self }) => {
      const now = context.clock.now();
      const state = breakerStateOf(self.getSnapshot().value);
      const status: Record<string, unknown> = {
        type: 'breaker.status',
        breaker: context.name,
        state,
        reason: context.reason,
        since: context.changedAt,
        calls: context.window.calls(now),
        failures: context.window.failures(now),
        consecutiveFailures: context.consecutiveFailures,
        coolDownMs: context.coolDownMs,
      };
      if (state === 'open') status['retryAt'] = probeAt(context);
      reply(event, status as { type: string });
    },
  },
  delays: {
    coolDown: ({ context }) => context.coolDownMs,
    probeTimeout: ({ context }) => context.options.probeTimeoutMs,
  },
}).createMachine({
  id: 'breaker',
  context: ({ input }) => createBreakerContext(input),
  initial: 'closed',
  on: {
    'breaker.status': { actions: 'status' },
    'breaker.trip': { target: '.open', reenter: true, actions: 'reasonForcedOpen' },
    'breaker.reset': { target: '.closed', reenter: true, actions: 'reasonForcedClosed' },
  },
  states: {
    closed: {
      entry: 'enterClosed',
      on: {
        acquire: { actions: 'admit' },
        // A success never trips (it cannot raise the failure rate): CircuitBreaker applies it in place.
        'call.success': { guard: 'isCurrent', actions: 'recordSuccess' },
        'call.failure': { guard: 'isCurrent', actions: ['recordFailure', 'evaluate'] },
        'breaker.evaluate': { guard: 'shouldTrip', target: 'open', actions: 'setTripReason' },
      },
    },
    open: {
      entry: 'enterOpen',
      after: { coolDown: { target: 'halfOpen', actions: 'reasonCoolDown' } },
      on: {
        acquire: [{ guard: 'coolDownElapsed', target: 'halfOpen.probing', actions: 'reasonCoolDown' }, { actions: 'rejectOpen' }],
      },
    },
    halfOpen: {
      entry: 'enterHalfOpen',
      initial: 'idle',
      always: { guard: 'enoughProbes', target: 'closed', actions: 'reasonProbesSucceeded' },
      states: {
        idle: {
          on: { acquire: 'probing' },
        },
        probing: {
          entry: 'admitProbe',
          after: { probeTimeout: { target: '#breaker.open', actions: ['growCoolDown', 'reasonProbeTimeout', 'emitProbeTimeout'] } },
          on: {
            acquire: { actions: 'rejectProbing' },
            'call.success': { guard: 'isCurrent', target: 'idle', actions: 'countProbeSuccess' },
            'call.failure': { guard: 'isCurrent', target: '#breaker.open', actions: ['growCoolDown', 'reasonProbeFailed'] },
            'call.cancelled': { guard: 'isCurrent', target: 'idle' },
          },
        },
      },
    },
  },
});
