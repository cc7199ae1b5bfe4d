// Node control (sys.status, sys.node.<id>.status, sys.node.<id>.spawn) served through the transit, as a plain
// NATS client (the NATS CLI) uses it: JSON in, JSON out, an empty body for status; readiness asks its own
// control subject through the transit.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { echoMachine } from '../../../actors/echo.js';
import { checkReadiness } from '../../../cluster/ops/readiness.js';
import { NATS_URL, natsAvailable, uniqueName } from '../../support/services.js';
import { startNatsNode, stopNatsNodes } from '../../support/natsNodes.js';

const hasNats = await natsAvailable();
afterEach(stopNatsNodes);

describe.skipIf(!hasNats)('node control over NATS, through the transit', () => {
  let raw: NatsConnection;
  beforeAll(async () => {
    raw = await connect({ servers: NATS_URL });
  });
  afterAll(async () => {
    await raw?.close();
  });

  const json = (data: Uint8Array): Record<string, unknown> => JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>;
  const text = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

  it('answers status to an empty body, spawns a registered kind, and answers typed errors in JSON', async () => {
    const cluster = uniqueName('control');
    const node = await startNatsNode(cluster, 'n1');
    await node.register('echo', echoMachine);
    const status = json((await raw.request(`hive.${cluster}.sys.node.n1.status`, new Uint8Array(0), { timeout: 5000 })).data);
    expect(status).toMatchObject({ type: 'hive.node.status', node: 'n1', cluster, kinds: ['echo'] });
    const all = json((await raw.request(`hive.${cluster}.sys.status`, text({ type: 'hive.status' }), { timeout: 5000 })).data);
    expect(all['node']).toBe('n1');
    const spawned = json((await raw.request(`hive.${cluster}.sys.node.n1.spawn`, text({ kind: 'echo', id: 'e1', input: {} }), { timeout: 5000 })).data);
    expect(spawned).toEqual({ type: 'hive.spawned', id: 'e1', kind: 'echo', node: 'n1' });
    expect(await node.ref('e1').ask({ type: 'hi' })).toEqual({ type: 'hi' });
    const unknown = json((await raw.request(`hive.${cluster}.sys.node.n1.spawn`, text({ kind: 'nope', id: 'e2' }), { timeout: 5000 })).data);
    expect(unknown).toMatchObject({ type: 'hive.error', code: 'NO_SUCH_ACTOR' });
    const bad = json((await raw.request(`hive.${cluster}.sys.node.n1.spawn`, text([1, 2]), { timeout: 5000 })).data);
    expect(bad).toMatchObject({ type: 'hive.error', code: 'INVALID_ARGUMENT' });
    const garbage = json((await raw.request(`hive.${cluster}.sys.node.n1.spawn`, new TextEncoder().encode('{not json'), { timeout: 5000 })).data);
    expect(garbage).toMatchObject({ type: 'hive.error', code: 'BAD_FRAME' });
    const ready = await checkReadiness(node);
    expect(ready.checks.find((c) => c.name === 'subscriptions')).toMatchObject({ ok: true });
  });
});
