// What travels through a pool's durable queue (a task with its id, key, deadline and where to send the
// outcome) and what is stored and sent when it is done (its result or its error).
import type { ErrorReply } from '../../protocols/errors.js';

/** A task on the queue. */
export interface TaskRecord {
  type: 'hive.task';
  /** Stable id: the queue de-duplicates by it and results are idempotent by it. */
  id: string;
  pool: string;
  task: unknown;
  /** Routing key (consistent hashing keeps one key on one agent while it lives). */
  key?: string;
  /** Epoch ms after which the task is abandoned with TIMEOUT. */
  deadline: number;
  /** Epoch ms of submission. */
  submittedAt: number;
  /** Subject the outcome is published to (the submitting node's results inbox). */
  replyTo?: string;
}

/** How a task ended. */
export interface TaskOutcome {
  type: 'hive.task.result';
  id: string;
  pool: string;
  ok: boolean;
  result?: unknown;
  error?: ErrorReply;
  /** Deliveries it took. */
  attempts: number;
  /** The agent that ran it last. */
  agent?: string;
  finishedAt: number;
  /** It failed every delivery it was allowed and was moved to the pool's dead-letter stream (`hive dead <pool>`). */
  deadLettered?: boolean;
}

/**
 * The error a failed task answers its submitter with: its own code and message, plus how many attempts were
 * made and whether it was dead-lettered, in the message and in `details` (`task`, `pool`, `attempts`, `deadLettered`).
 */
export function outcomeError(outcome: TaskOutcome): ErrorReply {
  const error = outcome.error ?? { type: 'hive.error' as const, code: 'INTERNAL', message: 'task failed' };
  const tries = `${outcome.attempts} attempt${outcome.attempts === 1 ? '' : 's'}`;
  const after = outcome.deadLettered === true ? `task ${outcome.id}: ${tries}, dead-lettered; see hive dead ${outcome.pool}` : `task ${outcome.id}: ${tries}`;
  return { ...error, message: `${error.message} [${after}]`, details: { ...error.details, task: outcome.id, pool: outcome.pool, attempts: outcome.attempts, deadLettered: outcome.deadLettered === true } };
}

/** A dead-lettered task: the record, its last error and how many times it was tried. */
export interface DeadTask {
  type: 'hive.task.dead';
  task: TaskRecord;
  error: ErrorReply;
  attempts: number;
  at: number;
}
