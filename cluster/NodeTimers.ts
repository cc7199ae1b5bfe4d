// NodeTimers: durable timers for the cluster. Each timer is a record in the JetStream KV bucket
// hive_<cluster>_timers (key `t.<id>`; create-if-absent de-duplicates by id), so it outlives any node. One
// node at a time owns them all: it holds the lease key `owner` (renewed every second, valid 3 s) and keeps
// the pending timers in a TimerWheel. A node that schedules or cancels tells the owner on
// `hive.<cluster>.sys.timers`; the owner also rescans the bucket on takeover and every 30 s. When the owner
// dies, another node takes the lease once it lapses and fires what is due: a timer is late by at most
// LEASE_MS + RENEW_MS (4 s) plus the rescan after its owner is killed. A timer is deleted only after its
// delivery succeeded, so a crash between the two delivers it again (at least once; the event carries
// `timerId` for receivers that de-duplicate).
import type { HiveEvent } from '../protocols/envelope.js';
import { InvalidArgumentError, toHiveError } from '../protocols/errors.js';
import { decodeJson, encodeJson } from '../protocols/frame.js';
import { assertToken, isToken, sysSubject } from '../protocols/subjects.js';
import type { ActorSystem } from '../runtime/ActorSystem.js';
import type { TimerHandle } from '../runtime/Clock.js';
import { InProcTransport } from '../runtime/InProcTransport.js';
import { MemoryKeyValue, type KeyValueStore } from '../runtime/KeyValueStore.js';
import type { Logger } from '../runtime/logger.js';
import type { Transport, TransportSubscription } from '../runtime/Transport.js';
import type { ScheduledTimer } from '../actors/agent/NodeServices.js';
import { TimerWheel } from '../actors/timers/TimerWheel.js';
import { MAX_TIMER_EVENT_BYTES, dueTime, parseTarget, parseTimerRecord, type ScheduleOptions, type TimerRecord, type TimerTarget } from '../actors/timers/timerRecord.js';
import { NatsKeyValue } from './NatsKeyValue.js';
import { NatsTransport } from './NatsTransport.js';

/** The owner's lease lasts this long past its last renewal. */
export const LEASE_MS = 3000;
/** Every node checks the lease this often (the owner renews it). */
export const RENEW_MS = 1000;
/** The owner rescans every stored timer this often (a safety net for lost notifications). */
export const RESCAN_MS = 30_000;
/** Deliveries tried before a timer is set aside under `dead.<id>` (with backoff from 1 s to 60 s). */
export const MAX_TIMER_ATTEMPTS = 10;

const memoryStores = new WeakMap<object, MemoryKeyValue>();
const MAX_RECORD_BYTES = MAX_TIMER_EVENT_BYTES + 4096;

/** How a timer reaches its target. */
export interface TimerDelivery {
  tell(actorId: string, event: HiveEvent): void;
  tellVirtual(kind: string, key: string, event: HiveEvent): void;
  enqueue(pool: string, task: unknown, id: string): Promise<void>;
}

/** The durable timers of one node's cluster. */
export class NodeTimers {
  private kv: KeyValueStore | undefined;
  private opening: Promise<KeyValueStore> | undefined;
  private owner = false;
  private leaseRevision: number | undefined;
  private readonly wheel: TimerWheel;
  private sub: TransportSubscription | undefined;
  private tickTimer: TimerHandle | undefined;
  private rescanAt = 0;
  private stopped = false;
  private inflight: Promise<void> | undefined;
  private leaseFailures = 0;
  private readonly subject: string;

  constructor(
    private readonly deps: { system: ActorSystem; transport: Transport; logger: Logger; delivery: TimerDelivery },
  ) {
    this.subject = sysSubject(deps.system.config.cluster, 'timers');
    this.wheel = new TimerWheel(deps.system.clock, (id) => void this.fire(id));
  }

  private get clock() {
    return this.deps.system.clock;
  }

  private store(): Promise<KeyValueStore> {
    if (this.kv !== undefined) return Promise.resolve(this.kv);
    const { transport, system } = this.deps;
    if (!(transport instanceof NatsTransport)) {
      const key = transport instanceof InProcTransport ? transport.bus : transport;
      let kv = memoryStores.get(key);
      if (kv === undefined) memoryStores.set(key, (kv = new MemoryKeyValue()));
      this.kv = kv;
      return Promise.resolve(kv);
    }
    this.opening ??= NatsKeyValue.open(transport, `hive_${system.config.cluster}_timers`).then(
      (kv) => (this.kv = kv),
      (err: unknown) => {
        this.opening = undefined;
        throw err;
      },
    );
    return this.opening;
  }

