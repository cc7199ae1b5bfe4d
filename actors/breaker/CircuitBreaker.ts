// CircuitBreaker: wraps any async call with the breaker machine. Closed: calls pass and their outcomes feed
// the window; open: calls fail fast with CIRCUIT_OPEN; half-open: exactly one probe at a time, released
// whatever happens to it (success, failure, synchronous throw, timeout, cancellation).
import { createActor, type Actor } from 'xstate';
import { ConfigError, TimeoutError } from '../../protocols/errors.js';
import { systemClock, type Clock, type TimerHandle } from '../../runtime/Clock.js';
import type { MetricsRegistry } from '../../runtime/metrics.js';
import {
  breakerMachine,
  breakerStateOf,
  circuitOpenError,
  coolDownElapsed,
  createBreakerContext,
  isCurrentCall,
  probeAt,
  recordSuccess,
  type BreakerContext,
  type BreakerEvent,
  type BreakerReason,
  type BreakerState,
} from './breakerMachine.js';
import type { BreakerOptions, ResolvedBreakerOptions } from './breakerOptions.js';
import { registerBreakerMetrics, type BreakerCounts } from './breakerMetrics.js';

/** What {@link CircuitBreaker} needs from its node. */
export interface CircuitBreakerDeps {
  /** Time and timers (default the system clock); tests pass a SimulatedClock. */
  clock?: Clock;
  /** Registers `hive_breaker_state` and `hive_breaker_calls_total` for this breaker. */
  metrics?: MetricsRegistry;
}

/** Per-call options of {@link CircuitBreaker.call}. */
export interface CallOptions {
  /** Cancels the call: the caller gets the signal's reason, the call's own signal aborts, nothing is counted. */
  signal?: AbortSignal;
  /** Deadline of this call, ms (default the breaker's `callTimeoutMs`); past it the call fails with TIMEOUT. */
  timeoutMs?: number;
}

/** A published state change. */
export interface BreakerStateChange {
  breaker: string;
  from: BreakerState;
  to: BreakerState;
  reason: BreakerReason;
  /** Clock time of the change, ms. */
  at: number;
  /** When open: when the next probe may go. */
  retryAt?: number;
}

/** Listener of {@link CircuitBreaker.onStateChange}. */
export type BreakerListener = (change: BreakerStateChange) => void;

const SUCCESS = 'call.success';
const FAILURE = 'call.failure';
const CANCELLED = 'call.cancelled';
type Outcome = typeof SUCCESS | typeof FAILURE | typeof CANCELLED;

/** The signal handed to calls that nothing can abort (no deadline, no caller signal, not a probe). */
const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/** A call in flight that the breaker may have to abort (guarded calls only). */
interface Flight {
  readonly gen: number;
  /** Ends the call now with `err` (the machine already accounted for it). */
  end(err: unknown): void;
}

/**
 * A circuit breaker around an async dependency.
 *
 * ```ts
 * const pg = new CircuitBreaker('postgres', { coolDownMs: 2_000 }, { clock, metrics });
 * const rows = await pg.call((signal) => pool.query({ text: sql, signal }));
 * ```
 *
 * Transition rules live in {@link breakerMachine} only: this class drives an xstate actor of it, and on its
 * two hot paths (a success while closed, a refusal while open before the cool-down ends) calls the
 * machine's exported rule functions directly instead of sending an event: same rules, no event overhead.
 */
export class CircuitBreaker {
  /** The breaker's name (in errors, metrics and state changes). */
  readonly name: string;
  /** The resolved options. */
  readonly options: ResolvedBreakerOptions;
  /** Calls by result since construction (read by the metrics at scrape time). */
  readonly counts: BreakerCounts = { success: 0, failure: 0, rejected: 0 };
  private readonly clock: Clock;
  private readonly actor: Actor<typeof breakerMachine>;
  private readonly ctx: BreakerContext;
  private current: BreakerState = 'closed';
  private readonly listeners = new Set<BreakerListener>();
  /** > 0 while the actor is processing (a send, a timer, a listener): calls made then are deferred. */
  private busy = 0;
  private probe: Flight | undefined = undefined;
  private unregister: (() => void) | undefined;

