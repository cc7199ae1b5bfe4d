import { afterEach, describe, expect, it } from 'vitest';
import { Hive } from '../../../cluster/Hive.js';
import { SimulatedClock } from '../../../runtime/Clock.js';
import type { DeadLetter } from '../../../runtime/DeadLetters.js';
import { InProcBus, InProcTransport } from '../../../runtime/InProcTransport.js';
import { silentLogger } from '../../../runtime/logger.js';
import type { HiveError } from '../../../protocols/errors.js';
import { echoMachine, fragileMachine, laterMachine } from '../../support/machines.js';
import { codeOf } from '../../support/errors.js';
import { hiveInternals } from '../../../cluster/internal.js';

const nodes: Hive[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

async function node(options: Parameters<typeof Hive.start>[0] = {}): Promise<Hive> {
  const hive = await Hive.start({ cluster: 'unit', env: false, logger: silentLogger(), transport: new InProcTransport(new InProcBus()), ...options });
  nodes.push(hive);
  return hive;
}

describe('actor system', () => {
  it('spawns a machine, tells it and asks it', async () => {
    const hive = await node();
    const ref = await hive.spawn(echoMachine, { id: 'echo-1' });
    ref.tell({ type: 'note', text: 'hi' });
    expect(await ref.ask({ type: 'ping' })).toEqual({ type: 'pong' });
    expect(await hive.ref('echo-1').ask({ type: 'notes' })).toEqual({ type: 'notes', notes: ['hi'] });
  });

  it('answers an ask later, from an event the machine kept', async () => {
    const hive = await node();
    const ref = await hive.spawn(laterMachine, { id: 'later' });
    const answer = ref.ask({ type: 'hold' });
    ref.tell({ type: 'release' });
    expect(await answer).toEqual({ type: 'released' });
  });

  it('rejects an unanswered ask with TIMEOUT on the injected clock', async () => {
    const clock = new SimulatedClock(1000);
    const hive = await node({ clock });
    const ref = await hive.spawn(laterMachine, { id: 'later' });
    const answer = ref.ask({ type: 'silent' }, { timeoutMs: 50 });
    await Promise.resolve();
    clock.advance(49);
    let settled = false;
    answer.catch(() => undefined).finally(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    clock.advance(1);
    expect(await codeOf(answer)).toBe('TIMEOUT');
  });

  it('answers INVALID_EVENT for an event the machine does not handle', async () => {
    const hive = await node();
    const ref = await hive.spawn(echoMachine, { id: 'e' });
    expect(await codeOf(ref.ask({ type: 'nope' }))).toBe('INVALID_EVENT');
  });

  it('refuses events without a string type with INVALID_EVENT', async () => {
    const hive = await node();
    const ref = await hive.spawn(echoMachine, { id: 'e' });
    expect(await codeOf(() => ref.tell({} as never))).toBe('INVALID_EVENT');
    expect(await codeOf(ref.ask({ type: 42 } as never))).toBe('INVALID_EVENT');
    expect(await codeOf(ref.ask(null as never))).toBe('INVALID_EVENT');
    expect(await ref.ask({ type: 'ping' })).toEqual({ type: 'pong' });
  });

  it('refuses invalid actor ids with an error naming the value', async () => {
    const hive = await node();
    for (const bad of ['a.b', 'a b', '*', '>', '', 'x'.repeat(129)]) {
      let caught: unknown;
      try {
        await hive.spawn(echoMachine, { id: bad });
      } catch (err) {
        caught = err;
      }
      expect((caught as HiveError).code).toBe('INVALID_ID');
      expect((caught as HiveError).message).toContain(JSON.stringify(bad.slice(0, 80)).slice(0, 20));
    }
    expect(await codeOf(() => hive.ref('no.dots'))).toBe('INVALID_ID');
  });

  it('refuses a duplicate actor id', async () => {
    const hive = await node();
    await hive.spawn(echoMachine, { id: 'dup' });
    expect(await codeOf(hive.spawn(echoMachine, { id: 'dup' }))).toBe('DUPLICATE_ACTOR');
    expect(await hive.ref('dup').ask({ type: 'ping' })).toEqual({ type: 'pong' });
  });

  it('answers OVERLOADED when a mailbox is full and loses nothing it accepted', async () => {
    const hive = await node();
    const ref = await hive.spawn(echoMachine, { id: 'small', mailboxCapacity: 3 });
    const letters: DeadLetter[] = [];
    hive.deadLetters.subscribe((l) => letters.push(l));
    ref.tell({ type: 'note', text: '1' });
    ref.tell({ type: 'note', text: '2' });
    ref.tell({ type: 'note', text: '3' });
    let refused: unknown;
    try {
      ref.tell({ type: 'note', text: '4' });
    } catch (err) {
      refused = err;
    }
    const ask = ref.ask({ type: 'ping' });
    expect((refused as HiveError).code).toBe('OVERLOADED');
    expect(await codeOf(ask)).toBe('OVERLOADED');
    expect(letters.map((l) => l.reason)).toEqual(['mailbox-full']);
    expect(await ref.ask({ type: 'notes' })).toEqual({ type: 'notes', notes: ['1', '2', '3'] });
  });

  it('answers OVERLOADED when a mailbox holds mailboxMaxBytes (estimated), and loses nothing it accepted', async () => {
    const hive = await node();
    const ref = await hive.spawn(echoMachine, { id: 'bytes', mailboxMaxBytes: 1024 });
    const letters: DeadLetter[] = [];
    hive.deadLetters.subscribe((l) => letters.push(l));
    const text = (n: string) => n + 'x'.repeat(599);
    ref.tell({ type: 'note', text: text('1') }); // an empty mailbox takes any one message
    ref.tell({ type: 'note', text: text('2') }); // ~620 bytes waiting
    let refused: unknown;
    try {
      ref.tell({ type: 'note', text: text('3') }); // ~1240 > 1024
    } catch (err) {
      refused = err;
    }
    expect(refused).toMatchObject({ code: 'OVERLOADED', retryable: true, details: { id: 'bytes', limit: 'bytes' } });
    expect((refused as HiveError).message).toContain('of 1024 bytes');
    expect(letters.map((l) => l.reason)).toEqual(['mailbox-full']);
    const notes = (await ref.ask({ type: 'notes' })) as unknown as { notes: string[] };
    expect(notes.notes.map((n) => n[0])).toEqual(['1', '2']);
    // drained: the bytes are back to 0 and the mailbox takes messages again
    const metrics = await hive.metrics.text();
    expect(metrics).toMatch(/hive_mailbox_bytes\{stat="max"[^}]*\} 0/);
    expect(metrics).toMatch(/hive_mailbox_limit\{limit="bytes"[^}]*\} 67108864/);
    ref.tell({ type: 'note', text: text('4') });
    expect(((await ref.ask({ type: 'notes' })) as unknown as { notes: string[] }).notes).toHaveLength(3);
    await expect(hive.spawn(echoMachine, { id: 'bad', mailboxMaxBytes: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('counts dead letters and lets subscribers observe them', async () => {
    const hive = await node();
    const ref = await hive.spawn(echoMachine, { id: 'e' });
    const seen: DeadLetter[] = [];
    hive.deadLetters.subscribe((l) => seen.push(l));
    ref.tell({ type: 'unknown-event' });
    await ref.ask({ type: 'ping' });
    ref.tell({ type: 'note', text: 'queued when the actor stops' });
    await ref.stop();
    expect(seen.map((l) => [l.to, l.reason])).toEqual([
      ['e', 'unhandled'],
      ['e', 'stopped'],
    ]);
    expect(hive.deadLetters.count).toBe(2);
    expect(await hive.metrics.text()).toMatch(/hive_dead_letters_total\{reason="unhandled",cluster="unit",node="[^"]+"\} 1/);
  });

  it('answers ACTOR_FAILED when a machine throws, reports it, and keeps other actors serving', async () => {
    const hive = await node();
    const failures: string[] = [];
    hive.onLifecycle((e) => e.type === 'failed' && failures.push(`${e.id}:${e.error.code}`));
    const fragile = await hive.spawn(fragileMachine, { id: 'fragile' });
    const echo = await hive.spawn(echoMachine, { id: 'e' });
    expect(await codeOf(fragile.ask({ type: 'boom' }))).toBe('ACTOR_FAILED');
    expect(await codeOf(fragile.ask({ type: 'ping' }))).toBe('ACTOR_FAILED');
    expect(failures).toEqual(['fragile:ACTOR_FAILED']);
    expect(await echo.ask({ type: 'ping' })).toEqual({ type: 'pong' });
  });

  it('answers asks pending at stop with ACTOR_STOPPED, accepted or still queued', async () => {
    const hive = await node();
    const ref = await hive.spawn(laterMachine, { id: 'later' });
    const held = ref.ask({ type: 'hold' });
    await new Promise((r) => setImmediate(r));
    const queued = ref.ask({ type: 'silent' });
    await ref.stop();
    expect(await codeOf(held)).toBe('ACTOR_STOPPED');
    expect(await codeOf(queued)).toBe('ACTOR_STOPPED');
    expect(hiveInternals(hive).system.has('later')).toBe(false);
    expect(await codeOf(ref.ask({ type: 'ping' }))).toBe('NO_SUCH_ACTOR');
  });
});

describe('actor system - across nodes on the in-process transport', () => {
  it('asks and tells an actor on another node through the frame codec', async () => {
    const bus = new InProcBus();
    const a = await node({ nodeId: 'a', transport: new InProcTransport(bus) });
    const b = await node({ nodeId: 'b', transport: new InProcTransport(bus) });
    await b.spawn(echoMachine, { id: 'remote-echo' });
    const ref = a.ref('remote-echo');
    ref.tell({ type: 'note', text: 'over the bus' });
    const embedding = new Float32Array([0.5, -1, 2]);
    expect(await ref.ask({ type: 'echo', embedding })).toEqual({ type: 'echoed', embedding });
    expect(await ref.ask({ type: 'notes' })).toEqual({ type: 'notes', notes: ['over the bus'] });
    expect(hiveInternals(a).system.codec.stats.framesOut).toBeGreaterThan(0);
    expect(hiveInternals(b).system.codec.stats.framesIn).toBeGreaterThan(0);
  });

  it('never compresses on the in-process transport: a 64 KB text message crosses as an uncompressed frame', async () => {
    const bus = new InProcBus();
    const a = await node({ nodeId: 'a', transport: new InProcTransport(bus) });
    const b = await node({ nodeId: 'b', transport: new InProcTransport(bus) });
    await b.spawn(echoMachine, { id: 'remote-echo' });
    const text = 'the agent reads the whole conversation again before it answers. '.repeat(1024);
    expect(await a.ref('remote-echo').ask({ type: 'echo', text })).toEqual({ type: 'echoed', text });
    const codec = hiveInternals(a).system.codec;
    expect(codec.options.compressThresholdBytes).toBe(Infinity);
    expect(codec.stats.rawBytesOut).toBeGreaterThan(64 * 1024);
    expect(codec.stats.compressedOut).toBe(0);
    expect(hiveInternals(b).system.codec.stats.compressedOut).toBe(0);
  });

  it('rebuilds typed errors from the other node', async () => {
    const bus = new InProcBus();
    const a = await node({ nodeId: 'a', transport: new InProcTransport(bus) });
    const b = await node({ nodeId: 'b', transport: new InProcTransport(bus) });
    await b.spawn(echoMachine, { id: 'e' });
    expect(await codeOf(a.ref('e').ask({ type: 'nope' }))).toBe('INVALID_EVENT');
    expect(await codeOf(a.ref('missing').ask({ type: 'ping' }))).toBe('NO_SUCH_ACTOR');
  });

  it('answers JSON with JSON and bad frames with a typed error, and keeps serving', async () => {
    const bus = new InProcBus();
    const server = await node({ nodeId: 's', transport: new InProcTransport(bus) });
    await server.spawn(echoMachine, { id: 'e' });
    const raw = new InProcTransport(bus);
    const ask = async (payload: Uint8Array) => JSON.parse(new TextDecoder().decode(await raw.request('hive.unit.actor.e', payload, 1000))) as Record<string, unknown>;
    const text = (s: string) => new TextEncoder().encode(s);
    expect(await ask(text('{"type":"ping"}'))).toEqual({ type: 'pong' });
    expect(await ask(text('{"type":'))).toMatchObject({ type: 'hive.error', code: 'BAD_FRAME' });
    expect(await ask(text('{"no":"type"}'))).toMatchObject({ type: 'hive.error', code: 'INVALID_EVENT' });
    expect(await ask(text('[1,2,3]'))).toMatchObject({ type: 'hive.error', code: 'INVALID_EVENT' });
    // garbage that starts like a binary frame gets a binary error reply
    const client = await node({ nodeId: 'c', transport: new InProcTransport(bus) });
    const bytes = await raw.request('hive.unit.actor.e', new Uint8Array([0xc1, 0x01, 0xff, 0xff]), 1000);
    expect(hiveInternals(client).system.codec.decode(bytes)).toMatchObject({ k: 'r', err: { code: 'BAD_FRAME' } });
    expect(await ask(text('{"type":"ping"}'))).toEqual({ type: 'pong' });
    await raw.close();
  });
});
