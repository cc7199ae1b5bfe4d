// Streams of pool tasks: an agent's handler may return an AsyncIterable; its chunks go to the submitter of a
// `submitStream` (the task record names the stream: `stream: { r, c, w, i }`), through the same credit window
// as an actor's stream. A task submitted with plain `submit` gets the chunks collected into an array.
import { CancelledError, TooLargeError, toHiveError } from '../../protocols/errors.js';
import { MAX_STREAM_IDLE_MS, MAX_STREAM_WINDOW, MIN_STREAM_IDLE_MS } from '../../protocols/streams.js';
import type { StreamTarget } from './RemoteSink.js';
import { sinkOf } from './streamRegistry.js';

/** Chunks a plain `submit` of a streaming handler collects into its result, at most. */
export const MAX_COLLECTED_CHUNKS = 100_000;

/** How a task record names the stream its chunks go to (JSON in the durable queue). */
export interface TaskStreamRef {
  /** Reply subject (the submitting node's stream inbox and stream id). */
  r: string;
  /** Correlation id (the stream id). */
  c: string;
  /** Credit window. */
  w: number;
  /** Idle timeout, ms. */
  i: number;
}

/** The result a streamed task stores: how many chunks it streamed and its final value. */
export interface StreamedResult {
  type: 'hive.streamed';
  chunks: number;
  final?: unknown;
}

/** The record form of a stream target. */
export function taskStreamRef(t: StreamTarget): TaskStreamRef {
  return { r: t.replyTo, c: t.cid!, w: t.window, i: t.idleMs };
}

/** The stream target a task record names, or undefined when it names none or a malformed one (the wire is hostile). */
export function streamTargetOf(ref: unknown): StreamTarget | undefined {
  if (typeof ref !== 'object' || ref === null) return undefined;
  const { r, c, w, i } = ref as Partial<TaskStreamRef>;
  if (typeof r !== 'string' || r.length === 0 || r.length > 512 || /[\s*>]/.test(r)) return undefined;
  if (typeof c !== 'string' || c.length === 0 || c.length > 128) return undefined;
  if (typeof w !== 'number' || !Number.isInteger(w) || w < 1 || w > MAX_STREAM_WINDOW) return undefined;
  if (typeof i !== 'number' || !Number.isInteger(i) || i < MIN_STREAM_IDLE_MS || i > MAX_STREAM_IDLE_MS) return undefined;
  return { replyTo: r, cid: c, binary: true, window: w, idleMs: i };
}

/** True for what `for await` can iterate. */
export function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

/** True for the stored result of a streamed task. */
export function isStreamedResult(value: unknown): value is StreamedResult {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'hive.streamed';
}

/**
 * Runs a handler's AsyncIterable result for the task ask `event`: into its stream when it has one (resolves with
 * a {@link StreamedResult}), else collected into an array. The consumer going away aborts `controller` (the
 * handler's `ctx.signal`) and closes the iterator; an error of the iterator ends the stream with it and rejects.
 */
export async function runStreamResult(event: object, iterable: AsyncIterable<unknown>, controller: AbortController): Promise<unknown> {
  const it = iterable[Symbol.asyncIterator]();
  const sink = sinkOf(event);
  const collected: unknown[] = [];
  let n = 0;
  try {
    for (;;) {
      if (controller.signal.aborted) throw toHiveError(controller.signal.reason);
      const r = await it.next();
      if (r.done === true) {
        if (sink === undefined) return collected;
        sink.end(r.value);
        const out: StreamedResult = { type: 'hive.streamed', chunks: n };
        if (r.value !== undefined) out.final = r.value;
        return out;
      }
      n++;
      if (sink === undefined) {
        if (collected.length >= MAX_COLLECTED_CHUNKS) throw new TooLargeError(`a streaming handler's result collected more than ${MAX_COLLECTED_CHUNKS} chunks (use submitStream)`);
        collected.push(r.value);
      } else if (!(await sink.push(r.value))) {
        const err = new CancelledError('the stream\'s consumer cancelled or went away', { cause: sink.signal.reason });
        controller.abort(err);
        throw err;
      }
    }
  } catch (err) {
    sink?.fail(err);
    try {
      await it.return?.();
    } catch {
      // the iterator's own cleanup failed: the task's error is the first one
    }
    throw err;
  }
}