  /** @throws ConfigError naming the option when an option (or the name) is invalid. */
  constructor(name: string, options: BreakerOptions = {}, deps: CircuitBreakerDeps = {}) {
    if (typeof name !== 'string' || name === '') throw new ConfigError(`invalid option name: must be a non-empty string (got ${JSON.stringify(name)})`, { details: { option: 'name' } });
    this.name = name;
    this.clock = deps.clock ?? systemClock;
    // Validate before the actor exists, so a bad option throws here rather than failing the actor.
    this.options = createBreakerContext({ name, options, clock: this.clock }).options;
    this.actor = createActor(breakerMachine, { input: { name, options, clock: this.clock }, clock: this.clock });
    this.actor.subscribe({ next: (snapshot) => this.onSnapshot(breakerStateOf(snapshot.value)) });
    this.actor.on('probe.timeout', (e) => {
      const flight = this.probe;
      if (flight !== undefined && flight.gen === e.gen) {
        this.probe = undefined;
        flight.end(new TimeoutError(`circuit breaker "${name}": probe call timed out after ${this.options.probeTimeoutMs} ms`, { details: { breaker: name } }));
      }
    });
    this.actor.start();
    this.ctx = this.actor.getSnapshot().context;
    if (deps.metrics !== undefined) this.unregister = registerBreakerMetrics(deps.metrics, this);
  }

  /** The current state. */
  get state(): BreakerState {
    return this.current;
  }

  /** When the open breaker lets its next probe through (clock ms), or undefined when not open. */
  get retryAt(): number | undefined {
    return this.current === 'open' ? probeAt(this.ctx) : undefined;
  }

  /** Why the breaker is in its state. */
  get reason(): BreakerReason {
    return this.ctx.reason;
  }

  /**
   * Calls `fn` through the breaker. Closed: runs it. Open (before the cool-down ends) or half-open with a
   * probe out: rejects at once with CircuitOpenError. After the cool-down the first caller becomes the probe.
   *
   * `fn` gets an AbortSignal that fires when the call is abandoned (timeout, caller cancellation, probe
   * timeout); pass it on to the dependency. A synchronous throw from `fn` is a rejection like any other.
   * Rejections count as failures unless `options.isFailure(err)` says otherwise.
   */
  call<T>(fn: (signal: AbortSignal) => Promise<T>, options?: CallOptions): Promise<T> {
    if (this.busy > 0) return Promise.resolve().then(() => this.call(fn, options));
    if (options?.signal?.aborted === true) return Promise.reject(options.signal.reason as Error);
    const ctx = this.ctx;
    // The closed machine admits every call (`closed.on.acquire → admit`): no event needed.
    if (this.current === 'closed') return this.run(fn, ctx.gen, false, options);
    if (this.current === 'open' && !coolDownElapsed(ctx, this.clock.now())) return this.refuse();
    this.send({ type: 'acquire' });
    if (!ctx.admitted) return this.refuse();
    return this.run(fn, ctx.admittedGen, ctx.admittedProbe, options);
  }

