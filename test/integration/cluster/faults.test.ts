// Crash paths and silent losses found by the fault review, each reproduced against a real nats-server this
// test owns (random port, own store, killed and restarted at will). Every test first proves its fault
// happened (the server really was down, the bucket really is gone, the id really was taken); the suite's
// setup (test/support/noUnhandled.ts) fails a test during which an unhandled rejection or an uncaught
// exception fired: before the fixes, each of these took the node process down.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { counterMachine } from '../../../actors/counter.js';
import { echoMachine } from '../../../actors/echo.js';
import { Hive } from '../../../cluster/Hive.js';
import type { HiveEvent } from '../../../protocols/envelope.js';
import { reply } from '../../../runtime/reply.js';
import { codeOf } from '../../support/errors.js';
import { natsBinaryAvailable, startNatsServer, uniqueName, type OwnNatsServer } from '../../support/services.js';
import { hiveInternals } from '../../../cluster/internal.js';

const hasNats = natsBinaryAvailable();
const nodes: Hive[] = [];

/** A logger whose lines the test can read. */
function capturingLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter((l) => l.length > 0));
      cb();
    },
  });
  return { logger: pino({ level: 'warn' }, stream), lines };
}

async function until(check: () => boolean | Promise<boolean>, what: string, limitMs = 15_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`gave up waiting for ${what}`);
}

async function metricValue(hive: Hive, name: string, labels: Record<string, string>): Promise<number> {
  const m = hive.metrics.registry.getSingleMetric(name);
  if (m === undefined) return 0;
  const { values } = await m.get();
  return values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l)).reduce((a, v) => a + v.value, 0);
}

/** A virtual kind whose snapshot holds two copies of what it is sent (to grow past max_payload). */
const blobMachine = setup({ types: { context: {} as { blob: Uint8Array | undefined }, events: {} as HiveEvent } }).createMachine({
  context: { blob: undefined },
  on: {
    put: {
      actions: [
        assign({
          blob: ({ event }) => {
            const b = event['blob'] as Uint8Array;
            const twice = new Uint8Array(b.length * 2);
            twice.set(b);
            twice.set(b, b.length);
            return twice;
          },
        }),
        ({ event }) => reply(event, { type: 'stored' }),
      ],
    },
  },
});

