// The stream helpers machines use beside `reply`: the runtime registers a sink for the event object of a stream
// ask, and `stream(event, chunk)` ... `end(event, final?)` send the chunks and the end back to the caller.
import type { HiveEvent } from '../../protocols/envelope.js';
import { registerReplier, reply, takeReplier } from '../reply.js';
import type { StreamSink } from './StreamSink.js';

// One registry per process, even with two copies of this module loaded (as the reply registry does).
const registryKey = Symbol.for('agent-hive.stream-sinks');
const sinks: WeakMap<object, StreamSink> = ((globalThis as Record<symbol, unknown>)[registryKey] as WeakMap<object, StreamSink> | undefined) ??
  ((globalThis as Record<symbol, unknown>)[registryKey] = new WeakMap<object, StreamSink>());

const FALSE = Promise.resolve(false);

/** @internal Registers the sink of a stream ask's event (and, unless `replier` is false, makes it the ask's replier). */
export function registerSink(event: object, sink: StreamSink, replier = true): void {
  sinks.set(event, sink);
  if (replier) registerReplier(event, sink);
}

/** @internal Forgets `sink` (when it is still the one registered for `event`). */
export function forgetSink(event: object, sink: StreamSink): void {
  if (sinks.get(event) === sink) sinks.delete(event);
  // a stream that ended by itself takes its replier entry with it (the actor has nobody left to answer)
  const r = takeReplier(event);
  if (r !== undefined && r !== sink) registerReplier(event, r);
}

/** @internal The sink of a stream ask's event, if the stream is still open. */
export function sinkOf(event: unknown): StreamSink | undefined {
  if (typeof event !== 'object' || event === null) return undefined;
  const s = sinks.get(event);
  return s === undefined || s.done ? undefined : s;
}

/** True when `event` arrived as a stream ask (`askStream`, `submitStream`) whose stream is still open. */
export function isStream(event: unknown): boolean {
  return sinkOf(event) !== undefined;
}

/**
 * Sends one chunk of the streamed reply to the ask that delivered `event`. Resolves true once the chunk is on
 * its way (at once while the consumer's credits last, later when it grants more: `await` it and a slow consumer
 * slows you down), false when the stream is over (the consumer cancelled, went away, or the stream ended):
 * stop producing then. Not a stream ask: resolves false.
 * @example
 * for await (const token of llm(prompt)) if (!(await stream(event, token))) break;
 * end(event);
 */
export function stream(event: unknown, chunk: unknown): Promise<boolean> {
  const s = sinkOf(event);
  return s === undefined ? FALSE : s.push(chunk);
}

/**
 * Ends the streamed reply to `event` (after the chunks still waiting for credits), with an optional final value
 * the caller reads as `stream.final`. On a plain ask (not a stream), `end(event, final)` replies with `final`.
 * Returns false when there was nothing to end.
 */
export function end(event: unknown, final?: unknown): boolean {
  const s = sinkOf(event);
  if (s !== undefined) {
    s.end(final);
    return true;
  }
  if (typeof final === 'object' && final !== null && typeof (final as { type?: unknown }).type === 'string') return reply(event, final as HiveEvent);
  return false;
}

/** Aborts when the consumer of the stream answering `event` cancels or goes away (undefined: not a stream ask). */
export function streamSignal(event: unknown): AbortSignal | undefined {
  return sinkOf(event)?.signal;
}
