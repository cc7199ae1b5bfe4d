// Streamed replies over a real nats-server: a stream across two nodes arrives complete and in order; breaking
// out midway stops the producer; a slow reader holds the producer to the credit window; a consumer whose
// connection disappears gets its producer cancelled within the idle timeout; a plain NATS client reads a stream
// in JSON as the README's wire protocol says; a pool agent's stream reaches submitStream on another node.
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { hiveInternals } from '../../../cluster/internal.js';
import { FrameCodec, decodeJson, encodeJson } from '../../../protocols/frame.js';
import { NATS_URL, natsAvailable, uniqueName } from '../../support/services.js';
import { metricValue, startNatsNode, stopNatsNodes, until } from '../../support/natsNodes.js';
import { producerLogs, tokenMachine } from '../../support/streamMachines.js';
import type { AgentContext } from '../../../actors/agent/agentMachine.js';

const hasNats = await natsAvailable();
afterEach(async () => {
  await stopNatsNodes();
  producerLogs.clear();
});

async function twoNodes(prefix: string) {
  const cluster = uniqueName(prefix);
  const a = await startNatsNode(cluster, 'a');
  const b = await startNatsNode(cluster, 'b');
  await b.spawn(tokenMachine, { id: 'tok' });
  return { cluster, a, b };
}

