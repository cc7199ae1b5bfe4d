// Two Hive nodes on a real nats-server: remote asks both ways, typed errors from the wire, bad input from a
// raw client, membership, virtual actors with one activation, and recovery after the server restarts.
import { brotliCompressSync, constants } from 'node:zlib';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { deflateSync } from 'fflate';
import { pack } from 'msgpackr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { counterMachine } from '../../../actors/counter.js';
import { echoMachine } from '../../../actors/echo.js';
import { Hive } from '../../../cluster/Hive.js';
import { HiveError } from '../../../protocols/errors.js';
import { silentLogger } from '../../../runtime/logger.js';
import { NATS_URL, deleteClusterStreams, natsAvailable, natsBinaryAvailable, startNatsServer, uniqueName, type OwnNatsServer } from '../../support/services.js';
import { codeOf } from '../../support/errors.js';
import { hiveInternals } from '../../../cluster/internal.js';

const hasNats = await natsAvailable();
const nodes: Hive[] = [];
const clusters: string[] = [];

async function node(cluster: string, nodeId: string, nats = NATS_URL): Promise<Hive> {
  if (nats === NATS_URL && !clusters.includes(cluster)) clusters.push(cluster);
  const hive = await Hive.start({ cluster, nodeId, nats, env: false, logger: silentLogger(), heartbeatMs: 100, failureAfterMs: 600 });
  nodes.push(hive);
  return hive;
}

async function until(check: () => boolean | Promise<boolean>, what: string, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`gave up waiting for ${what}`);
}

afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
  // the shared server keeps what each test cluster made in JetStream (KV buckets): remove it
  for (const c of clusters.splice(0)) await deleteClusterStreams(NATS_URL, c);
});

