// Cancellation over a real nats-server: an ask's AbortSignal reaches the serving node (it drops the ask and
// counts the cancel); a pool task's signal aborts the running agent's ctx.signal, and a task cancelled while
// still queued is never started.
import { afterEach, describe, expect, it } from 'vitest';
import { laterMachine } from '../../support/machines.js';
import { natsAvailable, uniqueName } from '../../support/services.js';
import { metricValue, startNatsNode, stopNatsNodes, until } from '../../support/natsNodes.js';
import { codeOf } from '../../support/errors.js';
import { hiveInternals } from '../../../cluster/internal.js';

const hasNats = await natsAvailable();
afterEach(stopNatsNodes);

describe.skipIf(!hasNats)('cancellation over NATS', () => {
  it('cancels a remote ask: CANCELLED at once, and the serving node lets go of it', async () => {
    const cluster = uniqueName('cancel');
    const a = await startNatsNode(cluster, 'a');
    const b = await startNatsNode(cluster, 'b');
    await b.spawn(laterMachine, { id: 'holder' });
    const ac = new AbortController();
    const asked = a.ref('holder').ask({ type: 'hold' }, { timeoutMs: 60_000, signal: ac.signal });
    await until(() => hiveInternals(b).system.actors().find((x) => x.id === 'holder')?.awaiting === 1, 'the ask to reach the actor');
    ac.abort();
    expect(await codeOf(asked)).toBe('CANCELLED');
    await until(async () => (await metricValue(b, 'hive_cancels_total', 'result="applied"')) === 1, 'the serving node to apply the cancel');
    expect(hiveInternals(b).system.actors().find((x) => x.id === 'holder')?.awaiting).toBe(0);
    expect(hiveInternals(b).system.transit.servedInProgress).toBe(0);
  });

  it('cancels a virtual-actor ask on its owner node: the owner lets go of the ask it made to the activation', async () => {
    const cluster = uniqueName('vcancel');
    const a = await startNatsNode(cluster, 'a');
    const b = await startNatsNode(cluster, 'b');
    await b.register('later', laterMachine);
    await until(() => a.members().some((m) => m.kinds.includes('later')), 'kind later announced');
    const ac = new AbortController();
    const asked = a.actor('later', 'k').ask({ type: 'hold' }, { timeoutMs: 60_000, signal: ac.signal });
    const awaiting = () => hiveInternals(b).system.actors().find((x) => x.kind === 'later')?.awaiting;
    await until(() => awaiting() === 1, 'the ask to reach the activation on b');
    ac.abort();
    expect(await codeOf(asked)).toBe('CANCELLED');
    await until(() => awaiting() === 0, 'the owner to let go of the ask it made to the activation');
    await until(() => hiveInternals(b).system.transit.servedInProgress === 0, 'the owner to forget the served ask');
  });

  it("cancels a running pool task (its agent's ctx.signal fires) and never starts one cancelled while queued", async () => {
    const cluster = uniqueName('pcancel');
    const a = await startNatsNode(cluster, 'a');
    const b = await startNatsNode(cluster, 'b');
    const started: string[] = [];
    const aborted: string[] = [];
    const release = new Map<string, () => void>();
    await b.pool<{ name: string }, string>('slow', {
      agent: (task, ctx) =>
        new Promise<string>((resolve, reject) => {
          started.push(task.name);
          release.set(task.name, () => resolve(task.name));
          ctx.signal.addEventListener('abort', () => {
            aborted.push(task.name);
            reject(ctx.signal.reason as Error);
          });
        }),
      min: 1,
      max: 1,
      concurrency: 1,
      autoscale: false,
    });
    await until(() => a.members().some((m) => m.pools?.includes('slow') === true), 'the pool to be announced');
    // running: the agent's signal fires
    const running = new AbortController();
    const first = a.submit('slow', { name: 'running' }, { signal: running.signal, timeoutMs: 60_000 });
    await until(() => started.includes('running'), 'the task to start');
    running.abort();
    expect(await codeOf(first)).toBe('CANCELLED');
    await until(() => aborted.includes('running'), "the agent's ctx.signal to fire");
    // queued behind a task that holds the only agent: never started
    const blocker = a.submit('slow', { name: 'blocker' }, { timeoutMs: 60_000 });
    await until(() => started.includes('blocker'), 'the blocker to start');
    const queued = new AbortController();
    const second = a.submit('slow', { name: 'queued' }, { signal: queued.signal, timeoutMs: 60_000 });
    queued.abort();
    expect(await codeOf(second)).toBe('CANCELLED');
    release.get('blocker')!();
    expect(await blocker).toBe('blocker');
    const after = a.submit('slow', { name: 'after' }, { timeoutMs: 60_000 });
    await until(() => started.includes('after'), 'the next task to start');
    release.get('after')!();
    expect(await after).toBe('after');
    expect(started).not.toContain('queued');
  });
});
