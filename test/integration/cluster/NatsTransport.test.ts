// Integration tests for NatsTransport against real nats-servers: the shared one at NATS_URL, plus servers this
// file starts and kills itself (authentication, reconnect). Skips with a notice without them; fails under CI=true.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { connect } from '@nats-io/transport-node';
import { createUser } from '@nats-io/nkeys';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NatsTransport } from '../../../cluster/NatsTransport.js';
import type { NatsConnectionOptions } from '../../../cluster/natsOptions.js';
import { HiveError } from '../../../protocols/errors.js';
import { SimulatedClock } from '../../../runtime/Clock.js';
import type { TransportMessage, TransportStatus } from '../../../runtime/Transport.js';
import { errorOf } from '../../support/errors.js';
import {
  NATS_URL,
  freePort,
  natsAvailable,
  natsBinaryAvailable,
  startNatsServer,
  uniqueName,
  type OwnNatsServer,
} from '../../support/services.js';

const natsUp = await natsAvailable();
const binaryUp = natsBinaryAvailable();

const te = new TextEncoder();
const td = new TextDecoder();

/** Polls `cond` until it holds (a deadline only to fail instead of hanging; never a timing assertion). */
async function waitFor(cond: () => boolean, what: string, limitMs = 15_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The rejection of `p` as a HiveError (fails when `p` resolves or rejects with something else). */

function thrown(fn: () => unknown): HiveError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HiveError);
    return err as HiveError;
  }
  throw new Error('expected a throw');
}

