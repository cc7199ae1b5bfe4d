// NodeBreakers: a circuit breaker per destination node around remote asks. Replies say which node answered
// for an actor; later asks to that actor go through that node's breaker, so a node that keeps timing out is
// failed fast (CIRCUIT_OPEN) instead of waited on, and probed again after a cool-down. Bounded: the
// actor→node map keeps the most recent entries, and a node's breaker goes when the node leaves or fails.
import { CircuitBreaker } from '../actors/breaker/CircuitBreaker.js';
import type { BreakerOptions } from '../actors/breaker/breakerOptions.js';
import { HiveError } from '../protocols/errors.js';
import type { RemoteGuard } from '../runtime/Transit.js';
import type { Clock } from '../runtime/Clock.js';
import type { MetricsRegistry } from '../runtime/metrics.js';

/** Errors that say the destination node is in trouble (not the actor, not the caller). */
const NODE_FAILURES = new Set(['TIMEOUT', 'UNAVAILABLE']);

/** Defaults: trip after 5 timeouts in a row to the same node, probe again after 1 s (growing to 30 s). */
const DEFAULT_OPTIONS: BreakerOptions = { consecutiveFailures: 5, coolDownMs: 1000, maxCoolDownMs: 30_000, probesToClose: 1 };

/** Per-node breakers for remote asks. */
export class NodeBreakers implements RemoteGuard {
  private readonly hostOf = new Map<string, string>();
  private readonly breakers = new Map<string, CircuitBreaker>();
  private readonly options: BreakerOptions;

  constructor(
    private readonly deps: { clock: Clock; metrics: MetricsRegistry; options?: BreakerOptions; maxActors?: number },
  ) {
    this.options = { ...DEFAULT_OPTIONS, isFailure: (err) => err instanceof HiveError && NODE_FAILURES.has(err.code), ...deps.options };
  }

  call<T>(id: string, send: () => Promise<T>): Promise<T> {
    const node = this.hostOf.get(id);
    if (node === undefined) return send();
    return this.breakerOf(node).call(send);
  }

  answered(id: string, node: string): void {
    if (this.hostOf.get(id) === node) return;
    this.hostOf.delete(id);
    this.hostOf.set(id, node);
    const max = this.deps.maxActors ?? 10_000;
    if (this.hostOf.size > max) this.hostOf.delete(this.hostOf.keys().next().value!);
  }

  /** The breaker state of each destination node known so far. */
  states(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [node, b] of this.breakers) out[node] = b.state;
    return out;
  }

  /** A node left or failed: forget its breaker and which actors it hosted (they may come back elsewhere). */
  forgetNode(node: string): void {
    this.breakers.get(node)?.dispose();
    this.breakers.delete(node);
    for (const [id, n] of this.hostOf) if (n === node) this.hostOf.delete(id);
  }

  private breakerOf(node: string): CircuitBreaker {
    let b = this.breakers.get(node);
    if (b === undefined) {
      b = new CircuitBreaker(`node-${node}`.slice(0, 128), this.options, { clock: this.deps.clock, metrics: this.deps.metrics });
      this.breakers.set(node, b);
    }
    return b;
  }

  dispose(): void {
    for (const b of this.breakers.values()) b.dispose();
    this.breakers.clear();
    this.hostOf.clear();
  }
}
