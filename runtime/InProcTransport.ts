// The in-process Transport: NATS semantics (subjects, wildcards, queue groups, request/reply over one
// shared inbox, "no responders") in memory, for unit tests and single-process use. Payloads are copied
// on delivery, as the wire would, and the actor system encodes them with the same frame codec as over NATS.
// A subscription is one small object that is also its handle (no closures: a node subscribes every actor's
// subject, maybe 100,000 of them), and request timeouts are batched (./Timeouts.ts).
import { NoSuchActorError, TimeoutError, TooLargeError, UnavailableError, toHiveError } from '../protocols/errors.js';
import { systemClock, type Clock } from './Clock.js';
import { RandomIds, secureId, type IdSource } from './ids.js';
import { Timeouts, type Expiring, type TimeoutBatch } from './Timeouts.js';
import type { SubscribeOptions, Transport, TransportMessage, TransportStatus, TransportSubscription } from './Transport.js';

/** One subscription on the bus; also the handle its subscriber gets back. */
class BusSub implements TransportSubscription {
  active = true;
  constructor(
    readonly subject: string,
    /** Set for wildcard subscriptions. */
    readonly tokens: string[] | undefined,
    readonly queue: string | undefined,
    readonly handler: (msg: TransportMessage) => void,
    private readonly owner: InProcTransport,
  ) {}

  unsubscribe(): void {
    if (!this.active) return;
    this.owner.drop(this);
  }
}

/** A request waiting for its reply on the shared inbox. */
class PendingRequest implements Expiring {
  settled = false;
  batch: TimeoutBatch | undefined = undefined;
  constructor(
    private readonly pending: Map<string, PendingRequest>,
    private readonly cid: string,
    readonly subject: string,
    private readonly timeoutMs: number,
    readonly resolve: (data: Uint8Array) => void,
    readonly reject: (err: Error) => void,
  ) {}

  /** Takes the request out of the pending map and out of its timeout batch. */
  settle(): void {
    this.settled = true;
    this.pending.delete(this.cid);
    this.batch?.release(this);
  }

  expire(): void {
    if (this.pending.delete(this.cid)) this.reject(new TimeoutError(`request to ${this.subject} timed out after ${this.timeoutMs} ms`));
  }
}

function matches(tokens: string[], parts: string[]): boolean {
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === '>') return parts.length > i;
    if (i >= parts.length) return false;
    if (t !== '*' && t !== parts[i]) return false;
  }
  return parts.length === tokens.length;
}

/** A message bus shared by in-process transports (one per process by default: {@link InProcBus.shared}). */
export class InProcBus {
  private static sharedBus: InProcBus | undefined;
  /** The process-wide bus that in-process nodes join by default. */
  static shared(): InProcBus {
    return (InProcBus.sharedBus ??= new InProcBus());
  }

  /** Exact subjects: the one subscription, or a list when there are several. */
  private readonly exact = new Map<string, BusSub | BusSub[]>();
  private readonly wild = new Set<BusSub>();
  private queueCursor = 0;

  constructor(readonly maxPayload = 8 * 1024 * 1024) {}

  /** @internal */
  add(sub: BusSub): void {
    if (sub.tokens) this.wild.add(sub);
    else {
      const entry = this.exact.get(sub.subject);
      if (entry === undefined) this.exact.set(sub.subject, sub);
      else if (Array.isArray(entry)) entry.push(sub);
      else this.exact.set(sub.subject, [entry, sub]);
    }
  }

  /** @internal */
  remove(sub: BusSub): void {
    sub.active = false;
    if (sub.tokens) {
      this.wild.delete(sub);
      return;
    }
    const entry = this.exact.get(sub.subject);
    if (entry === undefined) return;
    if (!Array.isArray(entry)) {
      if (entry === sub) this.exact.delete(sub.subject);
      return;
    }
    const i = entry.indexOf(sub);
    if (i >= 0) entry.splice(i, 1);
    if (entry.length === 1) this.exact.set(sub.subject, entry[0]);
    else if (entry.length === 0) this.exact.delete(sub.subject);
  }

  /** The subscriptions a message on `subject` goes to (one member per queue group). */
  route(subject: string): BusSub[] {
    const out: BusSub[] = [];
    let groups: Map<string, BusSub[]> | undefined;
    const entry = this.exact.get(subject);
    if (entry !== undefined) {
      if (!Array.isArray(entry)) groups = consider(entry, out, groups);
      else for (const s of entry) groups = consider(s, out, groups);
    }
    if (this.wild.size > 0) {
      // split once per message, not once per wildcard subscription
      const parts = subject.split('.');
      for (const s of this.wild) if (matches(s.tokens!, parts)) groups = consider(s, out, groups);
    }
    if (groups) for (const g of groups.values()) out.push(g[this.queueCursor++ % g.length]);
    return out;
  }
}