describe.skipIf(!hasNats)('cluster over NATS - two nodes', () => {
  let raw: NatsConnection;
  beforeAll(async () => {
    raw = await connect({ servers: NATS_URL });
  });
  afterAll(async () => {
    await raw?.close();
  });

  it('asks actors on the other node both ways', async () => {
    const cluster = uniqueName('two');
    const a = await node(cluster, 'a');
    const b = await node(cluster, 'b');
    await a.spawn(echoMachine, { id: 'on-a' });
    await b.spawn(counterMachine, { id: 'on-b' });
    expect(await b.ref('on-a').ask({ type: 'ping' })).toEqual({ type: 'pong' });
    a.ref('on-b').tell({ type: 'inc', by: 2 });
    expect(await a.ref('on-b').ask({ type: 'inc' })).toEqual({ type: 'count', value: 3 });
    const embedding = new Float32Array(384).map((_, i) => i / 384);
    const echoed = await b.ref('on-a').ask<{ type: string; embedding: Float32Array }>({ type: 'vec', embedding });
    expect(echoed.embedding).toBeInstanceOf(Float32Array);
    expect(Array.from(echoed.embedding)).toEqual(Array.from(embedding));
  });

  it('sends a 64 KB conversation context brotli-compressed (C1 21), and talks to a node that writes deflate (C1 11)', async () => {
    const cluster = uniqueName('ctx');
    const a = await node(cluster, 'a');
    const old = await Hive.start({ cluster, nodeId: 'old', nats: NATS_URL, env: false, logger: silentLogger(), compressFormat: 'deflate', heartbeatMs: 100, failureAfterMs: 600 });
    nodes.push(old);
    await a.spawn(echoMachine, { id: 'ctx-a' });
    await old.spawn(echoMachine, { id: 'ctx-old' });
    const flagsSeen = new Set<number>();
    const sub = raw.subscribe(`hive.${cluster}.actor.*`, { callback: (_err, m) => void flagsSeen.add(m.data[1]) });
    await raw.flush();
    const turns = Array.from({ length: 64 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', text: `turn ${i}: the agent summarises what the customer asked and what the tools returned. `.repeat(13) }));
    const context = { type: 'context.update', turns };
    expect(await old.ref('ctx-a').ask(context)).toEqual(context);
    expect(await a.ref('ctx-old').ask(context)).toEqual(context);
    sub.unsubscribe();
    // a writes brotli, the deflate node deflate; each read the other's
    expect(flagsSeen).toEqual(new Set([0x21, 0x11]));
    const codec = hiveInternals(a).system.codec;
    expect(codec.options.compressFormat).toBe('brotli');
    expect(codec.stats.compressedOut).toBeGreaterThanOrEqual(2); // its ask and its reply
    expect(codec.stats.compressedIn).toBeGreaterThanOrEqual(2);
    expect(codec.stats.wireBytesOut).toBeLessThan(codec.stats.rawBytesOut * 0.45);
  });

  it('answers NO_SUCH_ACTOR for an actor nobody hosts, and typed errors from the other node', async () => {
    const cluster = uniqueName('err');
    const a = await node(cluster, 'a');
    const b = await node(cluster, 'b');
    await b.spawn(echoMachine, { id: 'e' });
    await b.spawn(counterMachine, { id: 'c' });
    expect(await codeOf(a.ref('missing').ask({ type: 'ping' }, { timeoutMs: 20_000 }))).toBe('NO_SUCH_ACTOR');
    expect(await codeOf(a.ref('c').ask({ type: 'fly' }))).toBe('INVALID_EVENT');
    expect(await codeOf(a.ref('c').ask({ type: 'inc', by: 'lots' }))).toBe('INVALID_EVENT');
  });

  it('answers bad input from a raw client with error replies and keeps serving', async () => {
    const cluster = uniqueName('bad');
    const a = await node(cluster, 'a');
    await a.spawn(echoMachine, { id: 'e' });
    const subject = `hive.${cluster}.actor.e`;
    const json = async (payload: Uint8Array | string) => JSON.parse(new TextDecoder().decode((await raw.request(subject, payload, { timeout: 5000 })).data)) as Record<string, unknown>;
    const binary = async (payload: Uint8Array) => hiveInternals(a).system.codec.decode((await raw.request(subject, payload, { timeout: 5000 })).data) as Record<string, unknown>;

    expect(await json('{"type":"ping"}')).toEqual({ type: 'pong' });
    expect(await json('{"type": nope')).toMatchObject({ type: 'hive.error', code: 'BAD_FRAME' });
    expect(await json(new Uint8Array([0xff, 0xfe, 0x00, 0x01]))).toMatchObject({ type: 'hive.error', code: 'BAD_FRAME' });
    expect(await json('{"kind":"no type"}')).toMatchObject({ type: 'hive.error', code: 'INVALID_EVENT' });
    // a binary frame cut short
    const good = hiveInternals(a).system.codec.encode({ v: 1, k: 'a', c: 'x', e: { type: 'ping', pad: 'y'.repeat(100) } });
    expect(await binary(good.subarray(0, good.length - 20))).toMatchObject({ k: 'r', err: { code: 'BAD_FRAME' } });
    // an unknown version
    const wrongVersion = good.slice();
    wrongVersion[1] = 0x0f;
    expect(await binary(wrongVersion)).toMatchObject({ k: 'r', err: { code: 'BAD_FRAME' } });
    // a deflate bomb: 64 MiB of zeros that inflates past the 8 MiB limit
    const bomb = deflateSync(pack({ v: 1, k: 'a', c: 'b', e: { type: 'ping', pad: '\0'.repeat(64 * 1024 * 1024) } }));
    const bombFrame = new Uint8Array(2 + bomb.length);
    bombFrame.set([0xc1, 0x11]);
    bombFrame.set(bomb, 2);
    expect(await binary(bombFrame)).toMatchObject({ k: 'r', err: { code: 'TOO_LARGE' } });
    // the same bomb as brotli (flag 0x20)
    const brotliBomb = brotliCompressSync(pack({ v: 1, k: 'a', c: 'b', e: { type: 'ping', pad: '\0'.repeat(64 * 1024 * 1024) } }), { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } });
    const brotliFrame = new Uint8Array(2 + brotliBomb.length);
    brotliFrame.set([0xc1, 0x21]);
    brotliFrame.set(brotliBomb, 2);
    expect(await binary(brotliFrame)).toMatchObject({ k: 'r', err: { code: 'TOO_LARGE' } });
    // and it still serves
    expect(await json('{"type":"ping"}')).toEqual({ type: 'pong' });
    expect(await a.ref('e').ask({ type: 'ping' })).toEqual({ type: 'pong' });
  });

  it('sees both nodes as members and reports a node that stops as gone', async () => {
    const cluster = uniqueName('members');
    const a = await node(cluster, 'a');
    const b = await node(cluster, 'b');
    await until(() => a.members().length === 2 && b.members().length === 2, 'both nodes to see each other');
    const left: string[] = [];
    a.onMembership((e) => e.type === 'leave' && left.push(e.node));
    await b.stop();
    await until(() => left.includes('b'), 'a to see b leave');
    expect(a.members().map((m) => m.node)).toEqual(['a']);
  });

  it('activates a virtual actor exactly once under concurrent first messages from two nodes', async () => {
    const cluster = uniqueName('virtual');
    const a = await node(cluster, 'a');
    const b = await node(cluster, 'b');
    await a.register('counter', counterMachine);
    await b.register('counter', counterMachine);
    await until(() => a.members().every((m) => m.kinds.includes('counter')) && a.members().length === 2, 'kinds announced');
    const incs = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).actor('counter', 'shared').ask({ type: 'inc' }));
    await Promise.all(incs);
    expect(await a.actor('counter', 'shared').ask({ type: 'get' })).toEqual({ type: 'count', value: 20 });
    const hosts = [a, b].filter((n) => hiveInternals(n).system.has('counter--shared'));
    expect(hosts).toHaveLength(1);
  });

  it('reaches a registered virtual actor from a raw client before it is active', async () => {
    const cluster = uniqueName('vraw');
    const a = await node(cluster, 'a');
    await a.register('counter', counterMachine);
    const reply = await raw.request(`hive.${cluster}.kind.counter.k1`, '{"type":"inc","by":4}', { timeout: 5000 });
    expect(JSON.parse(new TextDecoder().decode(reply.data))).toEqual({ type: 'count', value: 4 });
  });
});

