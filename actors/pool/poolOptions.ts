// Pool options: exported defaults, and the validation that refuses a bad value with an error naming the
// option (`pool.min`, `pool.strategy`, ...).
import type { AnyActorLogic, InspectionEvent } from 'xstate';
import { ConfigError } from '../../protocols/errors.js';
import type { AgentHandler } from '../agent/agentMachine.js';
import type { BreakerOptions } from '../breaker/breakerOptions.js';
import { resolveAutoscaleOptions, type AutoscaleOptions } from './Autoscaler.js';

/** Balancer strategies a pool can use. */
export const poolStrategies = ['round-robin', 'weighted', 'least-loaded', 'p2c', 'consistent-hash'] as const;
/** A balancer strategy name. */
export type PoolStrategy = (typeof poolStrategies)[number];

/** How a pool runs. */
export interface PoolOptions<TTask = unknown, TResult = unknown> {
  /** The work: an async handler `(task, ctx) => result`, or your own xstate machine answering `agent.task`. */
  agent: AgentHandler<TTask, TResult> | AnyActorLogic;
  /** Fewest agents in the cluster (default 1). */
  min?: number;
  /** Most agents in the cluster (default max(min, 16)). */
  max?: number;
  /** Tasks one agent runs at once (default 1). */
  concurrency?: number;
  /** How the pool picks an agent (default `least-loaded`). */
  strategy?: PoolStrategy;
  /** Deliveries of a task before it is dead-lettered (default 5). */
  maxDeliver?: number;
  /** First retry delay; doubles each retry up to `retryMaxMs`, with full jitter (default 100 ms). */
  retryBaseMs?: number;
  /** Longest retry delay (default 10 s). */
  retryMaxMs?: number;
  /** Default deadline of a task, from submission (default 60 s). */
  taskTimeoutMs?: number;
  /**
   * A task taken by a node that then dies is redelivered after this long (default 10 s). A node working on a
   * task keeps telling the queue so, however long the task runs.
   */
  ackWaitMs?: number;
  /** Size the pool from utilization and queue depth within min/max (default on when max > min); false turns it off. */
  autoscale?: false | Partial<AutoscaleOptions>;
  /**
   * A circuit breaker around the agent's handler (default on, with the breaker's defaults): when tasks keep
   * failing the pool stops taking tasks for a cool-down, then lets one probe task through. false turns it off.
   */
  breaker?: false | BreakerOptions;
  /**
   * Observes the pool's machine on this node (and its supervisor) through xstate's inspection API: each
   * event, snapshot (its state: starting, running, breakerOpen, draining, stopped) and actor it creates.
   */
  inspect?: (event: InspectionEvent) => void;
  /**
   * A cluster-wide limiter each task takes a permit from before it runs (held until it finishes): its name, or
   * `{ name, n }` where `n` is the units a task takes (a number, or a function of the task; default 1). Tasks
   * wait in the queue for capacity instead of failing with the provider's 429.
   */
  limiter?: string | PoolLimit<TTask>;
}

/** What each task of a pool takes from a limiter. */
export interface PoolLimit<TTask = unknown> {
  name: string;
  n?: number | ((task: TTask) => number);
}

/** A pool's options with every default filled in. */
export type ResolvedPoolOptions = Required<Omit<PoolOptions, 'agent' | 'autoscale' | 'breaker' | 'limiter' | 'inspect'>> &
  Pick<PoolOptions, 'agent'> & { autoscale: AutoscaleOptions | false; breaker: BreakerOptions | false; limiter: PoolLimit | undefined; inspect: ((event: InspectionEvent) => void) | undefined };

/** The defaults every pool option falls back to. */
export const defaultPoolOptions = Object.freeze({
  min: 1,
  concurrency: 1,
  strategy: 'least-loaded',
  maxDeliver: 5,
  retryBaseMs: 100,
  retryMaxMs: 10_000,
  taskTimeoutMs: 60_000,
  ackWaitMs: 10_000,
});

function fail(option: string, message: string, value: unknown): never {
  let shown: string;
  try {
    shown = typeof value === 'function' ? 'a function' : (JSON.stringify(value) ?? String(value));
  } catch {
    shown = String(value);
  }
  throw new ConfigError(`invalid option pool.${option}: ${message} (got ${shown})`, { details: { option: `pool.${option}` } });
}

