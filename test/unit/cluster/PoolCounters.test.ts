// PoolCounters: each node's counters in one KV key per pool and node; the cluster's totals are the sum over
// every node that ever wrote, so a node that is gone still counts; a restarted node id continues its count.
import { describe, expect, it } from 'vitest';
import { PoolCounters, parsePoolCounts } from '../../../cluster/PoolCounters.js';
import { SimulatedClock } from '../../../runtime/Clock.js';
import { MemoryKeyValue } from '../../../runtime/KeyValueStore.js';
import { silentLogger } from '../../../runtime/logger.js';

type Local = { pool: string; done: number; failed: number; retried: number; deadLettered: number };

function node(kv: MemoryKeyValue, id: string, local: Local[], clock = new SimulatedClock(0)) {
  return new PoolCounters({ kv, node: id, clock, logger: silentLogger(), local: () => local });
}

describe('PoolCounters', () => {
  it('sums every node that ever counted for the pool, including one that is gone', async () => {
    const kv = new MemoryKeyValue();
    const a: Local = { pool: 'work', done: 3, failed: 1, retried: 2, deadLettered: 0 };
    const b: Local = { pool: 'work', done: 5, failed: 0, retried: 1, deadLettered: 1 };
    const na = node(kv, 'a', [a]);
    const nb = node(kv, 'b', [b]);
    await na.adopt('work');
    await nb.adopt('work');
    await na.flush();
    await nb.flush();
    await na.flush();
    expect(na.totalsOf(a)).toEqual({ done: 8, failed: 1, retried: 3, deadLettered: 1 });
    // b dies without stopping; a keeps counting and still includes b's last written numbers
    a.done = 10;
    expect(na.totalsOf(a).done).toBe(15);
    await na.flush();
    expect(na.totalsOf(a).done).toBe(15);
    await na.stop();
  });

  it('a node restarted under the same id continues from what it wrote before', async () => {
    const kv = new MemoryKeyValue();
    const first = node(kv, 'a', [{ pool: 'work', done: 4, failed: 0, retried: 0, deadLettered: 0 }]);
    await first.adopt('work');
    await first.stop();
    const again: Local = { pool: 'work', done: 2, failed: 0, retried: 0, deadLettered: 0 };
    const second = node(kv, 'a', [again]);
    await second.adopt('work');
    await second.flush();
    expect(second.totalsOf(again).done).toBe(6);
    expect(parsePoolCounts((await kv.get('work.a'))!.value)).toEqual({ done: 6, failed: 0, retried: 0, deadLettered: 0 });
    await second.stop();
  });

  it('reads what it cannot trust as nothing: not JSON, negative or non-numeric counts', async () => {
    const kv = new MemoryKeyValue();
    await kv.put('work.x', new TextEncoder().encode('not json'));
    await kv.put('work.y', new TextEncoder().encode(JSON.stringify({ done: -5, failed: 'lots', retried: Number.POSITIVE_INFINITY, deadLettered: 2 })));
    const local: Local = { pool: 'work', done: 1, failed: 0, retried: 0, deadLettered: 0 };
    const n = node(kv, 'a', [local]);
    await n.adopt('work');
    await n.flush();
    expect(n.totalsOf(local)).toEqual({ done: 1, failed: 0, retried: 0, deadLettered: 2 });
    expect(parsePoolCounts(new TextEncoder().encode('[1,2]'))).toBeUndefined();
    await n.stop();
  });

  it('writes on its own once per period of the clock', async () => {
    const kv = new MemoryKeyValue();
    const clock = new SimulatedClock(0);
    const local: Local = { pool: 'work', done: 1, failed: 0, retried: 0, deadLettered: 0 };
    const n = node(kv, 'a', [local], clock);
    await n.adopt('work');
    expect(await kv.get('work.a')).toBeUndefined();
    clock.advance(999);
    await new Promise((r) => setImmediate(r));
    expect(await kv.get('work.a')).toBeUndefined();
    clock.advance(1);
    for (const end = Date.now() + 5000; (await kv.get('work.a')) === undefined && Date.now() < end; ) await new Promise((r) => setImmediate(r));
    expect(parsePoolCounts((await kv.get('work.a'))!.value)?.done).toBe(1);
    local.done = 2;
    for (const end = Date.now() + 5000; clock.pending === 0 && Date.now() < end; ) await new Promise((r) => setImmediate(r));
    clock.advance(1000);
    for (const end = Date.now() + 5000; parsePoolCounts((await kv.get('work.a'))!.value)?.done !== 2 && Date.now() < end; ) await new Promise((r) => setImmediate(r));
    expect(parsePoolCounts((await kv.get('work.a'))!.value)?.done).toBe(2);
    await n.stop();
  });
});
