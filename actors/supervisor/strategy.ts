// Supervision policies as pure functions: which children a strategy restarts after one of them terminates,
// and whether a child's restart policy wants it back (Erlang's permanent / transient / temporary).
import { InvalidArgumentError } from '../../protocols/errors.js';

/**
 * What a failure of one child does to its siblings:
 * - `one-for-one`: only the failed child is restarted;
 * - `all-for-one`: every child is stopped and restarted;
 * - `rest-for-one`: the failed child and the children started after it are stopped and restarted, in start order.
 */
export type SupervisionStrategy = 'one-for-one' | 'all-for-one' | 'rest-for-one';

/**
 * When a child comes back (Erlang semantics):
 * - `permanent`: always (after a failure, an escalation, and also after its machine reached a final state);
 * - `transient`: only after it terminated abnormally (a failure or an escalation), not after a final state;
 * - `temporary`: never.
 * A child stopped on purpose (`ref.stop()`) is never restarted, whatever its policy.
 */
export type RestartPolicy = 'permanent' | 'transient' | 'temporary';

/**
 * What state a restarted child starts from:
 * - `fresh`: as it was first spawned (its input, or the snapshot it was first spawned from);
 * - `snapshot`: the last persisted snapshot taken after the last message it handled without error.
 * A machine that reached a final state always restarts `fresh` (its last snapshot would just finish again).
 */
export type RestartFrom = 'fresh' | 'snapshot';

/** Why a child terminated: it threw, its machine reached a final state, or (a child supervisor) it escalated. */
export type TerminationReason = 'failed' | 'done' | 'escalated';

export const strategies: readonly SupervisionStrategy[] = ['one-for-one', 'all-for-one', 'rest-for-one'];
export const restartPolicies: readonly RestartPolicy[] = ['permanent', 'transient', 'temporary'];
export const restartFroms: readonly RestartFrom[] = ['fresh', 'snapshot'];

/** True when a child with `policy` is restarted after terminating for `reason`. */
export function wantsRestart(policy: RestartPolicy, reason: TerminationReason): boolean {
  if (policy === 'permanent') return true;
  if (policy === 'transient') return reason !== 'done';
  return false;
}

/**
 * The children (ids, in start order) that `strategy` stops and restarts when `failed` terminates.
 * `ordered` lists every supervised child in start order; the result always contains `failed`.
 */
export function restartSet(strategy: SupervisionStrategy, ordered: readonly string[], failed: string): string[] {
  if (strategy === 'one-for-one') return [failed];
  if (strategy === 'all-for-one') return ordered.includes(failed) ? [...ordered] : [failed, ...ordered];
  const at = ordered.indexOf(failed);
  return at < 0 ? [failed] : ordered.slice(at);
}

/** Throws `INVALID_ARGUMENT` unless `value` is one of `allowed`. */
export function checkOneOf<T extends string>(what: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new InvalidArgumentError(`${what} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`, { details: { option: what } });
}
