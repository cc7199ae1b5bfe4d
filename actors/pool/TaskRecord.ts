// What travels through a pool's durable queue (a task with its id, key, deadline and where to send the
// outcome) and what is stored and sent when it is done (its result or its error).
import { createHash } from 'node:crypto';
import { TaskIdConflictError, toErrorReply, type ErrorReply } from '../../protocols/errors.js';
import { jsonReplacer } from '../../protocols/frame.js';
import type { TaskStreamRef } from '../../runtime/streams/taskStreams.js';

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
  /** {@link taskDigest} of `task` and `key`: binds the outcome to this submission. */
  digest?: string;
  /** The submitter's W3C traceparent: the task's run continues the submitter's trace. */
  t?: string;
  /** `submitStream`: where the agent's chunks go (validated before use: runtime/streams/taskStreams.ts). */
  stream?: TaskStreamRef;
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
  /** The {@link taskDigest} of the submission that produced it: only a submission with the same digest gets it. */
  digest?: string;
}

/** Sorts plain objects' keys, so that the same task built with another key order has the same digest. */
function canonicalReplacer(key: string, value: unknown): unknown {
  const v = jsonReplacer(key, value);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
  return sorted;
}

/**
 * SHA-256 (hex) over the canonical JSON encoding of a submission's task and key (object keys sorted). Stored
 * with the task's outcome: a later submission with the same id gets that outcome only when its digest is the same.
 */
export function taskDigest(task: unknown, key: string | undefined): string {
  return createHash('sha256').update(JSON.stringify([task ?? null, key ?? null], canonicalReplacer)).digest('hex');
}

/** Whether `v`, read from the wire, has the shape of a {@link TaskOutcome} (what a waiter may be settled with). */
export function isTaskOutcome(v: unknown): v is TaskOutcome {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return o.type === 'hive.task.result' && typeof o.id === 'string' && typeof o.pool === 'string' && typeof o.ok === 'boolean' && typeof o.attempts === 'number';
}

/**
 * What a submission with digest `digest` is answered with when task `stored.id` already has an outcome: that
 * outcome when it was produced by the same submission (same task and key: a redelivery or a resubmission),
 * else TASK_ID_CONFLICT, never another submission's outcome (an outcome stored without a digest matches none).
 */
export function outcomeFor(stored: TaskOutcome, digest: string | undefined, now: number): TaskOutcome {
  if (stored.digest !== undefined && stored.digest === digest) return stored;
  const error = new TaskIdConflictError(`task id ${stored.id} on pool "${stored.pool}" belongs to another submission (another task or key): submit with a new id`, { details: { task: stored.id, pool: stored.pool } });
  const conflict: TaskOutcome = { type: 'hive.task.result', id: stored.id, pool: stored.pool, ok: false, error: toErrorReply(error), attempts: 0, finishedAt: now };
  if (digest !== undefined) conflict.digest = digest;
  return conflict;
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