/** Adds `s` to a message's targets, or to its queue group's candidates; returns the (possibly new) groups. */
function consider(s: BusSub, out: BusSub[], groups: Map<string, BusSub[]> | undefined): Map<string, BusSub[]> | undefined {
  if (s.queue === undefined) {
    out.push(s);
    return groups;
  }
  groups ??= new Map();
  const g = groups.get(s.queue);
  if (g) g.push(s);
  else groups.set(s.queue, [s]);
  return groups;
}

/** The in-process {@link Transport}. */
export class InProcTransport implements Transport {
  readonly kind = 'inproc';
  readonly description = 'in-process (this process only)';
  private closed = false;
  private readonly subs = new Set<BusSub>();
  private readonly statusListeners = new Set<(s: TransportStatus) => void>();
  private readonly inbox: string;
  private readonly pending = new Map<string, PendingRequest>();
  private readonly timeouts: Timeouts;
  private inboxSub: TransportSubscription | undefined;

  constructor(
    /** The bus this transport is on. */
    readonly bus: InProcBus = InProcBus.shared(),
    clock: Clock = systemClock,
    private readonly ids: IdSource = new RandomIds(),
  ) {
    this.inbox = `_INBOX.${ids.next()}`;
    this.timeouts = new Timeouts(clock);
  }

  get connected(): boolean {
    return !this.closed;
  }

  subscribe(subject: string, handler: (msg: TransportMessage) => void, options: SubscribeOptions = {}): TransportSubscription {
    if (this.closed) throw new UnavailableError('in-process transport is closed');
    const wildcard = subject.includes('*') || subject.includes('>');
    const sub = new BusSub(subject, wildcard ? subject.split('.') : undefined, options.queue, handler, this);
    this.bus.add(sub);
    this.subs.add(sub);
    return sub;
  }

  /** @internal Removes one of this transport's subscriptions (BusSub.unsubscribe). */
  drop(sub: BusSub): void {
    this.bus.remove(sub);
    this.subs.delete(sub);
  }

  publish(subject: string, data: Uint8Array, reply?: string): void {
    if (this.closed) throw new UnavailableError('in-process transport is closed');
    if (data.byteLength > this.bus.maxPayload) {
      throw new TooLargeError(`payload of ${data.byteLength} bytes exceeds the maximum of ${this.bus.maxPayload}`);
    }
    const targets = this.bus.route(subject);
    if (targets.length === 0) {
      // NATS "no responders": a request with nobody listening gets a status message on its reply subject.
      if (reply !== undefined) this.noResponders(reply);
      return;
    }
    for (const s of targets) {
      const msg: TransportMessage = { subject, data: data.slice(), reply };
      queueMicrotask(() => {
        if (s.active) s.handler(msg);
      });
    }
  }

  private noResponders(reply: string): void {
    const status: TransportMessage = { subject: reply, data: new Uint8Array(0), reply: undefined, noResponders: true };
    for (const s of this.bus.route(reply)) queueMicrotask(() => s.active && s.handler(status));
  }

  private readonly onInbox = (msg: TransportMessage): void => {
    const cid = msg.subject.slice(this.inbox.length + 1);
    const p = this.pending.get(cid);
    if (!p) return;
    p.settle();
    if (msg.noResponders === true) p.reject(new NoSuchActorError(`no one answers on ${p.subject}`, { details: { subject: p.subject } }));
    else p.resolve(msg.data);
  };

  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new UnavailableError('in-process transport is closed'));
    this.inboxSub ??= this.subscribe(`${this.inbox}.*`, this.onInbox);
    const cid = secureId();
    return new Promise<Uint8Array>((resolve, reject) => {
      const p = new PendingRequest(this.pending, cid, subject, timeoutMs, resolve, reject);
      this.timeouts.schedule(p, timeoutMs);
      this.pending.set(cid, p);
      try {
        this.publish(subject, data, `${this.inbox}.${cid}`);
      } catch (err) {
        p.settle();
        reject(toHiveError(err));
      }
    });
  }

  createInbox(): string {
    return `_INBOX.${this.ids.next()}`;
  }

  async flush(): Promise<void> {
    await new Promise<void>((r) => queueMicrotask(r));
  }

  onStatus(listener: (status: TransportStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subs) this.bus.remove(s);
    this.subs.clear();
    for (const p of [...this.pending.values()]) {
      p.settle();
      p.reject(new UnavailableError('in-process transport closed while waiting for a reply'));
    }
    this.timeouts.dispose();
    for (const l of this.statusListeners) l('closed');
  }
}
