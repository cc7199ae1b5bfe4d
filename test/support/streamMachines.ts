// Machines that answer asks with streams, for the stream tests: a token generator that records what its producer
// saw (chunks sent, whether it was cancelled), so a test can assert that cancelling stopped it.
import { setup } from 'xstate';
import type { HiveEvent } from '../../protocols/envelope.js';
import { end, stream, streamSignal } from '../../runtime/streams/streamRegistry.js';

/** What one producer run saw. */
export interface ProducerLog {
  /** Chunks `stream()` accepted. */
  sent: number;
  /** A `stream()` call resolved false (the consumer cancelled or went away). */
  stopped: boolean;
  /** The stream's signal aborted. */
  aborted: boolean;
  /** The producer finished (ended or stopped). */
  finished: boolean;
}

/** Producer runs by the `run` field of the event. */
export const producerLogs = new Map<string, ProducerLog>();

/** Waits for a macrotask (lets timers and I/O run). */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function produce(event: HiveEvent): Promise<void> {
  const n = typeof event['n'] === 'number' ? event['n'] : 10;
  const size = typeof event['size'] === 'number' ? event['size'] : 0;
  const log: ProducerLog = { sent: 0, stopped: false, aborted: false, finished: false };
  producerLogs.set(typeof event['run'] === 'string' ? event['run'] : 'default', log);
  streamSignal(event)?.addEventListener('abort', () => (log.aborted = true));
  const pad = size > 0 ? 'x'.repeat(size) : '';
  for (let i = 0; i < n; i++) {
    if (!(await stream(event, size > 0 ? `${i}:${pad}`.slice(0, size) : `t${i}`))) {
      log.stopped = true;
      log.finished = true;
      return;
    }
    log.sent++;
    if (event['yieldEvery'] !== undefined && i % (event['yieldEvery'] as number) === 0) await tick();
  }
  end(event, { type: 'done', n });
  log.finished = true;
}

/**
 * Answers `generate { n, run?, size?, yieldEvery? }` with a stream of n chunks (`t0`, `t1`, ...) and the final
 * `{ type: 'done', n }`; `fail` streams 2 chunks then fails the actor; `plain` answers with a plain reply.
 */
export const tokenMachine = setup({ types: { events: {} as HiveEvent } }).createMachine({
  id: 'tokens',
  on: {
    generate: { actions: ({ event }) => void produce(event) },
    boom: {
      actions: () => {
        throw new Error('boom while streaming');
      },
    },
  },
});
