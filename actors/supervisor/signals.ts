// Supervision signals: what supervisors did (restart scheduled, restarted, child removed, escalated), for
// listeners such as status, tests and alerting. One instance is shared by a node's supervisor tree.
import type { RestartFrom, TerminationReason } from './strategy.js';

/** Something a supervisor did. */
export type SupervisionEvent =
  | {
      type: 'restarting';
      supervisor: string;
      child: string;
      /** Why: the child's own termination, or `sibling` when the strategy takes it down with a failed sibling. */
      reason: TerminationReason | 'sibling';
      delayMs: number;
    }
  | { type: 'restarted'; supervisor: string; child: string; from: RestartFrom; restarts: number }
  | { type: 'removed'; supervisor: string; child: string; reason: 'stopped' | 'not-restarted' | 'conflict' | 'spawn-error' }
  | {
      type: 'escalated';
      supervisor: string;
      /** The parent supervisor's actor id; undefined for a node's root supervisor (nothing above it). */
      parent: string | undefined;
      reason: string;
      /** The children that were stopped. */
      children: string[];
    };

/** A listener set for {@link SupervisionEvent}s. A listener that throws is ignored. */
export class SupervisionSignals {
  private readonly listeners = new Set<(e: SupervisionEvent) => void>();

  /** Listens to supervision events; returns an unsubscribe function. */
  subscribe(listener: (e: SupervisionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tells every listener. */
  emit(e: SupervisionEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // a listener's bug must not break supervision
      }
    }
  }
}
