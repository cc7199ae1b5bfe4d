// The Transport seam over a real nats-server (the only module family that imports the NATS client).
// Subscriptions are callback subscriptions (no async iterator per subscription: a node may hold 100,000 of
// them); request/reply goes over ONE shared reply inbox per connection (`<inbox>.<correlation id>`) with a
// Map of pending requests, timeouts on the injected clock and NATS "no responders" mapped to NO_SUCH_ACTOR.
// It also hands other cluster modules the raw connection and thin JetStream / KV helpers.
import { readFile, access } from 'node:fs/promises';
import {
  connect,
  createInbox,
  credsAuthenticator,
  errors as natsErrors,
  nkeyAuthenticator,
  type Authenticator,
  type Msg,
  type NatsConnection,
  type NodeConnectionOptions,
  type Status,
} from '@nats-io/transport-node';
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type JetStreamManagerOptions,
  type JetStreamOptions,
} from '@nats-io/jetstream';
import { Kvm, type KV, type KvOptions } from '@nats-io/kv';
import {
  ConfigError,
  HiveError,
  InvalidArgumentError,
  NoSuchActorError,
  PermissionDeniedError,
  TimeoutError,
  TooLargeError,
  UnavailableError,
} from '../protocols/errors.js';
import { systemClock, type Clock, type TimerHandle } from '../runtime/Clock.js';
import { SecureIds, type IdSource } from '../runtime/ids.js';
import type {
  SubscribeOptions,
  Transport,
  TransportMessage,
  TransportStatus,
  TransportSubscription,
} from '../runtime/Transport.js';
import { credentialsFromUrls, describeServers, serverList, validateNatsOptions, type NatsConnectionOptions } from './natsOptions.js';

/** The structured logger the transport writes to (pino's call shape: object first, then message). */
export interface NatsTransportLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** What {@link NatsTransport.connect} takes besides the connection options; everything has a default. */
export interface NatsTransportDeps {
  /** Times request deadlines (default: the system clock). */
  clock?: Clock;
  /** Correlation ids for requests; each must be one subject token (default: unguessable {@link SecureIds}). */
  ids?: IdSource;
  /** Where connection events and handler failures are logged (default: nowhere). */
  logger?: NatsTransportLogger;
  /** Replicas of the JetStream streams and KV buckets created over this connection (the node's `jsReplicas`; default 1). */
  jsReplicas?: number;
}

const silent: NatsTransportLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Used until the server says otherwise (the nats-server default `max_payload`). */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/** How long `close()` lets a drain run before it closes the connection outright. */
const DRAIN_TIMEOUT_MS = 10_000;

interface Pending {
  readonly subject: string;
  readonly resolve: (data: Uint8Array) => void;
  readonly reject: (err: Error) => void;
  timer: TimerHandle | undefined;
}

