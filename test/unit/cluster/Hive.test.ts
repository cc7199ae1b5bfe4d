// The README's programmatic example, run as written (in-process transport, no NATS configured).
import { afterEach, describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { Hive, reply, SimulatedClock, type HiveEvent } from '../../../index.js';
import { silentLogger } from '../../../runtime/logger.js';
import { hiveInternals } from '../../../cluster/internal.js';

const machine = setup({ types: { context: {} as { notes: string[] }, events: {} as HiveEvent } }).createMachine({
  context: { notes: [] },
  on: {
    note: { actions: assign({ notes: ({ context, event }) => [...context.notes, String(event['text'])] }) },
    ping: { actions: ({ event, context }) => reply(event, { type: 'pong', notes: context.notes }) },
    wait: { actions: () => undefined },
  },
});

const open: Hive[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.stop()));
});

describe('hive api', () => {
  it('runs the README example: spawn, tell, ask, ref by id, stop', async () => {
    const hive = await Hive.start({ cluster: 'demo', env: false, logger: silentLogger() });
    open.push(hive);
    expect(hiveInternals(hive).transport.kind).toBe('inproc');
    const ref = await hive.spawn(machine, { id: 'echo-1', input: {} });
    ref.tell({ type: 'note', text: 'hi' });
    const answer = await ref.ask({ type: 'ping' }, { timeoutMs: 1000 });
    expect(answer).toEqual({ type: 'pong', notes: ['hi'] });
    const same = hive.ref('echo-1');
    expect(await same.ask({ type: 'ping' })).toEqual({ type: 'pong', notes: ['hi'] });
    await hive.stop();
    await hive.stop();
  });

  it('gives a TIMEOUT error with a stable code when the actor does not answer', async () => {
    const clock = new SimulatedClock(0);
    const hive = await Hive.start({ cluster: 'demo', env: false, logger: silentLogger(), clock });
    open.push(hive);
    const ref = await hive.spawn(machine, { id: 'quiet' });
    const pending = ref.ask({ type: 'wait' }, { timeoutMs: 1000 });
    await new Promise((r) => setImmediate(r));
    clock.advance(1000);
    await expect(pending).rejects.toMatchObject({ code: 'TIMEOUT', retryable: true });
  });

  it('reaches a registered kind as a virtual actor, activated once, with its state', async () => {
    const hive = await Hive.start({ cluster: 'vdemo', env: false, logger: silentLogger() });
    open.push(hive);
    await hive.register('notes', machine);
    hive.actor('notes', 'k1').tell({ type: 'note', text: 'a' });
    expect(await hive.actor('notes', 'k1').ask({ type: 'ping' })).toEqual({ type: 'pong', notes: ['a'] });
    expect(hiveInternals(hive).system.has('notes--k1')).toBe(true);
    expect(() => hive.register('notes', machine)).toThrow(/already registered/);
    expect(() => hive.register('a--b', machine)).toThrow(/may not contain/);
  });

  it('refuses an invalid config value with an error naming the option', async () => {
    await expect(Hive.start({ cluster: 'bad cluster', env: false })).rejects.toMatchObject({ code: 'INVALID_CONFIG', details: { option: 'cluster' } });
  });
});