describe.skipIf(!hasNats)('streamed replies over NATS', () => {
  it('delivers every chunk in order across two nodes, then the final value', async () => {
    const { a } = await twoNodes('stream-order');
    const s = a.ref('tok').askStream<string>({ type: 'generate', n: 20_000, size: 100 }, { window: 64 });
    let i = 0;
    for await (const c of s) {
      expect(c.startsWith(`${i}:`)).toBe(true);
      expect(c.length).toBe(100);
      i++;
    }
    expect(i).toBe(20_000);
    expect(s.final).toEqual({ type: 'done', n: 20_000 });
  });

  it('breaking out midway stops the producer: it saw the cancel and made at most a window more', async () => {
    const { a, b } = await twoNodes('stream-break');
    const window = 16;
    let read = 0;
    for await (const _ of a.ref('tok').askStream<string>({ type: 'generate', n: 1_000_000, run: 'break' }, { window })) if (++read === 100) break;
    await until(() => producerLogs.get('break')?.finished === true, 'the producer to stop');
    const log = producerLogs.get('break')!;
    expect(log).toMatchObject({ stopped: true, aborted: true });
    expect(log.sent).toBeLessThanOrEqual(read + window + 2);
    await until(() => hiveInternals(b).system.streams.open.producing === 0, 'the producing node to let go of the stream');
    expect(hiveInternals(a).system.streams.open.reading).toBe(0);
    expect(await metricValue(b, 'hive_cancels_total', 'result="applied"')).toBe(1);
  });

  it('a slow reader bounds the producer to the credit window', async () => {
    const { a } = await twoNodes('stream-slow');
    const window = 32;
    const threshold = window / 4;
    const s = a.ref('tok').askStream<string>({ type: 'generate', n: 1_000_000, run: 'slow' }, { window });
    const it = s[Symbol.asyncIterator]();
    let read = 0;
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 10; i++) {
        expect((await it.next()).value).toBe(`t${read}`);
        read++;
      }
      const log = () => producerLogs.get('slow')!;
      // the producer runs ahead until its credits are spent ...
      await until(() => log().sent >= read - threshold + window, 'the producer to use its credits');
      // ... and no further
      expect(log().sent - read).toBeLessThanOrEqual(window);
      expect(s.buffered).toBeLessThanOrEqual(window);
    }
    await it.return();
    await until(() => producerLogs.get('slow')?.finished === true, 'the producer to stop');
  });

  it('a consumer whose connection disappears: its producer is cancelled within the idle timeout and nothing stays open', async () => {
    const { cluster, b } = await twoNodes('stream-gone');
    const nc = await connect({ servers: NATS_URL });
    const codec = new FrameCodec();
    const inbox = `_INBOX.${uniqueName('gone')}`;
    let frames = 0;
    nc.subscribe(`${inbox}.*`, { callback: () => void frames++ });
    const idleMs = 500;
    const ask = { v: 1, k: 'a', e: { type: 'generate', n: 1_000_000, run: 'gone', 'hive.stream': { window: 8, idleMs } }, c: 's1', d: Date.now() + 60_000 };
    nc.publish(`hive.${cluster}.actor.tok`, codec.encode(ask), { reply: `${inbox}.s1` });
    await until(() => producerLogs.get('gone')?.sent === 8, 'a window of chunks');
    expect(frames).toBeGreaterThan(0);
    await nc.close(); // gone: no credits, no keep-alives, no cancel
    await until(() => producerLogs.get('gone')?.aborted === true, 'the producer to be cancelled', idleMs * 4);
    expect(producerLogs.get('gone')).toMatchObject({ sent: 8, stopped: true });
    expect(hiveInternals(b).system.streams.open.producing).toBe(0);
    expect(hiveInternals(b).system.transit.servedInProgress).toBe(0);
    expect(await metricValue(b, 'hive_stream_idle_cancels', '')).toBe(1);
  });

  it('a plain NATS client reads a stream in JSON: chunks with seq, credits on the documented subject, the end marker', async () => {
    const { cluster } = await twoNodes('stream-json');
    const nc = await connect({ servers: NATS_URL });
    const inbox = `_INBOX.${uniqueName('json')}`;
    const got: Array<Record<string, unknown>> = [];
    nc.subscribe(`${inbox}.>`, { callback: (_e, m) => void got.push(decodeJson(m.data) as Record<string, unknown>) });
    nc.publish(`hive.${cluster}.actor.tok`, encodeJson({ type: 'generate', n: 12, 'hive.stream': { window: 5 } }), { reply: `${inbox}.1` });
    await until(() => got.length === 5, 'the first window');
    expect(got[0]).toEqual({ type: 'hive.chunk', seq: 0, chunk: 't0', credit: `hive.${cluster}.credit.b` });
    nc.publish(got[0]['credit'] as string, encodeJson({ r: `${inbox}.1`, n: 100 }));
    await until(() => got.at(-1)?.['type'] === 'hive.end', 'the end marker');
    expect(got.slice(0, 12).map((m) => m['seq'])).toEqual([...Array(12).keys()]);
    expect(got[12]).toEqual({ type: 'hive.end', seq: 12, final: { type: 'done', n: 12 } });
    await nc.close();
  });

  it("a pool agent's stream reaches submitStream on another node, and breaking out cancels the task", async () => {
    const cluster = uniqueName('stream-pool');
    const a = await startNatsNode(cluster, 'a');
    const b = await startNatsNode(cluster, 'b');
    let aborted = false;
    let closed = false;
    await b.pool('writers', {
      agent: async function* (task: { n: number }, ctx: AgentContext) {
        ctx.signal.addEventListener('abort', () => (aborted = true));
        try {
          for (let i = 0; i < task.n; i++) yield `t${i}`;
          return { type: 'done' };
        } finally {
          closed = true;
        }
      },
      min: 1,
    });
    const got: string[] = [];
    const s = a.submitStream<string>('writers', { n: 300 }, { window: 16, timeoutMs: 30_000 });
    for await (const c of s) got.push(c);
    expect(got).toEqual(Array.from({ length: 300 }, (_, i) => `t${i}`));
    expect(s.final).toEqual({ type: 'done' });
    closed = false;
    let n = 0;
    for await (const _ of a.submitStream<string>('writers', { n: 1_000_000 }, { window: 16, timeoutMs: 30_000 })) if (++n === 20) break;
    await until(() => aborted && closed, "the agent's signal to abort and its generator to close");
    await until(() => hiveInternals(b).system.streams.open.producing === 0, 'the producing node to let go of the stream');
  });
});
