// The transit's counters (hive_expired_total, hive_cancels_total) and its in-progress gauge, or no-ops when
// the transit has no metrics registry.
import type { MetricsRegistry } from '../metrics.js';

/** Counters the serving side bumps. */
export interface TransitCounters {
  expiredArrival(): void;
  expiredWaiting(): void;
  cancelApplied(): void;
  cancelUnknown(): void;
}

function noop(): void {}

const NO_COUNTERS: TransitCounters = { expiredArrival: noop, expiredWaiting: noop, cancelApplied: noop, cancelUnknown: noop };

/**
 * Registers the transit's metrics on `m`: `hive_expired_total{stage}`, `hive_cancels_total{result}` and
 * `hive_requests_in_progress{side}` (read from `sent()` and `received()` at scrape time).
 */
export function transitCounters(m: MetricsRegistry | undefined, sent: () => number, received: () => number): TransitCounters {
  if (m === undefined) return NO_COUNTERS;
  const expired = m.counter('hive_expired_total', 'Asks dropped because their deadline passed (on arrival, or while waiting for an answer)', ['stage']);
  const cancels = m.counter('hive_cancels_total', 'Cancel envelopes received (applied to an ask in progress, or naming none)', ['result']);
  const arrival = expired.labels('arrival');
  const waiting = expired.labels('waiting');
  const applied = cancels.labels('applied');
  const unknown = cancels.labels('unknown');
  m.gauge('hive_requests_in_progress', 'Requests this node waits on (sent) and asks it serves (received)', ['side'], function () {
    this.set({ side: 'sent' }, sent());
    this.set({ side: 'received' }, received());
  });
  return {
    expiredArrival: () => arrival.inc(),
    expiredWaiting: () => waiting.inc(),
    cancelApplied: () => applied.inc(),
    cancelUnknown: () => unknown.inc(),
  };
}
