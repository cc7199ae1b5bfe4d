// What a node offers the code it runs (pool agents' `ctx`, the pool manager): cluster-wide limiters and
// budgets by name, and durable timers.
import { UnavailableError } from '../../protocols/errors.js';
import type { HiveEvent } from '../../protocols/envelope.js';
import type { Budget } from '../limits/Budget.js';
import type { Limiter } from '../limits/Limiter.js';
import type { ScheduleOptions, TimerTarget } from '../timers/timerRecord.js';

/** A timer as `schedule` reports it. */
export interface ScheduledTimer {
  id: string;
  /** Epoch ms it is due. */
  at: number;
  /** False when a timer with this id was already pending (nothing changed). */
  created: boolean;
}

/** A node's services by name. */
export interface NodeServices {
  /** The cluster-wide limiter `name` (defined with `hive.limiter(name, options)` on some node). */
  limiter(name: string): Limiter;
  /** The cluster-wide budget `name` (defined with `hive.budget(name, options)` on some node). */
  budget(name: string): Budget;
  /** A durable timer: delivers `event` to `target` at `options.at` or after `options.afterMs`, at least once. */
  schedule(target: TimerTarget, event: HiveEvent, options: ScheduleOptions): Promise<ScheduledTimer>;
  /** Cancels the pending timer `id`; false when there was none. */
  cancelSchedule(id: string): Promise<boolean>;
}

function missing(what: string): never {
  throw new UnavailableError(`${what}: this agent runs without a node's services`);
}

/** Stands in where no node services were given (a bare agent in a unit test): every call fails saying so. */
export const noLimits: NodeServices = {
  limiter: (name) => missing(`limiter "${name}"`),
  budget: (name) => missing(`budget "${name}"`),
  schedule: () => Promise.reject(new UnavailableError('schedule: this agent runs without a node\'s services')),
  cancelSchedule: () => Promise.reject(new UnavailableError('cancelSchedule: this agent runs without a node\'s services')),
};