  /**
   * Subscribes to state changes (called synchronously as they happen; a listener must not throw, its
   * errors are ignored). @returns a function that unsubscribes.
   */
  onStateChange(listener: BreakerListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Forces the breaker open (say, a supervisor knows the dependency is down). */
  trip(): void {
    this.send({ type: 'breaker.trip' });
  }

  /** Forces the breaker closed, forgetting its window. */
  reset(): void {
    this.send({ type: 'breaker.reset' });
  }

  /** Stops the breaker's timers and unregisters its metrics (after a last flush). Calls in flight finish; do not call through it afterwards. */
  dispose(): void {
    this.actor.stop();
    this.unregister?.();
    this.unregister = undefined;
  }

  // -------------------------------------------------------------------------------------------------------

  private refuse<T>(): Promise<T> {
    this.counts.rejected++;
    return Promise.reject(circuitOpenError(this.ctx, this.current, this.clock.now()));
  }

  private send(event: BreakerEvent): void {
    this.busy++;
    try {
      this.actor.send(event);
    } finally {
      this.busy--;
    }
  }

  private onSnapshot(next: BreakerState): void {
    if (next === this.current) return;
    const from = this.current;
    this.current = next;
    if (this.listeners.size === 0) return;
    const change: BreakerStateChange = { breaker: this.name, from, to: next, reason: this.ctx.reason, at: this.ctx.changedAt };
    if (next === 'open') change.retryAt = probeAt(this.ctx);
    this.busy++;
    try {
      for (const listener of this.listeners) {
        try {
          listener(change);
        } catch {
          // A listener's failure must not break the breaker.
        }
      }
    } finally {
      this.busy--;
    }
  }

  /** Reports a call's outcome: the closed-success hot path applies the rule in place; the rest go to the machine. */
  private settle(gen: number, probe: boolean, outcome: Outcome): void {
    if (outcome === SUCCESS) {
      this.counts.success++;
      // closed + call.success (current gen) → recordSuccess, no transition: the machine's rule, applied directly.
      if (!probe && this.current === 'closed' && isCurrentCall(this.ctx, gen)) {
        recordSuccess(this.ctx, this.ctx.window.timed ? this.clock.now() : 0);
        return;
      }
    } else if (outcome === FAILURE) {
      this.counts.failure++;
    }
    this.send({ type: outcome, gen });
  }

  private failed(err: unknown): boolean {
    try {
      return this.options.isFailure(err);
    } catch {
      return true;
    }
  }

  private run<T>(fn: (signal: AbortSignal) => Promise<T>, gen: number, probe: boolean, options: CallOptions | undefined): Promise<T> {
    const timeoutMs = options?.timeoutMs ?? this.options.callTimeoutMs;
    if (!probe && timeoutMs === undefined && options?.signal === undefined) {
      // Nothing can abandon this call: no timer, no listener, no controller, no async frame (the hot path of
      // every remote ask goes through here).
      let p: Promise<T>;
      try {
        p = fn(NEVER_ABORTED);
      } catch (err) {
        this.settle(gen, false, this.failed(err) ? FAILURE : SUCCESS);
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what fn threw, unchanged (as before)
        return Promise.reject(err);
      }
      return p.then(
        (value) => {
          this.settle(gen, false, SUCCESS);
          return value;
        },
        (err: unknown) => {
          this.settle(gen, false, this.failed(err) ? FAILURE : SUCCESS);
          throw err;
        },
      );
    }
    return this.runGuarded(fn, gen, probe, timeoutMs, options?.signal);
  }

  /** A call that may be abandoned: by its deadline, by the caller's signal, or (a probe) by the machine's probe timeout. */
  private runGuarded<T>(fn: (signal: AbortSignal) => Promise<T>, gen: number, probe: boolean, timeoutMs: number | undefined, outer: AbortSignal | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // Rejects with what the dependency or the caller's signal gave, unchanged (not always an Error).
      const fail: (reason: unknown) => void = reject;
      const controller = new AbortController();
      let done = false;
      let timer: TimerHandle | undefined;
      const cleanup = (): void => {
        done = true;
        if (timer !== undefined) this.clock.clearTimeout(timer);
        outer?.removeEventListener('abort', onAbort);
        if (this.probe === flight) this.probe = undefined;
      };
      const flight: Flight = {
        gen,
        end: (err) => {
          if (done) return;
          cleanup();
          controller.abort(err);
          fail(err);
        },
      };
      const onAbort = (): void => {
        if (done) return;
        cleanup();
        const reason: unknown = outer!.reason;
        controller.abort(reason);
        this.settle(gen, probe, CANCELLED);
        fail(reason);
      };
      if (probe) this.probe = flight;
      if (timeoutMs !== undefined) {
        timer = this.clock.setTimeout(() => {
          if (done) return;
          cleanup();
          const err = new TimeoutError(`circuit breaker "${this.name}": call timed out after ${timeoutMs} ms`, { details: { breaker: this.name } });
          controller.abort(err);
          this.settle(gen, probe, FAILURE);
          reject(err);
        }, timeoutMs);
      }
      outer?.addEventListener('abort', onAbort, { once: true });
      // An async wrapper turns a synchronous throw from `fn` into a rejection like any other.
      const pending = (async (): Promise<T> => fn(controller.signal))();
      pending.then(
        (value) => {
          if (done) return;
          cleanup();
          this.settle(gen, probe, SUCCESS);
          resolve(value);
        },
        (err: unknown) => {
          if (done) return;
          cleanup();
          this.settle(gen, probe, this.failed(err) ? FAILURE : SUCCESS);
          fail(err);
        },
      );
    });
  }
}