describe.skipIf(!hasNats)('faults against an own nats-server', () => {
  let server: OwnNatsServer;
  let raw: NatsConnection;

  async function node(cluster: string, nodeId: string, logger = capturingLogger().logger): Promise<Hive> {
    const hive = await Hive.start({ cluster, nodeId, nats: server.url, env: false, logger, heartbeatMs: 100, failureAfterMs: 600 });
    nodes.push(hive);
    return hive;
  }

  beforeAll(async () => {
    server = await startNatsServer();
    raw = await connect({ servers: server.url });
  });
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
  });
  afterAll(async () => {
    await raw?.close();
    await server?.stop();
  });

  it('survives a pool submission over NATS whose answer cannot be sent while NATS reconnects', async () => {
    const cluster = uniqueName('restart');
    const { logger, lines } = capturingLogger();
    const hive = await node(cluster, 'a', logger);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const pool = await hive.pool('slow', { agent: async () => gate.then(() => 'done'), min: 1, autoscale: false });
    const client = await connect({ servers: server.url, maxReconnectAttempts: 0 });
    const answer = client.request(`hive.${cluster}.pool.slow`, JSON.stringify({ task: {}, timeoutMs: 1500 }), { timeout: 30_000 }).catch(() => 'no answer');
    await until(() => pool.status().busy === 1, 'the task to run');
    await server.kill();
    await until(() => !hiveInternals(hive).transport.connected, 'the node to see NATS down');
    // the submission times out while NATS is down: its error answer cannot be published
    await until(() => lines.some((l) => l.includes('could not publish an answer')), 'the failed answer (logged by the transit)');
    expect(await answer).toBe('no answer');
    release();
    await server.restart();
    await until(() => hiveInternals(hive).transport.connected, 'the node to reconnect');
    // the node kept serving: a new submission over NATS is answered
    const again = await connect({ servers: server.url });
    try {
      await until(async () => {
        try {
          const m = await again.request(`hive.${cluster}.pool.slow`, JSON.stringify({ task: {} }), { timeout: 5_000 });
          return (m.json<{ ok?: boolean }>()).ok === true;
        } catch {
          return false;
        }
      }, 'a submission after the restart');
    } finally {
      await again.close();
    }
  });

  it('answers "accepted" for wait:false only after JetStream acknowledged the publish', async () => {
    const cluster = uniqueName('nowait');
    const hive = await node(cluster, 'a');
    const pool = await hive.pool('p', { agent: async () => 'ok', min: 1, autoscale: false });
    const ok = (await raw.request(`hive.${cluster}.pool.p`, JSON.stringify({ task: {}, wait: false, id: 't1' }), { timeout: 5_000 })).json<{ type: string; id: string }>();
    expect(ok).toMatchObject({ type: 'hive.task.accepted', id: 't1' });
    await until(() => pool.status().done === 1, 'the accepted task to run');
    // the fault: the tasks stream is sealed (a deleted one is created again by the publisher), so a publish
    // cannot be acknowledged
    const jsm = await jetstreamManager(raw);
    const { config } = await jsm.streams.info(`HIVE_${cluster}_TASKS`);
    await jsm.streams.update(`HIVE_${cluster}_TASKS`, { ...config, sealed: true } as typeof config);
    await expect(jetstream(raw).publish(`hive.${cluster}.task.p`, 'x')).rejects.toThrow();
    const refused = (await raw.request(`hive.${cluster}.pool.p`, JSON.stringify({ task: {}, wait: false, id: 't2' }), { timeout: 10_000 })).json<{ type: string; code?: string }>();
    expect(refused.type).toBe('hive.error');
    expect(refused.code).toBe('UNAVAILABLE');
  });

  it('refuses a wire submission whose timeout has no bound', async () => {
    const cluster = uniqueName('cap');
    const hive = await node(cluster, 'a');
    await hive.pool('p', { agent: async () => 'ok', min: 1, autoscale: false });
    const r = (await raw.request(`hive.${cluster}.pool.p`, JSON.stringify({ task: {}, timeoutMs: 1e12 }), { timeout: 5_000 })).json<{ code?: string }>();
    expect(r.code).toBe('INVALID_ARGUMENT');
  });

  it('answers an error (and keeps serving) when the snapshot bucket was deleted', async () => {
    const cluster = uniqueName('nobucket');
    const a = await node(cluster, 'a');
    const b = await node(cluster, 'b');
    await a.register('counter', counterMachine);
    await b.register('counter', counterMachine);
    await a.spawn(echoMachine, { id: 'e' });
    await until(() => hiveInternals(a).membership.live().length === 2 && hiveInternals(b).membership.live().length === 2, 'both nodes to see each other');
    // activate a few counters (some on each node), then delete the snapshot bucket under them
    for (let i = 0; i < 6; i++) await a.actor('counter', `k${i}`).ask({ type: 'inc' });
    expect(hiveInternals(a).virtual.activations().length + hiveInternals(b).virtual.activations().length).toBe(6);
    await new Kvm(raw).open(`hive_${cluster}_snapshots`).then((kv) => kv.destroy());
    const jsm = await jetstreamManager(raw);
    await expect(jsm.streams.info(`KV_hive_${cluster}_snapshots`)).rejects.toThrow();
    // asked from both nodes: local and remote activations alike answer with an error instead of crashing
    for (let i = 0; i < 6; i++) {
      expect(await codeOf(a.actor('counter', `k${i}`).ask({ type: 'inc' }))).not.toBe('TIMEOUT');
      expect(await codeOf(b.actor('counter', `k${i}`).ask({ type: 'inc' }))).not.toBe('TIMEOUT');
    }
    expect(await b.ref('e').ask({ type: 'ping' })).toEqual({ type: 'pong' });
  });

  it('answers an error when a snapshot outgrows max_payload', async () => {
    const cluster = uniqueName('bigsnap');
    const a = await node(cluster, 'a');
    const b = await node(cluster, 'b');
    await a.register('blob', blobMachine);
    await b.register('blob', blobMachine);
    await until(() => hiveInternals(a).membership.live().length === 2 && hiveInternals(b).membership.live().length === 2, 'both nodes to see each other');
    const maxPayload = raw.info?.max_payload ?? 1024 * 1024;
    // incompressible, small enough to send, twice as large in the snapshot: over the server's max_payload
    const blob = new Uint8Array(randomBytes(Math.ceil(maxPayload * 0.6)));
    for (let i = 0; i < 4; i++) {
      const from = i % 2 === 0 ? a : b;
      const code = await codeOf(from.actor('blob', `b${i}`).ask({ type: 'put', blob }, { timeoutMs: 10_000 }));
      expect(code).toBe('TOO_LARGE');
    }
    await a.spawn(echoMachine, { id: 'e' });
    expect(await b.ref('e').ask({ type: 'ping' })).toEqual({ type: 'pong' });
  });

  it('grows a pool past an actor that took the id of its next agent (no DUPLICATE_ACTOR crash in the autoscaler)', async () => {
    const cluster = uniqueName('dup');
    const hive = await node(cluster, 'a');
    // the pool's agents are grow-a-0, grow-a-1, ...: take grow-a-1 before the pool grows into it
    await hive.spawn(echoMachine, { id: 'grow-a-1' });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const pool = await hive.pool('grow', {
      agent: async () => gate.then(() => 'ok'),
      min: 1,
      max: 4,
      autoscale: { sustainMs: 0, cooldownMs: 0, intervalMs: 50 },
    });
    const tasks = Array.from({ length: 4 }, () => pool.submit({}, { timeoutMs: 20_000 }));
    await until(() => pool.status().size >= 3, 'the pool to grow past the taken id');
    expect(hiveInternals(hive).system.has('grow-a-1')).toBe(true);
    expect(await hive.ref('grow-a-1').ask({ type: 'ping' })).toEqual({ type: 'pong' });
    release();
    expect(await Promise.all(tasks)).toEqual(['ok', 'ok', 'ok', 'ok']);
  });

  it('answers a typed error for a redelivered task whose stored result is undecodable', async () => {
    const cluster = uniqueName('badresult');
    const hive = await node(cluster, 'a');
    const kv = await new Kvm(raw).create(`hive_${cluster}_results`, { ttl: 24 * 3600_000 });
    let calls = 0;
    const pool = await hive.pool('p', {
      agent: async (_task, ctx) => {
        calls += 1;
        // the fault: a result record nobody can read appears for this task, then its first run fails
        await kv.put(ctx.taskId, 'not json {');
        throw new Error('first run fails');
      },
      min: 1,
      maxDeliver: 3,
      retryBaseMs: 1,
      autoscale: false,
      breaker: false,
    });
    expect(await codeOf(pool.submit({}, { id: 'garbled', timeoutMs: 10_000 }))).toBe('BAD_FRAME');
    expect(calls).toBe(1);
    expect(await metricValue(hive, 'hive_pool_errors_total', { op: 'result-decode' })).toBe(1);
  });

  it('does not run a redelivered task again while the result store cannot be read', async () => {
    const cluster = uniqueName('noresults');
    const hive = await node(cluster, 'a');
    const jsm = await jetstreamManager(raw);
    let calls = 0;
    const pool = await hive.pool('p', {
      agent: async () => {
        calls += 1;
        if (calls === 1) {
          // the fault: the result store disappears, then the first run fails (so the task is redelivered)
          await jsm.streams.delete(`KV_hive_${cluster}_results`);
          throw new Error('first run fails');
        }
        return 'second run';
      },
      min: 1,
      maxDeliver: 50,
      retryBaseMs: 50,
      retryMaxMs: 100,
      autoscale: false,
      breaker: false,
    });
    const result = pool.submit({}, { id: 'guarded', timeoutMs: 30_000 });
    // (a read from a deleted bucket times out after a few seconds)
    await until(async () => (await metricValue(hive, 'hive_pool_errors_total', { op: 'result-read' })) >= 1, 'a redelivery that found the store unreadable', 30_000);
    expect(calls).toBe(1);
    await new Kvm(raw).create(`hive_${cluster}_results`, { ttl: 24 * 3600_000 });
    expect(await result).toBe('second run');
    expect(calls).toBe(2);
  });

  it('heals a pool: an agent that stops leaves the balancer at once, is replaced, and every task completes once', async () => {
    const cluster = uniqueName('heal');
    const hive = await node(cluster, 'a');
    const finished = new Map<string, number>();
    const pool = await hive.pool<{ n: number }, number>('heal', {
      agent: async (task, ctx) => {
        await new Promise((r) => setTimeout(r, 5));
        if (!ctx.signal.aborted) finished.set(ctx.taskId, (finished.get(ctx.taskId) ?? 0) + 1);
        return task.n;
      },
      min: 3,
      max: 3,
      concurrency: 2,
      maxDeliver: 2,
      autoscale: false,
      breaker: false,
    });
    const total = 200;
    const outcomes = Array.from({ length: total }, (_, n) => pool.submitForOutcome({ n }, { id: `t${n}`, timeoutMs: 60_000 }));
    await until(() => pool.status().done >= 20, 'the load to be under way');
    const before = hiveInternals(hive).system.actors().filter((x) => x.kind === 'agent:heal').map((x) => x.id);
    expect(before).toHaveLength(3);
    await hiveInternals(hive).system.stopActor(before[0]);
    expect(hiveInternals(hive).system.has(before[0])).toBe(false);
    const results = await Promise.all(outcomes);
    expect(results.filter((o) => !o.ok)).toEqual([]);
    expect(results.map((o) => o.result)).toEqual(Array.from({ length: total }, (_, n) => n));
    expect(pool.status().deadLettered).toBe(0);
    // replaced per the pool's size, and the stopped agent is gone from the balancer
    expect(pool.status().size).toBe(3);
    const after = hiveInternals(hive).system.actors().filter((x) => x.kind === 'agent:heal').map((x) => x.id);
    expect(after).not.toContain(before[0]);
    expect(after).toHaveLength(3);
    expect(await metricValue(hive, 'hive_pool_agents_replaced_total', { pool: 'heal' })).toBe(1);
    expect(results.filter((o) => o.agent === before[0]).length).toBeLessThan(total);
  });
});
