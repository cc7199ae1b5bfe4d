// Hive's error classes: each has a stable `code`, says whether a retry may succeed, keeps its `cause`,
// and survives the wire (`toErrorReply` on one side, `errorFromReply` on the other rebuilds the same class).

/** Every stable error code Hive puts on the wire. */
export const ErrorCodes = [
  'BAD_FRAME',
  'TOO_LARGE',
  'NO_SUCH_ACTOR',
  'TIMEOUT',
  'OVERLOADED',
  'INVALID_EVENT',
  'CIRCUIT_OPEN',
  'INVALID_ID',
  'DUPLICATE_ACTOR',
  'INVALID_CONFIG',
  'ACTOR_FAILED',
  'ACTOR_STOPPED',
  'UNAVAILABLE',
  'INVALID_ARGUMENT',
  'DATABASE',
  'CANCELLED',
  'BUDGET_EXHAUSTED',
  'PERMISSION_DENIED',
  'TASK_ID_CONFLICT',
  'INTERNAL',
] as const;

/** A stable error code. */
export type ErrorCode = (typeof ErrorCodes)[number];

/** The JSON/msgpack shape of an error on the wire. */
export interface ErrorReply {
  type: 'hive.error';
  code: string;
  message: string;
  retryable?: boolean;
  details?: Record<string, unknown>;
}

/** Options every Hive error takes. */
export interface HiveErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
  retryable?: boolean;
}

/** Base class of every error Hive throws or sends. */
export class HiveError extends Error {
  /** Stable machine-readable code (see {@link ErrorCodes}). */
  readonly code: ErrorCode | (string & {});
  /** True when the same call may succeed if tried again later. */
  readonly retryable: boolean;
  /** Structured context (the offending value, the option name, ...). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode | (string & {}), message: string, options: HiveErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }

  /** The wire form of this error (what a remote caller or the NATS CLI receives). */
  toReply(): ErrorReply {
    const reply: ErrorReply = { type: 'hive.error', code: this.code, message: this.message, retryable: this.retryable };
    if (this.details !== undefined) reply.details = this.details;
    return reply;
  }
}

/** A payload that is not a valid Hive frame (truncated, garbage, wrong version, bad JSON). */
export class BadFrameError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('BAD_FRAME', message, options);
  }
}

/** A frame, or the body it would inflate to, over the size limit. */
export class TooLargeError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('TOO_LARGE', message, options);
  }
}

/** No actor with that id is reachable. */
export class NoSuchActorError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('NO_SUCH_ACTOR', message, options);
  }
}

/** An ask (or another bounded wait) ran past its deadline. */
export class TimeoutError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('TIMEOUT', message, { retryable: true, ...options });
  }
}

/** A mailbox or queue is full; try again later. */
export class OverloadedError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('OVERLOADED', message, { retryable: true, ...options });
  }
}

/** An event that is not an object with a string `type`, or that a handler cannot accept. */
export class InvalidEventError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('INVALID_EVENT', message, options);
  }
}

/** A circuit breaker is open: the guarded dependency is considered down. */
export class CircuitOpenError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('CIRCUIT_OPEN', message, { retryable: true, ...options });
  }
}

/** An actor id, cluster name or other subject token that is not `[A-Za-z0-9_-]{1,128}`. */
export class InvalidIdError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('INVALID_ID', message, options);
  }
}

/** An actor with that id already lives on this node. */
export class DuplicateActorError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('DUPLICATE_ACTOR', message, options);
  }
}

/** A configuration value that is invalid; `details.option` names the option. */
export class ConfigError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('INVALID_CONFIG', message, options);
  }
}

/** The actor failed (its machine threw) while handling the message. */
export class ActorFailedError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('ACTOR_FAILED', message, options);
  }
}

/** The actor stopped before it answered. */
export class ActorStoppedError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('ACTOR_STOPPED', message, options);
  }
}

