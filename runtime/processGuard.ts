// Process guard: the node process's last line of defence. An unhandled promise rejection or an uncaught
// exception is logged (with its stack), counted in `hive_unhandled_errors_total` and the process keeps
// serving: one bad code path must not take down every actor on the node. Installed by `hive start` (a
// library user keeps control of their own process); every such event is a bug to fix, and the test suite
// fails if one ever fires (test/support/noUnhandled.ts).
import type { Logger } from './logger.js';
import type { MetricsRegistry } from './metrics.js';

/** Installs the handlers; returns a function that removes them. */
export function installProcessGuard(logger: Logger, metrics: MetricsRegistry, proc: NodeJS.Process = process): () => void {
  const counter = metrics.counter('hive_unhandled_errors_total', 'Unhandled promise rejections and uncaught exceptions the node survived (each one is a bug)', ['kind']);
  const onRejection = (reason: unknown) => {
    counter.inc({ kind: 'rejection' });
    logger.error({ err: reason, unhandled: 'rejection' }, 'hive: unhandled promise rejection (the node keeps serving)');
  };
  const onException = (err: unknown) => {
    counter.inc({ kind: 'exception' });
    logger.error({ err, unhandled: 'exception' }, 'hive: uncaught exception (the node keeps serving)');
  };
  proc.on('unhandledRejection', onRejection);
  proc.on('uncaughtException', onException);
  return () => {
    proc.off('unhandledRejection', onRejection);
    proc.off('uncaughtException', onException);
  };
}
