// Heartbeats from the wire are validated (issue 12): a forged heartbeat with `actors: -1` (or NaN, a string,
// kinds that are not tokens) is refused, so it never enters the member table and never wins placement; the
// table is bounded against floods of forged node ids.
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_MEMBERS, Membership, parseAnnouncement } from '../../../cluster/Membership.js';
import { SimulatedClock } from '../../../runtime/Clock.js';
import { InProcBus, InProcTransport } from '../../../runtime/InProcTransport.js';
import { silentLogger } from '../../../runtime/logger.js';
import { MetricsRegistry } from '../../../runtime/metrics.js';
import { encodeJson } from '../../../protocols/frame.js';

const good = { type: 'hive.heartbeat', node: 'n2', startedAt: 1, actors: 3, kinds: ['counter'], pools: ['p'], poolLoad: { p: { busy: 1, capacity: 2 } } };

describe('heartbeat validation', () => {
  it('accepts a well-formed heartbeat and keeps only known fields', () => {
    expect(parseAnnouncement({ ...good, extra: { huge: true } })).toEqual(good);
  });

  it.each([
    ['actors -1', { actors: -1 }],
    ['actors NaN as null', { actors: null }],
    ['actors fractional', { actors: 0.5 }],
    ['actors a string', { actors: '0' }],
    ['node not a token', { node: 'a.b' }],
    ['node empty', { node: '' }],
    ['startedAt missing', { startedAt: undefined }],
    ['kinds not tokens', { kinds: ['ok', 'no.t'] }],
    ['kinds not a list', { kinds: 'counter' }],
    ['kinds too many', { kinds: Array.from({ length: 2000 }, (_, i) => `k${i}`) }],
    ['pools not tokens', { pools: [1] }],
    ['poolLoad negative', { poolLoad: { p: { busy: -1, capacity: 2 } } }],
    ['poolLoad busy > capacity', { poolLoad: { p: { busy: 3, capacity: 2 } } }],
    ['wrong type', { type: 'hive.leave' }],
  ])('refuses %s', (_name, patch) => {
    expect(typeof parseAnnouncement({ ...good, ...patch })).toBe('string');
  });
});

describe('membership on the wire', () => {
  const transports: InProcTransport[] = [];
  afterEach(async () => {
    await Promise.all(transports.splice(0).map((t) => t.close()));
  });

  function member(bus: InProcBus, clock: SimulatedClock): Membership {
    const transport = new InProcTransport(bus);
    transports.push(transport);
    const m = new Membership({
      cluster: 'hb',
      nodeId: 'me',
      transport,
      clock,
      logger: silentLogger(),
      metrics: new MetricsRegistry({ cluster: 'hb', node: 'me' }, { processMetrics: false }),
      heartbeatMs: 1000,
      failureAfterMs: 3000,
      announce: () => ({ type: 'hive.heartbeat', node: 'me', startedAt: 0, actors: 5, kinds: ['counter'] }),
    });
    m.start();
    return m;
  }

  // The in-process bus delivers in microtasks: every one of them has run before the next macrotask.
  const delivered = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it('never lists a forger whose heartbeat says actors: -1; a valid peer is listed', async () => {
    const bus = new InProcBus();
    const clock = new SimulatedClock(1000);
    const m = member(bus, clock);
    const forger = new InProcTransport(bus);
    transports.push(forger);
    forger.publish('hive.hb.sys.heartbeat', encodeJson({ ...good, node: 'forger', actors: -1 }));
    forger.publish('hive.hb.sys.heartbeat', new TextEncoder().encode('{"type":"hive.heartbeat","node":"x","startedAt":1,"actors":-1e309,"kinds":[]}'));
    forger.publish('hive.hb.sys.heartbeat', encodeJson({ ...good, node: 'honest', actors: 0 }));
    await delivered();
    const live = m.live().map((x) => x.node).sort();
    expect(live).toEqual(['honest', 'me']);
    expect(m.live().find((x) => x.node === 'honest')?.actors).toBe(0);
    m.stop();
  });

  it('bounds the member table against a flood of forged node ids', async () => {
    const bus = new InProcBus();
    const m = member(bus, new SimulatedClock(1000));
    const forger = new InProcTransport(bus);
    transports.push(forger);
    for (let i = 0; i < MAX_MEMBERS + 50; i++) forger.publish('hive.hb.sys.heartbeat', encodeJson({ ...good, node: `f${i}` }));
    await delivered();
    expect(m.live().length).toBe(MAX_MEMBERS);
    m.stop();
  });
});
