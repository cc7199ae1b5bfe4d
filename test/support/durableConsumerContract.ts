// The DurableConsumer contract, run once against the in-process MemoryWorkQueue (unit) and once against the real
// JetStream (integration): acknowledgement after the work, retries with backoff, dead-lettering with the reason
// (undecodable, failed for good, the last allowed delivery, a last delivery that died with its node), pull by
// free capacity, keep-alive while working.
import { afterEach, describe, expect, it } from 'vitest';
import { HiveError, UnavailableError } from '../../protocols/errors.js';
import { DEAD_LETTER_DELIVERIES, DurableConsumer, type DurableConsumerOptions, type WorkOutcome } from '../../runtime/DurableConsumer.js';
import type { WorkQueue } from '../../runtime/WorkQueue.js';

/** What the contract needs of a queue implementation. */
export interface ConsumerFixture {
  queue: WorkQueue;
  /** A fresh queue name. */
  name(): string;
  /** Messages the queue still holds for `name` (undelivered, in flight or waiting for redelivery). */
  held(name: string): Promise<number>;
  /** Ack wait for the tests (short, but a real queue's minimum). */
  ackWaitMs: number;
}

const te = new TextEncoder();
const td = new TextDecoder();

/** Polls `cond` until it holds (a deadline only to fail instead of hanging; never a timing assertion). */
export async function until(cond: () => boolean | Promise<boolean>, what: string | (() => string), limitMs = 20_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Registers the contract's tests for one queue implementation. */
export function describeDurableConsumer(label: string, fixture: () => ConsumerFixture): void {
  describe(`DurableConsumer over ${label}`, () => {
    const consumers: Array<DurableConsumer<string>> = [];
    afterEach(async () => {
      await Promise.all(consumers.splice(0).map((c) => c.stop(1000)));
    });

    function consumer(f: ConsumerFixture, name: string, o: Partial<DurableConsumerOptions<string>> & Pick<DurableConsumerOptions<string>, 'work'>): DurableConsumer<string> {
      const c = new DurableConsumer<string>({
        queue: f.queue,
        name,
        maxDeliver: 3,
        ackWaitMs: f.ackWaitMs,
        capacity: () => 4,
        decode: (data) => {
          const s = td.decode(data);
          if (!s.startsWith('job:')) throw new Error(`"${s}" is not a job`);
          return s.slice(4);
        },
        retry: { minMs: 5, maxMs: 20 },
        ...o,
      });
      consumers.push(c);
      return c;
    }

    it('acknowledges a message once its work is done, and only then', async () => {
      const f = fixture();
      const name = f.name();
      const seen: Array<[string, number]> = [];
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const c = consumer(f, name, {
        work: async (item, ctx) => {
          seen.push([item, ctx.deliveryCount]);
          await gate;
          return { kind: 'ack' };
        },
      });
      await c.start();
      await f.queue.publish(name, te.encode('job:a'), 'a');
      await until(() => seen.length === 1, 'the delivery');
      expect(await f.held(name)).toBe(1); // working on it: not acknowledged yet
      release();
      await until(async () => (await f.held(name)) === 0, 'the acknowledgement');
      expect(seen).toEqual([['a', 1]]);
      expect(c.stats()).toMatchObject({ acked: 1, retried: 0, deadLettered: 0, redelivered: 0 });
    });

    it('retries a failure with backoff and counts the redeliveries', async () => {
      const f = fixture();
      const name = f.name();
      const deliveries: number[] = [];
      const c = consumer(f, name, {
        work: async (_item, ctx) => {
          deliveries.push(ctx.deliveryCount);
          if (ctx.deliveryCount < 3) throw new UnavailableError('not yet');
          return { kind: 'ack' };
        },
      });
      await c.start();
      await f.queue.publish(name, te.encode('job:r'), 'r');
      await until(() => c.stats().acked === 1, 'the third delivery to succeed');
      expect(deliveries).toEqual([1, 2, 3]);
      expect(c.stats()).toMatchObject({ retried: 2, redelivered: 2, deadLettered: 0 });
      expect(await f.queue.deadLetters(name, 10)).toEqual([]);
    });

    it('dead-letters a message failing on its last allowed delivery, with the reason, and never puts it back', async () => {
      const f = fixture();
      const name = f.name();
      const deliveries: number[] = [];
      const dead: Array<[string | undefined, string, number]> = [];
      const c = consumer(f, name, {
        work: async (_item, ctx) => {
          deliveries.push(ctx.deliveryCount);
          return { kind: 'retry', error: new UnavailableError(`attempt ${ctx.deliveryCount} failed`), ...(ctx.lastAttempt && { record: te.encode('dead-record') }) };
        },
        onDeadLettered: (item, err, n) => dead.push([item, err.code, n]),
      });
      await c.start();
      await f.queue.publish(name, te.encode('job:x'), 'x');
      await until(() => c.stats().deadLettered === 1, 'the dead letter');
      const letters = await f.queue.deadLetters(name, 10);
      expect(letters).toHaveLength(1);
      expect(td.decode(letters[0].data)).toBe('dead-record');
      expect(letters[0].reason).toMatchObject({ code: 'UNAVAILABLE', deliveries: 3 });
      expect(letters[0].reason?.message).toContain('attempt 3 failed (gave up after 3 deliveries)');
      expect(dead).toEqual([['x', 'UNAVAILABLE', 3]]);
      await until(async () => (await f.held(name)) === 0, 'the message to leave the queue');
      expect(deliveries).toEqual([1, 2, 3]);
    });

    it('dead-letters what it cannot decode at once (BAD_FRAME), and what the work says failed for good', async () => {
      const f = fixture();
      const name = f.name();
      const ran: string[] = [];
      const c = consumer(f, name, {
        work: async (item): Promise<WorkOutcome> => {
          ran.push(item);
          return { kind: 'dead', error: new HiveError('INVALID_ARGUMENT', `job ${item} is wrong`) };
        },
      });
      await c.start();
      await f.queue.publish(name, te.encode('garbage'), 'g');
      await f.queue.publish(name, te.encode('job:w'), 'w');
      await until(() => c.stats().deadLettered === 2, 'two dead letters');
      const letters = await f.queue.deadLetters(name, 10);
      const byCode = Object.fromEntries(letters.map((l) => [l.reason?.code, l]));
      expect(td.decode(byCode['BAD_FRAME'].data)).toBe('garbage');
      expect(byCode['BAD_FRAME'].reason?.message).toContain('"garbage" is not a job');
      expect(byCode['INVALID_ARGUMENT'].reason).toMatchObject({ message: 'job w is wrong', deliveries: 1 });
      expect(ran).toEqual(['w']);
      await until(async () => (await f.held(name)) === 0, 'both messages to leave the queue');
    });

    it('dead-letters a message whose last delivery died with its node', async () => {
      const f = fixture();
      const name = f.name();
      let capacity = 0;
      const ran: number[] = [];
      const c = consumer(f, name, {
        maxDeliver: 1,
        capacity: () => capacity,
        work: async (_item, ctx) => {
          ran.push(ctx.deliveryCount);
          return { kind: 'ack' };
        },
      });
      await c.start();
      // a node takes the message on its only allowed delivery, then dies without settling it
      let taken = 0;
      const dying = f.queue.consume(name, () => (taken += 1), () => 1 - taken);
      await f.queue.publish(name, te.encode('job:orphan'), 'orphan');
      await until(() => taken === 1, 'the dying node to take the message');
      await dying.stop();
      capacity = 1;
      c.wake();
      await until(() => c.stats().deadLettered === 1, () => `the orphan to be dead-lettered (consumer ${JSON.stringify(c.stats())}, ran ${JSON.stringify(ran)})`);
      const [letter] = await f.queue.deadLetters(name, 10);
      expect(letter.reason?.code).toBe('UNAVAILABLE');
      // 2, or more when the stopping node's pull still took (and gave back) a redelivery
      expect(letter.reason?.deliveries).toBeGreaterThan(1);
      expect(letter.reason?.message).toContain('never settled');
      expect(ran).toEqual([]); // not run again past maxDeliver
      await until(async () => (await f.held(name)) === 0, 'the message to leave the queue');
    });

    it('dead-letters a message whose dead-letter publishes failed past every allowed delivery, once they work again (never dropped)', async () => {
      const f = fixture();
      const name = f.name();
      let dlqDown = true;
      const inner = f.queue;
      const queue: WorkQueue = {
        ensure: (q, o) => inner.ensure(q, o),
        publish: (q, d, id) => inner.publish(q, d, id),
        consume: (q, h, cap, onError) => inner.consume(q, h, cap, onError),
        depth: (q) => inner.depth(q),
        deadLetter: async (q, d, r) => {
          if (dlqDown) throw new UnavailableError('the dead-letter queue is down');
          return inner.deadLetter(q, d, r);
        },
        deadLetters: (q, limit) => inner.deadLetters(q, limit),
      };
      const c = consumer(f, name, { queue, maxDeliver: 1, work: async () => ({ kind: 'ack' }) });
      await c.start();
      await f.queue.publish(name, te.encode('not a job'), 'undecodable');
      // 1 delivery + DEAD_LETTER_DELIVERIES extra ones, each failing to dead-letter: more failures prove it was offered again
      await until(() => c.stats().deadLetterFailures > 1 + DEAD_LETTER_DELIVERIES + 1, () => `dead-letter failures past every allowed delivery (${JSON.stringify(c.stats())})`, 60_000);
      expect(c.stats().deadLettered).toBe(0);
      expect(await f.held(name)).toBe(1); // still stored, not dropped
      dlqDown = false;
      await until(() => c.stats().deadLettered === 1, () => `the dead letter once the queue works (${JSON.stringify(c.stats())})`, 60_000);
      const letters = await f.queue.deadLetters(name, 10);
      expect(letters.map((l) => l.reason?.code)).toEqual(['BAD_FRAME']);
      await until(async () => (await f.held(name)) === 0, 'the message to leave the queue');
    });

    it('never holds more messages than its free capacity', async () => {
      const f = fixture();
      const name = f.name();
      let running = 0;
      let most = 0;
      let done = 0;
      const c = consumer(f, name, {
        capacity: () => 2,
        work: async () => {
          running += 1;
          most = Math.max(most, running);
          await new Promise((r) => setTimeout(r, 20));
          running -= 1;
          done += 1;
          return { kind: 'ack' };
        },
      });
      await c.start();
      for (let i = 0; i < 10; i++) await f.queue.publish(name, te.encode(`job:${i}`), `m${i}`);
      await until(() => done === 10, 'all ten');
      expect(most).toBeLessThanOrEqual(2);
      expect(most).toBeGreaterThan(0);
    });

    it('keeps a message alive while its work runs past the ack wait (not redelivered)', async () => {
      const f = fixture();
      const name = f.name();
      const deliveries: number[] = [];
      const c = consumer(f, name, {
        work: async (_item, ctx) => {
          deliveries.push(ctx.deliveryCount);
          await new Promise((r) => setTimeout(r, f.ackWaitMs * 2.5));
          return { kind: 'ack' };
        },
      });
      await c.start();
      await f.queue.publish(name, te.encode('job:slow'), 'slow');
      await until(() => c.stats().acked === 1, 'the slow job');
      expect(deliveries).toEqual([1]);
      expect(c.stats().redelivered).toBe(0);
    });
  });
}
