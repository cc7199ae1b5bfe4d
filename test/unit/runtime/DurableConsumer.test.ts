// The DurableConsumer contract over the in-process MemoryWorkQueue (the same contract runs against JetStream in
// test/integration/runtime/DurableConsumer.jetstream.test.ts).
import { describe, expect, it } from 'vitest';
import { DurableConsumer } from '../../../runtime/DurableConsumer.js';
import { systemClock } from '../../../runtime/Clock.js';
import { MemoryWorkQueue } from '../../../runtime/WorkQueue.js';
import { describeDurableConsumer } from '../../support/durableConsumerContract.js';

let n = 0;
describeDurableConsumer('the in-process MemoryWorkQueue', () => {
  const queue = new MemoryWorkQueue(systemClock);
  return { queue, name: () => `q${++n}`, held: async (name) => queue.held(name), ackWaitMs: 150 };
});

describe('DurableConsumer options', () => {
  it('refuses a maxDeliver below 1, naming the option', () => {
    const make = () =>
      new DurableConsumer({ queue: new MemoryWorkQueue(systemClock), name: 'q', maxDeliver: 0, ackWaitMs: 100, capacity: () => 1, decode: (d) => d, work: async () => ({ kind: 'ack' }) });
    expect(make).toThrow(/maxDeliver must be an integer >= 1/);
  });
});
