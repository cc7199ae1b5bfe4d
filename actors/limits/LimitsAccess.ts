// What a node's limiters and budgets look like to the code that uses them (pool agents' `ctx`, the pool
// manager): handles by name, defined for the cluster with `hive.limiter` / `hive.budget` on some node.
import { UnavailableError } from '../../protocols/errors.js';
import type { Budget } from './Budget.js';
import type { Limiter } from './Limiter.js';

/** Limiters and budgets by name. */
export interface LimitsAccess {
  /** The cluster-wide limiter `name` (defined with `hive.limiter(name, options)` on some node). */
  limiter(name: string): Limiter;
  /** The cluster-wide budget `name` (defined with `hive.budget(name, options)` on some node). */
  budget(name: string): Budget;
}

/** Stands in where no node limits were given (a bare agent in a unit test): every call fails saying so. */
export const noLimits: LimitsAccess = {
  limiter(name) {
    throw new UnavailableError(`limiter "${name}": this agent runs without a node's limits`);
  },
  budget(name) {
    throw new UnavailableError(`budget "${name}": this agent runs without a node's limits`);
  },
};
