// Durable timers: what `schedule` takes, the record stored per timer (key `t.<id>` of the KV bucket
// hive_<cluster>_timers), and the parsers that validate both (a stored record is untrusted data).
import type { HiveEvent } from '../../protocols/envelope.js';
import { InvalidArgumentError } from '../../protocols/errors.js';
import { isToken } from '../../protocols/subjects.js';

/** Where a timer delivers: an actor by id, a virtual actor (activated if needed), or a pool (as a task). */
export type TimerTarget = string | { actor: string } | { kind: string; key: string } | { pool: string };

/** When and under which id a timer fires. Exactly one of `at` and `afterMs`. */
export interface ScheduleOptions {
  /** Fire at this time (epoch ms or a Date); a time in the past fires at once. */
  at?: number | Date;
  /** Fire this many ms from now. */
  afterMs?: number;
  /** The timer's id (default: generated): scheduling an id that is pending again changes nothing; cancel by it. */
  id?: string;
}

/** A stored timer. */
export interface TimerRecord {
  v: 1;
  id: string;
  target: { actor: string } | { kind: string; key: string } | { pool: string };
  event: HiveEvent;
  /** Epoch ms it is due. */
  at: number;
  createdAt: number;
  /** Failed delivery attempts so far. */
  attempts: number;
}

/** The furthest ahead a timer may be set: 366 days. */
export const MAX_SCHEDULE_MS = 366 * 24 * 3600_000;
/** Largest event a timer carries (bytes of its JSON). */
export const MAX_TIMER_EVENT_BYTES = 256 * 1024;

function bad(argument: string, message: string): never {
  throw new InvalidArgumentError(`schedule: ${message}`, { details: { argument } });
}

/** Validates a target; returns it in object form. */
export function parseTarget(target: unknown): TimerRecord['target'] {
  if (typeof target === 'string') {
    if (!isToken(target)) bad('target', `an actor id must be a token [A-Za-z0-9_-]{1,128}, got ${JSON.stringify(target)}`);
    return { actor: target };
  }
  if (typeof target !== 'object' || target === null) bad('target', 'must be an actor id, { actor }, { kind, key } or { pool }');
  const t = target as Record<string, unknown>;
  if (typeof t['actor'] === 'string' && isToken(t['actor'])) return { actor: t['actor'] };
  if (typeof t['pool'] === 'string' && isToken(t['pool'])) return { pool: t['pool'] };
  if (typeof t['kind'] === 'string' && isToken(t['kind']) && typeof t['key'] === 'string' && isToken(t['key'])) return { kind: t['kind'], key: t['key'] };
  return bad('target', 'must be an actor id, { actor }, { kind, key } or { pool } with token names');
}

/** The due time of a schedule call: `at` (past times fire at once) or now + `afterMs`; refused past the maximum. */
export function dueTime(options: ScheduleOptions, now: number): number {
  if (typeof options !== 'object' || options === null) bad('options', 'needs { at } or { afterMs }');
  const { at, afterMs } = options;
  if ((at === undefined) === (afterMs === undefined)) bad('at', 'needs exactly one of at and afterMs');
  let due: number;
  if (at !== undefined) {
    due = at instanceof Date ? at.getTime() : at;
    if (typeof due !== 'number' || !Number.isFinite(due)) bad('at', 'must be epoch ms or a valid Date');
  } else {
    if (typeof afterMs !== 'number' || !Number.isFinite(afterMs) || afterMs < 0) bad('afterMs', 'must be a finite number of ms >= 0');
    due = now + afterMs;
  }
  if (due - now > MAX_SCHEDULE_MS) bad(at !== undefined ? 'at' : 'afterMs', `is more than the maximum of ${MAX_SCHEDULE_MS / 86_400_000} days ahead`);
  return Math.max(due, 0);
}

/** Parses a stored record; undefined when malformed. */
export function parseTimerRecord(value: unknown): TimerRecord | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v['id'] !== 'string' || !isToken(v['id'])) return undefined;
  if (typeof v['at'] !== 'number' || !Number.isFinite(v['at'])) return undefined;
  const e = v['event'];
  if (typeof e !== 'object' || e === null || typeof (e as { type?: unknown }).type !== 'string') return undefined;
  let target: TimerRecord['target'];
  try {
    target = parseTarget(v['target']);
  } catch {
    return undefined;
  }
  const attempts = typeof v['attempts'] === 'number' && Number.isInteger(v['attempts']) && v['attempts'] >= 0 ? v['attempts'] : 0;
  const createdAt = typeof v['createdAt'] === 'number' ? v['createdAt'] : v['at'];
  return { v: 1, id: v['id'], target, event: e as HiveEvent, at: v['at'], createdAt, attempts };
}