/** Maps a client error thrown by publish/subscribe to a Hive error. */
function fromClientError(err: unknown, subject: string): HiveError {
  if (err instanceof HiveError) return err;
  if (err instanceof natsErrors.ClosedConnectionError || err instanceof natsErrors.DrainingConnectionError) {
    return new UnavailableError(`NATS connection is ${err instanceof natsErrors.ClosedConnectionError ? 'closed' : 'draining'} (subject ${subject})`, {
      cause: err,
      details: { subject },
    });
  }
  if (err instanceof natsErrors.InvalidSubjectError) {
    return new InvalidArgumentError(`invalid NATS subject ${JSON.stringify(subject)}`, { cause: err, details: { subject } });
  }
  if (err instanceof natsErrors.InvalidArgumentError && /max_payload/.test(err.message)) {
    return new TooLargeError(`payload for ${subject} exceeds the server's max_payload`, { cause: err, details: { subject } });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new HiveError('INTERNAL', `NATS client error on ${subject}: ${message}`, { cause: err, details: { subject } });
}

/** Builds the nats.js options (reading the creds file, checking TLS files exist). */
async function clientOptions(o: NatsConnectionOptions): Promise<NodeConnectionOptions> {
  const fromUrls = credentialsFromUrls(serverList(o.servers));
  const co: NodeConnectionOptions = {
    servers: fromUrls.servers,
    reconnect: o.reconnect ?? true,
    maxReconnectAttempts: o.maxReconnectAttempts ?? -1,
    // the client otherwise builds an Error (a stack trace) up front for every request, JetStream publish and
    // ack, in case it times out: measured at ~9% of a pool submitter's CPU (bench pool --cpu-prof)
    noAsyncTraces: true,
  };
  if (o.name !== undefined) co.name = o.name;
  if (o.reconnectTimeWaitMs !== undefined) co.reconnectTimeWait = o.reconnectTimeWaitMs;
  if (o.reconnectJitterMs !== undefined) {
    co.reconnectJitter = o.reconnectJitterMs;
    co.reconnectJitterTLS = o.reconnectJitterMs;
  }
  if (o.maxPingOut !== undefined) co.maxPingOut = o.maxPingOut;
  if (o.pingIntervalMs !== undefined) co.pingInterval = o.pingIntervalMs;
  if (o.connectTimeoutMs !== undefined) co.timeout = o.connectTimeoutMs;
  if (o.inboxPrefix !== undefined) co.inboxPrefix = o.inboxPrefix;
  if (o.user !== undefined) {
    co.user = o.user;
    if (o.pass !== undefined) co.pass = o.pass;
  }
  if (o.token !== undefined) co.token = o.token;
  // credentials written into a server URL, when no other method is configured
  if (o.user === undefined && o.token === undefined && o.nkey === undefined && o.credsFile === undefined) {
    if (fromUrls.user !== undefined) {
      co.user = fromUrls.user;
      if (fromUrls.pass !== undefined) co.pass = fromUrls.pass;
    } else if (fromUrls.token !== undefined) co.token = fromUrls.token;
  }
  let authenticator: Authenticator | undefined;
  if (o.nkey !== undefined) authenticator = nkeyAuthenticator(new TextEncoder().encode(o.nkey));
  if (o.credsFile !== undefined) {
    let creds: Uint8Array;
    try {
      creds = await readFile(o.credsFile);
    } catch (err) {
      throw new ConfigError(`nats.credsFile: cannot read ${o.credsFile} (${(err as Error).message})`, {
        cause: err,
        details: { option: 'nats.credsFile', value: o.credsFile },
      });
    }
    authenticator = credsAuthenticator(creds);
  }
  if (authenticator !== undefined) co.authenticator = authenticator;
  if (o.tls !== undefined) {
    const tls: NonNullable<NodeConnectionOptions['tls']> = {};
    for (const key of ['caFile', 'certFile', 'keyFile'] as const) {
      const file = o.tls[key];
      if (file === undefined) continue;
      try {
        await access(file);
      } catch (err) {
        throw new ConfigError(`nats.tls.${key}: cannot read ${file} (${(err as Error).message})`, {
          cause: err,
          details: { option: `nats.tls.${key}`, value: file },
        });
      }
      tls[key] = file;
    }
    co.tls = tls;
  }
  return co;
}

function authMethod(o: NatsConnectionOptions): string {
  if (o.user !== undefined) return `user ${JSON.stringify(o.user)}`;
  const fromUrls = credentialsFromUrls(serverList(o.servers));
  if (fromUrls.user !== undefined) return `user ${JSON.stringify(fromUrls.user)} (from the URL)`;
  if (fromUrls.token !== undefined) return 'token (from the URL)';
  if (o.token !== undefined) return 'token';
  if (o.nkey !== undefined) return 'nkey';
  if (o.credsFile !== undefined) return `creds file ${o.credsFile}`;
  return 'no credentials';
}

/**
 * {@link Transport} over NATS. Create it with {@link NatsTransport.connect}.
 *
 * Behaviour worth knowing:
 * - `request()` uses one shared reply inbox subscription (`_INBOX.<nuid>.*`); the correlation id is the last
 *   subject token of the reply subject. When nothing subscribes to the subject, the server answers with a
 *   503 status message and the request rejects with `NO_SUCH_ACTOR` at once.
 * - While the connection is down (`connected === false`) `publish()`, `request()` and `flush()` fail fast
 *   with `UNAVAILABLE` instead of buffering: the client discards its outbound buffer on every reconnect
 *   attempt, so buffered messages would be lost silently anyway. Requests already in flight when the
 *   connection drops stay pending until their timeout (their reply can still arrive after a quick
 *   reconnect). Subscriptions survive reconnects (the client re-subscribes).
 * - `close()` rejects pending requests with `UNAVAILABLE`, drains the connection and is idempotent.
 */
export class NatsTransport implements Transport {
  /** Always `nats`. */
  readonly kind = 'nats';

  private readonly nc: NatsConnection;
  private readonly options: NatsConnectionOptions;
  private readonly clock: Clock;
  private readonly ids: IdSource;
  private readonly log: NatsTransportLogger;
  private readonly inbox: string;
  private readonly replyPrefix: string;
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<(status: TransportStatus) => void>();
  private readonly refusedListeners = new Set<(subject: string) => void>();
  private state: TransportStatus = 'connected';
  private closing: Promise<void> | undefined;
  private payloadLimit: number;
  private kvm: Kvm | undefined;
  /** Replicas of every JetStream stream and KV bucket created over this connection (the node's `jsReplicas`). */
  readonly jsReplicas: number;
  private readonly statusLoop: Promise<void>;

  private constructor(nc: NatsConnection, options: NatsConnectionOptions, deps: NatsTransportDeps) {
    this.nc = nc;
    this.options = options;
    this.clock = deps.clock ?? systemClock;
    this.ids = deps.ids ?? new SecureIds();
    this.log = deps.logger ?? silent;
    this.jsReplicas = deps.jsReplicas ?? 1;
    this.payloadLimit = nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
    this.inbox = createInbox(options.inboxPrefix);
    this.replyPrefix = `${this.inbox}.`;
    nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => this.onReply(err, msg) });
    this.statusLoop = this.watchStatus();
  }

  /**
   * Validates `options` (a {@link ConfigError} names the bad option), connects, and sets up the shared reply
   * inbox. Rejects with a retryable {@link UnavailableError} naming the server URL(s) when no server can be
   * reached, or a non-retryable one when the server refuses the credentials; the client error is the cause.
   */
  static async connect(options: NatsConnectionOptions, deps: NatsTransportDeps = {}): Promise<NatsTransport> {
    const o = validateNatsOptions(options);
    const co = await clientOptions(o);
    const where = describeServers(o.servers);
    let nc: NatsConnection;
    try {
      nc = await connect(co);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      if (err instanceof natsErrors.AuthorizationError || /authoriz|authentic/i.test(reason)) {
        throw new UnavailableError(`NATS at ${where} refused the credentials (${authMethod(o)}): ${reason}`, {
          cause: err,
          retryable: false,
          details: { servers: where },
        });
      }
      throw new UnavailableError(`cannot connect to NATS at ${where}: ${reason}`, { cause: err, details: { servers: where } });
    }
    const t = new NatsTransport(nc, o, deps);
    t.log.info({ server: nc.getServer(), maxPayload: t.payloadLimit }, 'connected to NATS');
    return t;
  }

  /** The server this transport talks to (`nats://host:port`), or the configured list while disconnected. */
  get description(): string {
    return this.connected ? `nats://${this.nc.getServer()}` : describeServers(this.options.servers);
  }

  /** True while connected (not disconnected, reconnecting or closed). */
  get connected(): boolean {
    return (this.state === 'connected' || this.state === 'reconnected') && this.closing === undefined && !this.nc.isClosed();
  }

  /** The latest connection state. */
  get status(): TransportStatus {
    return this.state;
  }

  /** The largest payload the server accepts, in bytes (its `max_payload`). */
  get maxPayload(): number {
    return this.payloadLimit;
  }

  /** Requests waiting for a reply. */
  get pendingRequests(): number {
    return this.pending.size;
  }

  /** The shared reply inbox prefix (`_INBOX.<nuid>`); replies go to `<inbox>.<correlation id>`. */
  get replyInbox(): string {
    return this.inbox;
  }

  /** The underlying NATS connection, for other cluster modules (membership, KV, JetStream). Cluster-internal. */
  get connection(): NatsConnection {
    return this.nc;
  }

  /** A JetStream client on this connection. */
  jetstream(opts?: JetStreamOptions): JetStreamClient {
    return jetstream(this.nc, opts);
  }

  /** A JetStream manager on this connection (rejects when JetStream is not enabled on the server). */
  jetstreamManager(opts?: JetStreamManagerOptions): Promise<JetStreamManager> {
    return jetstreamManager(this.nc, opts);
  }

  /** Opens the KV bucket `bucket`, creating it with `opts` (and {@link jsReplicas} replicas unless `opts` say) when it does not exist. */
  kv(bucket: string, opts?: Partial<KvOptions>): Promise<KV> {
    this.kvm ??= new Kvm(this.nc);
    return this.kvm.create(bucket, { replicas: this.jsReplicas, ...opts });
  }

  /** Subscribes `handler` to `subject` with a callback subscription; a throwing handler is logged, never fatal. */
  subscribe(subject: string, handler: (msg: TransportMessage) => void, options?: SubscribeOptions): TransportSubscription {
    if (this.closing !== undefined || this.nc.isClosed()) {
      throw new UnavailableError(`cannot subscribe to ${subject}: the NATS transport is closed`, { details: { subject } });
    }
    const log = this.log;
    const callback = (err: Error | null, msg: Msg): void => {
      if (err) {
        log.warn({ err, subject }, 'NATS subscription error');
        return;
      }
      const reply = msg.reply;
      try {
        // a status message (no payload, headers only) is "no responders" when its code is 503
        if (msg.data.length === 0 && msg.headers?.code === 503) handler({ subject: msg.subject, data: msg.data, reply: undefined, noResponders: true });
        else {
          const traceparent = msg.headers?.get('traceparent');
          const r = reply === '' ? undefined : reply;
          handler(traceparent === undefined || traceparent === '' ? { subject: msg.subject, data: msg.data, reply: r } : { subject: msg.subject, data: msg.data, reply: r, traceparent });
        }
      } catch (e) {
        log.error({ err: e, subject: msg.subject }, 'subscription handler threw');
      }
    };
    let sub;
    try {
      sub = this.nc.subscribe(subject, options?.queue === undefined ? { callback } : { callback, queue: options.queue });
    } catch (err) {
      throw fromClientError(err, subject);
    }
    let active = true;
    return {
      unsubscribe() {
        if (!active) return;
        active = false;
        try {
          sub.unsubscribe();
        } catch {
          // already closed with the connection
        }
      },
    };
  }

  /** Publishes `data` to `subject`. Throws `TOO_LARGE` over the server's max_payload, `UNAVAILABLE` when not connected. */
  publish(subject: string, data: Uint8Array, reply?: string): void {
    this.checkWritable(subject, data);
    try {
      if (reply === undefined) this.nc.publish(subject, data);
      else this.nc.publish(subject, data, { reply });
    } catch (err) {
      throw fromClientError(err, subject);
    }
  }

  /**
   * Sends `data` to `subject` with reply subject `<inbox>.<cid>` and resolves with the reply's payload.
   * Rejects with `NO_SUCH_ACTOR` (no responders), `TIMEOUT` after `timeoutMs` on the injected clock,
   * `TOO_LARGE`, or `UNAVAILABLE` (not connected, or the transport closed before the reply came).
   */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
      return Promise.reject(
        new InvalidArgumentError(`request timeout must be a positive number of ms, got ${String(timeoutMs)}`, { details: { timeoutMs } }),
      );
    }
    if (this.closing !== undefined) return Promise.reject(this.unavailable('request', subject));
    const refused = this.refusal(subject, data);
    if (refused !== undefined) return Promise.reject(refused);
    const cid = this.ids.next();
    return new Promise<Uint8Array>((resolve, reject) => {
      const p: Pending = { subject, resolve, reject, timer: undefined };
      this.pending.set(cid, p);
      p.timer = this.clock.setTimeout(() => this.expire(cid, timeoutMs), timeoutMs);
      try {
        this.nc.publish(subject, data, { reply: this.replyPrefix + cid });
      } catch (err) {
        this.pending.delete(cid);
        this.clock.clearTimeout(p.timer);
        reject(fromClientError(err, subject));
      }
    });
  }

  /** A fresh reply inbox prefix (`_INBOX.<nuid>`, or under the configured `inboxPrefix`). */
  createInbox(): string {
    return createInbox(this.options.inboxPrefix);
  }

  /** Resolves once the server has everything published so far; `UNAVAILABLE` when not connected. */
  async flush(): Promise<void> {
    if (!this.connected) throw this.unavailable('flush');
    try {
      await this.nc.flush();
    } catch (err) {
      throw new UnavailableError(`NATS flush failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Calls `listener` on every change of connection state; returns the function that stops it. */
  onStatus(listener: (status: TransportStatus) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Rejects pending requests with `UNAVAILABLE`, drains subscriptions and closes. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.rejectAll('the NATS transport closed');
    const nc = this.nc;
    if (!nc.isClosed()) {
      try {
        if (this.state === 'connected' || this.state === 'reconnected') {
          let timer: TimerHandle | undefined;
          const timedOut = new Promise<'timeout'>((resolve) => {
            timer = this.clock.setTimeout(() => resolve('timeout'), DRAIN_TIMEOUT_MS);
          });
          const r = await Promise.race([nc.drain().then(() => 'drained' as const), timedOut]);
          if (timer !== undefined) this.clock.clearTimeout(timer);
          if (r === 'timeout') this.log.warn({ timeoutMs: DRAIN_TIMEOUT_MS }, 'NATS drain timed out; closing');
        }
      } catch (err) {
        this.log.debug({ err }, 'NATS drain failed; closing');
      }
      if (!nc.isClosed()) await nc.close().catch(() => undefined);
    }
    await this.statusLoop;
    this.setState('closed');
  }

  private unavailable(what: string, subject?: string): UnavailableError {
    const where = subject === undefined ? '' : ` (${subject})`;
    const why = this.closing !== undefined || this.nc.isClosed() ? 'closed' : this.state;
    return new UnavailableError(`cannot ${what}${where}: the NATS transport is ${why}`, {
      details: subject === undefined ? { status: why } : { subject, status: why },
    });
  }

  private checkWritable(subject: string, data: Uint8Array): void {
    const refused = this.refusal(subject, data);
    if (refused !== undefined) throw refused;
  }

  /** Why a publish of `data` to `subject` cannot go out now, if it cannot. */
  private refusal(subject: string, data: Uint8Array): HiveError | undefined {
    // Replies published by handlers while the connection drains are still allowed; after that the client refuses.
    if (this.nc.isClosed() || (this.state !== 'connected' && this.state !== 'reconnected')) {
      return this.unavailable('publish', subject);
    }
    if (data.length > this.payloadLimit) {
      return new TooLargeError(`payload of ${data.length} bytes for ${subject} exceeds the NATS server's max_payload of ${this.payloadLimit} bytes`, {
        details: { subject, size: data.length, limit: this.payloadLimit },
      });
    }
    return undefined;
  }

  private onReply(err: Error | null, msg: Msg): void {
    if (err) {
      this.log.warn({ err }, 'NATS reply inbox subscription error');
      return;
    }
    const cid = msg.subject.substring(this.replyPrefix.length);
    const p = this.pending.get(cid);
    if (p === undefined) return; // late reply after a timeout, or a duplicate
    this.pending.delete(cid);
    if (p.timer !== undefined) this.clock.clearTimeout(p.timer);
    const headers = msg.headers;
    if (headers !== undefined && headers.code >= 300) {
      if (headers.code === 503) {
        p.reject(new NoSuchActorError(`no responders for ${p.subject}: nothing subscribes to that subject`, { details: { subject: p.subject } }));
      } else {
        p.reject(new UnavailableError(`NATS answered the request to ${p.subject} with status ${headers.status}`, {
          details: { subject: p.subject, status: headers.code },
        }));
      }
      return;
    }
    p.resolve(msg.data);
  }

  private expire(cid: string, timeoutMs: number): void {
    const p = this.pending.get(cid);
    if (p === undefined) return;
    this.pending.delete(cid);
    p.reject(new TimeoutError(`request to ${p.subject} timed out after ${timeoutMs} ms`, { details: { subject: p.subject, timeoutMs } }));
  }

  /** Calls `listener` with the subject of every publish the server refused (a permissions violation). */
  onRefused(listener: (subject: string) => void): () => void {
    this.refusedListeners.add(listener);
    return () => {
      this.refusedListeners.delete(listener);
    };
  }

  /** The server refused a publish to `subject`: requests sent there fail now with PERMISSION_DENIED, not at their timeout. */
  private rejectRefused(subject: string): void {
    for (const l of [...this.refusedListeners]) {
      try {
        l(subject);
      } catch (err) {
        this.log.error({ err, subject }, 'refusal listener threw');
      }
    }
    for (const [cid, p] of this.pending) {
      if (p.subject !== subject) continue;
      this.pending.delete(cid);
      if (p.timer !== undefined) this.clock.clearTimeout(p.timer);
      p.reject(new PermissionDeniedError(`the NATS server refused publishing to ${subject}: this user's permissions do not allow it`, { details: { subject } }));
    }
  }

  private rejectAll(why: string): void {
    if (this.pending.size === 0) return;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      if (p.timer !== undefined) this.clock.clearTimeout(p.timer);
      p.reject(new UnavailableError(`${why} before ${p.subject} replied`, { details: { subject: p.subject } }));
    }
  }

  private async watchStatus(): Promise<void> {
    try {
      for await (const s of this.nc.status()) this.onNatsStatus(s);
    } catch (err) {
      this.log.warn({ err }, 'NATS status stream failed');
    }
  }

  private onNatsStatus(s: Status): void {
    switch (s.type) {
      case 'disconnect':
        this.log.warn({ server: s.server }, 'disconnected from NATS');
        this.setState('disconnected');
        break;
      case 'reconnecting':
        if (this.state === 'disconnected') this.setState('reconnecting');
        break;
      case 'reconnect':
        this.payloadLimit = this.nc.info?.max_payload ?? this.payloadLimit;
        this.log.info({ server: s.server }, 'reconnected to NATS');
        this.setState('reconnected');
        break;
      case 'close':
        this.rejectAll('the NATS connection closed');
        this.setState('closed');
        break;
      case 'error':
        if (s.error instanceof natsErrors.PermissionViolationError) {
          this.log.warn({ operation: s.error.operation, subject: s.error.subject }, 'NATS refused: permissions violation');
          if (s.error.operation === 'publish') this.rejectRefused(s.error.subject);
        } else this.log.warn({ err: s.error }, 'NATS server error');
        break;
      case 'staleConnection':
        this.log.warn({}, 'NATS connection is stale (pings unanswered)');
        break;
      case 'ldm':
        this.log.info({ server: s.server }, 'NATS server entered lame duck mode');
        break;
      default:
        this.log.debug({ status: s.type }, 'NATS status');
    }
  }

  private setState(next: TransportStatus): void {
    if (this.state === next) return;
    this.state = next;
    for (const l of [...this.listeners]) {
      try {
        l(next);
      } catch (err) {
        this.log.error({ err, status: next }, 'transport status listener threw');
      }
    }
  }
}
