// Maps what pg and PGlite throw to Hive's typed errors: connection trouble and transient server states
// become a retryable DatabaseError, everything else a DatabaseError that a retry cannot fix.
import { DatabaseError, HiveError } from '../../protocols/errors.js';

// Socket-level failures: the database is down, restarting or unreachable.
const RETRYABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

// SQLSTATEs worth retrying: connection exceptions (08), serialization failure and deadlock (40001, 40P01),
// insufficient resources (53), operator intervention such as shutdown (57P01-57P03), lock not available.
function retryableSqlState(code: string): boolean {
  return code.startsWith('08') || code.startsWith('53') || code === '40001' || code === '40P01' || code === '55P03' || /^57P0[1-3]$/.test(code);
}

const CONNECTION_MESSAGE = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i;

/**
 * Wraps anything a database call threw as a {@link DatabaseError} (HiveErrors pass through unchanged).
 * `details` carry `sqlState` when the server gave one, and the action that failed.
 *
 * @param err what was thrown
 * @param action what the store was doing, e.g. `ingest` (goes into the message)
 */
export function toDatabaseError(err: unknown, action: string): HiveError {
  if (err instanceof HiveError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; message?: unknown; errors?: unknown };
  const message = typeof e.message === 'string' && e.message ? e.message : String(err);
  const code = typeof e.code === 'string' ? e.code : undefined;
  // An AggregateError (several addresses refused) carries the codes in `errors`.
  const nested = Array.isArray(e.errors) ? (e.errors as { code?: unknown }[]).map((x) => x.code).filter((c): c is string => typeof c === 'string') : [];
  const nodeCode = code && RETRYABLE_NODE_CODES.has(code) ? code : nested.find((c) => RETRYABLE_NODE_CODES.has(c));
  const details: Record<string, unknown> = { action };
  let retryable: boolean;
  if (nodeCode) {
    retryable = true;
    details['errno'] = nodeCode;
  } else if (code && /^[0-9A-Z]{5}$/.test(code)) {
    retryable = retryableSqlState(code);
    details['sqlState'] = code;
  } else {
    retryable = CONNECTION_MESSAGE.test(message);
  }
  const text = nodeCode && !message.includes(nodeCode) ? `${nodeCode} ${message}`.trim() : message;
  return new DatabaseError(`memory ${action} failed: ${text || 'database error'}`, { cause: err, retryable, details });
}
