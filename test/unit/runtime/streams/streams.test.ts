import { afterEach, describe, expect, it } from 'vitest';
import { Hive } from '../../../../cluster/Hive.js';
import { SimulatedClock } from '../../../../runtime/Clock.js';
import { InProcBus, InProcTransport } from '../../../../runtime/InProcTransport.js';
import { silentLogger } from '../../../../runtime/logger.js';
import { decodeJson, encodeJson } from '../../../../protocols/frame.js';
import type { TransportMessage } from '../../../../runtime/Transport.js';
import { hiveInternals } from '../../../../cluster/internal.js';
import { codeOf } from '../../../support/errors.js';
import { producerLogs, tick, tokenMachine } from '../../../support/streamMachines.js';

const nodes: Hive[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
  producerLogs.clear();
});

async function node(bus: InProcBus, options: Parameters<typeof Hive.start>[0] = {}): Promise<Hive> {
  const hive = await Hive.start({ cluster: 'unit', env: false, logger: silentLogger(), transport: new InProcTransport(bus, options.clock), ...options });
  nodes.push(hive);
  return hive;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const c of it) out.push(c);
  return out;
}

const expected = (n: number): string[] => Array.from({ length: n }, (_, i) => `t${i}`);

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (check()) return;
    await tick();
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('streamed replies', () => {
  it('streams chunks in order from a local actor, with the final value', async () => {
    const hive = await node(new InProcBus());
    const ref = await hive.spawn(tokenMachine, { id: 'tok' });
    const s = ref.askStream<string>({ type: 'generate', n: 1000 }, { window: 8 });
    expect(await collect(s)).toEqual(expected(1000));
    expect(s.final).toEqual({ type: 'done', n: 1000 });
  });

  it('streams chunks in order from an actor on another node', async () => {
    const bus = new InProcBus();
    const a = await node(bus, { nodeId: 'a' });
    const b = await node(bus, { nodeId: 'b' });
    await b.spawn(tokenMachine, { id: 'tok' });
    const s = a.ref('tok').askStream<string>({ type: 'generate', n: 3000 }, { window: 16 });
    expect(await collect(s)).toEqual(expected(3000));
    expect(s.final).toEqual({ type: 'done', n: 3000 });
    await until(() => hiveInternals(b).system.streams.open.producing === 0 && hiveInternals(a).system.streams.open.reading === 0, 'streams to close');
  });
});

