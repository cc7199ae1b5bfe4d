// Circuit breaker options: defaults, and validation that refuses a bad value with a ConfigError naming
// the option (`failureRateThreshold`, `window.size`, `coolDownMs`, ...).
import { ConfigError } from '../../protocols/errors.js';
import { CountWindow, TimeWindow, type SlidingWindow } from './SlidingWindow.js';

/** The failure-rate window: the last `size` calls, or the calls of the last `ms` milliseconds. */
export type WindowOptions = { kind: 'count'; size: number } | { kind: 'time'; ms: number; buckets?: number };

/** How a circuit breaker trips, probes and recovers. Every field is optional. */
export interface BreakerOptions {
  /** Open when failures / calls in the window reach this, in (0, 1] (default 0.5). */
  failureRateThreshold?: number;
  /** Calls the window must hold before the failure rate counts (default 20). */
  minimumCalls?: number;
  /**
   * The failure-rate window (default `{ kind: 'count', size: 100 }`: the last 100 calls). A time window
   * (`{ kind: 'time', ms, buckets }`) ages outcomes out, at the price of one clock read per successful call.
   */
  window?: WindowOptions;
  /** Open after this many failures in a row, whatever the rate (default 5; `Infinity` disables). */
  consecutiveFailures?: number;
  /** Time open before the first probe, ms (default 5 000). */
  coolDownMs?: number;
  /** Each failed probe multiplies the cool-down by this (default 2; 1 keeps it fixed). */
  coolDownMultiplier?: number;
  /** The cool-down never grows past this, ms (default 60 000). */
  maxCoolDownMs?: number;
  /** Successful probes (one at a time) that close the breaker (default 2). */
  probesToClose?: number;
  /** A probe that has not settled after this is a failure: the breaker reopens and the probe is aborted (default 10 000). */
  probeTimeoutMs?: number;
  /** Deadline of every call (closed or probing), ms; a call past it is aborted and counts as a failure (default none). */
  callTimeoutMs?: number;
  /**
   * Which rejections count against the dependency (default: all). Return false for errors that are the
   * caller's own (say `err.code === 'INVALID_ARGUMENT'`): those calls count as successes, since the
   * dependency answered.
   */
  isFailure?: (err: unknown) => boolean;
}

/** {@link BreakerOptions} with every default filled in. */
export interface ResolvedBreakerOptions {
  failureRateThreshold: number;
  minimumCalls: number;
  window: { kind: 'count'; size: number } | { kind: 'time'; ms: number; buckets: number };
  consecutiveFailures: number;
  coolDownMs: number;
  coolDownMultiplier: number;
  maxCoolDownMs: number;
  probesToClose: number;
  probeTimeoutMs: number;
  callTimeoutMs: number | undefined;
  isFailure: (err: unknown) => boolean;
}

/** The defaults. */
export const defaultBreakerOptions: Readonly<Omit<ResolvedBreakerOptions, 'callTimeoutMs'>> = Object.freeze({
  failureRateThreshold: 0.5,
  minimumCalls: 20,
  window: Object.freeze({ kind: 'count' as const, size: 100 }),
  consecutiveFailures: 5,
  coolDownMs: 5_000,
  coolDownMultiplier: 2,
  maxCoolDownMs: 60_000,
  probesToClose: 2,
  probeTimeoutMs: 10_000,
  isFailure: () => true,
});

const known = new Set([
  'failureRateThreshold',
  'minimumCalls',
  'window',
  'consecutiveFailures',
  'coolDownMs',
  'coolDownMultiplier',
  'maxCoolDownMs',
  'probesToClose',
  'probeTimeoutMs',
  'callTimeoutMs',
  'isFailure',
]);

function invalid(option: string, message: string, value: unknown): never {
  let shown: string;
  try {
    shown = typeof value === 'function' ? 'a function' : (JSON.stringify(value) ?? String(value));
  } catch {
    shown = String(value);
  }
  throw new ConfigError(`invalid option ${option}: ${message} (got ${shown})`, { details: { option, value: shown } });
}

