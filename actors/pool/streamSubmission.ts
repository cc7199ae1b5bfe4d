// submitStream: a pool task whose agent streams its answer. The submitting node opens a stream receiver, the
// task record names it (`stream`), the agent's AsyncIterable chunks arrive through the credit window, and the
// task's outcome settles what the stream did not (an error, or a handler that returned a plain value).
import { errorFromReply } from '../../protocols/errors.js';
import type { ActorSystem } from '../../runtime/ActorSystem.js';
import type { ChunkStream } from '../../runtime/streams/ChunkStream.js';
import { failedStream } from '../../runtime/streams/StreamHub.js';
import { isStreamedResult, taskStreamRef, type TaskStreamRef } from '../../runtime/streams/taskStreams.js';
import type { SubmitOptions } from './Pool.js';
import { outcomeError, type TaskOutcome } from './TaskRecord.js';

/** Options of `submitStream`: a submission's, plus the stream's credit window and idle timeout. */
export interface SubmitStreamOptions extends SubmitOptions {
  /** Credit window: chunks the agent may send ahead of the reader (default 1024). */
  window?: number;
  /** The agent's stream is cancelled when it hears nothing from this reader for this long (default 30,000 ms). */
  idleTimeoutMs?: number;
}

/**
 * Opens the stream of a task and submits it with `submit` (which puts `ref` in the task record). Breaking out of
 * the loop, or aborting `options.signal`, cancels the task.
 */
export function openTaskStream<T>(
  system: ActorSystem,
  pool: string,
  options: SubmitStreamOptions,
  timeoutMs: number,
  submit: (options: SubmitOptions, ref: TaskStreamRef) => Promise<TaskOutcome>,
): ChunkStream<T> {
  const controller = new AbortController();
  let stream: ChunkStream<T>;
  let ref: TaskStreamRef;
  try {
    const opened = system.streams.receive<T>(
      { window: options.window, idleTimeoutMs: options.idleTimeoutMs, timeoutMs: options.timeoutMs ?? timeoutMs, signal: options.signal },
      (reason) => controller.abort(reason),
      `pool "${pool}"`,
    );
    stream = opened.stream;
    ref = taskStreamRef(opened.target);
  } catch (err) {
    return failedStream(err);
  }
  if (!stream.open) return stream;
  const submission: SubmitOptions = { signal: controller.signal };
  if (options.id !== undefined) submission.id = options.id;
  if (options.key !== undefined) submission.key = options.key;
  if (options.timeoutMs !== undefined) submission.timeoutMs = options.timeoutMs;
  submit(submission, ref).then(
    (outcome) => {
      if (!outcome.ok) stream.fail(errorFromReply(outcomeError(outcome)));
      // the handler returned a plain value: no chunks, the value is the stream's final value
      else if (!isStreamedResult(outcome.result)) stream.finish(outcome.result);
      // else the end frame arrived (or is on its way, ahead of the outcome)
    },
    (err: unknown) => stream.fail(err),
  );
  return stream;
}