function int(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) fail(option, `must be an integer from ${min} to ${max}`, value);
  return value;
}

const known = new Set(['agent', 'min', 'max', 'concurrency', 'strategy', 'maxDeliver', 'retryBaseMs', 'retryMaxMs', 'taskTimeoutMs', 'ackWaitMs', 'autoscale', 'breaker', 'limiter', 'inspect']);

/** Fills in defaults and validates; throws {@link ConfigError} naming the first bad option. */
export function resolvePoolOptions(options: PoolOptions): ResolvedPoolOptions {
  if (typeof options !== 'object' || options === null) throw new ConfigError('pool options must be an object', { details: { option: 'pool' } });
  for (const k of Object.keys(options)) if (!known.has(k)) fail(k, `unknown option (known: ${[...known].join(', ')})`, (options as unknown as Record<string, unknown>)[k]);
  const agent = options.agent as unknown;
  const isLogic = typeof agent === 'object' && agent !== null && typeof (agent as { transition?: unknown }).transition === 'function';
  if (typeof agent !== 'function' && !isLogic) fail('agent', 'must be an async function (task, ctx) => result or an xstate machine', agent);
  const merged = { ...defaultPoolOptions, ...stripUndefined(options) };
  const min = int('min', merged.min, 0, 100_000);
  const max = int('max', merged.max ?? Math.max(min, 16), 1, 100_000);
  if (max < min) fail('max', `must be at least pool.min (${min})`, max);
  if (!poolStrategies.includes(merged.strategy)) fail('strategy', `must be one of ${poolStrategies.join(', ')}`, merged.strategy);
  const retryBaseMs = int('retryBaseMs', merged.retryBaseMs, 0, 3_600_000);
  const retryMaxMs = int('retryMaxMs', merged.retryMaxMs, 0, 3_600_000);
  if (retryMaxMs < retryBaseMs) fail('retryMaxMs', `must be at least pool.retryBaseMs (${retryBaseMs})`, retryMaxMs);
  return {
    agent: options.agent,
    min,
    max,
    concurrency: int('concurrency', merged.concurrency, 1, 10_000),
    strategy: merged.strategy,
    maxDeliver: int('maxDeliver', merged.maxDeliver, 1, 1000),
    retryBaseMs,
    retryMaxMs,
    taskTimeoutMs: int('taskTimeoutMs', merged.taskTimeoutMs, 1, 86_400_000),
    ackWaitMs: int('ackWaitMs', merged.ackWaitMs, 300, 3_600_000),
    autoscale: autoscaleOf(options.autoscale, min, max),
    breaker: breakerOf(options.breaker),
    limiter: limiterOf(options.limiter),
    inspect: inspectOf(options.inspect),
  };
}

function autoscaleOf(value: PoolOptions['autoscale'], min: number, max: number): AutoscaleOptions | false {
  if (value === false) return false;
  if (value === undefined) return max > min ? resolveAutoscaleOptions() : false;
  if (typeof value !== 'object' || value === null) fail('autoscale', 'must be false or an object of autoscale options', value);
  return resolveAutoscaleOptions(value);
}

function breakerOf(value: PoolOptions['breaker']): BreakerOptions | false {
  if (value === false) return false;
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) fail('breaker', 'must be false or an object of circuit breaker options', value);
  return value;
}

function limiterOf(value: PoolOptions['limiter']): PoolLimit | undefined {
  if (value === undefined) return undefined;
  const l: PoolLimit = typeof value === 'string' ? { name: value } : value;
  if (typeof l !== 'object' || l === null || typeof l.name !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(l.name)) {
    fail('limiter', 'must be a limiter name or { name, n? }', value);
  }
  if (l.n !== undefined && typeof l.n !== 'function' && !(typeof l.n === 'number' && Number.isFinite(l.n) && l.n > 0)) fail('limiter.n', 'must be a positive number or a function of the task', l.n);
  return l.n === undefined ? { name: l.name } : { name: l.name, n: l.n };
}

function inspectOf(value: PoolOptions['inspect']): ((event: InspectionEvent) => void) | undefined {
  if (value !== undefined && typeof value !== 'function') fail('inspect', 'must be a function (an xstate inspection observer)', value);
  return value;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