function int(option: string, value: unknown, min: number, max: number, allowInfinity = false): number {
  if (allowInfinity && value === Infinity) return Infinity;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalid(option, `must be an integer from ${min} to ${max}${allowInfinity ? ' (or Infinity)' : ''}`, value);
  }
  return value;
}

function ms(option: string, value: unknown, min = 1): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) invalid(option, `must be a finite number of milliseconds >= ${min}`, value);
  return value;
}

/** Fills in defaults and validates; throws {@link ConfigError} naming the first bad option. */
export function resolveBreakerOptions(options: BreakerOptions = {}): ResolvedBreakerOptions {
  if (typeof options !== 'object' || options === null) invalid('options', 'must be an object', options);
  for (const key of Object.keys(options)) if (!known.has(key)) invalid(key, `unknown option; known options are ${[...known].join(', ')}`, (options as Record<string, unknown>)[key]);
  const d = defaultBreakerOptions;
  const rate = options.failureRateThreshold ?? d.failureRateThreshold;
  if (typeof rate !== 'number' || !(rate > 0 && rate <= 1)) invalid('failureRateThreshold', 'must be a number in (0, 1]', rate);
  let window: ResolvedBreakerOptions['window'];
  const w = options.window ?? d.window;
  if (typeof w !== 'object' || w === null) invalid('window', "must be { kind: 'count', size } or { kind: 'time', ms, buckets? }", w);
  if (w.kind === 'count') window = { kind: 'count', size: int('window.size', w.size, 1, 1_000_000) };
  else if (w.kind === 'time') {
    const wms = ms('window.ms', w.ms);
    const buckets = int('window.buckets', w.buckets ?? 10, 1, 1000);
    window = { kind: 'time', ms: wms, buckets };
  } else invalid('window.kind', "must be 'count' or 'time'", (w as { kind?: unknown }).kind);
  const coolDownMs = ms('coolDownMs', options.coolDownMs ?? d.coolDownMs);
  const maxCoolDownMs = ms('maxCoolDownMs', options.maxCoolDownMs ?? Math.max(d.maxCoolDownMs, coolDownMs));
  if (maxCoolDownMs < coolDownMs) invalid('maxCoolDownMs', `must be >= coolDownMs (${coolDownMs})`, maxCoolDownMs);
  const mult = options.coolDownMultiplier ?? d.coolDownMultiplier;
  if (typeof mult !== 'number' || !(mult >= 1 && mult <= 100)) invalid('coolDownMultiplier', 'must be a number from 1 to 100', mult);
  const isFailure = options.isFailure ?? d.isFailure;
  if (typeof isFailure !== 'function') invalid('isFailure', 'must be a function (err) => boolean', isFailure);
  const minimumCalls = int('minimumCalls', options.minimumCalls ?? d.minimumCalls, 1, 1_000_000);
  if (window.kind === 'count' && minimumCalls > window.size) invalid('minimumCalls', `must be <= window.size (${window.size}), or the rate never counts`, minimumCalls);
  return {
    failureRateThreshold: rate,
    minimumCalls,
    window,
    consecutiveFailures: int('consecutiveFailures', options.consecutiveFailures ?? d.consecutiveFailures, 1, 1_000_000, true),
    coolDownMs,
    coolDownMultiplier: mult,
    maxCoolDownMs,
    probesToClose: int('probesToClose', options.probesToClose ?? d.probesToClose, 1, 1000),
    probeTimeoutMs: ms('probeTimeoutMs', options.probeTimeoutMs ?? d.probeTimeoutMs),
    callTimeoutMs: options.callTimeoutMs === undefined ? undefined : ms('callTimeoutMs', options.callTimeoutMs),
    isFailure,
  };
}

/** A fresh window for resolved options. */
export function createWindow(window: ResolvedBreakerOptions['window']): SlidingWindow {
  return window.kind === 'count' ? new CountWindow(window.size) : new TimeWindow(window.ms, window.buckets);
}