describe('stream cancellation and flow control', () => {
  for (const where of ['local', 'remote'] as const) {
    it(`break midway stops the producer (${where})`, async () => {
      const bus = new InProcBus();
      const a = await node(bus, { nodeId: 'a' });
      const b = where === 'local' ? a : await node(bus, { nodeId: 'b' });
      await b.spawn(tokenMachine, { id: 'tok' });
      const window = 8;
      const got: string[] = [];
      for await (const c of a.ref('tok').askStream<string>({ type: 'generate', n: 100_000, run: where }, { window })) {
        got.push(c);
        if (got.length === 20) break;
      }
      expect(got).toEqual(expected(20));
      await until(() => producerLogs.get(where)?.finished === true, 'the producer to stop');
      const log = producerLogs.get(where)!;
      expect(log.stopped).toBe(true);
      expect(log.aborted).toBe(true);
      // it produced what was read plus at most one window (and the chunks in flight)
      expect(log.sent).toBeLessThanOrEqual(20 + window + 1);
      await until(() => hiveInternals(b).system.streams.open.producing === 0 && hiveInternals(b).system.streams.open.local === 0, 'the sink to close');
    });

    it(`a slow consumer bounds the producer to the credit window (${where})`, async () => {
      const bus = new InProcBus();
      const a = await node(bus, { nodeId: 'a' });
      const b = where === 'local' ? a : await node(bus, { nodeId: 'b' });
      await b.spawn(tokenMachine, { id: 'tok' });
      const window = 16;
      const s = a.ref('tok').askStream<string>({ type: 'generate', n: 10_000, run: where }, { window });
      const it = s[Symbol.asyncIterator]();
      let read = 0;
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 5; i++) {
          expect((await it.next()).value).toBe(`t${read}`);
          read++;
        }
        // let the producer run as far as its credits let it
        for (let i = 0; i < 20; i++) await tick();
        const log = producerLogs.get(where)!;
        expect(log.sent - read).toBeLessThanOrEqual(window);
        expect(s.buffered).toBeLessThanOrEqual(window);
      }
      expect(producerLogs.get(where)!.sent).toBeGreaterThanOrEqual(read + window / 2);
      await it.return();
      await until(() => producerLogs.get(where)?.finished === true, 'the producer to stop');
    });
  }

  it('an aborted signal cancels the stream: the loop throws CANCELLED and the producer stops', async () => {
    const bus = new InProcBus();
    const a = await node(bus, { nodeId: 'a' });
    const b = await node(bus, { nodeId: 'b' });
    await b.spawn(tokenMachine, { id: 'tok' });
    const ac = new AbortController();
    const run = (async () => {
      let n = 0;
      for await (const _ of a.ref('tok').askStream<string>({ type: 'generate', n: 100_000, run: 'sig' }, { signal: ac.signal, window: 4 })) if (++n === 3) ac.abort();
    })();
    expect(await codeOf(run)).toBe('CANCELLED');
    await until(() => producerLogs.get('sig')?.aborted === true, 'the producer to see the abort');
  });

  it('a failing actor ends the stream with its error after the chunks sent', async () => {
    const bus = new InProcBus();
    const a = await node(bus, { nodeId: 'a' });
    const b = await node(bus, { nodeId: 'b' });
    const ref = await b.spawn(tokenMachine, { id: 'tok' });
    const got: string[] = [];
    const run = (async () => {
      for await (const c of a.ref('tok').askStream<string>({ type: 'generate', n: 100_000, run: 'f', yieldEvery: 1 }, { window: 4 })) {
        got.push(c);
        if (got.length === 3) ref.tell({ type: 'boom' });
      }
    })();
    expect(await codeOf(run)).toBe('ACTOR_FAILED');
    expect(got.slice(0, 3)).toEqual(expected(3));
  });

  it('refuses bad options and unknown actors with typed errors', async () => {
    const bus = new InProcBus();
    const a = await node(bus, { nodeId: 'a' });
    await a.spawn(tokenMachine, { id: 'tok' });
    expect(await codeOf(collect(a.ref('tok').askStream({ type: 'generate' }, { window: 0 })))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(collect(a.ref('tok').askStream({ type: 'generate' }, { idleTimeoutMs: 1 })))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(collect(a.ref('tok').askStream({ type: 'generate' }, { timeoutMs: 7_200_000 })))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(collect(a.ref('nobody').askStream({ type: 'generate' })))).toBe('NO_SUCH_ACTOR');
    expect(await codeOf(collect(a.ref('tok').askStream({ type: '' })))).toBe('INVALID_EVENT');
  });

  it('fails with TIMEOUT at the stream deadline on the injected clock', async () => {
    const clock = new SimulatedClock(1_000);
    const bus = new InProcBus();
    const a = await node(bus, { nodeId: 'a', clock });
    const b = await node(bus, { nodeId: 'b', clock });
    await b.spawn(tokenMachine, { id: 'tok' });
    const s = a.ref('tok').askStream<string>({ type: 'generate', n: 100, run: 'slow' }, { window: 2, timeoutMs: 5_000, idleTimeoutMs: 60_000 });
    const it = s[Symbol.asyncIterator]();
    expect((await it.next()).value).toBe('t0');
    clock.advance(5_000);
    expect(await codeOf(it.next())).toBe('TIMEOUT');
    await until(() => producerLogs.get('slow')?.aborted === true, 'the producer to be cancelled');
  });
});

