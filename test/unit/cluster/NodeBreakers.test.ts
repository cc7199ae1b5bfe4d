// Remote asks go through a circuit breaker per destination node: a node that keeps timing out is failed
// fast, then probed after the cool-down and closed again when it answers.
import { afterEach, describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { Hive } from '../../../cluster/Hive.js';
import type { HiveError } from '../../../protocols/errors.js';
import { SimulatedClock } from '../../../runtime/Clock.js';
import { InProcBus, InProcTransport } from '../../../runtime/InProcTransport.js';
import { silentLogger } from '../../../runtime/logger.js';
import { reply } from '../../../runtime/reply.js';
import { hiveInternals } from '../../../cluster/internal.js';

const staller = setup({}).createMachine({
  on: {
    ping: { actions: ({ event }) => reply(event, { type: 'pong' }) },
    stall: { actions: () => undefined },
  },
});

const nodes: Hive[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

describe('node breakers', () => {
  it('fail remote asks fast once a node keeps timing out, and close after a good probe', async () => {
    const clock = new SimulatedClock(1_000_000);
    const bus = new InProcBus();
    const start = (nodeId: string) => Hive.start({ cluster: 'nb', nodeId, env: false, logger: silentLogger(), clock, transport: new InProcTransport(bus, clock) });
    const a = await start('a');
    const b = await start('b');
    nodes.push(a, b);
    await b.spawn(staller, { id: 's' });
    const settle = async () => {
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    };
    const code = async (p: Promise<unknown>) => p.then(() => 'ok', (e: HiveError) => e.code);

    expect(await a.ref('s').ask({ type: 'ping' })).toEqual({ type: 'pong' }); // learns that b hosts s
    for (let i = 0; i < 5; i++) {
      const p = code(a.ref('s').ask({ type: 'stall' }, { timeoutMs: 20 }));
      await settle();
      clock.advance(20);
      expect(await p).toBe('TIMEOUT');
    }
    expect(hiveInternals(a).nodeBreakers.states()).toEqual({ b: 'open' });
    expect(await code(a.ref('s').ask({ type: 'ping' }))).toBe('CIRCUIT_OPEN');
    // local asks on b are not affected
    expect(await b.ref('s').ask({ type: 'ping' })).toEqual({ type: 'pong' });

    clock.advance(1000);
    expect(await a.ref('s').ask({ type: 'ping' })).toEqual({ type: 'pong' }); // the probe
    expect(hiveInternals(a).nodeBreakers.states()).toEqual({ b: 'closed' });
    expect((a.status().extra?.['breakers'] as Record<string, string>)['b']).toBe('closed');
  });
});
