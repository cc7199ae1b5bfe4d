// The agent actor: an xstate machine that runs the user's async handler `(task, ctx) => result` with a
// concurrency limit, an abort signal for cancellation and deadlines, and a latency EWMA it reports with
// every answer. States: idle, busy, draining (finishes what it has, takes nothing new), failed (after
// consecutive handler failures it rests for a cool-down before taking tasks again).
import { assign, setup } from 'xstate';
import type { HiveEvent } from '../../protocols/envelope.js';
import { HiveError, OverloadedError, TimeoutError, UnavailableError } from '../../protocols/errors.js';
import type { Clock, TimerHandle } from '../../runtime/Clock.js';
import type { Logger } from '../../runtime/logger.js';
import { reply, replyError } from '../../runtime/reply.js';
import { contextFromTraceparent, withContext } from '../../runtime/tracing.js';
import { isAsyncIterable, runStreamResult } from '../../runtime/streams/taskStreams.js';
import type { MemoryApi } from '../memory/MemoryApi.js';
import type { Budget } from '../limits/Budget.js';
import type { Limiter } from '../limits/Limiter.js';
import { noLimits, type NodeServices } from './NodeServices.js';
import { ewmaStep } from '../balancer/Ewma.js';

/** What a handler gets besides its task. */
export interface AgentContext {
  /** This agent's actor id. */
  agentId: string;
  /** The pool it belongs to. */
  pool: string;
  /** The task's id (stable across redeliveries). */
  taskId: string;
  /** 1 on the first delivery of this task, 2 on its first retry, ... */
  attempt: number;
  /** Aborted when the task's deadline passes or it is cancelled. */
  signal: AbortSignal;
  /** A logger tagged with the agent and task. */
  logger: Logger;
  /** Semantic memory (the node's, else the cluster's): `await ctx.memory?.search({ namespace, text })`. */
  memory: MemoryApi | undefined;
  /** The cluster-wide limiter `name`: `await ctx.limiter('openai').take(tokens, { signal: ctx.signal })`. */
  limiter(name: string): Limiter;
  /** The cluster-wide budget `name`: `await ctx.budget('team').charge(cost)`. */
  budget(name: string): Budget;
  /** A durable timer (see `hive.schedule`): `await ctx.schedule({ pool: 'retry' }, task, { afterMs: 3_600_000, id })`. */
  schedule: NodeServices['schedule'];
  /** Cancels a durable timer by id. */
  cancelSchedule: NodeServices['cancelSchedule'];
}

/**
 * The user's work: an async function of the task. What it returns is the task's result; an `AsyncIterable` (an
 * `async function*` handler) streams its chunks to a `pool.submitStream` caller (a plain `submit` gets them as
 * an array).
 */
export type AgentHandler<TTask = unknown, TResult = unknown> = (task: TTask, ctx: AgentContext) => Promise<TResult> | TResult;

/** A task as the pool hands it to an agent. */
export interface AgentTask {
  id: string;
  task: unknown;
  /** Epoch ms after which the task is abandoned (the signal aborts). */
  deadline?: number;
  attempt?: number;
  /** The traceparent of the task's run: the handler runs in that trace (its asks and memory requests join it). */
  t?: string;
}

/** Agent input. */
export interface AgentInput {
  pool: string;
  handler: AgentHandler;
  /** Tasks run at once (default 1). */
  concurrency?: number;
  logger: Logger;
  memory?: MemoryApi | undefined;
  /** The node's services (`ctx.limiter`, `ctx.budget`, `ctx.schedule`). */
  limits?: NodeServices;
  /** Consecutive failures that put the agent in `failed` (default 5). */
  failureThreshold?: number;
  /** Rest in `failed` before taking tasks again (default 1000 ms). */
  failedCooldownMs?: number;
  /** The node's clock (deadlines and latency). */
  clock: Clock;
}