describe('a plain NATS client (JSON) reading a stream', () => {
  it('reads JSON chunks, sends credits on the documented subject, gets the end marker', async () => {
    const bus = new InProcBus();
    const b = await node(bus, { nodeId: 'b' });
    await b.spawn(tokenMachine, { id: 'tok' });
    const raw = new InProcTransport(bus);
    const inbox = raw.createInbox();
    const got: Array<Record<string, unknown>> = [];
    raw.subscribe(`${inbox}.>`, (m: TransportMessage) => got.push(decodeJson(m.data) as Record<string, unknown>));
    raw.publish('hive.unit.actor.tok', encodeJson({ type: 'generate', n: 10, 'hive.stream': { window: 4 } }), `${inbox}.1`);
    await until(() => got.length === 4, '4 chunks');
    await tick();
    expect(got.length).toBe(4);
    expect(got[0]).toEqual({ type: 'hive.chunk', seq: 0, chunk: 't0', credit: 'hive.unit.credit.b' });
    expect(got[3]).toEqual({ type: 'hive.chunk', seq: 3, chunk: 't3' });
    raw.publish('hive.unit.credit.b', encodeJson({ r: `${inbox}.1`, n: 100 }));
    await until(() => got.length === 11, 'the rest and the end');
    expect(got.slice(4, 10).map((m) => m['chunk'])).toEqual(expected(10).slice(4));
    expect(got[10]).toEqual({ type: 'hive.end', seq: 10, final: { type: 'done', n: 10 } });
    await raw.close();
  });

  it('cancels a producer whose consumer went quiet, within the idle timeout (simulated clock), and nothing stays open', async () => {
    const clock = new SimulatedClock(1_000);
    const bus = new InProcBus();
    const b = await node(bus, { nodeId: 'b', clock });
    await b.spawn(tokenMachine, { id: 'tok' });
    const raw = new InProcTransport(bus);
    const inbox = raw.createInbox();
    const got: Array<Record<string, unknown>> = [];
    raw.subscribe(`${inbox}.>`, (m: TransportMessage) => got.push(decodeJson(m.data) as Record<string, unknown>));
    raw.publish('hive.unit.actor.tok', encodeJson({ type: 'generate', n: 1000, run: 'idle', 'hive.stream': { window: 4, idleMs: 1_000 } }), `${inbox}.1`);
    await until(() => got.length === 4, '4 chunks');
    const streams = hiveInternals(b).system.streams;
    expect(streams.open.producing).toBe(1);
    clock.advance(999);
    await tick();
    expect(producerLogs.get('idle')!.aborted).toBe(false);
    // a keep-alive (0 credits) postpones it
    raw.publish('hive.unit.credit.b', encodeJson({ r: `${inbox}.1`, n: 0 }));
    await tick();
    clock.advance(999);
    await tick();
    expect(producerLogs.get('idle')!.aborted).toBe(false);
    clock.advance(1);
    await until(() => producerLogs.get('idle')?.finished === true, 'the producer to stop');
    expect(producerLogs.get('idle')).toMatchObject({ aborted: true, stopped: true, sent: 4 });
    expect(streams.open.producing).toBe(0);
    expect(got.at(-1)).toMatchObject({ type: 'hive.error', code: 'TIMEOUT' });
    await raw.close();
  });

  it('answers a bad stream request with INVALID_ARGUMENT', async () => {
    const bus = new InProcBus();
    const b = await node(bus, { nodeId: 'b' });
    await b.spawn(tokenMachine, { id: 'tok' });
    const raw = new InProcTransport(bus);
    const answer = decodeJson(await raw.request('hive.unit.actor.tok', encodeJson({ type: 'generate', 'hive.stream': { window: -1 } }), 2000));
    expect(answer).toMatchObject({ type: 'hive.error', code: 'INVALID_ARGUMENT' });
    await raw.close();
  });
});
