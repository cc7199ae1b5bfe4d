// Fuzz suite, a running node (issue 12): a real nats-server and a node serving an actor, a virtual kind, a
// pool and memory (PGlite). Random and mutated frames, JSON events, memory requests and pool submissions go
// to its subjects from a plain NATS client. Every request gets a reply (an answer, or a typed error with a
// stable code); tells are dropped quietly; afterwards the node still serves and its actors still run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hive } from '../../cluster/Hive.js';
import { parseEnvelope } from '../../protocols/envelope.js';
import { ErrorCodes } from '../../protocols/errors.js';
import { FrameCodec, decodeJson, isBinaryFrame } from '../../protocols/frame.js';
import { silentLogger } from '../../runtime/logger.js';
import { echoMachine } from '../support/machines.js';
import { natsBinaryAvailable, startNatsServer, uniqueName, type OwnNatsServer } from '../support/services.js';
import { fuzzParams, payload } from './arbitraries.js';
import { hiveInternals } from '../../cluster/internal.js';

const codes = new Set<string>(ErrorCodes);
const codec = new FrameCodec();

/** The kind of envelope a binary payload carries, if it is a decodable one. */
function envelopeKind(bytes: Uint8Array): string | undefined {
  try {
    const env = parseEnvelope(codec.decode(bytes));
    return env.k;
  } catch {
    return undefined;
  }
}

/** Checks one reply: JSON or a binary reply envelope; an error carries a stable code. */
function checkReply(data: Uint8Array): void {
  if (isBinaryFrame(data)) {
    const env = parseEnvelope(codec.decode(data));
    expect(env.k).toBe('r');
    if (env.k === 'r' && env.err !== undefined) expect(codes.has(env.err.code), env.err.code).toBe(true);
    return;
  }
  const v = decodeJson(data) as { type?: unknown; code?: unknown };
  if (v !== null && typeof v === 'object' && v.type === 'hive.error') expect(codes.has(String(v.code)), String(v.code)).toBe(true);
}

describe.skipIf(!natsBinaryAvailable())('fuzz: a running node', () => {
  let server: OwnNatsServer;
  let dir: string;
  let hive: Hive;
  let nc: NatsConnection;
  const cluster = uniqueName('fuzz');

  beforeAll(async () => {
    server = await startNatsServer();
    dir = mkdtempSync(join(tmpdir(), 'hive-fuzz-'));
    hive = await Hive.start({ cluster, nodeId: 'fz1', nats: server.url, env: false, logger: silentLogger(), dataDir: dir, memory: { dataDir: join(dir, 'memory') } });
    await hive.spawn(echoMachine, { id: 'e1' });
    await hive.register('echo', echoMachine);
    await hive.pool<unknown, unknown>('fz', { agent: (task) => Promise.resolve(task), min: 1, max: 2, concurrency: 4 });
    // the first open of a PGlite folder takes seconds: wait until memory answers
    expect(await hive.memory.stats()).toMatchObject({ type: 'memory.stats' });
    nc = await connect({ servers: server.url });
  }, 120_000);

  afterAll(async () => {
    await nc?.close();
    await hive?.stop();
    await server?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('answers every hostile request with an answer or a typed error, and keeps serving', { timeout: 300_000 }, async () => {
    const subjects = [`hive.${cluster}.actor.e1`, `hive.${cluster}.actor.nobody`, `hive.${cluster}.kind.echo.k1`, `hive.${cluster}.pool.fz`, `hive.${cluster}.memory`, `hive.${cluster}.memory.fz`];
    const before = hiveInternals(hive).system.actors().filter((a) => a.status === 'running').length;
    await fc.assert(
      fc.asyncProperty(payload, fc.nat({ max: subjects.length - 1 }), fc.boolean(), async (bytes, s, tell) => {
        const subject = subjects[s];
        if (tell) {
          nc.publish(subject, bytes);
          return;
        }
        const kind = isBinaryFrame(bytes) ? envelopeKind(bytes) : undefined;
        try {
          const r = await nc.request(subject, bytes, { timeout: 10_000 });
          checkReply(r.data);
        } catch (err) {
          const message = (err as Error).message;
          if (subject.endsWith('.nobody') && /no responders/.test(message)) return;
          // a binary tell with a reply subject is still a tell: no answer
          if (kind === 't' && /timeout/i.test(message)) return;
          throw err;
        }
      }),
      fuzzParams(200),
    );
    await nc.flush();
    expect(await hive.ref('e1').ask({ type: 'ping' })).toEqual({ type: 'pong' });
    expect(await hive.actor('echo', 'k1').ask({ type: 'ping' })).toEqual({ type: 'pong' });
    expect(await hive.submit('fz', { ok: 1 })).toEqual({ ok: 1 });
    expect(await hive.memory.stats()).toMatchObject({ type: 'memory.stats' });
    expect(hiveInternals(hive).system.actors().filter((a) => a.status === 'running').length).toBeGreaterThanOrEqual(before);
  });
});
