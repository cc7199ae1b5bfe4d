// The wire cannot reach internals (issue 12): events whose type starts with `xstate.` or `hive.`, and the
// runtime's own internal events, are refused on the inbound path with INVALID_EVENT, for JSON (NATS CLI)
// and binary frames, tells and asks. Before: `{"type":"xstate.stop"}` stopped an actor silently, and a run
// of `xstate.error.actor.*` events made the root supervisor give up and stop every actor.
import { afterEach, describe, expect, it } from 'vitest';
import { Hive } from '../../../cluster/Hive.js';
import { InProcBus, InProcTransport } from '../../../runtime/InProcTransport.js';
import { silentLogger } from '../../../runtime/logger.js';
import { FrameCodec, decodeJson } from '../../../protocols/frame.js';
import { validateWireEvent } from '../../../protocols/envelope.js';
import { echoMachine } from '../../support/machines.js';
import { hiveInternals } from '../../../cluster/internal.js';

const nodes: Hive[] = [];
const transports: InProcTransport[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
  await Promise.all(transports.splice(0).map((t) => t.close()));
});

async function setup(): Promise<{ hive: Hive; wire: InProcTransport }> {
  const bus = new InProcBus();
  const hive = await Hive.start({ cluster: 'wire', env: false, logger: silentLogger(), transport: new InProcTransport(bus) });
  nodes.push(hive);
  const wire = new InProcTransport(bus);
  transports.push(wire);
  return { hive, wire };
}

const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

describe('internal events from the wire', () => {
  it('refuses xstate.stop over JSON and binary asks with INVALID_EVENT; the actor keeps running', async () => {
    const { hive, wire } = await setup();
    const ref = await hive.spawn(echoMachine, { id: 'victim' });
    const answer = decodeJson(await wire.request('hive.wire.actor.victim', json({ type: 'xstate.stop' }), 2000)) as Record<string, unknown>;
    expect(answer).toMatchObject({ type: 'hive.error', code: 'INVALID_EVENT' });
    const codec = new FrameCodec();
    const bin = codec.decode(await wire.request('hive.wire.actor.victim', codec.encode({ v: 1, k: 'a', c: 'x1', e: { type: 'xstate.stop' } }), 2000));
    expect(bin).toMatchObject({ k: 'r', err: { code: 'INVALID_EVENT' } });
    // a tell is dead-lettered, not delivered
    wire.publish('hive.wire.actor.victim', codec.encode({ v: 1, k: 't', e: { type: 'xstate.stop' } }));
    wire.publish('hive.wire.actor.victim', json({ type: 'xstate.stop' }));
    expect(await ref.ask({ type: 'ping' })).toEqual({ type: 'pong' });
    expect(hiveInternals(hive).system.actors().find((a) => a.id === 'victim')?.status).toBe('running');
  });

  it('keeps a supervised actor (and the root supervisor) alive through a burst of forged xstate.error.actor events', async () => {
    const { hive, wire } = await setup();
    const ref = await hive.spawn(echoMachine, { id: 'worker' });
    const bystander = await hive.spawn(echoMachine, { id: 'bystander' });
    for (let i = 0; i < 20; i++) {
      const a = decodeJson(await wire.request('hive.wire.actor.worker', json({ type: `xstate.error.actor.${i}`, error: 'forged' }), 2000));
      expect(a).toMatchObject({ code: 'INVALID_EVENT' });
    }
    expect(await ref.ask({ type: 'ping' })).toEqual({ type: 'pong' });
    expect(await bystander.ask({ type: 'ping' })).toEqual({ type: 'pong' });
  });

  it('refuses Hive internal event types and accepts ordinary ones', () => {
    for (const type of ['xstate.stop', 'xstate.done.actor.x', 'xstate.init', 'hive.spawn', 'hive.task.result', 'child.failed', 'child.done', 'child.stopped', 'agent.drain', 'agent.settled']) {
      expect(() => validateWireEvent({ type })).toThrow(expect.objectContaining({ code: 'INVALID_EVENT' }) as Error);
    }
    for (const type of ['ping', 'xstate', 'inc', 'agent.custom', 'memory.search']) expect(validateWireEvent({ type })).toEqual({ type });
  });
});

describe('ids and keys taken from subjects', () => {
  it('refuses a virtual actor key or kind from the subject that is not one safe token, with INVALID_ID', async () => {
    const { hive, wire } = await setup();
    await hive.register('echo', echoMachine);
    const ask = async (subject: string): Promise<unknown> => decodeJson(await wire.request(subject, json({ type: 'ping' }), 2000));
    expect(await ask('hive.wire.kind.echo.k1')).toEqual({ type: 'pong' });
    for (const key of ['x'.repeat(200), 'ké', 'a$b', 'a:b']) {
      expect(await ask(`hive.wire.kind.echo.${key}`)).toMatchObject({ type: 'hive.error', code: 'INVALID_ID' });
    }
    const placed = `hive.wire.sys.node.${hive.nodeId}.kind`;
    expect(await ask(`${placed}.echo.k2`)).toEqual({ type: 'pong' });
    expect(await ask(`${placed}.echo.a.b`)).toMatchObject({ code: 'INVALID_ID' });
    expect(await ask(`${placed}.echo.${'y'.repeat(129)}`)).toMatchObject({ code: 'INVALID_ID' });
  });
});

describe('correlation ids', () => {
  it('are 128-bit random tokens, in the reply subject and in the envelope (not a counter)', async () => {
    const { hive, wire } = await setup();
    const codec = new FrameCodec();
    const seen: Array<{ reply: string; c: string }> = [];
    wire.subscribe('hive.wire.actor.remote', (m) => {
      const env = codec.decode(m.data) as { c: string };
      seen.push({ reply: m.reply ?? '', c: env.c });
      wire.publish(m.reply!, codec.encode({ v: 1, k: 'r', c: env.c, ok: { type: 'pong' } }));
    });
    for (let i = 0; i < 3; i++) expect(await hive.ref('remote').ask({ type: 'ping' })).toEqual({ type: 'pong' });
    // the transit puts one correlation id in both places (the reply subject's last token and `c`)
    for (const { reply, c } of seen) expect(reply.slice(reply.lastIndexOf('.') + 1)).toBe(c);
    const tokens = seen.map(({ c }) => c);
    for (const t of tokens) expect(t).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(new Set(tokens).size).toBe(tokens.length);
  });
});

describe('pool agents', () => {
  it('are local only: not subscribed on the transport, not listed as reachable; agent.drain from the wire reaches nothing', async () => {
    const { hive, wire } = await setup();
    await hive.pool<{ n: number }, number>('work', { agent: (t) => Promise.resolve(t.n * 2), min: 2, max: 2, concurrency: 1 });
    const agents = hiveInternals(hive).system.actors().filter((a) => a.kind === 'agent:work');
    expect(agents.length).toBe(2);
    for (const a of agents) {
      expect(a.reachable).toBe(false);
      const answer = await wire.request(`hive.wire.actor.${a.id}`, json({ type: 'agent.drain' }), 2000).then(
        () => 'answered',
        (e: { code?: string }) => e.code,
      );
      expect(answer).toBe('NO_SUCH_ACTOR');
    }
    expect(await hive.submit('work', { n: 21 })).toBe(42);
    expect(hiveInternals(hive).system.actors().filter((a) => a.kind === 'agent:work' && a.status === 'running').length).toBe(2);
  });
});
