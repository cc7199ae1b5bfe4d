// Pools on the in-process transport: the API example, retries then dead-lettering, deadlines with the
// abort signal, idempotent task ids, concurrency limits and option validation.
import { afterEach, describe, expect, it } from 'vitest';
import { Hive } from '../../../../cluster/Hive.js';
import type { HiveError } from '../../../../protocols/errors.js';
import { InProcBus, InProcTransport } from '../../../../runtime/InProcTransport.js';
import { SimulatedClock } from '../../../../runtime/Clock.js';
import { silentLogger } from '../../../../runtime/logger.js';
import { decodeJson } from '../../../../protocols/frame.js';
import type { DeadTask } from '../../../../actors/pool/TaskRecord.js';
import type { WorkQueue } from '../../../../runtime/WorkQueue.js';
import { codeOf } from '../../../support/errors.js';
import { hiveInternals } from '../../../../cluster/internal.js';
import { DEFAULT_MAX_SUBMISSION_WAITERS, MAX_WAITERS_PER_TASK } from '../../../../actors/pool/Pool.js';
import { defaultConfig } from '../../../../runtime/config.js';

const nodes: Hive[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

async function node(bus = new InProcBus(), nodeId?: string): Promise<Hive> {
  const hive = await Hive.start({ cluster: 'pools', env: false, logger: silentLogger(), transport: new InProcTransport(bus), ...(nodeId !== undefined && { nodeId }) });
  nodes.push(hive);
  return hive;
}

describe('pool', () => {
  it('runs the API example: agents run submitted tasks and results come back', async () => {
    const hive = await node();
    const pool = await hive.pool('summarize', {
      agent: async (task: { text: string }, ctx) => ({ summary: task.text.slice(0, 5), by: ctx.agentId }),
      min: 4,
      max: 32,
      strategy: 'p2c',
    });
    const result = await pool.submit({ text: 'hello world' }, { key: 'conversation-42', timeoutMs: 30_000 });
    expect(result).toMatchObject({ summary: 'hello' });
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => pool.submit({ text: `task number ${i}` })));
    expect(results).toHaveLength(40);
    const s = pool.status();
    expect(s.size).toBe(4);
    expect(s.done).toBe(41);
    expect(s.failed).toBe(0);
    // the balancer's decision time is a KPI: one observation per decision, well under a millisecond
    const text = await hive.metrics.text();
    const count = /hive_balancer_decision_seconds_count\{[^}]*pool="summarize"[^}]*\} (\d+)/.exec(text);
    expect(Number(count?.[1])).toBeGreaterThanOrEqual(41);
  });

  it('retries a task that throws, then dead-letters it with its error, and keeps working', async () => {
    const hive = await node();
    let calls = 0;
    const pool = await hive.pool<{ fail: boolean }, string>('flaky', {
      agent: async (task) => {
        if (task.fail) {
          calls += 1;
          throw new Error('model refused');
        }
        return 'ok';
      },
      maxDeliver: 3,
      retryBaseMs: 1,
      retryMaxMs: 5,
    });
    const failed = pool.submit({ fail: true });
    expect(await codeOf(failed)).toBe('INTERNAL');
    await failed.catch((err: HiveError) => expect(err.message).toContain('model refused'));
    expect(calls).toBe(3);
    expect(await pool.submit({ fail: false })).toBe('ok');
    const s = pool.status();
    expect(s.deadLettered).toBe(1);
    expect(s.retried).toBe(2);
    const queue = (await (hiveInternals(hive).pools as unknown as { open(): Promise<{ queue: WorkQueue }> }).open()).queue;
    const letters = await queue.deadLetters('flaky', 10);
    const dead = letters.map((d) => decodeJson(d.data, 1e6) as DeadTask);
    expect(dead).toHaveLength(1);
    expect(letters[0].reason).toMatchObject({ code: 'INTERNAL', deliveries: 3 });
    expect(letters[0].reason?.message).toContain('gave up after 3 deliveries');
    expect(dead[0].error.message).toContain('model refused');
    expect(dead[0].attempts).toBe(3);
  });

  it('answers TIMEOUT past the deadline and fires the agent abort signal', async () => {
    const hive = await node();
    let aborted: unknown;
    const pool = await hive.pool('slow', {
      agent: (_task, ctx) =>
        new Promise((_, reject) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = ctx.signal.reason;
            reject(ctx.signal.reason as Error);
          });
        }),
    });
    expect(await codeOf(pool.submit({}, { timeoutMs: 50 }))).toBe('TIMEOUT');
    for (let i = 0; i < 100 && aborted === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    expect((aborted as HiveError).code).toBe('TIMEOUT');
  });

  it('runs a task id once: a second submission gets the first outcome', async () => {
    const hive = await node();
    let runs = 0;
    const pool = await hive.pool('once', { agent: async () => ++runs });
    expect(await pool.submit({}, { id: 'task-1' })).toBe(1);
    expect(await pool.submit({}, { id: 'task-1' })).toBe(1);
    expect(runs).toBe(1);
  });

  it('keeps each agent within its concurrency limit', async () => {
    const hive = await node();
    let running = 0;
    let peak = 0;
    const pool = await hive.pool('bounded', {
      agent: async () => {
        running += 1;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running -= 1;
      },
      min: 2,
      concurrency: 2,
    });
    await Promise.all(Array.from({ length: 30 }, () => pool.submit({})));
    expect(peak).toBeLessThanOrEqual(4);
    expect(peak).toBeGreaterThan(1);
  });

  it('splits agents over the nodes hosting a pool and serves submissions from a node without it', async () => {
    const bus = new InProcBus();
    const a = await node(bus, 'a');
    const b = await node(bus, 'b');
    const c = await node(bus, 'c');
    const handler = async (task: { n: number }) => task.n * 2;
    const pa = await a.pool('double', { agent: handler, min: 4 });
    const pb = await b.pool('double', { agent: handler, min: 4 });
    for (let i = 0; i < 100 && (pa.status().size !== 2 || pb.status().size !== 2); i++) await new Promise((r) => setTimeout(r, 20));
    expect([pa.status().size, pb.status().size]).toEqual([2, 2]);
    expect(await c.submit('double', { n: 21 })).toBe(42);
    await expect(c.submit('nope', {})).rejects.toMatchObject({ code: 'NO_SUCH_ACTOR' });
  });

  it('opens its breaker when the handler keeps failing, takes no tasks while open, and closes after a good probe', async () => {
    const clock = new SimulatedClock(1_000_000);
    const hive = await Hive.start({ cluster: 'brk', env: false, logger: silentLogger(), clock, transport: new InProcTransport(new InProcBus(), clock) });
    nodes.push(hive);
    let healthy = false;
    let calls = 0;
    const pool = await hive.pool('fragile', {
      agent: async () => {
        calls += 1;
        if (!healthy) throw new Error('downstream is down');
        return 'ok';
      },
      maxDeliver: 1,
      autoscale: false,
      breaker: { consecutiveFailures: 3, coolDownMs: 1000, probesToClose: 1 },
    });
    const settle = async () => {
      for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    };
    const failures = Array.from({ length: 3 }, () => pool.submit({}, { timeoutMs: 600_000 }).catch((e: HiveError) => e.code));
    await settle();
    expect(await Promise.all(failures)).toEqual(['INTERNAL', 'INTERNAL', 'INTERNAL']);
    expect(pool.status().breaker).toBe('open');
    // while open, new tasks wait in the queue: the handler is not called
    const waiting = pool.submit({}, { timeoutMs: 600_000 });
    await settle();
    clock.advance(500);
    await settle();
    expect(calls).toBe(3);
    // the downstream recovers; after the cool-down one probe goes through and closes the breaker
    healthy = true;
    clock.advance(600);
    await settle();
    expect(await waiting).toBe('ok');
    expect(pool.status().breaker).toBe('closed');
    expect(await pool.submit({})).toBe('ok');
  });

  it('caps the task ids a node waits for (maxSubmissionWaiters) and the callers per id, with OVERLOADED and metrics', async () => {
    const hive = await Hive.start({ cluster: 'pools', env: false, logger: silentLogger(), transport: new InProcTransport(new InProcBus()), maxSubmissionWaiters: 2 });
    nodes.push(hive);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const pool = await hive.pool('held', { agent: async () => gate.then(() => 'ok'), min: 1, concurrency: 100, autoscale: false });
    const first = pool.submit({}, { id: 'w1', timeoutMs: 60_000 });
    const second = pool.submit({}, { id: 'w2', timeoutMs: 60_000 });
    const third = pool.submit({}, { id: 'w3', timeoutMs: 60_000 });
    await expect(third).rejects.toMatchObject({ code: 'OVERLOADED', retryable: true, details: { limit: 2 } });
    // more callers of an id already waited for take no new id: allowed up to MAX_WAITERS_PER_TASK per id
    const same = Array.from({ length: MAX_WAITERS_PER_TASK - 1 }, () => pool.submit({}, { id: 'w1', timeoutMs: 60_000 }));
    await expect(pool.submit({}, { id: 'w1', timeoutMs: 60_000 })).rejects.toMatchObject({ code: 'OVERLOADED' });
    const text = await hive.metrics.text();
    expect(text).toMatch(/hive_pool_submission_waiters_limit\{[^}]*\} 2/);
    expect(text).toMatch(/hive_pool_submission_waiters\{[^}]*\} 2/);
    release();
    expect(await Promise.all([first, second, ...same])).toEqual(Array.from({ length: 2 + same.length }, () => 'ok'));
    // the waiters are gone once answered: room again
    expect(await pool.submit({}, { id: 'w4' })).toBe('ok');
    expect(defaultConfig.maxSubmissionWaiters).toBe(DEFAULT_MAX_SUBMISSION_WAITERS);
  });

  it('refuses invalid pool options with an error naming the option', async () => {
    const hive = await node();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ agent: 42 }, 'pool.agent'],
      [{ agent: async () => 1, min: -1 }, 'pool.min'],
      [{ agent: async () => 1, min: 5, max: 2 }, 'pool.max'],
      [{ agent: async () => 1, strategy: 'random' }, 'pool.strategy'],
      [{ agent: async () => 1, concurrency: 0 }, 'pool.concurrency'],
      [{ agent: async () => 1, maxDeliver: 0 }, 'pool.maxDeliver'],
      [{ agent: async () => 1, retryBaseMs: 100, retryMaxMs: 10 }, 'pool.retryMaxMs'],
      [{ agent: async () => 1, taskTimeoutMs: 0 }, 'pool.taskTimeoutMs'],
      [{ agent: async () => 1, mni: 1 }, 'pool.mni'],
      [{ agent: async () => 1, breaker: 'on' }, 'pool.breaker'],
      [{ agent: async () => 1, autoscale: 3 }, 'pool.autoscale'],
    ];
    for (const [options, option] of cases) {
      await expect(hive.pool('p', options as never)).rejects.toMatchObject({ code: 'INVALID_CONFIG', details: { option } });
    }
    await expect(hive.pool('bad.name', { agent: async () => 1 })).rejects.toMatchObject({ code: 'INVALID_ID' });
  });
});
