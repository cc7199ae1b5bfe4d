// The reply helper machines use to answer an ask: the runtime registers a replier for the event object it
// delivers, and `reply(event, answer)` (from an action, now or later) sends the answer back to the asker.
import type { HiveEvent } from '../protocols/envelope.js';
import { toHiveError } from '../protocols/errors.js';

/** Answers one ask: with an event, or with an error. */
export interface Replier {
  ok(answer: HiveEvent): void;
  fail(err: unknown): void;
}

// One registry per process, even when two copies of this module are loaded (say the CLI's compiled copy
// and a user module importing the sources through tsx): a reply must find its ask whatever copy sends it.
const registryKey = Symbol.for('agent-hive.repliers');
const repliers: WeakMap<object, Replier> = ((globalThis as Record<symbol, unknown>)[registryKey] as WeakMap<object, Replier> | undefined) ??
  ((globalThis as Record<symbol, unknown>)[registryKey] = new WeakMap<object, Replier>());

/**
 * Stands in for the replier of an ask nobody waits for any more (deadline passed, cancelled): an actor that
 * has not started on it skips it, an answer to it goes nowhere. Shared across module copies like the registry.
 */
const abandonedKey = Symbol.for('agent-hive.abandoned');
const ABANDONED: Replier = ((globalThis as Record<symbol, unknown>)[abandonedKey] as Replier | undefined) ??
  ((globalThis as Record<symbol, unknown>)[abandonedKey] = { ok() {}, fail() {} } as Replier);

/** @internal Marks an ask nobody waits for any more: not started if still queued, its answer dropped. */
export function abandon(event: object): void {
  if (repliers.has(event)) repliers.set(event, ABANDONED);
}

/**
 * @internal What the scheduler checks before delivering `event`: `skip` for an abandoned ask (taken out of
 * the registry), `ask` for an ask waiting for its answer, `tell` otherwise.
 */
export function deliveryOf(event: object): 'ask' | 'tell' | 'skip' {
  const r = repliers.get(event);
  if (r === undefined) return 'tell';
  if (r !== ABANDONED) return 'ask';
  repliers.delete(event);
  return 'skip';
}

/** @internal Registers the replier for an event about to be delivered as an ask. */
export function registerReplier(event: object, replier: Replier): void {
  repliers.set(event, replier);
}

/** @internal Takes (and removes) the replier of an event, if it still waits for an answer. */
export function takeReplier(event: object): Replier | undefined {
  const r = repliers.get(event);
  if (r !== undefined) repliers.delete(event);
  return r;
}

/** True when `event` arrived as an ask that has not been answered yet (and is still waited for). */
export function isAsk(event: unknown): boolean {
  if (typeof event !== 'object' || event === null) return false;
  const r = repliers.get(event);
  return r !== undefined && r !== ABANDONED;
}

/**
 * Answers the ask that delivered `event` (call it from an action, or later with an event you kept).
 * A tell has no one to answer: then it does nothing and returns false. Each ask is answered once.
 * @example
 * actions: ({ event }) => reply(event, { type: 'pong' })
 */
export function reply(event: unknown, answer: HiveEvent): boolean {
  if (typeof event !== 'object' || event === null) return false;
  const r = takeReplier(event);
  if (r === undefined) return false;
  r.ok(answer);
  return true;
}

/** Answers the ask that delivered `event` with an error (the asker gets the typed error). */
export function replyError(event: unknown, err: unknown): boolean {
  if (typeof event !== 'object' || event === null) return false;
  const r = takeReplier(event);
  if (r === undefined) return false;
  r.fail(toHiveError(err));
  return true;
}
