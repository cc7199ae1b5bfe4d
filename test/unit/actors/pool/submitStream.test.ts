// Pool agents that stream: an async generator handler's chunks reach pool.submitStream / hive.submitStream in
// order; breaking out cancels the task (the agent's signal aborts, the generator is closed); a plain submit of a
// streaming handler gets the chunks as an array; a handler returning a plain value ends the stream with it.
import { afterEach, describe, expect, it } from 'vitest';
import { Hive } from '../../../../cluster/Hive.js';
import { InProcBus, InProcTransport } from '../../../../runtime/InProcTransport.js';
import { silentLogger } from '../../../../runtime/logger.js';
import { hiveInternals } from '../../../../cluster/internal.js';
import type { AgentContext } from '../../../../actors/agent/agentMachine.js';
import { codeOf } from '../../../support/errors.js';

const nodes: Hive[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

async function node(bus = new InProcBus(), nodeId?: string): Promise<Hive> {
  const hive = await Hive.start({ cluster: 'pstreams', env: false, logger: silentLogger(), transport: new InProcTransport(bus), ...(nodeId !== undefined && { nodeId }) });
  nodes.push(hive);
  return hive;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    if (check()) return;
    await tick();
  }
  throw new Error(`gave up waiting for ${what}`);
}

interface Seen {
  yielded: number;
  aborted: boolean;
  closed: boolean;
}

function tokens(seen: Seen) {
  return async function* (task: { n: number }, ctx: AgentContext): AsyncGenerator<string, { type: string; n: number }> {
    ctx.signal.addEventListener('abort', () => (seen.aborted = true));
    try {
      for (let i = 0; i < task.n; i++) {
        seen.yielded++;
        yield `t${i}`;
      }
      return { type: 'done', n: task.n };
    } finally {
      seen.closed = true;
    }
  };
}

describe('pool.submitStream', () => {
  it('streams an async generator agent\'s chunks in order, with its return value as the final value', async () => {
    const hive = await node();
    const seen: Seen = { yielded: 0, aborted: false, closed: false };
    const pool = await hive.pool('writers', { agent: tokens(seen), min: 2 });
    const got: string[] = [];
    const s = pool.submitStream<string>({ n: 500 }, { window: 8 });
    for await (const c of s) got.push(c);
    expect(got).toEqual(Array.from({ length: 500 }, (_, i) => `t${i}`));
    expect(s.final).toEqual({ type: 'done', n: 500 });
    await until(() => hiveInternals(hive).system.streams.open.producing === 0, 'the sink to close');
  });

  it('breaking out cancels the task: the agent\'s signal aborts and the generator is closed', async () => {
    const hive = await node();
    const seen: Seen = { yielded: 0, aborted: false, closed: false };
    const pool = await hive.pool('writers', { agent: tokens(seen), min: 1 });
    let n = 0;
    for await (const _ of pool.submitStream<string>({ n: 1_000_000 }, { window: 8 })) if (++n === 10) break;
    await until(() => seen.closed && seen.aborted, 'the generator to close');
    expect(seen.yielded).toBeLessThanOrEqual(10 + 8 + 2);
    await until(() => hiveInternals(hive).system.streams.open.producing === 0 && hiveInternals(hive).system.streams.open.reading === 0, 'streams to close');
  });

  it('hive.submitStream reaches a pool hosted on another node', async () => {
    const bus = new InProcBus();
    const a = await node(bus, 'a');
    const b = await node(bus, 'b');
    const seen: Seen = { yielded: 0, aborted: false, closed: false };
    await b.pool('writers', { agent: tokens(seen), min: 1 });
    const got: string[] = [];
    for await (const c of a.submitStream<string>('writers', { n: 200 }, { window: 16 })) got.push(c);
    expect(got.length).toBe(200);
    expect(got[199]).toBe('t199');
  });

  it('a plain submit of a streaming agent gets the chunks as an array; a plain handler ends the stream with its value', async () => {
    const hive = await node();
    const seen: Seen = { yielded: 0, aborted: false, closed: false };
    const pool = await hive.pool('writers', { agent: tokens(seen), min: 1 });
    expect(await pool.submit({ n: 3 })).toEqual(['t0', 't1', 't2']);
    const plain = await hive.pool('plain', { agent: async (task: { n: number }) => ({ doubled: task.n * 2 }), min: 1 });
    const s = plain.submitStream({ n: 21 });
    const got: unknown[] = [];
    for await (const c of s) got.push(c);
    expect(got).toEqual([]);
    expect(s.final).toEqual({ doubled: 42 });
  });

  it('a generator that throws ends the stream with the task\'s error', async () => {
    const hive = await node();
    const pool = await hive.pool('broken', {
      agent: async function* () {
        yield 'a';
        throw new Error('model crashed');
      },
      min: 1,
      maxDeliver: 1,
    });
    const got: string[] = [];
    const run = (async () => {
      for await (const c of pool.submitStream<string>({})) got.push(c);
    })();
    expect(await codeOf(run)).toBeDefined();
    expect(got).toEqual(['a']);
  });
});