/** Transports opened by a test; closed after each test even when it fails. */
const open: NatsTransport[] = [];
async function transport(options: NatsConnectionOptions, deps: Parameters<typeof NatsTransport.connect>[1] = {}): Promise<NatsTransport> {
  const t = await NatsTransport.connect(options, deps);
  open.push(t);
  return t;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

/** A responder that echoes `ok:<payload>` to every request on `subject`. */
function echo(t: NatsTransport, subject: string): void {
  t.subscribe(subject, (m) => {
    if (m.reply !== undefined) t.publish(m.reply, te.encode(`ok:${td.decode(m.data)}`));
  });
}

describe.skipIf(!natsUp)('NatsTransport (shared nats-server)', () => {
  const prefix = uniqueName('nt');
  const subj = (s: string) => `${prefix}.${s}`;

  it('connects, describes itself and reports connected', async () => {
    const t = await transport({ servers: NATS_URL, name: 'hive-test' });
    expect(t.kind).toBe('nats');
    expect(t.connected).toBe(true);
    expect(t.status).toBe('connected');
    expect(t.description).toMatch(/^nats:\/\//);
    expect(t.maxPayload).toBeGreaterThan(0);
    expect(t.replyInbox).toMatch(/^_INBOX\./);
    await t.flush();
  });

  it('publish/subscribe round trip, with and without a reply subject', async () => {
    const a = await transport({ servers: NATS_URL });
    const b = await transport({ servers: NATS_URL });
    const got: TransportMessage[] = [];
    b.subscribe(subj('ps.*'), (m) => got.push(m));
    await b.flush();
    a.publish(subj('ps.one'), te.encode('hello'));
    a.publish(subj('ps.two'), te.encode('with reply'), subj('answers'));
    await a.flush();
    await waitFor(() => got.length === 2, 'two messages');
    expect(got[0].subject).toBe(subj('ps.one'));
    expect(td.decode(got[0].data)).toBe('hello');
    expect(got[0].reply).toBeUndefined();
    expect(got[1].reply).toBe(subj('answers'));
  });

  it('unsubscribe stops delivery and is idempotent', async () => {
    const t = await transport({ servers: NATS_URL });
    let n = 0;
    const sub = t.subscribe(subj('unsub'), () => n++);
    t.publish(subj('unsub'), te.encode('1'));
    await t.flush();
    await waitFor(() => n === 1, 'first message');
    sub.unsubscribe();
    sub.unsubscribe();
    t.publish(subj('unsub'), te.encode('2'));
    await t.flush();
    await t.flush();
    expect(n).toBe(1);
  });

  it('a queue group delivers each message to exactly one member', async () => {
    const pub = await transport({ servers: NATS_URL });
    const members = [await transport({ servers: NATS_URL }), await transport({ servers: NATS_URL }), await transport({ servers: NATS_URL })];
    const seen = new Map<string, number>();
    const perMember = [0, 0, 0];
    members.forEach((m, i) =>
      m.subscribe(
        subj('work'),
        (msg) => {
          const k = td.decode(msg.data);
          seen.set(k, (seen.get(k) ?? 0) + 1);
          perMember[i] += 1;
        },
        { queue: 'workers' },
      ),
    );
    let plain = 0;
    pub.subscribe(subj('work'), () => plain++);
    await Promise.all(members.map((m) => m.flush()));
    for (let i = 0; i < 300; i++) pub.publish(subj('work'), te.encode(String(i)));
    await pub.flush();
    await waitFor(() => plain === 300 && [...seen.values()].reduce((a, b) => a + b, 0) >= 300, 'all deliveries');
    await Promise.all(members.map((m) => m.flush()));
    expect(seen.size).toBe(300);
    expect([...seen.values()].every((c) => c === 1)).toBe(true);
    expect(perMember.reduce((a, b) => a + b, 0)).toBe(300);
  });

  it('request/reply: 1,000 concurrent requests each get their own answer', async () => {
    const requester = await transport({ servers: NATS_URL });
    const responder = await transport({ servers: NATS_URL });
    const subject = subj('svc');
    // Answer out of order (each batch received in one tick is answered in reverse) to prove that
    // correlation does not rely on ordering.
    let batch: TransportMessage[] = [];
    responder.subscribe(subject, (m) => {
      if (batch.length === 0) {
        setImmediate(() => {
          const now = batch.reverse();
          batch = [];
          for (const r of now) responder.publish(r.reply!, te.encode(`ok:${td.decode(r.data)}`));
        });
      }
      batch.push(m);
    });
    await responder.flush();
    const ids = Array.from({ length: 1000 }, (_, i) => `req-${i}`);
    const replies = await Promise.all(ids.map((id) => requester.request(subject, te.encode(id), 10_000)));
    expect(replies.map((r) => td.decode(r))).toEqual(ids.map((id) => `ok:${id}`));
    expect(requester.pendingRequests).toBe(0);
  });

  it('answers a plain request from a raw NATS client (what the NATS CLI sends)', async () => {
    const t = await transport({ servers: NATS_URL });
    echo(t, subj('cli'));
    await t.flush();
    const nc = await connect({ servers: NATS_URL });
    try {
      const m = await nc.request(subj('cli'), '{"type":"ping"}', { timeout: 5000 });
      expect(m.string()).toBe('ok:{"type":"ping"}');
    } finally {
      await nc.close();
    }
  });

  it('no responders → NO_SUCH_ACTOR naming the subject', async () => {
    const t = await transport({ servers: NATS_URL });
    const subject = subj('nobody.home');
    const err = await errorOf(t.request(subject, te.encode('x'), 30_000));
    expect(err.code).toBe('NO_SUCH_ACTOR');
    expect(err.message).toContain(subject);
    expect(t.pendingRequests).toBe(0);
  });

  it('a subscriber that never answers → TIMEOUT naming the subject', async () => {
    const t = await transport({ servers: NATS_URL });
    const subject = subj('silent');
    t.subscribe(subject, () => undefined);
    await t.flush();
    const err = await errorOf(t.request(subject, te.encode('x'), 200));
    expect(err.code).toBe('TIMEOUT');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain(subject);
    expect(t.pendingRequests).toBe(0);
  });

  it('timeouts run on the injected clock', async () => {
    const clock = new SimulatedClock(1000);
    const t = await transport({ servers: NATS_URL }, { clock });
    const subject = subj('silent2');
    t.subscribe(subject, () => undefined);
    await t.flush();
    let settled = false;
    const p = t.request(subject, te.encode('x'), 5000).finally(() => (settled = true));
    await t.flush();
    clock.advance(4999);
    await t.flush();
    expect(settled).toBe(false);
    expect(t.pendingRequests).toBe(1);
    clock.advance(1);
    const err = await errorOf(p);
    expect(err.code).toBe('TIMEOUT');
    expect(clock.pending).toBe(0);
  });

  it('a late reply after a timeout is dropped quietly', async () => {
    const t = await transport({ servers: NATS_URL });
    const subject = subj('late');
    const held: TransportMessage[] = [];
    t.subscribe(subject, (m) => held.push(m));
    await t.flush();
    const err = await errorOf(t.request(subject, te.encode('x'), 100));
    expect(err.code).toBe('TIMEOUT');
    t.publish(held[0].reply!, te.encode('too late'));
    await t.flush();
    echo(t, subj('after-late'));
    expect(td.decode(await t.request(subj('after-late'), te.encode('y'), 5000))).toBe('ok:y');
  });

  it('payload over max_payload → TOO_LARGE for publish and request', async () => {
    const t = await transport({ servers: NATS_URL });
    const big = new Uint8Array(t.maxPayload + 1);
    const e1 = thrown(() => t.publish(subj('big'), big));
    expect(e1.code).toBe('TOO_LARGE');
    expect(e1.message).toContain(String(t.maxPayload));
    const e2 = await errorOf(t.request(subj('big'), big, 1000));
    expect(e2.code).toBe('TOO_LARGE');
    // the connection is still fine
    echo(t, subj('still'));
    expect(td.decode(await t.request(subj('still'), te.encode('ok'), 5000))).toBe('ok:ok');
  });

  it('an invalid subject → INVALID_ARGUMENT; a bad timeout → INVALID_ARGUMENT', async () => {
    const t = await transport({ servers: NATS_URL });
    expect(thrown(() => t.publish('has space', te.encode('x'))).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => t.subscribe('', () => undefined)).code).toBe('INVALID_ARGUMENT');
    expect((await errorOf(t.request(subj('x'), te.encode('x'), 0))).code).toBe('INVALID_ARGUMENT');
  });

  it('a throwing handler is logged and does not break the connection', async () => {
    const errors: unknown[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (obj: object) => errors.push(obj) };
    const t = await transport({ servers: NATS_URL }, { logger });
    t.subscribe(subj('boom'), () => {
      throw new Error('handler bug');
    });
    t.publish(subj('boom'), te.encode('x'));
    await t.flush();
    await waitFor(() => errors.length === 1, 'the logged handler error');
    echo(t, subj('alive'));
    expect(td.decode(await t.request(subj('alive'), te.encode('y'), 5000))).toBe('ok:y');
  });

  it('close rejects pending requests with UNAVAILABLE, reports closed and is idempotent', async () => {
    const t = await NatsTransport.connect({ servers: NATS_URL });
    const statuses: TransportStatus[] = [];
    t.onStatus((s) => statuses.push(s));
    const subject = subj('never');
    t.subscribe(subject, () => undefined);
    await t.flush();
    const pending = [errorOf(t.request(subject, te.encode('1'), 60_000)), errorOf(t.request(subject, te.encode('2'), 60_000))];
    await Promise.all([t.close(), t.close()]);
    for (const p of pending) {
      const err = await p;
      expect(err.code).toBe('UNAVAILABLE');
      expect(err.message).toContain(subject);
    }
    expect(t.connected).toBe(false);
    expect(t.status).toBe('closed');
    expect(statuses).toEqual(['closed']);
    expect(t.connection.isClosed()).toBe(true);
    expect(thrown(() => t.publish(subject, te.encode('x'))).code).toBe('UNAVAILABLE');
    expect(thrown(() => t.subscribe(subject, () => undefined)).code).toBe('UNAVAILABLE');
    expect((await errorOf(t.request(subject, te.encode('x'), 1000))).code).toBe('UNAVAILABLE');
    expect((await errorOf(t.flush())).code).toBe('UNAVAILABLE');
    await t.close();
  });

  it('close drains: messages already received are still handled', async () => {
    const a = await transport({ servers: NATS_URL });
    const b = await NatsTransport.connect({ servers: NATS_URL });
    let n = 0;
    b.subscribe(subj('drain'), () => n++);
    await b.flush();
    for (let i = 0; i < 100; i++) a.publish(subj('drain'), te.encode(String(i)));
    await a.flush();
    await waitFor(() => n > 0, 'first delivery');
    await b.close();
    expect(n).toBe(100);
  });

  it('connecting to a port with no server → UNAVAILABLE naming the URL, retryable, with the cause', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const err = await errorOf(NatsTransport.connect({ servers: url, connectTimeoutMs: 2000 }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain(url);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('invalid options → INVALID_CONFIG before any connection', async () => {
    const err = await errorOf(NatsTransport.connect({ servers: 'http://127.0.0.1:4222' }));
    expect(err.code).toBe('INVALID_CONFIG');
    expect(err.message).toMatch(/^nats\.servers/);
    const missing = await errorOf(NatsTransport.connect({ servers: NATS_URL, credsFile: '/nonexistent/hive.creds' }));
    expect(missing.code).toBe('INVALID_CONFIG');
    expect(missing.message).toMatch(/^nats\.credsFile/);
  });
});

/** A nats-server child with extra arguments, on a free port. */
interface Child {
  url: string;
  port: number;
  stop(): Promise<void>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(200, () => done(false));
    s.once('error', () => done(false));
    s.connect(port, '127.0.0.1', () => done(true));
  });
}

async function spawnServer(args: string[]): Promise<Child> {
  const port = await freePort();
  const child: ChildProcess = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), ...args], { stdio: 'ignore' });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  };
  for (let i = 0; i < 100; i++) {
    if (await portOpen(port)) return { url: `nats://127.0.0.1:${port}`, port, stop };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`nats-server ${args.join(' ')} did not start on port ${port}`);
}

