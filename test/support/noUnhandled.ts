// Vitest setup: a test fails if an unhandled promise rejection or an uncaught exception fires while it runs
// (in the test process; `hive start` children report theirs through the process guard's log line, which
// test/support/hiveProcess.ts checks). The node process survives these (runtime/processGuard.ts), so
// without this check a missing handler would go unnoticed.
import { afterEach } from 'vitest';

const seen: unknown[] = [];
process.on('unhandledRejection', (reason) => seen.push(reason));
process.on('uncaughtException', (err) => seen.push(err));

afterEach(() => {
  if (seen.length === 0) return;
  const errors = seen.splice(0);
  const first = errors[0];
  throw new Error(`${errors.length} unhandled rejection(s)/exception(s) fired during this test; the first: ${first instanceof Error ? (first.stack ?? first.message) : String(first)}`);
});
