import { afterEach, describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { Hive } from '../../../../cluster/Hive.js';
import { breakerMachine, createBreakerContext, recordSuccess } from '../../../../actors/breaker/breakerMachine.js';
import type { HiveError } from '../../../../protocols/errors.js';
import { SimulatedClock } from '../../../../runtime/Clock.js';
import { InProcBus, InProcTransport } from '../../../../runtime/InProcTransport.js';
import { silentLogger } from '../../../../runtime/logger.js';

const nodes: Hive[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

const options = { consecutiveFailures: 2, coolDownMs: 1000, probesToClose: 1, probeTimeoutMs: 300 };

describe('breakerMachine', () => {
  it('walks closed → open → half-open (probing) → open (probe timeout, longer cool-down) → closed', () => {
    const clock = new SimulatedClock(0);
    const actor = createActor(breakerMachine, { input: { name: 'm', options, clock }, clock }).start();
    const ctx = actor.getSnapshot().context;
    const timeouts: number[] = [];
    actor.on('probe.timeout', (e) => timeouts.push(e.gen));
    actor.send({ type: 'acquire' });
    const gen = ctx.admittedGen;
    actor.send({ type: 'call.failure', gen });
    actor.send({ type: 'call.failure', gen: gen - 1 }); // stale: ignored
    expect(actor.getSnapshot().value).toBe('closed');
    actor.send({ type: 'call.failure', gen });
    expect(actor.getSnapshot().value).toBe('open');
    actor.send({ type: 'acquire' });
    expect(ctx.admitted).toBe(false);
    clock.advance(1000);
    expect(actor.getSnapshot().value).toEqual({ halfOpen: 'idle' });
    actor.send({ type: 'acquire' });
    expect(ctx.admitted && ctx.admittedProbe).toBe(true);
    const probeGen = ctx.admittedGen;
    actor.send({ type: 'acquire' });
    expect(ctx.admitted).toBe(false);
    clock.advance(300);
    expect(actor.getSnapshot().value).toBe('open');
    expect(timeouts).toEqual([probeGen]);
    actor.send({ type: 'call.success', gen: probeGen }); // too late: ignored
    expect(actor.getSnapshot().value).toBe('open');
    expect(ctx.coolDownMs).toBe(2000);
    clock.advance(2000);
    actor.send({ type: 'acquire' });
    actor.send({ type: 'call.success', gen: ctx.admittedGen });
    expect(actor.getSnapshot().value).toBe('closed');
    expect(ctx.coolDownMs).toBe(1000);
    actor.stop();
  });

  it('the hot-path rule (recordSuccess) equals sending call.success to the machine', () => {
    const clock = new SimulatedClock(0);
    const actor = createActor(breakerMachine, { input: { name: 'm', options: { window: { kind: 'count', size: 5 }, minimumCalls: 5 }, clock }, clock }).start();
    const viaEvents = actor.getSnapshot().context;
    const direct = createBreakerContext({ name: 'm', options: { window: { kind: 'count', size: 5 }, minimumCalls: 5 }, clock });
    direct.gen = viaEvents.gen;
    for (const outcome of ['failure', 'success', 'failure', 'success', 'success'] as const) {
      actor.send({ type: `call.${outcome}`, gen: viaEvents.gen });
      if (outcome === 'success') recordSuccess(direct, clock.now());
      else {
        direct.window.record(true, clock.now());
        direct.consecutiveFailures++;
      }
      expect([direct.window.calls(0), direct.window.failures(0), direct.consecutiveFailures]).toEqual([
        viaEvents.window.calls(0),
        viaEvents.window.failures(0),
        viaEvents.consecutiveFailures,
      ]);
    }
    actor.stop();
  });

  it('checks the trip rule after failures only, so sending successes agrees with the hot path', () => {
    const clock = new SimulatedClock(0);
    const input = { name: 'm', options: { consecutiveFailures: Infinity, window: { kind: 'count' as const, size: 4 }, minimumCalls: 4, failureRateThreshold: 0.5 }, clock };
    const actor = createActor(breakerMachine, { input, clock }).start();
    const gen = actor.getSnapshot().context.gen;
    for (const outcome of ['failure', 'success', 'failure', 'success'] as const) actor.send({ type: `call.${outcome}`, gen });
    expect(actor.getSnapshot().value).toBe('closed'); // 2 of 4 failed, but the last outcome was a success
    actor.send({ type: 'call.failure', gen }); // window: success, failure, success, failure
    expect(actor.getSnapshot().value).toBe('open');
    expect(actor.getSnapshot().context.reason).toBe('failure-rate');
    actor.stop();
  });

  it('runs as a Hive actor: acquire answers admitted or CIRCUIT_OPEN, status describes it', async () => {
    const hive = await Hive.start({ cluster: 'unit', env: false, logger: silentLogger(), transport: new InProcTransport(new InProcBus()) });
    nodes.push(hive);
    const ref = await hive.spawn(breakerMachine, { id: 'pg-breaker', input: { name: 'pg', options } });
    const admitted = await ref.ask({ type: 'acquire' });
    expect(admitted).toMatchObject({ type: 'breaker.admitted', probe: false });
    ref.tell({ type: 'call.failure', gen: admitted['gen'] });
    ref.tell({ type: 'call.failure', gen: admitted['gen'] });
    try {
      await ref.ask({ type: 'acquire' });
      expect.unreachable();
    } catch (err) {
      expect((err as HiveError).code).toBe('CIRCUIT_OPEN');
      expect((err as HiveError).message).toContain('"pg"');
    }
    expect(await ref.ask({ type: 'breaker.status' })).toMatchObject({ type: 'breaker.status', breaker: 'pg', state: 'open', reason: 'consecutive-failures' });
  });
});
