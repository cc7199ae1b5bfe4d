// The strategy factory: a strategy by name, with its options validated (a bad value throws a ConfigError
// naming the option: `strategy`, `respectCapacity`, `random`, `vnodes`, `hash`).
import { ConfigError } from '../../protocols/errors.js';
import type { BaseStrategyOptions } from './BaseStrategy.js';
import { ConsistentHash, type ConsistentHashOptions } from './ConsistentHash.js';
import { LeastLoaded } from './LeastLoaded.js';
import { PowerOfTwo } from './PowerOfTwo.js';
import { RoundRobin } from './RoundRobin.js';
import { strategyNames, type Strategy, type StrategyName } from './Strategy.js';
import { Weighted } from './Weighted.js';

export type { Strategy, StrategyName } from './Strategy.js';

/** Options of {@link createStrategy}; strategies ignore the ones they do not use. */
export interface StrategyOptions extends BaseStrategyOptions, ConsistentHashOptions {}

function invalid(option: string, message: string, value: unknown): never {
  let shown: string;
  try {
    shown = typeof value === 'function' ? 'a function' : (JSON.stringify(value) ?? String(value));
  } catch {
    shown = String(value);
  }
  throw new ConfigError(`invalid option ${option}: ${message} (got ${shown})`, { details: { option, value: shown } });
}

/** True when `name` is one of {@link strategyNames}. */
export function isStrategyName(name: unknown): name is StrategyName {
  return typeof name === 'string' && (strategyNames as readonly string[]).includes(name);
}

/** Validates strategy options; throws {@link ConfigError} naming the first bad one. */
export function validateStrategyOptions(options: StrategyOptions): void {
  if (typeof options !== 'object' || options === null) invalid('strategyOptions', 'must be an object', options);
  const { respectCapacity, random, vnodes, hash } = options;
  if (respectCapacity !== undefined && typeof respectCapacity !== 'boolean') invalid('respectCapacity', 'must be a boolean', respectCapacity);
  if (random !== undefined && typeof random !== 'function') invalid('random', 'must be a function returning numbers in [0, 1)', random);
  if (vnodes !== undefined && !(Number.isInteger(vnodes) && vnodes >= 1 && vnodes <= 10_000)) invalid('vnodes', 'must be an integer from 1 to 10000', vnodes);
  if (hash !== undefined && typeof hash !== 'function') invalid('hash', 'must be a function (key: string) => uint32', hash);
}

/**
 * Creates a strategy by name: `round-robin`, `weighted` (alias table), `least-loaded` (min-heap),
 * `p2c` (power of two choices on latency EWMA), `consistent-hash` (ring with virtual nodes).
 * @throws ConfigError with `details.option === 'strategy'` for an unknown name, or naming a bad option.
 * @example
 * const s = createStrategy('p2c');
 * s.add({ id: 'a1', capacity: 4 });
 * const agent = s.pick();
 */
export function createStrategy(name: StrategyName, options: StrategyOptions = {}): Strategy {
  if (!isStrategyName(name)) invalid('strategy', `must be one of ${strategyNames.join(', ')}`, name);
  validateStrategyOptions(options);
  switch (name) {
    case 'round-robin':
      return new RoundRobin(options);
    case 'weighted':
      return new Weighted(options);
    case 'least-loaded':
      return new LeastLoaded(options);
    case 'p2c':
      return new PowerOfTwo(options);
    case 'consistent-hash':
      return new ConsistentHash(options);
  }
}