describe.skipIf(!natsBinaryAvailable())('cluster over NATS - server restart', () => {
  let server: OwnNatsServer;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('keeps local actors serving while NATS is down, fails remote calls fast, and recovers when it returns', async () => {
    const cluster = uniqueName('restart');
    const a = await node(cluster, 'a', server.url);
    const b = await node(cluster, 'b', server.url);
    await b.spawn(echoMachine, { id: 'e' });
    expect(await a.ref('e').ask({ type: 'ping' })).toEqual({ type: 'pong' });
    // keep a load of remote asks going through the outage
    let loading = true;
    const outcomes = { ok: 0, failed: 0, other: 0 };
    const load = Promise.all(
      Array.from({ length: 8 }, async () => {
        while (loading) {
          try {
            await a.ref('e').ask({ type: 'ping' }, { timeoutMs: 300 });
            outcomes.ok++;
          } catch (err) {
            // while the server is away: UNAVAILABLE or TIMEOUT, then CIRCUIT_OPEN once the breaker for node b
            // opens; right after it returns, before b has re-subscribed, the server has no subscriber: NO_SUCH_ACTOR
            if (err instanceof HiveError && ['UNAVAILABLE', 'TIMEOUT', 'NO_SUCH_ACTOR', 'CIRCUIT_OPEN'].includes(err.code)) outcomes.failed++;
            else {
              outcomes.other++;
              console.error(err);
            }
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      }),
    );
    await server.kill();
    await until(() => !hiveInternals(a).transport.connected && !hiveInternals(b).transport.connected, 'both nodes to notice the server is gone');
    // degraded: remote asks fail fast with a typed error, tells become counted dead letters, local actors keep serving
    // (UNAVAILABLE from the transport, or CIRCUIT_OPEN once node b's breaker has seen the load time out)
    expect(await codeOf(a.ref('e').ask({ type: 'ping' }, { timeoutMs: 500 }))).toMatch(/^(UNAVAILABLE|CIRCUIT_OPEN)$/);
    const before = a.deadLetters.count;
    a.ref('e').tell({ type: 'ping' });
    expect(a.deadLetters.count).toBe(before + 1);
    expect(a.deadLetters.recent().at(-1)?.reason).toBe('unreachable');
    expect(await b.ref('e').ask({ type: 'ping' })).toEqual({ type: 'pong' });
    await server.restart();
    await until(async () => {
      try {
        return (await a.ref('e').ask({ type: 'ping' }, { timeoutMs: 500 })).type === 'pong';
      } catch {
        return false;
      }
    }, 'asks to work again', 20_000);
    expect(await b.ref('e').ask({ type: 'ping' })).toEqual({ type: 'pong' });
    const okBefore = outcomes.ok;
    await until(() => outcomes.ok > okBefore + 50, 'the load to flow again');
    loading = false;
    await load;
    expect(outcomes.failed).toBeGreaterThan(0);
    expect(outcomes.other).toBe(0);
  });
});