describe.skipIf(!binaryUp)('NatsTransport (own nats-servers)', () => {
  const children: Child[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'hive-nt-'));
  const user = createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  let userPass: Child;
  let token: Child;
  let nkey: Child;

  beforeAll(async () => {
    userPass = await spawnServer(['--user', 'hive', '--pass', 's3cret']);
    children.push(userPass);
    token = await spawnServer(['--auth', 'tok-123']);
    children.push(token);
    const conf = join(dir, 'nkey.conf');
    writeFileSync(conf, `authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }\n`);
    nkey = await spawnServer(['-c', conf]);
    children.push(nkey);
  });

  afterAll(async () => {
    await Promise.all(children.map((c) => c.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  async function roundTrip(t: NatsTransport): Promise<void> {
    echo(t, 'auth.echo');
    expect(td.decode(await t.request('auth.echo', te.encode('hi'), 5000))).toBe('ok:hi');
  }

  it('user/password: good credentials connect', async () => {
    await roundTrip(await transport({ servers: userPass.url, user: 'hive', pass: 's3cret' }));
  });

  it('user/password: bad credentials → UNAVAILABLE with a clear message', async () => {
    const err = await errorOf(NatsTransport.connect({ servers: userPass.url, user: 'hive', pass: 'wrong' }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(userPass.url);
    expect(err.message).toMatch(/refused the credentials/);
    expect(err.message).toMatch(/authorization violation/i);
    expect(err.message).not.toContain('wrong');
    const none = await errorOf(NatsTransport.connect({ servers: userPass.url }));
    expect(none.code).toBe('UNAVAILABLE');
  });

  it('token: good token connects, bad token → UNAVAILABLE', async () => {
    await roundTrip(await transport({ servers: token.url, token: 'tok-123' }));
    const err = await errorOf(NatsTransport.connect({ servers: token.url, token: 'nope' }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain(token.url);
    expect(err.message).not.toContain('nope');
  });

  it('nkey: the right seed connects, another seed → UNAVAILABLE', async () => {
    await roundTrip(await transport({ servers: nkey.url, nkey: seed }));
    const other = new TextDecoder().decode(createUser().getSeed());
    const err = await errorOf(NatsTransport.connect({ servers: nkey.url, nkey: other }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain(nkey.url);
  });

  describe('reconnect', () => {
    let server: OwnNatsServer;
    beforeAll(async () => {
      server = await startNatsServer();
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('reports disconnected, fails fast while down, and works again on the same transport after a restart', async () => {
      const fast = { servers: server.url, reconnectTimeWaitMs: 100, reconnectJitterMs: 20 };
      const requester = await transport(fast);
      const responder = await transport(fast);
      const statuses: TransportStatus[] = [];
      const off = requester.onStatus((s) => statuses.push(s));
      const subject = 'reconnect.echo';
      echo(responder, subject);
      await responder.flush();
      expect(td.decode(await requester.request(subject, te.encode('before'), 5000))).toBe('ok:before');

      await server.kill();
      await waitFor(() => statuses.includes('disconnected'), 'the disconnected status');
      expect(requester.connected).toBe(false);
      const down = await errorOf(requester.request(subject, te.encode('down'), 5000));
      expect(down.code).toBe('UNAVAILABLE');
      expect(down.retryable).toBe(true);
      expect(thrown(() => requester.publish(subject, te.encode('down'))).code).toBe('UNAVAILABLE');
      expect((await errorOf(requester.flush())).code).toBe('UNAVAILABLE');

      await server.restart();
      await waitFor(() => requester.connected && responder.connected, 'both transports to reconnect');
      await responder.flush();
      await requester.flush();
      expect(td.decode(await requester.request(subject, te.encode('after'), 5000))).toBe('ok:after');
      expect(statuses[0]).toBe('disconnected');
      expect(statuses).toContain('reconnecting');
      expect(statuses.at(-1)).toBe('reconnected');
      off();
    });

    it('close while disconnected resolves and rejects what is pending', async () => {
      const t = await NatsTransport.connect({ servers: server.url, reconnectTimeWaitMs: 100 });
      try {
        t.subscribe('never.answers', () => undefined);
        await t.flush();
        const p = errorOf(t.request('never.answers', te.encode('x'), 60_000));
        await server.kill();
        await waitFor(() => !t.connected, 'the disconnect');
        expect(t.pendingRequests).toBe(1); // in-flight requests wait for a reconnect or their timeout
        await t.close();
        expect((await p).code).toBe('UNAVAILABLE');
        expect(t.status).toBe('closed');
      } finally {
        await t.close();
        await server.restart();
      }
    });

    it('exposes JetStream and KV on the connection', async () => {
      const t = await transport({ servers: server.url });
      const bucket = uniqueName('kv');
      const kv = await t.kv(bucket, { history: 1 });
      expect(await kv.create('actor-1', te.encode('node-a'))).toBeGreaterThan(0);
      await expect(kv.create('actor-1', te.encode('node-b'))).rejects.toThrow();
      expect((await kv.get('actor-1'))?.string()).toBe('node-a');
      const jsm = await t.jetstreamManager();
      expect((await jsm.streams.info(`KV_${bucket}`)).config.name).toBe(`KV_${bucket}`);
      const js = t.jetstream();
      await jsm.streams.add({ name: `S_${bucket}`, subjects: [`${bucket}.>`] });
      expect((await js.publish(`${bucket}.a`, te.encode('x'))).seq).toBe(1);
      await jsm.streams.delete(`S_${bucket}`);
      await jsm.streams.delete(`KV_${bucket}`);
    });
  });
});
