// The transit on the in-process transport with a simulated clock: requests and answers, deadlines on both
// sides (bookkeeping freed, expiry counted), cancels (signal fired, CANCELLED answered, unknown ones counted),
// absurd deadlines refused, JSON asks answered in JSON.
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { HiveEvent } from '../../../protocols/envelope.js';
import { FrameCodec, decodeJson, encodeJson } from '../../../protocols/frame.js';
import { SimulatedClock } from '../../../runtime/Clock.js';
import { SequentialIds } from '../../../runtime/ids.js';
import { InProcBus, InProcTransport } from '../../../runtime/InProcTransport.js';
import { MetricsRegistry } from '../../../runtime/metrics.js';
import { MAX_DEADLINE_MS, Transit, type InboundRequest } from '../../../runtime/Transit.js';
import { codeOf } from '../../support/errors.js';

function pair() {
  const bus = new InProcBus();
  const clock = new SimulatedClock(1_000_000);
  const make = (nodeId: string) => {
    const metrics = new MetricsRegistry({ cluster: 'c', node: nodeId }, { processMetrics: false });
    const transport = new InProcTransport(bus, clock, new SequentialIds(nodeId));
    const transit = new Transit({ transport, codec: new FrameCodec({ maxMessageBytes: 1 << 20 }), cluster: 'c', nodeId, maxMessageBytes: 1 << 20, defaultTimeoutMs: 5000, clock, metrics });
    transit.listenForCancels();
    return { transit, transport, metrics };
  };
  return { clock, asker: make('a'), server: make('b') };
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

async function counter(metrics: MetricsRegistry, name: string, label: string): Promise<number> {
  const text = await metrics.text();
  const line = text.split('\n').find((l) => l.startsWith(name) && l.includes(label));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('Transit', () => {
  it('asks, answers, and maps nobody listening to NO_SUCH_ACTOR', async () => {
    const { asker, server } = pair();
    const seen: InboundRequest[] = [];
    server.transit.serve('hive.c.actor.x', (req) => {
      seen.push(req);
      req.ok({ type: 'pong', echo: req.event['n'] });
    });
    expect(await asker.transit.request('hive.c.actor.x', { type: 'ping', n: 7 })).toEqual({ type: 'pong', echo: 7 });
    expect(seen[0].binary).toBe(true);
    const err: unknown = await asker.transit.request('hive.c.actor.nobody', { type: 'ping' }, { noResponders: 'no actor "nobody"' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NO_SUCH_ACTOR', message: 'no actor "nobody"' });
    expect(asker.transit.pendingRequests).toBe(0);
  });

  it('carries the absolute deadline to the server, which drops the ask there, counts it and aborts its signal', async () => {
    const { clock, asker, server } = pair();
    let held: InboundRequest | undefined;
    let abandoned = 0;
    server.transit.serve('hive.c.actor.slow', (req) => {
      held = req;
      req.onAbandon = () => abandoned++;
    });
    const deadline = clock.now() + 250;
    const answer = asker.transit.request('hive.c.actor.slow', { type: 'work' }, { deadline });
    await flush();
    expect(held?.deadline).toBe(deadline);
    expect(held?.remainingMs()).toBe(250);
    const signal = held!.signal;
    expect(server.transit.servedInProgress).toBe(1);
    clock.advance(250);
    expect(await codeOf(answer)).toBe('TIMEOUT');
    expect(signal.aborted).toBe(true);
    expect(abandoned).toBe(1);
    expect(server.transit.servedInProgress).toBe(0);
    expect(asker.transit.pendingRequests).toBe(0);
    expect(await counter(server.metrics, 'hive_expired_total', 'stage="waiting"')).toBe(1);
    // an answer after the deadline goes nowhere
    held!.ok({ type: 'late' });
  });

  it('refuses an ask that arrives past its deadline, or with one past the maximum, with a clear answer', async () => {
    const { clock, asker, server } = pair();
    let handled = 0;
    server.transit.serve('hive.c.actor.x', () => handled++);
    const inbox = asker.transport.createInbox();
    const answers: unknown[] = [];
    asker.transport.subscribe(`${inbox}.*`, (m) => answers.push(new FrameCodec().decode(m.data)));
    const frame = (d: number) => new Uint8Array([0xc1, 0x01, ...pack({ v: 1, k: 'a', e: { type: 'ping' }, c: '1', d })]);
    asker.transport.publish('hive.c.actor.x', frame(clock.now() - 10), `${inbox}.1`);
    asker.transport.publish('hive.c.actor.x', frame(clock.now() + MAX_DEADLINE_MS + 1000), `${inbox}.2`);
    await flush();
    expect(handled).toBe(0);
    expect(answers).toHaveLength(2);
    const codes = answers.map((a) => (a as { err: { code: string } }).err.code).sort();
    expect(codes).toEqual(['INVALID_ARGUMENT', 'TIMEOUT']);
    expect(await counter(server.metrics, 'hive_expired_total', 'stage="arrival"')).toBe(1);
    // the asking side refuses the same before sending
    expect(await codeOf(asker.transit.request('hive.c.actor.x', { type: 'ping' }, { timeoutMs: MAX_DEADLINE_MS + 1 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(asker.transit.request('hive.c.actor.x', { type: 'ping' }, { deadline: clock.now() - 1 }))).toBe('TIMEOUT');
  });

  it('cancels: the caller gets CANCELLED at once, the server aborts the work and answers CANCELLED; unknown cancels are counted', async () => {
    const { asker, server } = pair();
    let held: InboundRequest | undefined;
    server.transit.serve('hive.c.actor.x', (req) => {
      held = req;
    });
    const ac = new AbortController();
    const answer = asker.transit.request('hive.c.actor.x', { type: 'work' }, { signal: ac.signal });
    await flush();
    const signal = held!.signal;
    ac.abort();
    expect(await codeOf(answer)).toBe('CANCELLED');
    await flush();
    expect(signal.aborted).toBe(true);
    expect(server.transit.servedInProgress).toBe(0);
    expect(await counter(server.metrics, 'hive_cancels_total', 'result="applied"')).toBe(1);
    // a cancel naming nothing in progress (a guess, or a repeat) is ignored and counted
    asker.transport.publish('hive.c.sys.cancel', encodeJson({ v: 1, k: 'c', r: '_INBOX.guess.1', c: '1' }));
    await flush();
    expect(await counter(server.metrics, 'hive_cancels_total', 'result="unknown"')).toBe(1);
    expect(asker.transit.pendingRequests).toBe(0);
    // an already aborted signal never sends
    expect(await codeOf(asker.transit.request('hive.c.actor.x', { type: 'work' }, { signal: ac.signal }))).toBe('CANCELLED');
  });

  it('answers a JSON ask in JSON, and a JSON cancel from a plain client reaches it', async () => {
    const { asker, server } = pair();
    let held: InboundRequest | undefined;
    server.transit.serve('hive.c.actor.x', (req) => {
      if (req.event.type === 'ping') req.ok({ type: 'pong' });
      else held = req;
    });
    expect(await asker.transit.requestJson('hive.c.actor.x', { type: 'ping' })).toEqual({ type: 'pong' });
    const inbox = asker.transport.createInbox();
    const answers: unknown[] = [];
    asker.transport.subscribe(inbox, (m) => answers.push(decodeJson(m.data, 1 << 20)));
    asker.transport.publish('hive.c.actor.x', encodeJson({ type: 'work' } satisfies HiveEvent), inbox);
    await flush();
    expect(held?.binary).toBe(false);
    asker.transport.publish('hive.c.sys.cancel', encodeJson({ v: 1, k: 'c', r: inbox }));
    await flush();
    expect(held!.signal.aborted).toBe(true);
    expect(answers).toEqual([expect.objectContaining({ type: 'hive.error', code: 'CANCELLED' })]);
  });

  it('coalesces requests made in one turn into one message per destination, and their answers into one per asker', async () => {
    const { clock, asker, server } = pair();
    server.transit.serve('hive.c.actor.x', (req) => req.ok({ type: 'pong', n: req.event['n'] }));
    let requestMessages = 0;
    let answerMessages = 0;
    server.transport.subscribe('hive.c.actor.x', () => requestMessages++);
    const answers = await Promise.all(Array.from({ length: 64 }, (_, n) => asker.transit.request('hive.c.actor.x', { type: 'ping', n })));
    expect(answers.map((a) => a['n'])).toEqual(Array.from({ length: 64 }, (_, n) => n));
    // the first leaves alone (nothing else in flight yet); the other 63 in batches of at most 32
    expect(requestMessages).toBe(3);
    expect(asker.transit.pendingRequests).toBe(0);
    // nobody listening: every request of a batch gets NO_SUCH_ACTOR
    const codes = await Promise.all(Array.from({ length: 10 }, () => codeOf(asker.transit.request('hive.c.actor.nobody', { type: 'ping' }))));
    expect(new Set(codes)).toEqual(new Set(['NO_SUCH_ACTOR']));
    expect(asker.transit.pendingRequests).toBe(0);
    // answers to a batch leave together
    const inbox = asker.transport.createInbox();
    asker.transport.subscribe(inbox, () => answerMessages++);
    const codec = new FrameCodec();
    const frames = Array.from({ length: 5 }, (_, i) => codec.encode({ v: 1, k: 'a', e: { type: 'ping', n: i }, c: `c${i}`, d: clock.now() + 5000 }));
    asker.transport.publish('hive.c.actor.x', codec.encode({ v: 1, k: 'b', m: frames }), inbox);
    const answered: unknown[] = [];
    asker.transport.subscribe(inbox, (m) => answered.push(codec.decode(m.data)));
    await flush();
    expect(answerMessages).toBe(1);
    expect(answered[0]).toMatchObject({ k: 'b' });
  });

  it('drops a coalesced ask cancelled before its batch left: it is never sent, no cancel goes out, the others are answered', async () => {
    const { asker, server } = pair();
    const served: number[] = [];
    server.transit.serve('hive.c.actor.x', (req) => {
      served.push(req.event['n'] as number);
      req.ok({ type: 'pong', n: req.event['n'] });
    });
    let cancels = 0;
    server.transport.subscribe('hive.c.sys.cancel', () => cancels++);
    // the first leaves alone; the next three wait for the end of the turn in one batch
    const acs = Array.from({ length: 4 }, () => new AbortController());
    const asks = acs.map((ac, n) => asker.transit.request('hive.c.actor.x', { type: 'ping', n }, { signal: ac.signal }));
    acs[1].abort(); // the batch's first frame (its reply subject names it)
    acs[3].abort();
    const outcomes = await Promise.all(asks.map((a) => a.then((e) => e.type, (e: unknown) => (e as { code: string }).code)));
    expect(outcomes).toEqual(['pong', 'CANCELLED', 'pong', 'CANCELLED']);
    await flush();
    expect(served.sort()).toEqual([0, 2]);
    expect(cancels).toBe(0);
    expect(asker.transit.pendingRequests).toBe(0);
    // a batch whose every ask was cancelled is not sent at all
    let messages = 0;
    server.transport.subscribe('hive.c.actor.x', () => messages++);
    const first = asker.transit.request('hive.c.actor.x', { type: 'ping', n: 10 });
    const ac = new AbortController();
    const dropped = asker.transit.request('hive.c.actor.x', { type: 'ping', n: 11 }, { signal: ac.signal });
    ac.abort();
    expect(await codeOf(dropped)).toBe('CANCELLED');
    expect(await first).toEqual({ type: 'pong', n: 10 });
    await flush();
    expect(messages).toBe(1);
    expect(served).toEqual([0, 2, 10]);
    // nobody listening: the rest of a batch whose first ask was cancelled still gets NO_SUCH_ACTOR
    const acN = Array.from({ length: 3 }, () => new AbortController());
    const nobody = acN.map((c) => asker.transit.request('hive.c.actor.nobody', { type: 'ping' }, { signal: c.signal }));
    acN[1].abort();
    expect(await Promise.all(nobody.map((a) => codeOf(a)))).toEqual(['NO_SUCH_ACTOR', 'CANCELLED', 'NO_SUCH_ACTOR']);
    expect(asker.transit.pendingRequests).toBe(0);
  });

  it('cancels only the ask whose reply subject and correlation id a cancel names, also when clients reuse ids', async () => {
    const { clock, asker, server } = pair();
    const held: InboundRequest[] = [];
    server.transit.serve('hive.c.actor.x', (req) => {
      held.push(req);
    });
    const codec = new FrameCodec();
    const ask = (reply: string) => asker.transport.publish('hive.c.actor.x', codec.encode({ v: 1, k: 'a', e: { type: 'work' }, c: '1', d: clock.now() + 5000 }), reply);
    ask('_INBOX.one.1');
    ask('_INBOX.two.1');
    await flush();
    expect(server.transit.servedInProgress).toBe(2);
    // the right id with another reply subject names nothing
    asker.transport.publish('hive.c.sys.cancel', encodeJson({ v: 1, k: 'c', r: '_INBOX.three.1', c: '1' }));
    await flush();
    expect(held.map((r) => r.signal.aborted)).toEqual([false, false]);
    asker.transport.publish('hive.c.sys.cancel', encodeJson({ v: 1, k: 'c', r: '_INBOX.two.1', c: '1' }));
    await flush();
    expect(held.map((r) => r.signal.aborted)).toEqual([false, true]);
    asker.transport.publish('hive.c.sys.cancel', encodeJson({ v: 1, k: 'c', r: '_INBOX.one.1', c: '1' }));
    await flush();
    expect(held.map((r) => r.signal.aborted)).toEqual([true, true]);
    expect(server.transit.servedInProgress).toBe(0);
    expect(await counter(server.metrics, 'hive_cancels_total', 'result="unknown"')).toBe(1);
  });
});