interface Running {
  controller: AbortController;
  timer: TimerHandle | undefined;
}

interface AgentState {
  pool: string;
  handler: AgentHandler;
  concurrency: number;
  logger: Logger;
  memory: MemoryApi | undefined;
  limits: NodeServices;
  failureThreshold: number;
  failedCooldownMs: number;
  clock: Clock;
  running: Map<string, Running>;
  inFlight: number;
  done: number;
  failed: number;
  consecutiveFailures: number;
  ewmaMs: number;
}

type Settled = { type: 'agent.settled'; taskId: string; ok: boolean; latencyMs: number };

/** The agent's load report, sent with every answer and on `agent.status`. */
export interface AgentLoad {
  load: number;
  capacity: number;
  latencyEwmaMs: number;
}

function loadOf(c: AgentState): AgentLoad {
  return { load: c.inFlight, capacity: c.concurrency, latencyEwmaMs: c.ewmaMs };
}

/** The agent machine: `agent.task` (ask) runs a task and answers `{ type: 'agent.result', result, ...load }`. */
export const agentMachine = setup({
  types: { context: {} as AgentState, input: {} as AgentInput, events: {} as HiveEvent },
  guards: {
    hasRoom: ({ context }) => context.inFlight < context.concurrency,
    idleAfter: ({ context }) => context.inFlight <= 1,
    tooManyFailures: ({ context, event }) => !(event as unknown as Settled).ok && context.consecutiveFailures + 1 >= context.failureThreshold,
  },
  delays: {
    cooldown: ({ context }) => context.failedCooldownMs,
  },
  actions: {
    start: ({ context, event, self }) => {
      const e = event as unknown as { task?: AgentTask };
      const t = e.task;
      if (t === undefined || typeof t.id !== 'string') {
        replyError(event, new HiveError('INVALID_EVENT', 'agent.task needs a task with a string id'));
        return;
      }
      const controller = new AbortController();
      const started = context.clock.now();
      let timer: TimerHandle | undefined;
      if (t.deadline !== undefined) {
        const left = t.deadline - started;
        const abort = () => controller.abort(new TimeoutError(`task ${t.id} passed its deadline`));
        if (left <= 0) abort();
        else timer = context.clock.setTimeout(abort, left);
      }
      context.running.set(t.id, { controller, timer });
      const ctx: AgentContext = {
        agentId: self.id,
        pool: context.pool,
        taskId: t.id,
        attempt: t.attempt ?? 1,
        signal: controller.signal,
        logger: context.logger,
        memory: context.memory,
        limiter: (name) => context.limits.limiter(name),
        budget: (name) => context.limits.budget(name),
        schedule: (target, e, options) => context.limits.schedule(target, e, options),
        cancelSchedule: (id) => context.limits.cancelSchedule(id),
      };
      const finish = (ok: boolean, value: unknown) => {
        const r = context.running.get(t.id);
        if (r?.timer !== undefined) context.clock.clearTimeout(r.timer);
        context.running.delete(t.id);
        const latencyMs = context.clock.now() - started;
        self.send({ type: 'agent.settled', taskId: t.id, ok, latencyMs } satisfies Settled);
        if (ok) reply(event, { type: 'agent.result', result: value, ...loadOf(context) });
        else replyError(event, controller.signal.aborted && !(value instanceof HiveError) ? controller.signal.reason : value);
      };
      let result: unknown;
      try {
        result = withContext(contextFromTraceparent(t.t), () => context.handler(t.task, ctx));
      } catch (err) {
        queueMicrotask(() => finish(false, err));
        return;
      }
      Promise.resolve(result).then(
        (value) => {
          // an AsyncIterable result streams to a submitStream caller (runtime/streams/taskStreams.ts)
          if (!isAsyncIterable(value)) finish(true, value);
          else runStreamResult(event, value, controller).then((v) => finish(true, v), (err: unknown) => finish(false, err));
        },
        (err: unknown) => finish(false, err),
      );
    },
    count: assign(({ context }) => ({ inFlight: context.inFlight + 1 })),
    settle: assign(({ context, event }) => {
      const s = event as unknown as Settled;
      return {
        inFlight: Math.max(0, context.inFlight - 1),
        done: context.done + (s.ok ? 1 : 0),
        failed: context.failed + (s.ok ? 0 : 1),
        consecutiveFailures: s.ok ? 0 : context.consecutiveFailures + 1,
        ewmaMs: ewmaStep(context.ewmaMs, s.latencyMs, context.done + context.failed === 0),
      };
    }),
    refuseBusy: ({ context, event }) =>
      replyError(event, new OverloadedError(`agent is at its concurrency limit (${context.concurrency})`, { details: loadOf(context) as unknown as Record<string, unknown> })),
    refuseDraining: ({ event }) => replyError(event, new UnavailableError('agent is draining')),
    refuseFailed: ({ event }) => replyError(event, new UnavailableError('agent is resting after repeated failures')),
    cancel: ({ context, event }) => {
      const r = context.running.get(String(event['taskId']));
      r?.controller.abort(new HiveError('CANCELLED', `task ${String(event['taskId'])} was cancelled`));
    },
    status: ({ context, event, self }) =>
      reply(event, { type: 'agent.status', ...loadOf(context), done: context.done, failed: context.failed, state: stateName(self.getSnapshot().value) }),
  },
}).createMachine({
  id: 'agent',
  context: ({ input }) => ({
    pool: input.pool,
    handler: input.handler,
    concurrency: input.concurrency ?? 1,
    logger: input.logger,
    memory: input.memory,
    limits: input.limits ?? noLimits,
    failureThreshold: input.failureThreshold ?? 5,
    failedCooldownMs: input.failedCooldownMs ?? 1000,
    clock: input.clock,
    running: new Map(),
    inFlight: 0,
    done: 0,
    failed: 0,
    consecutiveFailures: 0,
    ewmaMs: 0,
  }),
  initial: 'idle',
  on: {
    'agent.status': { actions: 'status' },
    'agent.cancel': { actions: 'cancel' },
  },
  states: {
    idle: {
      on: {
        'agent.task': { target: 'busy', actions: ['count', 'start'] },
        'agent.drain': { target: 'drained' },
        'agent.settled': { actions: 'settle' },
      },
    },
    busy: {
      on: {
        'agent.task': [{ guard: 'hasRoom', actions: ['count', 'start'] }, { actions: 'refuseBusy' }],
        'agent.settled': [
          { guard: 'tooManyFailures', target: 'failed', actions: 'settle' },
          { guard: 'idleAfter', target: 'idle', actions: 'settle' },
          { actions: 'settle' },
        ],
        'agent.drain': { target: 'draining' },
      },
    },
    draining: {
      on: {
        'agent.task': { actions: 'refuseDraining' },
        'agent.settled': [{ guard: 'idleAfter', target: 'drained', actions: 'settle' }, { actions: 'settle' }],
      },
    },
    failed: {
      after: { cooldown: { target: 'idle', actions: assign({ consecutiveFailures: 0 }) } },
      on: {
        'agent.task': { actions: 'refuseFailed' },
        'agent.settled': { actions: 'settle' },
        'agent.drain': { target: 'drained' },
      },
    },
    drained: { type: 'final' },
  },
});

/** The agent's state value as text (`idle`, `busy`, ...). */
function stateName(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Reads an agent's load from its answer to a task or to `agent.status`. */
export function loadFromAnswer(answer: HiveEvent): AgentLoad | undefined {
  const { load, capacity, latencyEwmaMs } = answer as Partial<AgentLoad>;
  if (typeof load !== 'number' || typeof capacity !== 'number' || typeof latencyEwmaMs !== 'number') return undefined;
  return { load, capacity, latencyEwmaMs };
}