/** A dependency (NATS, the database, a node) is not reachable right now. */
export class UnavailableError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('UNAVAILABLE', message, { retryable: true, ...options });
  }
}

/** A call argument that is invalid; `details` name the argument. */
export class InvalidArgumentError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('INVALID_ARGUMENT', message, options);
  }
}

/** The caller cancelled the request (its AbortSignal fired, or a `cancel` envelope named it). */
export class CancelledError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('CANCELLED', message, options);
  }
}

/** The NATS server refused the operation: this user's permissions do not allow that subject. */
export class PermissionDeniedError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('PERMISSION_DENIED', message, options);
  }
}

/**
 * A task was submitted with the id of a task already queued or finished but with a different payload (task or
 * key): its outcome belongs to the first submission and is not returned. Not retryable: submit with a new id.
 */
export class TaskIdConflictError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('TASK_ID_CONFLICT', message, options);
  }
}

type ErrorClass = new (message: string, options?: HiveErrorOptions) => HiveError;

const classes: Partial<Record<string, ErrorClass>> = {
  BAD_FRAME: BadFrameError,
  TOO_LARGE: TooLargeError,
  NO_SUCH_ACTOR: NoSuchActorError,
  TIMEOUT: TimeoutError,
  OVERLOADED: OverloadedError,
  INVALID_EVENT: InvalidEventError,
  CIRCUIT_OPEN: CircuitOpenError,
  INVALID_ID: InvalidIdError,
  DUPLICATE_ACTOR: DuplicateActorError,
  INVALID_CONFIG: ConfigError,
  ACTOR_FAILED: ActorFailedError,
  ACTOR_STOPPED: ActorStoppedError,
  UNAVAILABLE: UnavailableError,
  INVALID_ARGUMENT: InvalidArgumentError,
  CANCELLED: CancelledError,
  PERMISSION_DENIED: PermissionDeniedError,
  TASK_ID_CONFLICT: TaskIdConflictError,
};

/** True when `value` has the shape of an error reply (`{ type: 'hive.error', code, message }`). */
export function isErrorReply(value: unknown): value is ErrorReply {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v['type'] === 'hive.error' && typeof v['code'] === 'string' && typeof v['message'] === 'string';
}

/** Rebuilds the typed error class from an error reply received over the wire. */
export function errorFromReply(reply: ErrorReply): HiveError {
  const options: HiveErrorOptions = {};
  if (reply.details !== undefined) options.details = reply.details;
  if (reply.retryable !== undefined) options.retryable = reply.retryable;
  // Own properties only: a code such as "constructor" or "__proto__" must not reach Object.prototype.
  const Cls = Object.hasOwn(classes, reply.code) ? classes[reply.code] : undefined;
  return Cls ? new Cls(reply.message, options) : new HiveError(reply.code, reply.message, options);
}

/** Turns anything thrown into a HiveError (unknown errors become `INTERNAL`, keeping the original as cause). */
export function toHiveError(err: unknown): HiveError {
  if (err instanceof HiveError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new HiveError('INTERNAL', message, { cause: err });
}

/** The wire form of anything thrown. */
export function toErrorReply(err: unknown): ErrorReply {
  return toHiveError(err).toReply();
}

/**
 * The database failed the call. Retryable by default (connection refused or lost, server restarting,
 * serialization failure); `retryable: false` marks errors a retry cannot fix (a constraint or data error).
 * `details` may carry the PostgreSQL SQLSTATE as `sqlState`.
 */
export class DatabaseError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('DATABASE', message, { retryable: true, ...options });
  }
}

classes['DATABASE'] = DatabaseError;

/** A budget's spending for its period has reached its limit (`details`: budget, period, spent, limit). */
export class BudgetExhaustedError extends HiveError {
  constructor(message: string, options: HiveErrorOptions = {}) {
    super('BUDGET_EXHAUSTED', message, options);
  }
}

classes['BUDGET_EXHAUSTED'] = BudgetExhaustedError;