  /** Joins the race for the lease and listens for schedule / cancel notices. */
  start(): void {
    this.sub = this.deps.transport.subscribe(this.subject, (m) => {
      if (!this.owner) return;
      let notice: unknown;
      try {
        notice = decodeJson(m.data, 1024);
      } catch {
        return;
      }
      const { op, id } = (notice ?? {}) as { op?: unknown; id?: unknown };
      if (!isToken(id)) return;
      if (op === 'cancel') this.wheel.delete(id);
      else if (op === 'add') void this.load(id);
    });
    this.tick();
  }

  /** Stores a timer (de-duplicated by id) and tells the owner. */
  async schedule(target: TimerTarget, event: HiveEvent, options: ScheduleOptions): Promise<ScheduledTimer> {
    const t = parseTarget(target);
    if (typeof event !== 'object' || event === null || typeof event.type !== 'string') {
      throw new InvalidArgumentError('schedule: the event must be an object with a string type', { details: { argument: 'event' } });
    }
    const now = this.clock.now();
    const at = dueTime(options, now);
    const id = options.id === undefined ? this.deps.system.ids.next() : assertToken(options.id, 'timer id');
    const rec: TimerRecord = { v: 1, id, target: t, event, at, createdAt: now, attempts: 0 };
    const bytes = encodeJson(rec);
    if (bytes.length > MAX_RECORD_BYTES) throw new InvalidArgumentError(`schedule: the event is over ${MAX_TIMER_EVENT_BYTES} bytes`, { details: { argument: 'event' } });
    const kv = await this.store();
    const rev = await kv.create(`t.${id}`, bytes);
    if (rev === undefined) {
      const existing = await kv.get(`t.${id}`);
      const prev = existing === undefined ? undefined : parseTimerRecord(decodeJson(existing.value, MAX_RECORD_BYTES));
      return { id, at: prev?.at ?? at, created: false };
    }
    if (this.owner) this.wheel.set(id, at);
    else this.notify('add', id);
    return { id, at, created: true };
  }

  /** Deletes the pending timer `id` and tells the owner; false when there was none. */
  async cancel(id: string): Promise<boolean> {
    assertToken(id, 'timer id');
    const kv = await this.store();
    const existing = await kv.get(`t.${id}`);
    if (existing === undefined) return false;
    await kv.delete(`t.${id}`);
    this.wheel.delete(id);
    this.notify('cancel', id);
    return true;
  }

  /** True while this node owns the cluster's timers. */
  get isOwner(): boolean {
    return this.owner;
  }

  /** Timers this node holds in its wheel (as the owner). */
  get pending(): number {
    return this.wheel.size;
  }

  private notify(op: 'add' | 'cancel', id: string): void {
    try {
      this.deps.transport.publish(this.subject, encodeJson({ op, id }));
    } catch (err) {
      // the owner's rescan finds it
      this.deps.logger.debug({ err, timer: id }, 'could not notify the timer owner');
    }
  }

  private tick = (): void => {
    if (this.stopped) return;
    this.tickTimer = this.clock.setTimeout(this.tick, RENEW_MS);
    if (this.inflight !== undefined) return;
    this.inflight = this.lease()
      .then(() => {
        this.leaseFailures = 0;
      })
      .catch((err: unknown) => {
        // once at warn level per outage, then at debug (it is retried every second)
        this.leaseFailures += 1;
        if (this.leaseFailures === 1) this.deps.logger.warn({ err }, 'timer lease check failed; retrying every second');
        else this.deps.logger.debug({ err, failures: this.leaseFailures }, 'timer lease check failed');
        if (this.owner && this.clock.now() >= this.leaseEnds) this.lose();
      })
      .finally(() => (this.inflight = undefined));
  };

  private leaseEnds = 0;

  /** Renews the lease when this node holds it, takes it when it lapsed, and rescans when due. */
  private async lease(): Promise<void> {
    const kv = await this.store();
    const now = this.clock.now();
    const me = this.deps.system.config.nodeId;
    const body = encodeJson({ node: me, exp: now + LEASE_MS });
    const entry = await kv.get('owner');
    let holder: { node?: unknown; exp?: unknown } = {};
    if (entry !== undefined) {
      try {
        holder = (decodeJson(entry.value, 1024) ?? {});
      } catch {
        holder = {};
      }
    }
    const mine = holder.node === me && entry?.revision === this.leaseRevision;
    const lapsed = entry === undefined || typeof holder.exp !== 'number' || holder.exp <= now;
    if (!mine && !lapsed) {
      if (this.owner) this.lose();
      return;
    }
    const rev = entry === undefined ? await kv.create('owner', body) : await kv.update('owner', body, entry.revision);
    if (rev === undefined) {
      if (this.owner) this.lose();
      return;
    }
    this.leaseRevision = rev;
    this.leaseEnds = now + LEASE_MS;
    if (!this.owner) {
      this.owner = true;
      this.deps.logger.info({ node: me }, 'this node now owns the cluster timers');
      this.rescanAt = 0;
    }
    if (now >= this.rescanAt) {
      this.rescanAt = now + RESCAN_MS;
      await this.rescan(kv);
    }
  }

