// The memory store as the memory actor calls it: every database call goes through the circuit breaker, and
// each outcome is reported (`ok` / `down`) to whoever listens (the memory machine, which moves between its
// `ready` and `degraded` states on them). It holds no state of its own beyond the breaker.
import { CircuitOpenError, HiveError } from '../../protocols/errors.js';
import type { Clock } from '../../runtime/Clock.js';
import type { MetricsRegistry } from '../../runtime/metrics.js';
import { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import type { BreakerOptions } from '../breaker/breakerOptions.js';
import type { MemoryStore } from './MemoryStore.js';

/** Failures that say the database (not the caller) is in trouble: they count against the breaker and are retried. */
export function isDatabaseFailure(err: unknown): boolean {
  if (!(err instanceof HiveError)) return true;
  if (err.code === 'DATABASE' || err.code === 'TIMEOUT') return err.retryable;
  return err.code === 'INTERNAL';
}

/** The database breaker's defaults: trips after 3 failures in a row, cool-down from 1 s doubling to 15 s. */
export const DEFAULT_MEMORY_BREAKER: BreakerOptions = { consecutiveFailures: 3, coolDownMs: 1000, coolDownMultiplier: 2, maxCoolDownMs: 15_000, probesToClose: 1, minimumCalls: 10 };

/** How the database answered lately. */
export type DatabaseHealth = 'ok' | 'down';

/** A store behind a breaker. */
export class MemoryDatabase {
  readonly breaker: CircuitBreaker | undefined;
  private readonly listeners = new Set<(h: DatabaseHealth) => void>();

  constructor(
    readonly store: MemoryStore,
    private readonly clock: Clock,
    options: { name: string; breaker?: BreakerOptions | false; metrics?: MetricsRegistry },
  ) {
    if (options.breaker !== false) {
      this.breaker = new CircuitBreaker(
        options.name.slice(0, 128),
        { isFailure: isDatabaseFailure, ...DEFAULT_MEMORY_BREAKER, ...(options.breaker ?? {}) },
        { clock, ...(options.metrics !== undefined && { metrics: options.metrics }) },
      );
      this.breaker.onStateChange((c) => {
        if (c.to === 'open') this.report('down');
      });
    }
  }

  /** Listens to health reports; returns an unsubscribe function. */
  onHealth(listener: (h: DatabaseHealth) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private report(h: DatabaseHealth): void {
    for (const l of this.listeners) {
      try {
        l(h);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  /** Runs a database call through the breaker and reports how it went. */
  async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      const value = this.breaker ? await this.breaker.call(fn) : await fn();
      this.report('ok');
      return value;
    } catch (err) {
      if (isDatabaseFailure(err) || (err instanceof HiveError && err.code === 'CIRCUIT_OPEN')) this.report('down');
      throw err;
    }
  }

  /** Opens (connects, migrates) the store; rejects when the database does not answer. */
  open(): Promise<void> {
    return this.guard(() => this.store.init());
  }

  /** Refuses at once, with nothing done, when the breaker is open; then makes sure the store is open. */
  async precheck(): Promise<void> {
    const b = this.breaker;
    if (b !== undefined && b.state === 'open') {
      const retryAt = b.retryAt ?? this.clock.now();
      if (retryAt > this.clock.now()) {
        throw new CircuitOpenError(`memory database circuit breaker is open: nothing was queued, retry in ${retryAt - this.clock.now()} ms`, {
          details: { breaker: b.name, retryAt, retryInMs: retryAt - this.clock.now() },
        });
      }
    }
    // Connects (and migrates) unless done already: a database that is down answers here, fast.
    await this.open();
  }

  dispose(): void {
    this.breaker?.dispose();
    this.listeners.clear();
  }
}