  private lose(): void {
    this.owner = false;
    this.leaseRevision = undefined;
    this.wheel.clear();
  }

  private async rescan(kv: KeyValueStore): Promise<void> {
    const keys = await kv.keys('t.');
    for (const k of keys) if (this.owner) await this.load(k.slice(2));
  }

  /** Reads timer `id` into the wheel. */
  private async load(id: string): Promise<TimerRecord | undefined> {
    try {
      const kv = await this.store();
      const e = await kv.get(`t.${id}`);
      const rec = e === undefined ? undefined : parseTimerRecord(decodeJson(e.value, MAX_RECORD_BYTES));
      if (rec === undefined) {
        this.wheel.delete(id);
        if (e !== undefined) await this.setAside(kv, id, e.value, 'malformed timer record');
        return undefined;
      }
      if (this.owner) this.wheel.set(id, rec.at);
      return rec;
    } catch (err) {
      this.deps.logger.warn({ err, timer: id }, 'could not read a timer; the next rescan tries again');
      return undefined;
    }
  }

  private async setAside(kv: KeyValueStore, id: string, value: Uint8Array, reason: string): Promise<void> {
    await kv.put(`dead.${id}`, value);
    await kv.delete(`t.${id}`);
    this.deps.logger.error({ timer: id, reason }, 'timer set aside (key dead.<id> of the timers bucket)');
  }

  /** Delivers a due timer, then deletes it; a failed delivery is retried with backoff. */
  private async fire(id: string): Promise<void> {
    if (!this.owner) return;
    let kv: KeyValueStore;
    let rec: TimerRecord | undefined;
    let revision: number;
    try {
      kv = await this.store();
      const e = await kv.get(`t.${id}`);
      if (e === undefined) return; // cancelled
      rec = parseTimerRecord(decodeJson(e.value, MAX_RECORD_BYTES));
      revision = e.revision;
      if (rec === undefined) {
        await this.setAside(kv, id, e.value, 'malformed timer record');
        return;
      }
    } catch (err) {
      this.deps.logger.warn({ err, timer: id }, 'could not read a due timer; retrying');
      this.wheel.set(id, this.clock.now() + 1000);
      return;
    }
    if (rec.at > this.clock.now()) {
      this.wheel.set(id, rec.at);
      return;
    }
    try {
      await this.deliver(rec);
    } catch (err) {
      const attempts = rec.attempts + 1;
      const e = toHiveError(err);
      try {
        if (attempts >= MAX_TIMER_ATTEMPTS) {
          await this.setAside(kv, id, encodeJson({ ...rec, attempts, error: e.toReply() }), `delivery failed ${attempts} times: ${e.message}`);
          return;
        }
        const next = this.clock.now() + Math.min(60_000, 1000 * 2 ** (attempts - 1));
        await kv.update(`t.${id}`, encodeJson({ ...rec, attempts, at: next }), revision);
        this.wheel.set(id, next);
        this.deps.logger.warn({ timer: id, attempts, err: e.message }, 'timer delivery failed; retrying');
      } catch (storeErr) {
        this.deps.logger.warn({ err: storeErr, timer: id }, 'could not record a failed timer delivery; the rescan retries it');
      }
      return;
    }
    try {
      await kv.delete(`t.${id}`);
    } catch (err) {
      // delivered but not deleted: the rescan delivers it again (at least once)
      this.deps.logger.warn({ err, timer: id }, 'delivered a timer but could not delete it');
    }
  }

  private async deliver(rec: TimerRecord): Promise<void> {
    const event: HiveEvent = { ...rec.event, timerId: rec.id };
    const t = rec.target;
    if ('actor' in t) this.deps.delivery.tell(t.actor, event);
    else if ('pool' in t) await this.deps.delivery.enqueue(t.pool, rec.event, `timer-${rec.id}`);
    else this.deps.delivery.tellVirtual(t.kind, t.key, event);
  }

  /** Stops: gives up the lease (so another node takes over at once) and forgets the wheel. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tickTimer !== undefined) this.clock.clearTimeout(this.tickTimer);
    this.sub?.unsubscribe();
    await this.inflight;
    const wasOwner = this.owner && this.leaseRevision !== undefined;
    const rev = this.leaseRevision;
    this.lose();
    if (wasOwner && this.kv !== undefined && rev !== undefined) {
      try {
        await this.kv.update('owner', encodeJson({ node: null, exp: 0 }), rev);
      } catch {
        // it lapses by itself
      }
    }
  }
}
